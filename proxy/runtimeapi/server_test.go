package runtimeapi

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/bus"
)

func TestServerLookupErrors(t *testing.T) {
	h := baseHarness(t)
	for _, tc := range []struct{ line, want string }{
		{"disable server", "Require 'backend/server'.\n\n"},
		{"disable server be", "Require 'backend/server'.\n\n"},
		{"disable server be/", "Require 'backend/server'.\n\n"},
		{"disable server /s1", "Require 'backend/server'.\n\n"},
		{"disable server nope/s1", "No such backend.\n\n"},
		{"disable server fe/s1", "No such backend.\n\n"},
		{"disable server be/nope", "No such server.\n\n"},
		{"get weight be/#9", "No such server.\n\n"},
		{"get weight #2/#2", "10 (initial 10)\n\n"},
		{"get weight be/s2", "10 (initial 10)\n\n"},
		{"set server be/s1", "'set server <srv>' only supports 'agent', 'health', 'state', 'weight', 'addr', 'maxconn' and 'check-port'.\n\n"},
		{"set server be/s1 state up", "'set server <srv> state' expects 'ready', 'drain' and 'maint'.\n\n"},
		{"set server be/s1 health bad", "'set server <srv> health' expects 'up', 'stopping', or 'down'.\n\n"},
		{"set server be/s3 health up", "cannot change health on a tracking server.\n\n"},
		{"set server be/s3 health bad", "cannot change health on a tracking server.\n\n"},
		{"set server be/s1 agent up", "agent checks are not enabled on this server.\n\n"},
		{"enable health be/s1", "Health check was not configured on this server, cannot enable.\n\n"},
		{"enable agent be/s1", "Agent was not configured on this server, cannot enable.\n\n"},
		{"set server be/s1 addr", "set server <b>/<s> addr requires an address and optionally a port.\n\n"},
		{"set server be/s1 addr nothost", "Invalid addr 'nothost'\n\n"},
		{"set server be/s1 addr 127.0.0.1 port x", "Invalid port 'x'\n\n"},
		{"set server be/s1 check-port", "set server <b>/<s> check-port requires an integer argument.\n\n"},
		{"set server be/s1 check-port 70000", "provided port is not valid.\n\n"},
	} {
		h.expect(tc.line, tc.want)
	}
}

func TestWeights(t *testing.T) {
	h := baseHarness(t)
	for _, tc := range []struct{ line, want string }{
		{"set weight be/s2", "Require <weight> or <weight%>.\n\n"},
		{"set weight be/s2 x", "Empty weight string empty or preceded by garbage\n\n"},
		{"set weight be/s2 257", "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
		{"set weight be/s2 -1", "Absolute weight can only be between 0 and 256 inclusive.\n\n"},
		{"set weight be/s2 -5%", "Relative weight must be positive.\n\n"},
		{"set weight be/s2 5x", "Trailing garbage in weight string\n\n"},
		{"set weight be/s2 25", "\n"},
		{"get weight be/s2", "25 (initial 10)\n\n"},
		{"set weight be/s2 50%", "\n"},
		{"get weight be/s2", "5 (initial 10)\n\n"},
		{"set weight be/s2 9000%", "\n"},
		{"get weight be/s2", "256 (initial 10)\n\n"},
		{"set server be/s2 weight 0", "\n"},
		{"get weight be/s2", "0 (initial 10)\n\n"},
		{"set weight be2/t1 2", "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"},
		{"set weight be2/t1 50%", "Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.\n\n"},
		{"set weight be2/t1 0%", "\n"},
		{"get weight be2/t1", "0 (initial 4)\n\n"},
		{"set weight be2/t1 100%", "\n"},
		{"set weight be2/t1 4", "\n"},
		{"get weight be2/t1", "4 (initial 4)\n\n"},
	} {
		h.expectTCP(tc.line, tc.want)
	}
	if got := h.statRows("")["be/s2"]; got["weight"] != "0" || got["uweight"] != "0" || got["status"] != "DRAIN 1/3" {
		t.Fatalf("weight 0: weight=%s status=%s", got["weight"], got["status"])
	}
}

func TestMaxconn(t *testing.T) {
	h := baseHarness(t)
	for _, tc := range []struct{ line, want string }{
		{"set maxconn server be/s1", "Require <maxconn>.\n\n"},
		{"set maxconn server be/s1 x", "maxconn string empty or preceded by garbage\n\n"},
		{"set maxconn server be/s1 5x", "Trailing garbage in maxconn string\n\n"},
		{"set maxconn server be/s1 7", "\n"},
		{"set server be/s2 maxconn 9", "\n"},
		{"set maxconn frontend", "A frontend name is expected.\n\n"},
		{"set maxconn frontend be 5", "No such frontend.\n\n"},
		{"set maxconn frontend fe", "Integer value expected.\n\n"},
		{"set maxconn frontend fe -1", "Value out of range.\n\n"},
		{"set maxconn frontend fe 100", "\n"},
		{"set maxconn global", "Expects an integer value.\n\n"},
		{"set maxconn global 500", "\n"},
	} {
		h.expectTCP(tc.line, tc.want)
	}
	rows := h.statRows("")
	if rows["be/s1"]["slim"] != "7" || rows["be/s2"]["slim"] != "9" || rows["fe/FRONTEND"]["slim"] != "100" {
		t.Fatalf("slim: s1=%s s2=%s fe=%s", rows["be/s1"]["slim"], rows["be/s2"]["slim"], rows["fe/FRONTEND"]["slim"])
	}
	if h.eng.Maxconn() != 500 || !strings.Contains(h.do("show info"), "\nMaxconn: 500\n") {
		t.Fatalf("global maxconn %d", h.eng.Maxconn())
	}
}

func TestSetAddrAndCheckPort(t *testing.T) {
	h := baseHarness(t)
	s1 := h.eng.Proxy("be").Server("s1")
	_, port, _ := net.SplitHostPort(s1.AddrString())
	h.expectTCP("set server be/s1 addr 127.0.0.2 port 8080",
		"IP changed from '127.0.0.1' to '127.0.0.2', port changed from '"+port+"' to '8080' by 'stats socket command'\n\n")
	h.expectTCP("set server be/s1 addr 127.0.0.2 port 8080", "nothing changed\n\n")
	h.expectTCP("set server be/s1 addr 127.0.0.3", "IP changed from '127.0.0.2' to '127.0.0.3' by 'stats socket command'\n\n")
	h.expectTCP("set server be/s1 addr 127.0.0.3 port 8081", "port changed from '8080' to '8081' by 'stats socket command'\n\n")
	if s1.AddrString() != "127.0.0.3:8081" || h.statRows("")["be/s1"]["addr"] != "127.0.0.3:8081" {
		t.Fatalf("address %s", s1.AddrString())
	}
	h.expectTCP("set server be/s1 check-port 9000", "health check port updated.\n\n")
	if s1.CheckPort() != 9000 || !strings.Contains(h.do("show servers state be"), " 127.0.0.3 ") {
		t.Fatalf("check port %d", s1.CheckPort())
	}
	if !strings.Contains(h.do("show servers state be"), " - 8081 - 0 9000 - - 0\n") {
		t.Fatalf("servers state:\n%s", h.do("show servers state be"))
	}
}

func TestHealthAndAgentCommands(t *testing.T) {
	a, hp := backend(t, nil), blackhole(t)
	h := startHarness(t, "backend be\n    option httpchk\n    server c1 "+a+" check port "+hp+" inter 1h\n    server a1 "+a+" agent-check agent-port "+hp+" agent-inter 1h\n")
	c1, a1 := h.eng.Proxy("be").Server("c1"), h.eng.Proxy("be").Server("a1")
	h.expectTCP("disable health be/c1", "\n")
	if c1.HealthInfo().Enabled {
		t.Fatal("disable health")
	}
	h.expectTCP("enable health be/c1", "\n")
	if !c1.HealthInfo().Enabled {
		t.Fatal("enable health")
	}
	h.expectTCP("set server be/a1 agent down", "\n")
	if a1.Op() != 0 {
		t.Fatalf("agent down: op %v", a1.Op())
	}
	h.expectTCP("disable agent be/a1", "\n")
	if a1.Op() == 0 {
		t.Fatal("disable agent: still down")
	}
	h.expectTCP("set server be/a1 agent up", "agent checks are not enabled on this server.\n\n")
	h.expectTCP("enable agent be/a1", "\n")
	h.expectTCP("set server be/a1 agent up", "\n")
	h.expectTCP("set server be/a1 agent maybe", "'set server <srv> agent' expects 'up' or 'down'.\n\n")
	if a1.Op() == 0 {
		t.Fatal("agent up: still down")
	}
}

func TestFrontendCommands(t *testing.T) {
	h := baseHarness(t)
	addr := h.eng.ListenerAddr("fe", 0).String()
	for _, tc := range []struct{ line, want string }{
		{"disable frontend", "A frontend name is expected.\n\n"},
		{"disable frontend be", "No such frontend.\n\n"},
		{"enable frontend fe", "All sockets are already enabled.\n\n"},
		{"disable frontend fe", "\n"},
		{"disable frontend fe", "All sockets are already disabled.\n\n"},
	} {
		h.expectTCP(tc.line, tc.want)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("paused frontend accepts connections")
	}
	if got := h.statRows("")["fe/FRONTEND"]["status"]; got != "PAUSED" {
		t.Fatalf("status %q", got)
	}
	h.expectTCP("enable frontend #1", "\n")
	if h.eng.ListenerAddr("fe", 0).String() != addr {
		t.Fatalf("resumed on %s, was %s", h.eng.ListenerAddr("fe", 0), addr)
	}
	if code, err := h.get("fe", "/"); err != nil || code != 200 {
		t.Fatalf("after enable: %d %v", code, err)
	}
	h.expectTCP("shutdown frontend fe", "\n")
	for _, tc := range []struct{ line, want string }{
		{"shutdown frontend fe", "Frontend was already shut down.\n\n"},
		{"enable frontend fe", "Frontend was previously shut down, cannot enable.\n\n"},
		{"disable frontend fe", "Frontend was previously shut down, cannot disable.\n\n"},
	} {
		h.expectTCP(tc.line, tc.want)
	}
	if got := h.statRows("")["fe/FRONTEND"]["status"]; got != "STOP" {
		t.Fatalf("status %q", got)
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Fatal("stopped frontend accepts connections")
	}
}

// slowBackend holds every request until release is closed.
type slowBackend struct {
	addr    string
	started chan struct{}
	release chan struct{}
	once    sync.Once
}

// unblock releases the held requests.
func (sb *slowBackend) unblock() { sb.once.Do(func() { close(sb.release) }) }

func newSlowBackend(t *testing.T) *slowBackend {
	sb := &slowBackend{started: make(chan struct{}, 16), release: make(chan struct{})}
	sb.addr = backend(t, func(w http.ResponseWriter, r *http.Request) {
		sb.started <- struct{}{}
		select {
		case <-sb.release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "late")
	})
	t.Cleanup(sb.unblock)
	return sb
}

func TestShowSessAndErrors(t *testing.T) {
	sb := newSlowBackend(t)
	h := startHarness(t, `
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 `+sb.addr+`
`)
	done := make(chan error, 1)
	go func() {
		_, err := h.get("fe", "/slow")
		done <- err
	}()
	<-sb.started
	out := cli(t, "tcp", h.oper, "show sess")
	if !strings.HasPrefix(out, "0x") || !strings.Contains(out, " proto=tcpv4 src=127.0.0.1:") || !strings.Contains(out, " fe=fe ") {
		t.Fatalf("show sess:\n%s", out)
	}
	if got := h.statRows("")["be/s1"]; got["scur"] != "1" || got["used_conn_cur"] != "1" {
		t.Fatalf("scur=%s used_conn_cur=%s", got["scur"], got["used_conn_cur"])
	}
	out = cli(t, "tcp", h.oper, "show errors")
	if !strings.HasPrefix(out, "Total events captured on [") || !strings.HasSuffix(out, "] : 0\n\n") {
		t.Fatalf("show errors: %q", out)
	}
	sb.unblock()
	if err := <-done; err != nil {
		t.Fatalf("held request: %v", err)
	}
}

func TestShutdownSessions(t *testing.T) {
	sb := newSlowBackend(t)
	h := startHarness(t, "defaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    timeout server 10s\n"+
		"frontend fe\n    bind 127.0.0.1:0\n    default_backend be\nbackend be\n    server s1 "+sb.addr+"\n")
	done := make(chan error, 1)
	go func() {
		_, err := h.get("fe", "/slow")
		done <- err
	}()
	<-sb.started
	h.expectTCP("shutdown sessions server be/s1", "\n")
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("the killed session got a response")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("session not killed")
	}
}

func TestDynamicServers(t *testing.T) {
	a, hp := backend(t, nil), blackhole(t)
	sb := newSlowBackend(t)
	h := startHarness(t, strings.NewReplacer("%A%", a, "%S%", sb.addr, "%H%", hp).Replace(`
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    balance roundrobin
    option httpchk
    default-server weight 7
    server s1 %A% check
    server slow %S%
backend st
    balance static-rr
    server x %A%
backend hashed
    balance source
    hash-type consistent
listen lst
    bind 127.0.0.1:0
    balance source
`))
	for _, tc := range []struct{ line, want string }{
		{"add server st/y " + a, "Backend does not support dynamic servers : backend 'st' uses a non dynamic load balancing method.\n\n"},
		{"add server lst/y " + a, "Backend does not support dynamic servers : proxy 'lst' uses a non dynamic load balancing method.\n\n"},
		{"add server be", "Require 'backend/server'.\n\n"},
		{"add server nope/x " + a, "No such backend.\n\n"},
		{"add server be/s1 " + a, "Already exists a server with the same name in backend.\n\n"},
		{"add server be/d1 " + a + " init-addr none", "'server be/d1' : 'init-addr' option is not accepted for dynamic server.\n\n"},
		{"add server be/d1 " + a + " check port " + hp + " inter 1h weight 3", "New server registered.\n\n"},
		{"add server hashed/h1 " + a, "New server registered.\n\n"},
		{"add server be/d2 " + a + " from be:", "New server registered.\n\n"},
		{"add server be/d3 " + a + " from srv:be/s1 weight 2", "New server registered.\n\n"},
		{"add server be/d4 " + a + " track s1", "New server registered.\n\n"},
		{"add server be/d5 " + a + " track d1", "'server be/d5' : unable to use be/d1 for tracking as it is a dynamic server.\n\n"},
	} {
		h.expectTCP(tc.line, tc.want)
	}
	be := h.eng.Proxy("be")
	d1 := be.Server("d1")
	if d1 == nil || !d1.IsDynamic() || d1.PUID() != 3 || d1.UWeight() != 3 {
		t.Fatalf("d1: %+v", d1)
	}
	if be.Server("d2").IWeight() != 7 || be.Server("d3").IWeight() != 2 || !be.Server("d3").HealthInfo().Configured {
		t.Fatal("from be:/srv: not applied")
	}
	if !strings.Contains(h.do("add server help"), "\nweight\n") {
		t.Fatal("add server help")
	}
	rows := h.statRows("")
	if got := rows["be/d1"]; got["status"] != "MAINT" || got["sid"] != "3" || got["check_status"] != "" {
		t.Fatalf("new server: status=%s sid=%s check_status=%s", got["status"], got["sid"], got["check_status"])
	}
	if d1.HealthInfo().Enabled || !d1.HealthInfo().Configured {
		t.Fatal("the check of a new server is configured but not enabled")
	}
	// enable health, then enable server: it comes up and takes traffic.
	h.expectTCP("enable health be/d1", "\n")
	if got := h.statRows("")["be/d1"]["status"]; got != "MAINT" {
		t.Fatalf("enable health alone: %s", got)
	}
	h.expectTCP("enable server be/d1", "\n")
	if got := h.statRows("")["be/d1"]; got["status"] != "UP 1/3" || got["check_status"] != "INI" {
		t.Fatalf("after enable server: %s %s", got["status"], got["check_status"])
	}
	h.expectTCP("disable server be/slow", "\n")
	h.expectTCP("disable server be/s1", "\n")
	checkFor(t, 5*time.Second, func() error {
		if code, err := h.get("fe", "/"); err != nil || code != 200 {
			return fmt.Errorf("%d %v", code, err)
		}
		if n := d1.Counters.Lbtot.Load(); n == 0 {
			return fmt.Errorf("no traffic on d1")
		}
		return nil
	})
	// del server preconditions.
	h.expectTCP("del server be/d1", "Only servers in maintenance mode can be deleted.\n\n")
	h.expectTCP("del server be/s1", "This server cannot be removed at runtime due to other configuration elements pointing to it.\n\n")
	h.expectTCP("del server be/nope", "No such server.\n\n")
	h.expectTCP("enable server be/slow", "\n")
	h.expectTCP("disable server be/d1", "\n")
	h.expectTCP("disable server be/d2", "\n")
	h.expectTCP("disable server be/d3", "\n")
	h.expectTCP("disable server be/d4", "\n")
	// A request held on "slow" keeps it from being removed.
	done := make(chan error, 1)
	go func() { _, err := h.get("fe", "/hold"); done <- err }()
	<-sb.started
	h.expectTCP("disable server be/slow", "\n")
	h.expectTCP("del server be/slow", "Server still has connections attached to it, cannot remove it.\n\n")
	h.expectTCP("wait 50 srv-removable be/slow", "Server still has connections attached to it, cannot remove it.\n\n")
	sb.unblock()
	if err := <-done; err != nil {
		t.Fatalf("held request: %v", err)
	}
	// The pooled idle connection left by that request does not block.
	h.expectTCP("wait 5s srv-removable be/slow", "\n")
	h.expectTCP("del server be/slow", "Server deleted.\n\n")
	h.expectTCP("del server be/d1", "Server deleted.\n\n")
	h.expectTCP("del server be/d1", "No such server.\n\n")
	if be.Server("d1") != nil || !d1.Deleted() {
		t.Fatal("d1 still listed")
	}
	// A tracking dynamic server can go; the tracked one is then free too.
	h.expectTCP("del server be/d4", "Server deleted.\n\n")
	h.expectTCP("del server be/s1", "Server deleted.\n\n")
	if got := h.do("show servers state be"); !strings.Contains(got, "\n2 be 4 d2 ") || !strings.Contains(got, "\n2 be 5 d3 ") || strings.Count(got, "\n2 be ") != 2 {
		t.Fatalf("servers state after deletes:\n%s", got)
	}
	// Ids are not reused.
	h.expectTCP("add server be/d1 "+a, "New server registered.\n\n")
	if id := be.Server("d1").PUID(); id != 7 {
		t.Fatalf("re-added d1 got id %d", id)
	}
	for _, tc := range []struct{ line, want string }{
		{"wait", "Expects a duration in milliseconds.\n\n"},
		{"wait x", "Invalid duration.\n\n"},
		{"wait 10 foo", "Unsupported condition.\n\n"},
		{"wait 10 srv-removable", "Missing server name (<backend>/<server>).\n\n"},
		{"wait 10 srv-removable be/nope", "No such server.\n\n"},
		{"wait 20", "\n"},
	} {
		h.expectTCP(tc.line, tc.want)
	}
}

func TestDynamicServerEvents(t *testing.T) {
	a := backend(t, nil)
	h := startHarness(t, "backend be\n    balance roundrobin\n    server s1 "+a+"\n")
	rec := record(h)
	h.expectTCP("add server be/d1 "+a+" weight 5", "New server registered.\n\n")
	h.expectTCP("enable server be/d1", "\n")
	h.expectTCP("disable server be/d1", "\n")
	h.expectTCP("del server be/d1", "Server deleted.\n\n")
	evs := rec.wait(t, 8)
	ref := bus.ServerRef{Name: "d1", PUID: 2, RID: 0, ProxyName: "be", ProxyUUID: 1}
	want := []struct {
		typ bus.Type
		chk func(e *bus.Event) error
	}{
		{bus.ServerAdd, func(e *bus.Event) error {
			return eq(*e.Snapshot, bus.Snapshot{Weight: 5, Draining: false, BackendActive: 1, Addr: a})
		}},
		{bus.ServerAdmin, func(e *bus.Event) error {
			return eq(*e.Admin, bus.AdminChange{OldAdmin: bus.FMaint, NewAdmin: 0})
		}},
		{bus.ServerUp, func(e *bus.Event) error {
			return eq(*e.State, bus.StateChange{Admin: true, OldState: "STOPPED", NewState: "RUNNING"})
		}},
		{bus.ServerState, func(e *bus.Event) error {
			return eq(*e.State, bus.StateChange{Admin: true, OldState: "STOPPED", NewState: "RUNNING"})
		}},
		{bus.ServerAdmin, func(e *bus.Event) error {
			return eq(*e.Admin, bus.AdminChange{OldAdmin: 0, NewAdmin: bus.FMaint})
		}},
		{bus.ServerDown, func(e *bus.Event) error {
			return eq(*e.State, bus.StateChange{Admin: true, OldState: "RUNNING", NewState: "STOPPED"})
		}},
		{bus.ServerState, nil},
		{bus.ServerDel, func(e *bus.Event) error {
			return eq(*e.Snapshot, bus.Snapshot{Weight: 5, BackendActive: 1, Addr: a})
		}},
	}
	for i, w := range want {
		e := evs[i]
		if e.Type != w.typ || e.Server == nil || *e.Server != ref || e.Instance != "test" || e.When.IsZero() {
			t.Fatalf("event %d: %s %+v, want %s %+v", i, e.Type, e.Server, w.typ, ref)
		}
		if i > 0 && e.Seq != evs[i-1].Seq+1 {
			t.Fatalf("event %d: seq %d after %d", i, e.Seq, evs[i-1].Seq)
		}
		if w.chk != nil {
			if err := w.chk(e); err != nil {
				t.Fatalf("event %d (%s): %v", i, e.Type, err)
			}
		}
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d", len(evs), len(want))
	}
}

// eq compares two comparable values and describes the difference.
func eq[T comparable](got, want T) error {
	if got != want {
		return fmt.Errorf("got %+v, want %+v", got, want)
	}
	return nil
}
