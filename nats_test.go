package moonbus

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"moonbus/bus/natsbridge"
	"moonbus/internal/natstest"
	"moonbus/internal/promtest"
)

// startFleetDaemon is startDaemon without an Options.Instance, so that the
// nats section's instance names the daemon on the bus too.
func startFleetDaemon(t *testing.T, cfgText string) *testDaemon {
	t.Helper()
	return startDaemonWith(t, cfgText, Options{}, true)
}

func okBackend(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return srv
}

// fleetConfig is a daemon with a stats socket, one backend "be" of one
// server s1 (and the backend "web.eu" with server "s1.a"), and the given
// nats sections.
func fleetConfig(app *httptest.Server, nats string) string {
	return `
global
    stats socket ipv4@127.0.0.1:0 level admin
` + nats + httpDefaults + `
backend be
    server s1 ` + hostOf(app) + `
backend web.eu
    server s1.a ` + hostOf(app) + `
`
}

func (d *testDaemon) natsConnected(n int) {
	d.t.Helper()
	waitFor(d.t, "NATS connected", func() bool {
		st := d.NATSStats()
		if len(st) != n {
			return false
		}
		for _, s := range st {
			if s.Status != "CONNECTED" || s.Connects+s.Reconnects == 0 {
				return false
			}
		}
		return true
	})
}

type natsEvent struct {
	subject string
	Type    string `json:"type"`
	Seq     uint64 `json:"seq"`
	Inst    string `json:"instance"`
	Server  *struct {
		Name  string `json:"name"`
		Proxy string `json:"proxy_name"`
	} `json:"server"`
	Admin *struct {
		New map[string]bool `json:"new_admin"`
	} `json:"admin"`
	State *struct {
		Old   string `json:"old_state"`
		New   string `json:"new_state"`
		Cause string `json:"cause"`
	} `json:"state"`
	Backend *struct {
		Proxy  string `json:"proxy_name"`
		Active int    `json:"active"`
	} `json:"backend"`
}

func nextEvent(t *testing.T, sub *nats.Subscription) natsEvent {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("waiting on %s: %v", sub.Subject, err)
	}
	var e natsEvent
	if err := json.Unmarshal(m.Data, &e); err != nil {
		t.Fatalf("%s: %v: %s", m.Subject, err, m.Data)
	}
	e.subject = m.Subject
	return e
}

// A `set server be/s1 state maint` on the stats socket reaches NATS as
// SERVER_ADMIN, SERVER_DOWN, SERVER_STATE, BACKEND_DOWN, in that order,
// with the bus's JSON; a second section publishes only SERVER_DOWN; odd
// names are escaped.
func TestNATSEventsFromTheDaemon(t *testing.T) {
	srv := natstest.Start(t)
	nc := srv.Connect()
	all, _ := nc.SubscribeSync("moonbus.event.>")
	downs, _ := nc.SubscribeSync("downs.event.>")
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	d := startFleetDaemon(t, fleetConfig(okBackend(t), `
nats fleet
    url `+srv.HostPort()+`
    instance lb1
nats downs
    url nats://`+srv.HostPort()+`
    instance lb1
    prefix downs
    publish SERVER_DOWN
`))
	d.natsConnected(2)
	if got := d.adm("set server be/s1 state maint"); got != "\n" {
		t.Fatalf("set server: %q", got)
	}
	want := []string{
		"moonbus.event.lb1.SERVER_ADMIN.be.s1",
		"moonbus.event.lb1.SERVER_DOWN.be.s1",
		"moonbus.event.lb1.SERVER_STATE.be.s1",
		"moonbus.event.lb1.BACKEND_DOWN.be",
	}
	var got []natsEvent
	for range want {
		got = append(got, nextEvent(t, all))
	}
	for i, w := range want {
		if got[i].subject != w {
			t.Fatalf("message %d on %s, want %s", i, got[i].subject, w)
		}
		if got[i].Inst != "lb1" || (i > 0 && got[i].Seq != got[i-1].Seq+1) {
			t.Fatalf("message %d: instance %q seq %d", i, got[i].Inst, got[i].Seq)
		}
	}
	adm, down, state, be := got[0], got[1], got[2], got[3]
	if adm.Type != "SERVER_ADMIN" || adm.Server == nil || adm.Server.Name != "s1" || adm.Server.Proxy != "be" ||
		adm.Admin == nil || !adm.Admin.New["MAINT"] || !adm.Admin.New["FMAINT"] {
		t.Fatalf("SERVER_ADMIN: %+v", adm)
	}
	if down.Type != "SERVER_DOWN" || down.State == nil || down.State.New != "STOPPED" || down.State.Old != "RUNNING" {
		t.Fatalf("SERVER_DOWN: %+v", down)
	}
	if state.Type != "SERVER_STATE" || state.State == nil || state.State.New != "STOPPED" {
		t.Fatalf("SERVER_STATE: %+v", state)
	}
	if be.Type != "BACKEND_DOWN" || be.Backend == nil || be.Backend.Proxy != "be" || be.Backend.Active != 0 || be.Server != nil {
		t.Fatalf("BACKEND_DOWN: %+v", be)
	}
	// publish SERVER_DOWN: only that one on the second prefix.
	if e := nextEvent(t, downs); e.subject != "downs.event.lb1.SERVER_DOWN.be.s1" || e.Seq != down.Seq {
		t.Fatalf("downs: %s seq %d", e.subject, e.Seq)
	}

	// Escaping: "web.eu"/"s1.a" stay single tokens.
	d.adm("set server web.eu/s1.a state drain")
	if e := nextEvent(t, all); e.subject != "moonbus.event.lb1.SERVER_ADMIN.web%2Eeu.s1%2Ea" ||
		e.Server == nil || e.Server.Proxy != "web.eu" || e.Server.Name != "s1.a" {
		t.Fatalf("escaped: %s %+v", e.subject, e.Server)
	}
	p, err := natsbridge.ParseEventSubject("moonbus.event.lb1.SERVER_ADMIN.web%2Eeu.s1%2Ea")
	if err != nil || p.Proxy != "web.eu" || p.Server != "s1.a" {
		t.Fatalf("decoded %+v %v", p, err)
	}
	// The SERVER_DOWN of be/s1 did not go out a second time on "downs"
	// (drain publishes no SERVER_DOWN).
	d.adm("set server be/s1 state ready")
	for e := nextEvent(t, all); e.Type != "SERVER_UP"; e = nextEvent(t, all) {
	}
	waitFor(t, "counters", func() bool {
		st := d.NATSStats()
		return st[0].Published >= 8 && st[1].Published == 1
	})
	fams, err := promtest.Parse(string(d.appendNATSMetrics(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := fams["moonbus_nats_events_published_total"].Get("nats", "downs"); !ok || v != 1 {
		t.Fatalf("metrics: downs published %v %v", v, ok)
	}
	if v, ok := fams["moonbus_nats_connected"].Get("nats", "fleet"); !ok || v != 1 {
		t.Fatalf("metrics: fleet connected %v %v", v, ok)
	}
	out := d.adm("show nats")
	for _, w := range []string{"Name: fleet\nInstance: lb1\nPrefix: moonbus\nStatus: CONNECTED\n", "Name: downs\n", "Published: 1\n", "Dropped: 0\n"} {
		if !strings.Contains(out, w) {
			t.Fatalf("show nats lacks %q:\n%s", w, out)
		}
	}
}

// NATS is down when the daemon starts: it serves, buffers the events, and
// delivers them in order once NATS is up, into a JetStream stream created
// with the configured max age.
func TestNATSDownAtStartThenStream(t *testing.T) {
	srv := natstest.New(t) // not running yet
	app := okBackend(t)
	d := startFleetDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
nats fleet
    url `+srv.HostPort()+`
    instance lb1
    stream MOONBUS max-age 10m
`+httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 `+hostOf(app)+`
    server s2 `+hostOf(app)+`
`)
	if resp, body := get(t, d.addr("fe"), "/"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("serving without NATS: %d %q", resp.StatusCode, body)
	}
	d.adm("set server be/s1 state maint")
	d.adm("set server be/s1 state ready")
	d.adm("set server be/s2 state drain")
	waitFor(t, "events buffered", func() bool { return d.NATSStats()[0].Queued == 7 })
	if st := d.NATSStats()[0]; st.Buffered != 7 || st.Status == "CONNECTED" {
		t.Fatalf("stats: %+v", st)
	}
	srv.Start()
	waitFor(t, "events delivered", func() bool { st := d.NATSStats()[0]; return st.Published == 7 && st.Queued == 0 })

	info, evs := readStream(t, srv, "MOONBUS")
	if info.Config.MaxAge != 10*time.Minute || strings.Join(info.Config.Subjects, ",") != "moonbus.event.>" || info.State.Msgs != 7 {
		t.Fatalf("stream: max-age %v subjects %v msgs %d", info.Config.MaxAge, info.Config.Subjects, info.State.Msgs)
	}
	var types []string
	for i, e := range evs {
		if e.Seq != uint64(i+1) {
			t.Fatalf("stream message %d has seq %d", i+1, e.Seq)
		}
		types = append(types, e.Type)
	}
	want := "SERVER_ADMIN SERVER_DOWN SERVER_STATE SERVER_ADMIN SERVER_UP SERVER_STATE SERVER_ADMIN"
	if strings.Join(types, " ") != want {
		t.Fatalf("stream order %v, want %s", types, want)
	}
}

// readStream returns a stream's configuration and state, and its events in
// stream order.
func readStream(t *testing.T, srv *natstest.Server, name string) (*jetstream.StreamInfo, []natsEvent) {
	t.Helper()
	js, err := jetstream.New(srv.Connect())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var evs []natsEvent
	for i := info.State.FirstSeq; info.State.Msgs > 0 && i <= info.State.LastSeq; i++ {
		m, err := s.GetMsg(ctx, i)
		if err != nil {
			t.Fatal(err)
		}
		var e natsEvent
		if err := json.Unmarshal(m.Data, &e); err != nil {
			t.Fatal(err)
		}
		e.subject = m.Subject
		evs = append(evs, e)
	}
	return info, evs
}

// NATS restarts while the daemon runs: the events of the outage wait in the
// outbox and reach the stream after the reconnect; nothing is lost or
// stored twice.
func TestNATSServerRestart(t *testing.T) {
	srv := natstest.Start(t)
	d := startFleetDaemon(t, fleetConfig(okBackend(t), "nats fleet\n    url "+srv.HostPort()+"\n    instance lb1\n    stream MOONBUS\n"))
	d.natsConnected(1)
	d.adm("set server be/s1 state maint") // 4 events, BACKEND_DOWN included
	waitFor(t, "4 published", func() bool { return d.NATSStats()[0].Published == 4 })
	srv.Shutdown()
	d.adm("set server be/s1 state ready") // 4 more while NATS is down
	d.adm("set server web.eu/s1.a state drain")
	hist := d.Bus().History(0) // everything the bus published
	waitFor(t, "the outage's events waiting", func() bool { return d.NATSStats()[0].Queued == len(hist)-4 })
	srv.Start()
	waitFor(t, "all published", func() bool {
		st := d.NATSStats()[0]
		return st.Published >= uint64(len(hist)) && st.Queued == 0
	})
	_, evs := readStream(t, srv, "MOONBUS")
	if len(evs) != len(hist) {
		t.Fatalf("stream holds %d events, the bus published %d", len(evs), len(hist))
	}
	for i, e := range evs {
		if e.Seq != hist[i].Seq || e.Type != hist[i].Type.String() {
			t.Fatalf("stream event %d: seq %d %s, bus: seq %d %s", i, e.Seq, e.Type, hist[i].Seq, hist[i].Type)
		}
	}
	if got := evs[4].Type + " " + evs[5].Type; got != "SERVER_ADMIN SERVER_UP" {
		t.Fatalf("events after the outage start with %s", got)
	}
	waitFor(t, "reconnect counted", func() bool { return d.NATSStats()[0].Reconnects == 1 })
	if st := d.NATSStats()[0]; st.Dropped != 0 || st.Disconnects != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// The runtime API over NATS: one instance, and every instance at once.
func TestNATSRuntimeAPI(t *testing.T) {
	srv := natstest.Start(t)
	app := okBackend(t)
	section := func(inst string) string {
		return "nats fleet\n    url " + srv.HostPort() + "\n    instance " + inst + "\n    cli on\n"
	}
	d1 := startFleetDaemon(t, fleetConfig(app, section("lb1")))
	d2 := startFleetDaemon(t, fleetConfig(app, section("lb2")))
	d1.natsConnected(1)
	d2.natsConnected(1)
	nc := srv.Connect()

	// Same bytes as the stats socket.
	d1.adm("set weight be/s1 7")
	for _, line := range []string{"get weight be/s1", "show servers state be", "show cli level", "show stat", "bogus command"} {
		want := d1.adm(line)
		m, err := nc.Request("moonbus.cli.lb1", []byte(line), 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		if string(m.Data) != want {
			t.Fatalf("%s over NATS:\n%q\nstats socket:\n%q", line, m.Data, want)
		}
		if m.Header.Get(natsbridge.HeaderInstance) != "lb1" {
			t.Fatalf("reply header %v", m.Header)
		}
	}
	// At admin level: a change goes through, and only on lb1.
	if m, err := nc.Request("moonbus.cli.lb1", []byte("set weight be/s1 9; get weight be/s1"), 5*time.Second); err != nil ||
		string(m.Data) != "\n9 (initial 1)\n\n" {
		t.Fatalf("set over NATS: %v %q", err, m.Data)
	}
	if got := d2.adm("get weight be/s1"); got != "1 (initial 1)\n\n" {
		t.Fatalf("lb2 touched: %q", got)
	}

	// Fan-out: both instances answer on moonbus.cli.
	inbox := nats.NewInbox()
	replies, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.PublishRequest("moonbus.cli", inbox, []byte("get weight be/s1")); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for range 2 {
		m, err := replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("fan-out replies %v: %v", got, err)
		}
		got[m.Header.Get(natsbridge.HeaderInstance)] = string(m.Data)
	}
	if got["lb1"] != "9 (initial 1)\n\n" || got["lb2"] != "1 (initial 1)\n\n" {
		t.Fatalf("fan-out replies: %q", got)
	}
	if st := d2.NATSStats()[0]; st.CLIRequests != 1 {
		t.Fatalf("lb2 counters: %+v", st)
	}
}

// Fleet-wide alert dedup: two instances see the same incidents; the webhook
// gets one request per incident, and the other instance records it as
// suppressed.
func TestNATSAlertDedup(t *testing.T) {
	srv := natstest.Start(t)
	h := startHook(t, nil)
	app := okBackend(t)
	cfg := func(inst string) string {
		return fleetConfig(app, "nats fleet\n    url "+srv.HostPort()+"\n    instance "+inst+"\n    alert-dedup on\n"+
			"webhook ops\n    url "+h.URL+"/hook\n    event SERVER_DOWN SERVER_UP\n")
	}
	d1 := startFleetDaemon(t, cfg("lb1"))
	d2 := startFleetDaemon(t, cfg("lb2"))
	d1.natsConnected(1)
	d2.natsConnected(1)

	// outcome waits until both instances recorded the n-th alert and
	// returns the text of each one's last record.
	outcome := func(n int) (string, string) {
		var a, b []string
		waitFor(t, "both instances recorded the alert", func() bool {
			a = strings.Split(strings.TrimSpace(d1.adm("show alerts")), "\n")
			b = strings.Split(strings.TrimSpace(d2.adm("show alerts")), "\n")
			return len(a) == n+1 && len(b) == n+1
		})
		return a[n], b[n]
	}
	check := func(n int, kind string) {
		t.Helper()
		r1, r2 := outcome(n)
		sent, supp := r1, r2
		if strings.Contains(r1, " suppressed ") {
			sent, supp = r2, r1
		}
		if !strings.Contains(sent, "webhook/ops sent 1 1 "+kind) || !strings.Contains(supp, "webhook/ops suppressed 0 1 "+kind) ||
			!strings.Contains(supp, `"fleet: sent by lb`) {
			t.Fatalf("alert %d records:\nlb1: %s\nlb2: %s", n, r1, r2)
		}
	}
	d1.adm("set server be/s1 state maint")
	d2.adm("set server be/s1 state maint")
	check(1, "SERVER_DOWN")
	d2.adm("set server be/s1 state ready")
	d1.adm("set server be/s1 state ready")
	check(2, "SERVER_UP")
	reqs := h.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d webhook requests, want 2", len(reqs))
	}
	for i, want := range []string{"SERVER_DOWN", "SERVER_UP"} {
		if body := decodeJSON(t, reqs[i].Body); body["type"] != want {
			t.Fatalf("request %d: %s", i, reqs[i].Body)
		}
	}
	s1, s2 := d1.NATSStats()[0], d2.NATSStats()[0]
	if s1.ClaimsWon+s2.ClaimsWon != 2 || s1.ClaimsLost+s2.ClaimsLost != 2 || s1.ClaimErrors+s2.ClaimErrors != 0 {
		t.Fatalf("claims: lb1 %+v lb2 %+v", s1, s2)
	}
}

// Without NATS, alert-dedup fails open: the alert is sent, and logged.
func TestNATSAlertDedupFailsOpen(t *testing.T) {
	srv := natstest.New(t) // never started
	h := startHook(t, nil)
	d := startFleetDaemon(t, fleetConfig(okBackend(t), "nats fleet\n    url "+srv.HostPort()+"\n    instance lb1\n    alert-dedup on\n"+
		"webhook ops\n    url "+h.URL+"/hook\n    event SERVER_DOWN\n"))
	d.adm("set server be/s1 state maint")
	h.wait(1)
	d.waitLog("fleet alert dedup unavailable, sending anyway")
	if st := d.NATSStats()[0]; st.ClaimErrors != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

// Reload: the same section keeps its bridge and connection; a removed one
// is closed.
func TestNATSReload(t *testing.T) {
	srv := natstest.Start(t)
	app := okBackend(t)
	text := fleetConfig(app, "nats fleet\n    url "+srv.HostPort()+"\n    instance lb1\n    cli on\n")
	d := startFleetDaemon(t, text)
	d.natsConnected(1)
	d.mu.Lock()
	b := d.fleet.bridges[0]
	d.mu.Unlock()
	cfg, err := configParse(text)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	d.mu.Lock()
	same := d.fleet.bridges[0] == b
	d.mu.Unlock()
	if !same || b.Conn().IsClosed() || d.NATSStats()[0].Connects != 1 {
		t.Fatalf("bridge replaced on an unchanged reload: same=%v stats %+v", same, d.NATSStats()[0])
	}
	nc := srv.Connect()
	if m, err := nc.Request("moonbus.cli.lb1", []byte("get weight be/s1"), 5*time.Second); err != nil || string(m.Data) != "1 (initial 1)\n\n" {
		t.Fatalf("CLI after reload: %v %v", m, err)
	}
	// A changed section: a new bridge and connection; the old one closes.
	cfg, err = configParse(fleetConfig(app, "nats fleet\n    url "+srv.HostPort()+"\n    instance lb9\n    cli on\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "old connection closed", func() bool { return b.Conn().IsClosed() })
	d.mu.Lock()
	b = d.fleet.bridges[0]
	d.mu.Unlock()
	if m, err := nc.Request("moonbus.cli.lb9", []byte("get weight be/s1"), 5*time.Second); err != nil || string(m.Data) != "1 (initial 1)\n\n" {
		t.Fatalf("CLI after a changed section: %v %v", m, err)
	}
	cfg, err = configParse(fleetConfig(app, ""))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "old connection closed", func() bool { return b.Conn().IsClosed() })
	if st := d.NATSStats(); len(st) != 0 {
		t.Fatalf("bridges after removal: %+v", st)
	}
	if _, err := nc.Request("moonbus.cli.lb1", []byte("get weight be/s1"), 200*time.Millisecond); err == nil {
		t.Fatal("CLI still answered after the section was removed")
	}
}
