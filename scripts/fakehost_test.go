package scripts

import (
	"bytes"
	"fmt"
	"strconv"
	"sync"
)

// fakeHost is an in-memory Host for unit-testing the class bindings.
type fakeHost struct {
	mu      sync.Mutex
	proxies []*fakeProxy
	env     map[string]string
	vars    map[string]any
	hc      HTTPClientSettings
}

func (h *fakeHost) Proxies() []ProxyObj {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]ProxyObj, len(h.proxies))
	for i, p := range h.proxies {
		out[i] = p
	}
	return out
}

func (h *fakeHost) Getenv(n string) (string, bool) { v, ok := h.env[n]; return v, ok }
func (h *fakeHost) Info() map[string]any {
	return map[string]any{"Name": "Moonbus", "Version": "0.1", "Nbthread": 2, "Pid": 4242, "Uptime_sec": int64(12), "node": "lb1"}
}
func (h *fakeHost) GetVar(n string) (any, bool)    { v, ok := h.vars[n]; return v, ok }
func (h *fakeHost) HTTPClient() HTTPClientSettings { return h.hc }

type fakeProxy struct {
	mu        sync.Mutex
	name      string
	uuid      int
	cap       string
	mode      string
	servers   []*fakeServer
	mailers   *ProxyMailers
	listeners []ListenerObj
	paused    bool
	stopped   bool
	shutBck   int
}

func (p *fakeProxy) Name() string { return p.name }
func (p *fakeProxy) UUID() int    { return p.uuid }
func (p *fakeProxy) Cap() string  { return p.cap }
func (p *fakeProxy) Mode() string { return p.mode }
func (p *fakeProxy) Servers() []ServerObj {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]ServerObj, len(p.servers))
	for i, s := range p.servers {
		out[i] = s
	}
	return out
}
func (p *fakeProxy) ServerByName(n string) ServerObj {
	for _, s := range p.servers {
		if s.name == n {
			return s
		}
	}
	return nil
}
func (p *fakeProxy) SrvAct() int {
	n := 0
	for _, s := range p.servers {
		if !s.backup && !s.Deleted() {
			n++
		}
	}
	return n
}
func (p *fakeProxy) SrvBck() int {
	n := 0
	for _, s := range p.servers {
		if s.backup && !s.Deleted() {
			n++
		}
	}
	return n
}
func (p *fakeProxy) Stats() map[string]any {
	return map[string]any{"pxname": p.name, "svname": "BACKEND", "status": "UP", "scur": 3, "type": 1}
}
func (p *fakeProxy) Mailers() *ProxyMailers   { return p.mailers }
func (p *fakeProxy) Pause()                   { p.paused = true }
func (p *fakeProxy) Resume()                  { p.paused = false }
func (p *fakeProxy) Stop()                    { p.stopped = true }
func (p *fakeProxy) ShutBackupSessions()      { p.shutBck++ }
func (p *fakeProxy) Listeners() []ListenerObj { return p.listeners }
func (p *fakeProxy) StickTable() string       { return "" }
func (p *fakeProxy) addServer(s *fakeServer)  { s.px = p; p.servers = append(p.servers, s) }
func (p *fakeProxy) String() string           { return p.name }
func (p *fakeProxy) server(n string) *fakeServer {
	for _, s := range p.servers {
		if s.name == n {
			return s
		}
	}
	return nil
}

type fakeListener struct {
	name  string
	stats map[string]any
}

func (l *fakeListener) Name() string          { return l.name }
func (l *fakeListener) Stats() map[string]any { return l.stats }

type fakeServer struct {
	mu       sync.Mutex
	name     string
	puid     int
	rid      int
	backup   bool
	dynamic  bool
	draining bool
	cur      int
	pend     int
	maxconn  int
	weight   int
	addr     string
	deleted  bool
	px       *fakeProxy
	tracking *fakeServer
	trackers []*fakeServer
	calls    bytes.Buffer
}

func (s *fakeServer) Name() string     { return s.name }
func (s *fakeServer) PUID() int        { return s.puid }
func (s *fakeServer) RID() int         { return s.rid }
func (s *fakeServer) IsDraining() bool { return s.draining }
func (s *fakeServer) IsBackup() bool   { return s.backup }
func (s *fakeServer) IsDynamic() bool  { return s.dynamic }
func (s *fakeServer) CurSess() int     { return s.cur }
func (s *fakeServer) PendConn() int    { return s.pend }
func (s *fakeServer) MaxConn() int     { return s.maxconn }
func (s *fakeServer) SetMaxConn(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil {
		return "Integer value expected."
	}
	s.maxconn = n
	return ""
}
func (s *fakeServer) Weight() int { return s.weight }
func (s *fakeServer) SetWeight(v string) string {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > 256 {
		return "Integer value expected or out of range [0..256]."
	}
	s.weight = n
	return ""
}
func (s *fakeServer) Addr() string { return s.addr }
func (s *fakeServer) SetAddr(a, p string) string {
	if a == "bad" {
		return "Invalid addr"
	}
	s.addr = a
	if p != "" {
		s.addr += ":" + p
	}
	return ""
}
func (s *fakeServer) Stats() map[string]any {
	st := "UP"
	if s.draining {
		st = "DRAIN"
	}
	return map[string]any{"pxname": s.px.name, "svname": s.name, "status": st, "scur": s.cur, "weight": s.weight, "type": 2}
}
func (s *fakeServer) Proxy() ProxyObj { return s.px }
func (s *fakeServer) call(n string)   { fmt.Fprintf(&s.calls, "%s;", n) }
func (s *fakeServer) ShutSess()       { s.call("shut_sess") }
func (s *fakeServer) SetDrain()       { s.draining = true; s.call("set_drain") }
func (s *fakeServer) SetMaint()       { s.call("set_maint") }
func (s *fakeServer) SetReady()       { s.draining = false; s.call("set_ready") }
func (s *fakeServer) CheckEnable()    { s.call("check_enable") }
func (s *fakeServer) CheckDisable()   { s.call("check_disable") }
func (s *fakeServer) CheckForceUp()   { s.call("check_force_up") }
func (s *fakeServer) CheckForceNolb() { s.call("check_force_nolb") }
func (s *fakeServer) CheckForceDown() { s.call("check_force_down") }
func (s *fakeServer) AgentEnable()    { s.call("agent_enable") }
func (s *fakeServer) AgentDisable()   { s.call("agent_disable") }
func (s *fakeServer) AgentForceUp()   { s.call("agent_force_up") }
func (s *fakeServer) AgentForceDown() { s.call("agent_force_down") }
func (s *fakeServer) Tracking() ServerObj {
	if s.tracking == nil {
		return nil
	}
	return s.tracking
}
func (s *fakeServer) Trackers() []ServerObj {
	out := make([]ServerObj, len(s.trackers))
	for i, t := range s.trackers {
		out[i] = t
	}
	return out
}
func (s *fakeServer) Deleted() bool { return s.deleted }

// newFakeHost builds the fixture the Lua tests rely on:
//
//	fe_main  frontend http  (uuid 1, listeners "web" and an unnamed one)
//	www_dc1  backend  http  (uuid 2): server1 (puid 1), server2 (puid 2, backup, tracks server1), gone (deleted)
//	www_dc2  backend  http  (uuid 3): server1 (puid 1, 5 sessions)
//	app      listen   tcp   (uuid 4), with mailers
//	dup      frontend and dup backend (uuid 5 and 6): same name
func newFakeHost() *fakeHost {
	fe := &fakeProxy{name: "fe_main", uuid: 1, cap: "frontend", mode: "http", listeners: []ListenerObj{
		&fakeListener{name: "web", stats: map[string]any{"pxname": "fe_main", "svname": "web", "status": "OPEN"}},
		&fakeListener{name: ""},
	}}
	dc1 := &fakeProxy{name: "www_dc1", uuid: 2, cap: "backend", mode: "http"}
	s1 := &fakeServer{name: "server1", puid: 1, rid: 0, weight: 1, maxconn: 30, cur: 2, addr: "192.0.2.1:80"}
	s2 := &fakeServer{name: "server2", puid: 2, rid: 0, backup: true, weight: 1, addr: "2001:db8::1:80", tracking: s1}
	s1.trackers = []*fakeServer{s2}
	dc1.addServer(s1)
	dc1.addServer(s2)
	dc1.addServer(&fakeServer{name: "gone", puid: 3, deleted: true})
	dc2 := &fakeProxy{name: "www_dc2", uuid: 3, cap: "backend", mode: "http"}
	dc2.addServer(&fakeServer{name: "server1", puid: 1, weight: 1, cur: 5, addr: "/run/app.sock"})
	app := &fakeProxy{name: "app", uuid: 4, cap: "proxy", mode: "tcp", mailers: &ProxyMailers{
		TrackServerHealth: true, LogLevel: 6, Mailservers: map[string]string{"smtp1": "127.0.0.1:2525"},
		MailserversTimeout: 10000, SMTPHostname: "lb1", SMTPFrom: "lb@example.com", SMTPTo: "ops@example.com",
	}}
	dupF := &fakeProxy{name: "dup", uuid: 5, cap: "frontend", mode: "http"}
	dupB := &fakeProxy{name: "dup", uuid: 6, cap: "backend", mode: "http"}
	return &fakeHost{
		proxies: []*fakeProxy{fe, dc1, dc2, app, dupF, dupB},
		env:     map[string]string{"MOONBUS_TEST": "configured"},
		vars:    map[string]any{"proc.counter": int64(42), "proc.flag": true, "proc.name": "lb"},
	}
}

// recLogger records log lines.
type recLogger struct {
	mu    sync.Mutex
	lines []string
}

func (r *recLogger) Log(level int, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf("%d %s", level, msg))
}

func (r *recLogger) snapshot() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...)
}

// syncBuffer is a goroutine-safe bytes.Buffer for Stderr/Stdout capture.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
