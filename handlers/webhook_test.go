package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/mailers"
	"moonbus/mailers/mailerstest"
)

// hookRequest is one request received by the test webhook server.
type hookRequest struct {
	At     time.Time
	Header http.Header
	Host   string
	URI    string
	Body   []byte
}

// hookServer is an httptest server that records requests and answers as
// reply says for the n-th request (0-based); nil reply means 200.
type hookServer struct {
	*httptest.Server
	reply func(n int, w http.ResponseWriter) int

	mu   sync.Mutex
	reqs []hookRequest
	ok   []hookRequest // requests answered 2xx
}

func startHookServer(t testing.TB, reply func(n int, w http.ResponseWriter) int) *hookServer {
	h := &hookServer{reply: reply}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := hookRequest{At: time.Now(), Header: r.Header.Clone(), Host: r.Host, URI: r.RequestURI, Body: body}
		h.mu.Lock()
		n := len(h.reqs)
		h.reqs = append(h.reqs, req)
		h.mu.Unlock()
		status := http.StatusOK
		if h.reply != nil {
			status = h.reply(n, w)
		}
		if status >= 200 && status < 300 {
			h.mu.Lock()
			h.ok = append(h.ok, req)
			h.mu.Unlock()
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *hookServer) requests() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.reqs...)
}

func (h *hookServer) delivered() []hookRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]hookRequest(nil), h.ok...)
}

func whWaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// whLogBuffer is a log sink safe for the pipeline goroutines.
type whLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *whLogBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *whLogBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startWebhook(t testing.TB, cfg *config.Webhook, logs *whLogBuffer, flap *mailers.FlapPolicy) *Webhook {
	t.Helper()
	if cfg.Name == "" {
		cfg.Name = "ops"
	}
	if cfg.Retries == 0 {
		cfg.Retries = 5
	}
	if logs == nil {
		logs = &whLogBuffer{}
	}
	if flap == nil {
		flap = &mailers.FlapPolicy{}
	}
	w, err := NewWebhook(cfg, WebhookOptions{Logger: slog.New(slog.NewTextHandler(logs, nil)), Flap: flap,
		RetryBase: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		w.Stop(ctx)
	})
	return w
}

func whEvent(typ bus.Type, seq uint64, be, srv string) *bus.Event {
	e := &bus.Event{
		Type: typ, Seq: seq, Instance: "lb1", When: time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		Server:   &bus.ServerRef{Name: srv, PUID: 1, ProxyName: be, ProxyUUID: 3},
		Snapshot: &bus.Snapshot{Weight: 1, BackendActive: 1},
	}
	switch typ {
	case bus.ServerDown:
		e.State = &bus.StateChange{OldState: "RUNNING", NewState: "STOPPED", Check: &bus.CheckResult{
			Result: "FAILED", Duration: 1, Health: bus.Health{Cur: 0, Rise: 2, Fall: 2},
			Reason: bus.CheckReason{Short: "L7STS", Desc: "Layer7 wrong status", Code: 503}}}
	case bus.ServerUp:
		e.State = &bus.StateChange{OldState: "STOPPED", NewState: "RUNNING", Cause: "changed from CLI"}
	}
	return e
}

// decode turns JSON into generic values, so comparisons do not depend on
// field order.
func whDecode(t testing.TB, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("body %q: %v", b, err)
	}
	return m
}

func TestWebhookEventJSON(t *testing.T) {
	h := startHookServer(t, nil)
	w := startWebhook(t, &config.Webhook{URL: h.URL + "/hook"}, nil, nil)
	e := whEvent(bus.ServerDown, 42, "be", "s1")
	w.Handle(e)
	whWaitFor(t, "request", func() bool { return len(h.requests()) == 1 })
	r := h.requests()[0]
	want, _ := json.Marshal(e)
	if got := whDecode(t, r.Body); !reflect.DeepEqual(got, whDecode(t, want)) {
		t.Errorf("body %s\nwant %s", r.Body, want)
	}
	m := whDecode(t, r.Body)
	if m["seq"] != float64(42) || m["instance"] != "lb1" || m["server"].(map[string]any)["proxy_name"] != "be" {
		t.Errorf("body %s", r.Body)
	}
	if typ, ok := m["type"]; ok && typ != "SERVER_DOWN" {
		t.Errorf("type %v", typ)
	}
	if r.Header.Get("Content-Type") != "application/json" || r.URI != "/hook" || r.Header.Get(HeaderSignature) != "" {
		t.Errorf("headers %v uri %s", r.Header, r.URI)
	}
}

func TestWebhookSignatureAndHeaders(t *testing.T) {
	const secret = "whsec-0123456789"
	h := startHookServer(t, func(n int, _ http.ResponseWriter) int {
		if n == 0 {
			return http.StatusBadGateway // the retry is signed afresh
		}
		return http.StatusOK
	})
	t.Setenv("HOOK_TOKEN", "tok-from-env")
	w := startWebhook(t, &config.Webhook{URL: h.URL, Secret: secret, Headers: [][2]string{
		{"Authorization", os.ExpandEnv("Bearer ${HOOK_TOKEN}")}, // the parser expands; this is its result
		{"X-Team", "sre"}, {"X-Team", "noc"}, {"Content-Type", "application/vnd.moonbus+json"}, {"Host", "alerts.example"},
	}}, nil, nil)
	w.Handle(whEvent(bus.ServerDown, 1, "be", "s1"))
	whWaitFor(t, "2 requests", func() bool { return len(h.requests()) == 2 })
	for _, r := range h.requests() {
		ts := r.Header.Get(HeaderTimestamp)
		sec, err := strconv.ParseInt(ts, 10, 64)
		if err != nil || time.Since(time.Unix(sec, 0)).Abs() > time.Minute {
			t.Errorf("timestamp %q", ts)
		}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(r.Body)))
		want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if got := r.Header.Get(HeaderSignature); !hmac.Equal([]byte(got), []byte(want)) {
			t.Errorf("signature %q, want %q", got, want)
		}
		if r.Header.Get("Authorization") != "Bearer tok-from-env" || strings.Join(r.Header.Values("X-Team"), ",") != "sre,noc" ||
			r.Header.Get("Content-Type") != "application/vnd.moonbus+json" || r.Host != "alerts.example" ||
			r.Header.Get("User-Agent") != "Moonbus-Webhook" {
			t.Errorf("headers %v host %s", r.Header, r.Host)
		}
	}
	if Sign([]byte("k"), "1", []byte("b")) == Sign([]byte("k"), "2", []byte("b")) {
		t.Error("timestamp not signed")
	}
}

func TestWebhookTemplate(t *testing.T) {
	dir := t.TempDir()
	single := filepath.Join(dir, "single.tmpl")
	os.WriteFile(single, []byte(`{"text":{{json .Text}},"server":"{{.Server.Name}}","state":"{{.State.NewState}}","kind":"{{.Kind}}","type":"{{.Type}}","status":"{{.Status}}"}`), 0o600)
	batch := filepath.Join(dir, "batch.tmpl")
	os.WriteFile(batch, []byte(`{{len .Events}}:{{range .Events}}{{.Subject}}={{.Status}};{{end}}`), 0o600)

	h := startHookServer(t, nil)
	w := startWebhook(t, &config.Webhook{URL: h.URL, Template: single}, nil, nil)
	w.Handle(whEvent(bus.ServerUp, 1, "be", "s1"))
	whWaitFor(t, "request", func() bool { return len(h.requests()) == 1 })
	got := whDecode(t, h.requests()[0].Body)
	want := map[string]any{"text": "Server be/s1 is UP, changed from CLI. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue",
		"server": "s1", "state": "RUNNING", "kind": "SERVER_UP", "type": "SERVER_UP", "status": "UP"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("template body %v", got)
	}

	h2 := startHookServer(t, nil)
	w2 := startWebhook(t, &config.Webhook{URL: h2.URL, Template: batch, GroupWait: 200 * time.Millisecond}, nil, nil)
	w2.Handle(whEvent(bus.ServerDown, 1, "be", "s1"))
	w2.Handle(whEvent(bus.ServerDown, 2, "be", "s2"))
	whWaitFor(t, "request", func() bool { return len(h2.requests()) == 1 })
	if b := string(h2.requests()[0].Body); b != "2:be/s1=DOWN;be/s2=DOWN;" {
		t.Errorf("batch template body %q", b)
	}
}

// 500 twice then 200: retried, delivered once, and the UP that followed
// waits for it: order is kept across retries.
func TestWebhookRetriesKeepOrder(t *testing.T) {
	h := startHookServer(t, func(n int, _ http.ResponseWriter) int {
		if n < 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	w := startWebhook(t, &config.Webhook{URL: h.URL}, nil, nil)
	w.Handle(whEvent(bus.ServerDown, 1, "be", "s1"))
	w.Handle(whEvent(bus.ServerUp, 2, "be", "s1"))
	whWaitFor(t, "2 deliveries", func() bool { return len(w.Pipeline().Records(0)) == 2 })
	ok := h.delivered()
	if len(ok) != 2 || whDecode(t, ok[0].Body)["seq"] != float64(1) || whDecode(t, ok[1].Body)["seq"] != float64(2) {
		t.Fatalf("delivered %d requests out of %d", len(ok), len(h.requests()))
	}
	if len(h.requests()) != 4 {
		t.Errorf("%d requests, want 4", len(h.requests()))
	}
	if c := w.Pipeline().Counters(); c.Sent != 2 || c.Retried != 2 || c.Failed != 0 {
		t.Errorf("counters %+v", c)
	}
}

func TestWebhook429RetryAfter(t *testing.T) {
	h := startHookServer(t, func(n int, w http.ResponseWriter) int {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			return http.StatusTooManyRequests
		}
		return http.StatusOK
	})
	w := startWebhook(t, &config.Webhook{URL: h.URL}, nil, nil)
	w.Handle(whEvent(bus.ServerDown, 1, "be", "s1"))
	w.Handle(whEvent(bus.ServerUp, 2, "be", "s1"))
	whWaitFor(t, "3 requests", func() bool { return len(h.requests()) == 3 })
	r := h.requests()
	if gap := r[1].At.Sub(r[0].At); gap < time.Second {
		t.Errorf("retried %s after a 429 with Retry-After: 1", gap)
	}
	if whDecode(t, r[1].Body)["seq"] != float64(1) || whDecode(t, r[2].Body)["seq"] != float64(2) {
		t.Errorf("order: %s then %s", r[1].Body, r[2].Body)
	}
}

func TestWebhookStatusClassification(t *testing.T) {
	for _, tc := range []struct {
		status   int
		attempts int
	}{{404, 1}, {400, 1}, {401, 1}, {408, 3}, {503, 3}} {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			h := startHookServer(t, func(int, http.ResponseWriter) int { return tc.status })
			w := startWebhook(t, &config.Webhook{URL: h.URL, Retries: 2}, nil, nil)
			w.Handle(whEvent(bus.ServerDown, 1, "be", "s1"))
			whWaitFor(t, "record", func() bool { return len(w.Pipeline().Records(0)) == 1 })
			rec := w.Pipeline().Records(0)[0]
			if rec.Status != mailers.StatusFailed || rec.Attempts != tc.attempts || len(h.requests()) != tc.attempts ||
				!strings.Contains(rec.Error, "HTTP "+strconv.Itoa(tc.status)) {
				t.Errorf("record %+v, %d requests", rec, len(h.requests()))
			}
		})
	}
}

func TestWebhookGroupWait(t *testing.T) {
	h := startHookServer(t, nil)
	w := startWebhook(t, &config.Webhook{URL: h.URL, GroupWait: 300 * time.Millisecond}, nil, nil)
	for i := range 5 {
		w.Handle(whEvent(bus.ServerDown, uint64(i+1), "be", fmt.Sprint("s", i)))
	}
	whWaitFor(t, "batch", func() bool { return len(h.requests()) == 1 })
	var body struct {
		Events []map[string]any `json:"events"`
	}
	if err := json.Unmarshal(h.requests()[0].Body, &body); err != nil {
		t.Fatal(err)
	}
	if len(body.Events) != 5 {
		t.Fatalf("%d events in the batch", len(body.Events))
	}
	for i, e := range body.Events {
		if e["seq"] != float64(i+1) {
			t.Errorf("event %d has seq %v", i, e["seq"])
		}
	}
	// A single event in a later window is still a batch.
	w.Handle(whEvent(bus.ServerUp, 9, "be", "s0"))
	whWaitFor(t, "2nd batch", func() bool { return len(h.requests()) == 2 })
	if !bytes.HasPrefix(h.requests()[1].Body, []byte(`{"events":[`)) {
		t.Errorf("body %s", h.requests()[1].Body)
	}
}

func TestWebhookFilters(t *testing.T) {
	h := startHookServer(t, nil)
	w := startWebhook(t, &config.Webhook{URL: h.URL, Events: []string{"SERVER_DOWN", "BACKEND"}, Backends: []string{"be"}}, nil, nil)
	w.Handle(whEvent(bus.ServerDown, 1, "be", "s1"))    // yes
	w.Handle(whEvent(bus.ServerUp, 2, "be", "s1"))      // type not selected
	w.Handle(whEvent(bus.ServerDown, 3, "other", "s1")) // backend not selected
	w.Handle(&bus.Event{Type: bus.BackendDown, Seq: 4, Backend: &bus.BackendInfo{ProxyName: "other"}})
	w.Handle(&bus.Event{Type: bus.ServerCheck, Seq: 5, Server: &bus.ServerRef{Name: "s1", ProxyName: "be"}})
	w.Handle(&bus.Event{Type: bus.BackendDown, Seq: 6, Backend: &bus.BackendInfo{ProxyName: "be"}}) // yes, family
	whWaitFor(t, "BACKEND_DOWN be", func() bool {
		r := h.requests()
		return len(r) > 0 && whDecode(t, r[len(r)-1].Body)["seq"] == float64(6)
	})
	if r := h.requests(); len(r) != 2 || whDecode(t, r[0].Body)["seq"] != float64(1) {
		t.Errorf("%d requests", len(r))
	}
}

// Ten flaps in a row: a few events, one FLAPPING, silence, one SETTLED.
func TestWebhookFlapDamping(t *testing.T) {
	h := startHookServer(t, nil)
	w := startWebhook(t, &config.Webhook{URL: h.URL}, nil,
		&mailers.FlapPolicy{Changes: 4, Window: time.Minute, Settle: 300 * time.Millisecond})
	seq := uint64(0)
	for range 10 {
		seq++
		w.Handle(whEvent(bus.ServerDown, seq, "be", "s1"))
		seq++
		w.Handle(whEvent(bus.ServerUp, seq, "be", "s1"))
	}
	whWaitFor(t, "SETTLED", func() bool {
		r := h.requests()
		return len(r) > 0 && whDecode(t, r[len(r)-1].Body)["type"] == mailers.KindSettled
	})
	var kinds []string
	for _, r := range h.requests() {
		m := whDecode(t, r.Body)
		kinds = append(kinds, fmt.Sprint(m["type"]))
		if m["type"] == mailers.KindSettled && (m["state"] != "UP" || m["subject"] != "be/s1") {
			t.Errorf("settled body %s", r.Body)
		}
	}
	flapping := strings.Count(strings.Join(kinds, ","), mailers.KindFlapping)
	if flapping != 1 || len(kinds) != 6 {
		t.Errorf("posted %v: want 4 events, 1 FLAPPING, 1 SETTLED", kinds)
	}
	if c := w.Pipeline().Counters(); c.Suppressed != 16 {
		t.Errorf("suppressed %d, want 16", c.Suppressed)
	}
}

// The secret, a token in a header and a token in the URL query never reach
// logs, errors or `show alerts`, even when the target echoes them back.
func TestWebhookNoSecretLeak(t *testing.T) {
	const (
		secret      = "hmac-secret-4f9a"
		headerToken = "hdr-token-77c1"
		queryToken  = "query-token-a3e2"
		password    = "url-pass-19ff"
	)
	h := startHookServer(t, func(n int, w http.ResponseWriter) int {
		return http.StatusInternalServerError
	})
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request %s auth=%s", r.URL.RawQuery, r.Header.Get("Authorization"))
	}))
	defer echo.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()

	logs := &whLogBuffer{}
	var texts []string
	for _, base := range []string{h.URL, echo.URL, closedURL} {
		u := strings.Replace(base, "http://", "http://user:"+password+"@", 1) + "/hook?token=" + queryToken
		w := startWebhook(t, &config.Webhook{URL: u, Secret: secret, Retries: 1,
			Headers: [][2]string{{"Authorization", "Bearer " + headerToken}}}, logs, nil)
		w.Handle(whEvent(bus.ServerDown, 1, "be", "s1"))
		whWaitFor(t, "failure record", func() bool { return len(w.Pipeline().Records(0)) == 1 })
		rec := w.Pipeline().Records(0)[0]
		if rec.Status != mailers.StatusFailed || rec.Error == "" {
			t.Fatalf("record %+v", rec)
		}
		var out bytes.Buffer
		w.Pipeline().ShowAlerts(&out)
		texts = append(texts, rec.Error, out.String())
		// The sender's own error, as the pipeline gets it.
		_, err := (*webhookSender)(w).Send(context.Background(), []*mailers.Alert{{Kind: "SERVER_DOWN", Event: whEvent(bus.ServerDown, 1, "be", "s1")}})
		if err == nil {
			t.Fatal("no error")
		}
		texts = append(texts, err.Error())
	}
	if !strings.Contains(strings.Join(texts, "\n"), "token=redacted") {
		t.Errorf("URL not shown redacted:\n%s", strings.Join(texts, "\n"))
	}
	mailerstest.AssertNoSecretLeak(t, []string{secret, headerToken, queryToken, password}, append(texts, logs.String())...)
}

func TestNewWebhookErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.tmpl")
	os.WriteFile(bad, []byte("{{.Nope"), 0o600)
	for name, cfg := range map[string]*config.Webhook{
		"relative url":     {Name: "x", URL: "/hook?token=sekrit-value"},
		"ftp url":          {Name: "x", URL: "ftp://h/x"},
		"unknown event":    {Name: "x", URL: "http://h/", Events: []string{"SERVER_EXPLODED"}},
		"missing template": {Name: "x", URL: "http://h/", Template: filepath.Join(dir, "none.tmpl")},
		"bad template":     {Name: "x", URL: "http://h/", Template: bad},
	} {
		if _, err := NewWebhook(cfg, WebhookOptions{}); err == nil {
			t.Errorf("%s: no error", name)
		} else if strings.Contains(err.Error(), "sekrit-value") {
			t.Errorf("%s: error leaks the URL token: %v", name, err)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "1": time.Second, "120": 2 * time.Minute, "-3": 0, "soon": 0,
		"Sun, 22 Nov 2026 12:00:30 GMT": 30 * time.Second, "Sun, 22 Nov 2026 11:00:00 GMT": 0,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

// BenchmarkDownToWebhook measures from Handle(SERVER_DOWN) to the request
// arriving at the HTTP server (group-wait 0, keep-alive connection), and
// reports the p50 and p99 latencies. Target (DESIGN §7): ≤ 50 ms.
func BenchmarkDownToWebhook(b *testing.B) {
	arrived := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		arrived <- time.Now()
	}))
	defer srv.Close()
	w := startWebhook(b, &config.Webhook{URL: srv.URL, Secret: "bench-secret"}, nil, nil)
	events := make([]*bus.Event, b.N)
	for i := range events {
		events[i] = whEvent(bus.ServerDown, uint64(i+1), "be", "s"+strconv.Itoa(i))
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		w.Handle(events[i])
		select {
		case t1 := <-arrived:
			lat = append(lat, t1.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatal("no request")
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[(len(lat)*99)/100].Microseconds())/1000, "p99-ms")
}
