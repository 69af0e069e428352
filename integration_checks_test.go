package moonbus

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"moonbus/bus"
)

// sickable is a backend whose health endpoint can be turned sick.
type sickable struct {
	srv  *httptest.Server
	sick atomic.Bool
	name string
}

func newSickable(t *testing.T, name string) *sickable {
	s := &sickable{name: name}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && s.sick.Load() {
			w.WriteHeader(503)
			return
		}
		io.WriteString(w, name)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// eventLog records bus events.
type eventLog struct {
	mu  sync.Mutex
	evs []*bus.Event
}

func recordEvents(t *testing.T, d *testDaemon) *eventLog {
	l := &eventLog{}
	sub := d.Bus().Subscribe("test", bus.Filter{}, bus.DropOldest, func(e *bus.Event) {
		l.mu.Lock()
		l.evs = append(l.evs, e)
		l.mu.Unlock()
	}, bus.QueueLen(100000))
	t.Cleanup(sub.Unsub)
	return l
}

func (l *eventLog) types(server string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, e := range l.evs {
		if e.Server != nil && e.Server.Name == server || e.Server == nil && server == "" {
			out = append(out, e.Type.String())
		}
	}
	return out
}

func (l *eventLog) find(typ bus.Type, server string) *bus.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.evs {
		if e.Type == typ && (e.Server != nil && e.Server.Name == server || e.Server == nil && server == "") {
			return e
		}
	}
	return nil
}

func TestHTTPHealthChecksDriveServerState(t *testing.T) {
	a, b := newSickable(t, "a"), newSickable(t, "b")
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    option httpchk GET /health
    option log-health-checks
    server a `+hostOf(a.srv)+` check inter 50ms rise 2 fall 2
    server b `+hostOf(b.srv)+` check inter 50ms rise 2 fall 2
`)
	srvA := d.Engine().Proxy("be").Server("a")
	// Health starts at rise (2); the first pass makes it full (rise+fall-1).
	waitFor(t, "a fully up", func() bool {
		cs := srvA.LastCheckStatus()
		return cs != nil && cs.Health.Cur == 3
	})
	evs := recordEvents(t, d)
	a.sick.Store(true)
	waitFor(t, "a DOWN", func() bool { return srvA.Op().String() == "STOPPED" })
	// Exactly fall (2) failures: health went 3 -> 2 -> 0.
	line := d.waitLog("Server be/a is DOWN")
	if !strings.Contains(line, "is DOWN, reason: Layer7 wrong status, code: 503") || !strings.Contains(line, "1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue.") {
		t.Fatalf("DOWN line: %q", line)
	}
	d.waitLog("Health check for server be/a failed, reason: Layer7 wrong status, code: 503")
	// Events: SERVER_CHECK(s) then SERVER_DOWN then SERVER_STATE for a.
	waitFor(t, "events", func() bool { return evs.find(bus.ServerState, "a") != nil })
	got := strings.Join(evs.types("a"), ",")
	// HAProxy's order: the state change, then the check report.
	if got != "SERVER_CHECK,SERVER_DOWN,SERVER_STATE,SERVER_CHECK" {
		t.Fatalf("events for a: %s", got)
	}
	st := evs.find(bus.ServerState, "a").State
	if st.OldState != "RUNNING" || st.NewState != "STOPPED" || st.Admin || st.Check == nil ||
		st.Check.Result != "FAILED" || st.Check.Reason.Short != "L7STS" || st.Check.Reason.Code != 503 ||
		st.Check.Health != (bus.Health{Cur: 0, Rise: 2, Fall: 2}) {
		t.Fatalf("state event: %+v check %+v", st, st.Check)
	}
	// Traffic leaves the DOWN server.
	for i := 0; i < 6; i++ {
		if _, body := get(t, d.addr("fe"), "/"); body != "b" {
			t.Fatalf("request %d went to %q", i, body)
		}
	}
	// Healthy again: UP after rise (2) passes.
	a.sick.Store(false)
	waitFor(t, "a UP", func() bool { return srvA.Op().String() == "RUNNING" })
	line = d.waitLog("Server be/a is UP")
	if !strings.Contains(line, "is UP, reason: Layer7 check passed, code: 200") || !strings.Contains(line, "2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue.") {
		t.Fatalf("UP line: %q", line)
	}
	seen := map[string]bool{}
	for i := 0; i < 6; i++ {
		_, body := get(t, d.addr("fe"), "/")
		seen[body] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Fatalf("traffic did not return to a: %v", seen)
	}
	// Both down: BACKEND_DOWN and HAProxy's alert line.
	a.sick.Store(true)
	b.sick.Store(true)
	waitFor(t, "backend down", func() bool { return evs.find(bus.BackendDown, "") != nil })
	d.waitLog("backend 'be' has no server available!")
	resp, _ := get(t, d.addr("fe"), "/")
	if resp.StatusCode != 503 {
		t.Fatalf("all servers down: %d", resp.StatusCode)
	}
}

func TestTCPCheckAndAgent(t *testing.T) {
	// A TCP server that can be closed, and an agent answering a settable line.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	var agentLine atomic.Value
	agentLine.Store("up")
	agent, _ := net.Listen("tcp", "127.0.0.1:0")
	defer agent.Close()
	go func() {
		for {
			c, err := agent.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s\n", agentLine.Load())
			c.Close()
		}
	}()
	app := newSickable(t, "app")
	_, agentPort, _ := net.SplitHostPort(agent.Addr().String())
	d := startDaemon(t, httpDefaults+`
backend be_tcp
    server t1 `+ln.Addr().String()+` check inter 50ms fall 1 rise 1
backend be_agent
    server s1 `+hostOf(app.srv)+` weight 100 agent-check agent-port `+agentPort+` agent-inter 50ms
`)
	tcp := d.Engine().Proxy("be_tcp").Server("t1")
	ln.Close()
	waitFor(t, "tcp check down", func() bool { return tcp.Op().String() == "STOPPED" })
	d.waitLog("Server be_tcp/t1 is DOWN, reason: Layer4 connection problem")

	s1 := d.Engine().Proxy("be_agent").Server("s1")
	agentLine.Store("75%")
	waitFor(t, "agent weight", func() bool { return s1.UWeight() == 75 })
	agentLine.Store("drain")
	waitFor(t, "agent drain", func() bool { return s1.Admin()&bus.FDrain != 0 && s1.EWeight() == 0 })
	agentLine.Store("ready up")
	waitFor(t, "agent ready", func() bool { return s1.Admin() == 0 })
	agentLine.Store("down#maintenance window")
	waitFor(t, "agent down", func() bool { return s1.Op().String() == "STOPPED" })
	agentLine.Store("up")
	waitFor(t, "agent up", func() bool { return s1.Op().String() == "RUNNING" })
}

func TestPassiveChecksMarkDown(t *testing.T) {
	var fail atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() && r.URL.Path != "/health" {
			w.WriteHeader(500)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    option httpchk GET /health
    server s1 `+hostOf(srv)+` check inter 10s observe layer7 error-limit 3 on-error mark-down
`)
	s1 := d.Engine().Proxy("be").Server("s1")
	// The first check runs at start; a passing check resets the count of
	// consecutive errors, so the errors must come after it.
	waitFor(t, "the first check", func() bool { return s1.LastCheckStatus() != nil })
	fail.Store(true)
	c := dialRaw(t, d.addr("fe"))
	for i := 0; i < 3; i++ {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.response("GET")
	}
	waitFor(t, "passive mark-down", func() bool { return s1.Op().String() == "STOPPED" })
}
