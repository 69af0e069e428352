package moonbus

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/handlers"
)

// hookReq is one request received by the test webhook endpoint.
type hookReq struct {
	At     time.Time
	Header http.Header
	URI    string
	Body   []byte
}

// hook is an httptest webhook endpoint recording its requests; status
// decides the reply to the n-th request (nil: 200).
type hook struct {
	*httptest.Server
	t      testing.TB
	status func(n int) int

	mu      sync.Mutex
	reqs    []hookReq
	arrived chan time.Time
}

func startHook(t testing.TB, status func(n int) int) *hook {
	h := &hook{t: t, status: status, arrived: make(chan time.Time, 1024)}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		at := time.Now()
		body, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, hookReq{At: at, Header: r.Header.Clone(), URI: r.RequestURI, Body: body})
		h.mu.Unlock()
		code := http.StatusOK
		if h.status != nil {
			code = h.status(n)
		}
		w.WriteHeader(code)
		select {
		case h.arrived <- at:
		default:
		}
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hook) requests() []hookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookReq(nil), h.reqs...)
}

// wait polls until n requests arrived and returns them.
func (h *hook) wait(n int) []hookReq {
	h.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := h.requests()
		if len(r) >= n {
			return r
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("got %d webhook requests, want %d", len(r), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func decodeJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

// hookDaemon starts a daemon with backend "be" (s1, s2, s3 on a healthy
// backend, checks every 10s so the CLI drives the state) and the given
// webhook section lines.
func hookDaemon(t *testing.T, webhook string) *testDaemon {
	t.Helper()
	app := newSickable(t, "app")
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
webhook ops
`+webhook+`
`+httpDefaults+`
backend be
    option httpchk GET /health
    server s1 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
    server s2 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
    server s3 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
`)
	waitFirstChecks(t, d, "be")
	return d
}

// The webhook end to end: the event JSON, signed with the secret.
func TestAlertsWebhookSigned(t *testing.T) {
	h := startHook(t, nil)
	d := hookDaemon(t, "    url "+h.URL+"/hook\n    event SERVER_DOWN SERVER_UP\n    secret hook-s3cret\n    header X-Team ops")
	d.adm("set server be/s1 health down")
	r := h.wait(1)[0]
	ts := r.Header.Get(handlers.HeaderTimestamp)
	if sec, err := strconv.ParseInt(ts, 10, 64); err != nil || time.Since(time.Unix(sec, 0)) > time.Minute {
		t.Fatalf("timestamp %q", ts)
	}
	if want := handlers.Sign([]byte("hook-s3cret"), ts, r.Body); r.Header.Get(handlers.HeaderSignature) != want || !strings.HasPrefix(want, "sha256=") {
		t.Fatalf("signature %q, want %q", r.Header.Get(handlers.HeaderSignature), want)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.Header.Get("X-Team") != "ops" || r.URI != "/hook" {
		t.Fatalf("request %s headers %v", r.URI, r.Header)
	}
	body := decodeJSON(t, r.Body)
	srv, _ := body["server"].(map[string]any)
	state, _ := body["state"].(map[string]any)
	if body["type"] != "SERVER_DOWN" || body["instance"] != "test" || srv["name"] != "s1" || srv["proxy_name"] != "be" ||
		state["new_state"] != "STOPPED" || state["cause"] != "changed from CLI" {
		t.Fatalf("body %s", r.Body)
	}
	d.adm("set server be/s1 health up")
	if body := decodeJSON(t, h.wait(2)[1].Body); body["type"] != "SERVER_UP" {
		t.Fatalf("second request %v", body)
	}
}

// group-wait: the changes of one window leave as one batch.
func TestAlertsWebhookGroupWait(t *testing.T) {
	h := startHook(t, nil)
	d := hookDaemon(t, "    url "+h.URL+"/hook\n    event SERVER_DOWN\n    group-wait 400ms")
	d.adm("set server be/s1 health down; set server be/s2 health down")
	r := h.wait(1)
	body := decodeJSON(t, r[0].Body)
	evs, _ := body["events"].([]any)
	if len(evs) != 2 {
		t.Fatalf("batch %s", r[0].Body)
	}
	for i, name := range []string{"s1", "s2"} {
		e, _ := evs[i].(map[string]any)
		s, _ := e["server"].(map[string]any)
		if e["type"] != "SERVER_DOWN" || s["name"] != name {
			t.Fatalf("event %d: %v", i, e)
		}
	}
	p := d.alerts.webhooks[0].Pipeline()
	waitFor(t, "the record", func() bool { return p.Counters().Sent == 1 })
	if n := len(h.requests()); n != 1 {
		t.Fatalf("%d requests, want one batch", n)
	}
}

// Ten flaps (twenty state changes) are damped: the first four changes are
// posted, then one FLAPPING alert, then nothing.
func TestAlertsWebhookFlapDamping(t *testing.T) {
	h := startHook(t, nil)
	d := hookDaemon(t, "    url "+h.URL+"/hook\n    event SERVER_DOWN SERVER_UP")
	// Let the webhook's subscription take each event before the next
	// change, so none is coalesced away and the pipeline counts all twenty.
	drained := func() bool {
		for _, s := range d.Bus().Subscribers() {
			if s.Name == "webhook/ops" {
				return s.Queued == 0
			}
		}
		return false
	}
	for i := 0; i < 10; i++ {
		d.adm("set server be/s1 health down")
		waitFor(t, "webhook took the change", drained)
		d.adm("set server be/s1 health up")
		waitFor(t, "webhook took the change", drained)
	}
	p := d.alerts.webhooks[0].Pipeline()
	waitFor(t, "everything processed", func() bool { c := p.Counters(); return c.Sent == 5 && c.Suppressed == 16 })
	reqs := h.requests()
	if len(reqs) != 5 {
		t.Fatalf("%d requests, want 5", len(reqs))
	}
	for i, want := range []string{"SERVER_DOWN", "SERVER_UP", "SERVER_DOWN", "SERVER_UP"} {
		if typ := decodeJSON(t, reqs[i].Body)["type"]; typ != want {
			t.Fatalf("request %d: %v, want %s", i, typ, want)
		}
	}
	flap := decodeJSON(t, reqs[4].Body)
	if flap["type"] != "FLAPPING" || flap["subject"] != "be/s1" || flap["changes"] != float64(5) ||
		!strings.HasPrefix(flap["text"].(string), "Server be/s1 is flapping: 5 state changes within 1m0s") {
		t.Fatalf("flapping alert %s", reqs[4].Body)
	}
	if show := d.adm("show alerts"); strings.Count(show, " suppressed ") != 16 || !strings.Contains(show, "webhook/ops sent 1 1 FLAPPING") {
		t.Fatalf("show alerts:\n%s", show)
	}
}
