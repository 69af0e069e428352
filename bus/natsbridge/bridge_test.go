package natsbridge

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/internal/natstest"
)

// logBuf is a goroutine-safe log capture.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

type fixture struct {
	bus *bus.Bus
	br  *Bridge
	log *logBuf
}

// start runs a bus and a bridge to srv; mod edits the section, opts the
// options. Both stop at the end of the test (the bridge first).
func start(t *testing.T, srv *natstest.Server, mod func(*config.NATS), opts func(*Options)) *fixture {
	t.Helper()
	f := &fixture{log: &logBuf{}}
	lg := slog.New(slog.NewTextHandler(f.log, nil))
	f.bus = bus.New(bus.Options{Instance: "lb1", Logger: lg})
	t.Cleanup(f.bus.Close)
	cfg := &config.NATS{Name: "fleet", URLs: []string{srv.HostPort()}, Instance: "lb1", Prefix: "moonbus", Publish: []string{"SERVER", "BACKEND"}}
	if mod != nil {
		mod(cfg)
	}
	o := Options{Bus: f.bus, Logger: lg, ReconnectWait: 20 * time.Millisecond, FlushTimeout: 500 * time.Millisecond}
	if opts != nil {
		opts(&o)
	}
	br, err := New(cfg, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := br.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	f.br = br
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := br.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
		if t.Failed() {
			t.Logf("log:\n%s", f.log.String())
		}
	})
	return f
}

func (f *fixture) connected(t *testing.T) {
	t.Helper()
	waitFor(t, "bridge connected", func() bool { return f.br.Conn().IsConnected() })
}

// publishN publishes n SERVER_CHECK events for be/s1.
func (f *fixture) publishN(n int) {
	for range n {
		f.bus.Publish(serverEvent(bus.ServerCheck, "be", "s1"))
	}
}

type gotMsg struct {
	Subject string
	Type    string `json:"type"`
	Seq     uint64 `json:"seq"`
	Inst    string `json:"instance"`
	Server  struct {
		Name  string `json:"name"`
		Proxy string `json:"proxy_name"`
	} `json:"server"`
	ID string
}

func decode(t *testing.T, m *nats.Msg) gotMsg {
	t.Helper()
	var g gotMsg
	if err := json.Unmarshal(m.Data, &g); err != nil {
		t.Fatalf("%s: %v: %s", m.Subject, err, m.Data)
	}
	g.Subject = m.Subject
	g.ID = m.Header.Get("Nats-Msg-Id")
	return g
}

func next(t *testing.T, sub *nats.Subscription) gotMsg {
	t.Helper()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("waiting for a message on %s: %v", sub.Subject, err)
	}
	return decode(t, m)
}

func TestEventsOutInOrder(t *testing.T) {
	srv := natstest.Start(t)
	f := start(t, srv, func(c *config.NATS) { c.Publish = []string{"SERVER_DOWN", "BACKEND"} }, nil)
	f.connected(t)
	nc := srv.Connect()
	sub, err := nc.SubscribeSync("moonbus.event.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	f.bus.PublishBatch(
		serverEvent(bus.ServerAdmin, "be", "s1"),
		serverEvent(bus.ServerDown, "be", "s1"),
		serverEvent(bus.ServerState, "be", "s1"),
	)
	f.bus.Publish(serverEvent(bus.ServerDown, "be", "s2"))
	f.bus.Publish(&bus.Event{Type: bus.BackendDown, Backend: &bus.BackendInfo{ProxyName: "be", ProxyUUID: 3}})
	var got []gotMsg
	for range 3 {
		got = append(got, next(t, sub))
	}
	want := []struct{ subj, typ, srv string }{
		{"moonbus.event.lb1.SERVER_DOWN.be.s1", "SERVER_DOWN", "s1"},
		{"moonbus.event.lb1.SERVER_DOWN.be.s2", "SERVER_DOWN", "s2"},
		{"moonbus.event.lb1.BACKEND_DOWN.be", "BACKEND_DOWN", ""},
	}
	for i, w := range want {
		g := got[i]
		if g.Subject != w.subj || g.Type != w.typ || g.Server.Name != w.srv || g.Inst != "lb1" {
			t.Errorf("message %d: %+v, want %+v", i, g, w)
		}
		if i > 0 && g.Seq <= got[i-1].Seq {
			t.Errorf("message %d: seq %d after %d", i, g.Seq, got[i-1].Seq)
		}
		if !strings.HasPrefix(g.ID, "lb1-") {
			t.Errorf("message %d: Nats-Msg-Id %q", i, g.ID)
		}
	}
	// The SERVER_ADMIN and SERVER_STATE events were filtered out: the
	// SERVER_DOWN published between them is seq 2.
	if got[0].Seq != 2 {
		t.Errorf("first message seq %d, want 2", got[0].Seq)
	}
	waitFor(t, "published counter", func() bool { return f.br.Stats().Published == 3 })
}

func TestEscapedNamesOverNATS(t *testing.T) {
	srv := natstest.Start(t)
	f := start(t, srv, func(c *config.NATS) { c.Instance = "lb 1.eu" }, nil)
	f.connected(t)
	nc := srv.Connect()
	// Exactly six tokens: the odd names did not add any.
	sub, err := nc.SubscribeSync("moonbus.event.*.SERVER_UP.*.*")
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	f.bus.Publish(serverEvent(bus.ServerUp, "web.prod *", "s>1%"))
	g := next(t, sub)
	if g.Subject != "moonbus.event.lb%201%2Eeu.SERVER_UP.web%2Eprod%20%2A.s%3E1%25" {
		t.Fatalf("subject %q", g.Subject)
	}
	p, err := ParseEventSubject(g.Subject)
	if err != nil || p.Instance != "lb 1.eu" || p.Proxy != "web.prod *" || p.Server != "s>1%" {
		t.Fatalf("decoded %+v, %v", p, err)
	}
	if g.Server.Proxy != "web.prod *" || g.Server.Name != "s>1%" {
		t.Fatalf("JSON names %+v", g.Server)
	}
}

// streamSeqs reads every message of a stream and returns the bus sequence
// numbers of their JSON bodies, in stream order.
func streamSeqs(t *testing.T, nc *nats.Conn, stream string) []uint64 {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for i := info.State.FirstSeq; i <= info.State.LastSeq && info.State.Msgs > 0; i++ {
		m, err := s.GetMsg(ctx, i)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		var g gotMsg
		if err := json.Unmarshal(m.Data, &g); err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, g.Seq)
	}
	return seqs
}

func checkSeqs(t *testing.T, got []uint64, from, to uint64) {
	t.Helper()
	if len(got) != int(to-from+1) {
		t.Fatalf("stream holds %d events (%v), want seq %d..%d", len(got), got, from, to)
	}
	for i, s := range got {
		if s != from+uint64(i) {
			t.Fatalf("stream event %d has seq %d, want %d (%v)", i, s, from+uint64(i), got)
		}
	}
}

func TestBufferedUntilNATSStarts(t *testing.T) {
	srv := natstest.New(t) // not running
	f := start(t, srv, func(c *config.NATS) { c.Stream = "EVENTS" }, nil)
	f.publishN(100)
	waitFor(t, "100 events buffered", func() bool { s := f.br.Stats(); return s.Queued == 100 && s.Buffered == 100 })
	if st := f.br.Stats(); st.Published != 0 || st.Status == "CONNECTED" {
		t.Fatalf("stats before NATS: %+v", st)
	}
	srv.Start()
	waitFor(t, "100 events published", func() bool { s := f.br.Stats(); return s.Published == 100 && s.Queued == 0 })
	checkSeqs(t, streamSeqs(t, srv.Connect(), "EVENTS"), 1, 100)
	if st := f.br.Stats(); st.Dropped != 0 || !st.StreamReady {
		t.Fatalf("stats: %+v", st)
	}
}

func TestServerRestartNothingLost(t *testing.T) {
	srv := natstest.Start(t)
	f := start(t, srv, func(c *config.NATS) { c.Stream = "EVENTS" }, nil)
	f.connected(t)
	f.publishN(50)
	waitFor(t, "50 published", func() bool { return f.br.Stats().Published == 50 })
	srv.Shutdown()
	f.publishN(50)
	waitFor(t, "50 waiting", func() bool { return f.br.Stats().Queued == 50 })
	srv.Start()
	waitFor(t, "100 published", func() bool { s := f.br.Stats(); return s.Published >= 100 && s.Queued == 0 })
	// Batches whose confirmation was lost are sent again with the same
	// Nats-Msg-Id: the stream keeps one copy of each event.
	checkSeqs(t, streamSeqs(t, srv.Connect(), "EVENTS"), 1, 100)
	waitFor(t, "reconnect counted and logged", func() bool {
		return f.br.Stats().Reconnects == 1 && strings.Contains(f.log.String(), "reconnected")
	})
	st := f.br.Stats()
	if st.Dropped != 0 {
		t.Fatalf("stats: %+v", st)
	}
	if testing.Verbose() {
		t.Log(f.log.String())
	}
	if !strings.Contains(f.log.String(), "disconnected") || !strings.Contains(f.log.String(), "reconnected") {
		t.Fatalf("log:\n%s", f.log.String())
	}
}

func TestOverflowCountedAndLogged(t *testing.T) {
	srv := natstest.New(t)
	f := start(t, srv, func(c *config.NATS) { c.Stream = "EVENTS" }, func(o *Options) { o.Buffer = 10 })
	f.publishN(25)
	waitFor(t, "15 dropped", func() bool { s := f.br.Stats(); return s.Dropped == 15 && s.Queued == 10 })
	waitFor(t, "overflow warning", func() bool { return strings.Contains(f.log.String(), "outbox full (10 events)") })
	srv.Start()
	waitFor(t, "10 published", func() bool { s := f.br.Stats(); return s.Published == 10 && s.Queued == 0 })
	checkSeqs(t, streamSeqs(t, srv.Connect(), "EVENTS"), 16, 25) // the oldest were dropped
	waitFor(t, "burst total", func() bool {
		return strings.Contains(f.log.String(), "15 events were dropped because the outbox was full")
	})
	if n := strings.Count(f.log.String(), "outbox full ("); n != 1 {
		t.Fatalf("%d burst warnings, want 1:\n%s", n, f.log.String())
	}
}

func TestStreamMaxAge(t *testing.T) {
	srv := natstest.Start(t)
	f := start(t, srv, func(c *config.NATS) {
		c.Prefix = "mb"
		c.Stream = "MB_EVENTS"
		c.StreamMaxAge = 90 * time.Second
	}, nil)
	waitFor(t, "stream ready", func() bool { return f.br.Stats().StreamReady })
	js, err := jetstream.New(srv.Connect())
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(context.Background(), "MB_EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.MaxAge != 90*time.Second || len(info.Config.Subjects) != 1 || info.Config.Subjects[0] != "mb.event.>" {
		t.Fatalf("stream config: max-age %v, subjects %v", info.Config.MaxAge, info.Config.Subjects)
	}
}

// Credentials never reach the logs or the counters, whether the
// connection is refused (wrong password) or made.
func TestSecretsNotLogged(t *testing.T) {
	srv := natstest.New(t)
	srv.RequireUser("lb", "right-s3cret")
	srv.Start()
	bad := start(t, srv, func(c *config.NATS) {
		c.URLs = []string{"nats://lb:url-s3cret@" + srv.HostPort()}
		c.User, c.Password = "lb", "wrong-s3cret"
	}, nil)
	good := start(t, srv, func(c *config.NATS) { c.User, c.Password = "lb", "right-s3cret" }, nil)
	waitFor(t, "connected logged", func() bool { return strings.Contains(good.log.String(), "connected to ") })
	waitFor(t, "authorization error logged", func() bool {
		return strings.Contains(strings.ToLower(bad.log.String()), "authorization")
	})
	for _, f := range []*fixture{bad, good} {
		var stats bytes.Buffer
		_ = WriteStats(&stats, f.br.Stats())
		for _, secret := range []string{"s3cret"} {
			if strings.Contains(f.log.String(), secret) || strings.Contains(stats.String(), secret) {
				t.Fatalf("secret in log or stats:\n%s\n%s", f.log.String(), stats.String())
			}
		}
	}
}
