package scripts

import (
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
	"moonbus/proxy/sample"
)

// EngineHost implements Host (and ProxyObj, ServerObj, ListenerObj) over a
// live proxy engine. It is created from the configuration before the
// engine exists (scripts run their body first) and given the engine with
// SetEngine (Runtime.SetEngine does it). Until then core.proxies and
// friends are empty, as they are in HAProxy while lua-load files run.
//
// It is also a Logger for the global loggers: lines logged before the
// engine exists are kept and sent once it does.
type EngineHost struct {
	cfg     *config.Config
	version string
	release string

	eng     atomic.Pointer[proxy.Engine]
	proxies atomic.Pointer[[]ProxyObj]
	servers sync.Map // *proxy.Server → *engServer

	mu      sync.Mutex
	pending []pendingLog
}

type pendingLog struct {
	level int
	msg   string
}

// maxPendingLogs bounds the lines kept before the engine exists.
const maxPendingLogs = 256

// NewEngineHost returns a host for cfg; version and releaseDate fill
// core.get_info()'s Version and Release_date.
func NewEngineHost(cfg *config.Config, version, releaseDate string) *EngineHost {
	return &EngineHost{cfg: cfg, version: version, release: releaseDate}
}

// SetEngine makes the host serve e's proxies and flushes pending log lines.
func (h *EngineHost) SetEngine(e *proxy.Engine) {
	list := make([]ProxyObj, 0, len(e.Proxies()))
	for _, p := range e.Proxies() {
		list = append(list, &engProxy{h: h, p: p})
	}
	h.proxies.Store(&list)
	h.eng.Store(e)
	h.mu.Lock()
	pending := h.pending
	h.pending = nil
	h.mu.Unlock()
	for _, l := range pending {
		e.GlobalLog(l.level, l.msg)
	}
}

// Log sends a line to the global loggers (Options.Logger).
func (h *EngineHost) Log(level int, msg string) {
	if e := h.eng.Load(); e != nil {
		e.GlobalLog(level, msg)
		return
	}
	h.mu.Lock()
	if len(h.pending) < maxPendingLogs {
		h.pending = append(h.pending, pendingLog{level, msg})
	}
	h.mu.Unlock()
}

// Proxies implements Host.
func (h *EngineHost) Proxies() []ProxyObj {
	if l := h.proxies.Load(); l != nil {
		return *l
	}
	return nil
}

// Getenv implements Host with the configuration's environment.
func (h *EngineHost) Getenv(name string) (string, bool) {
	if h.cfg != nil && h.cfg.Env != nil {
		v, ok := h.cfg.Env[name]
		return v, ok
	}
	return os.LookupEnv(name)
}

// Info implements Host ("show info" fields).
func (h *EngineHost) Info() map[string]any {
	e := h.eng.Load()
	if e == nil {
		return map[string]any{"Name": "Moonbus", "Version": h.version, "Release_date": h.release, "Pid": os.Getpid()}
	}
	out := map[string]any{}
	for _, f := range e.Info(h.version, h.release, time.Now()) {
		if s, ok := f.Value.(string); ok && s == "" {
			continue
		}
		out[f.Name] = f.Value
	}
	return out
}

// GetVar implements Host: a proc variable, as a Go value.
func (h *EngineHost) GetVar(name string) (any, bool) {
	e := h.eng.Load()
	if e == nil {
		return nil, false
	}
	sc, n, err := sample.ParseVarName(name)
	if err != nil || sc != sample.ScopeProc {
		return nil, false
	}
	id, ok := e.Registry().Vars().Lookup(sc, n)
	if !ok {
		return nil, false
	}
	var smp sample.Sample
	if !e.ProcVars().Get(id, &smp) {
		return nil, false
	}
	switch smp.Type {
	case sample.SInt:
		return smp.Int, true
	case sample.Bool:
		return smp.Bool, true
	case sample.Str:
		return string(smp.Str), true
	case sample.Bin:
		return append([]byte(nil), smp.Str...), true
	case sample.IPv4, sample.IPv6:
		return net.IP(smp.IP.AsSlice()), true
	case sample.Meth:
		if smp.Meth == sample.MethOther {
			return string(smp.Str), true
		}
		return smp.Meth.String(), true
	}
	return nil, true
}

// HTTPClient implements Host from the httpclient.* directives.
func (h *EngineHost) HTTPClient() HTTPClientSettings {
	if h.cfg == nil {
		return HTTPClientSettings{}
	}
	c := h.cfg.Global.HTTPClient
	return HTTPClientSettings{
		ResolversPrefer:   c.ResolversPrefer,
		ResolversDisabled: c.ResolversDisabled,
		Retries:           c.Retries,
		TimeoutConnect:    c.TimeoutConnect,
		SSLVerifyNone:     c.SSLVerify == "none",
		SSLCAFile:         c.SSLCAFile,
	}
}

// FindServer returns the live server with that identity (proxy uuid, puid,
// rid), nil when it is gone: the "reference" of event data.
func (h *EngineHost) FindServer(proxyUUID, puid, rid int) ServerObj {
	e := h.eng.Load()
	if e == nil {
		return nil
	}
	for _, p := range e.Proxies() {
		if p.UUID() != proxyUUID {
			continue
		}
		if s := p.ServerByID(puid); s != nil && s.RID() == rid && !s.Deleted() {
			return h.server(s)
		}
		return nil
	}
	return nil
}

func (h *EngineHost) server(s *proxy.Server) ServerObj {
	if s == nil {
		return nil
	}
	if v, ok := h.servers.Load(s); ok {
		return v.(*engServer)
	}
	v, _ := h.servers.LoadOrStore(s, &engServer{h: h, s: s})
	return v.(*engServer)
}

func (h *EngineHost) proxy(p *proxy.Proxy) ProxyObj {
	for _, po := range h.Proxies() {
		if ep := po.(*engProxy); ep.p == p {
			return ep
		}
	}
	return &engProxy{h: h, p: p}
}

// engProxy is a ProxyObj over a *proxy.Proxy.
type engProxy struct {
	h *EngineHost
	p *proxy.Proxy
}

func (x *engProxy) Name() string { return x.p.Name() }
func (x *engProxy) UUID() int    { return x.p.UUID() }
func (x *engProxy) Cap() string {
	switch {
	case x.p.IsFrontend() && x.p.IsBackend():
		return "proxy"
	case x.p.IsFrontend():
		return "frontend"
	}
	return "backend"
}
func (x *engProxy) Mode() string { return x.p.Mode().String() }
func (x *engProxy) Servers() []ServerObj {
	srvs := x.p.Servers()
	out := make([]ServerObj, len(srvs))
	for i, s := range srvs {
		out[i] = x.h.server(s)
	}
	return out
}
func (x *engProxy) ServerByName(name string) ServerObj {
	if s := x.p.Server(name); s != nil {
		return x.h.server(s)
	}
	return nil
}
func (x *engProxy) SrvAct() int { return x.p.SrvAct() }
func (x *engProxy) SrvBck() int { return x.p.SrvBck() }
func (x *engProxy) Stats() map[string]any {
	if x.p.IsBackend() {
		return x.p.BackendStatRow(time.Now()).Map()
	}
	return x.p.FrontendStatRow(time.Now()).Map()
}
func (x *engProxy) Pause()  { _ = x.p.PauseFrontend() }
func (x *engProxy) Resume() { _ = x.p.ResumeFrontend() }
func (x *engProxy) Stop()   { _ = x.p.StopFrontend() }
func (x *engProxy) ShutBackupSessions() {
	for _, s := range x.p.Servers() {
		if s.IsBackup() {
			s.ShutdownSessions()
		}
	}
}
func (x *engProxy) Listeners() []ListenerObj {
	names := x.p.ListenerNames()
	out := make([]ListenerObj, len(names))
	for i, n := range names {
		out[i] = &engListener{p: x.p, i: i, name: n}
	}
	return out
}
func (x *engProxy) StickTable() string {
	if x.p.StickTable() != nil {
		return x.p.Name()
	}
	return ""
}

// Mailers returns the legacy email-alert settings when the proxy names a
// mailers section and sets both from and to.
func (x *engProxy) Mailers() *ProxyMailers {
	ea := x.p.Config().EmailAlert
	if ea.Mailers == "" || ea.From == "" || ea.To == "" || x.h.cfg == nil {
		return nil
	}
	var sec *config.Mailers
	for _, m := range x.h.cfg.Mailers {
		if m.Name == ea.Mailers {
			sec = m
		}
	}
	if sec == nil {
		return nil
	}
	pm := &ProxyMailers{
		TrackServerHealth:  x.p.Config().LogHealthChecks,
		LogLevel:           LevelAlert,
		Mailservers:        map[string]string{},
		MailserversTimeout: 10000,
		SMTPHostname:       ea.MyHostname,
		SMTPFrom:           ea.From,
		SMTPTo:             ea.To,
	}
	if ea.Level != "" {
		if l := proxy.ParseLevel(ea.Level); l >= 0 {
			pm.LogLevel = l
		}
	}
	if sec.Timeout > 0 {
		pm.MailserversTimeout = int(sec.Timeout / time.Millisecond)
	}
	if pm.SMTPHostname == "" {
		pm.SMTPHostname, _ = os.Hostname()
	}
	for _, m := range sec.Mailers {
		pm.Mailservers[m.Name] = mailerAddr(m.Addr)
	}
	return pm
}

// mailerAddr renders a mailer address as HAProxy does: "ip:port" (IPv6
// without brackets), names resolved.
func mailerAddr(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if net.ParseIP(host) == nil {
		if ips, err := net.LookupIP(host); err == nil && len(ips) > 0 {
			host = ips[0].String()
		}
	}
	return host + ":" + port
}

// engListener is a ListenerObj.
type engListener struct {
	p    *proxy.Proxy
	i    int
	name string
}

func (l *engListener) Name() string          { return l.name }
func (l *engListener) Stats() map[string]any { return l.p.ListenerStats(l.i) }

// engServer is a ServerObj over a *proxy.Server; admin calls carry
// HAProxy's "changed from Lua script" cause.
type engServer struct {
	h *EngineHost
	s *proxy.Server
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func (x *engServer) Name() string     { return x.s.Name() }
func (x *engServer) PUID() int        { return x.s.PUID() }
func (x *engServer) RID() int         { return x.s.RID() }
func (x *engServer) IsDraining() bool { return x.s.Admin().IsDrain() }
func (x *engServer) IsBackup() bool   { return x.s.IsBackup() }
func (x *engServer) IsDynamic() bool  { return x.s.IsDynamic() }
func (x *engServer) CurSess() int     { return x.s.CurConns() }
func (x *engServer) PendConn() int    { return x.s.QueueLen() }
func (x *engServer) MaxConn() int     { return x.s.Maxconn() }
func (x *engServer) SetMaxConn(v string) string {
	return errText(x.s.ChangeMaxconn(v))
}
func (x *engServer) Weight() int { return x.s.UWeight() }
func (x *engServer) SetWeight(v string) string {
	return errText(x.s.ChangeWeight(v))
}
func (x *engServer) Addr() string { return x.s.AddrString() }
func (x *engServer) SetAddr(addr, port string) string {
	if port != "" {
		if _, err := strconv.Atoi(port); err != nil {
			return "Invalid port '" + port + "'"
		}
	}
	_, err := x.s.SetAddr(addr, port, "Lua script")
	return errText(err)
}
func (x *engServer) Stats() map[string]any { return x.s.StatRow(time.Now()).Map() }
func (x *engServer) Proxy() ProxyObj       { return x.h.proxy(x.s.Proxy()) }
func (x *engServer) ShutSess()             { x.s.ShutdownSessions() }
func (x *engServer) SetDrain() {
	x.s.SetAdmin(bus.FDrain, 0, "")
}
func (x *engServer) SetMaint() {
	x.s.SetAdmin(bus.FMaint, 0, "")
}
func (x *engServer) SetReady() {
	x.s.SetAdmin(0, bus.FMaint|bus.FDrain, "")
}
func (x *engServer) CheckEnable()    { _ = x.s.EnableHealth(proxy.CauseLua) }
func (x *engServer) CheckDisable()   { x.s.DisableHealth(proxy.CauseLua) }
func (x *engServer) CheckForceUp()   { x.s.ForceHealth("up", proxy.CauseLua) }
func (x *engServer) CheckForceNolb() { x.s.ForceHealth("stopping", proxy.CauseLua) }
func (x *engServer) CheckForceDown() { x.s.ForceHealth("down", proxy.CauseLua) }
func (x *engServer) AgentEnable()    { _ = x.s.EnableAgent(proxy.CauseLua) }
func (x *engServer) AgentDisable()   { x.s.DisableAgent(proxy.CauseLua) }
func (x *engServer) AgentForceUp()   { x.s.ForceAgent(true, proxy.CauseLua) }
func (x *engServer) AgentForceDown() { x.s.ForceAgent(false, proxy.CauseLua) }
func (x *engServer) Tracking() ServerObj {
	if t := x.s.Tracked(); t != nil {
		return x.h.server(t)
	}
	return nil
}
func (x *engServer) Trackers() []ServerObj {
	ts := x.s.Trackers()
	out := make([]ServerObj, len(ts))
	for i, t := range ts {
		out[i] = x.h.server(t)
	}
	return out
}
func (x *engServer) Deleted() bool { return x.s.Deleted() }
