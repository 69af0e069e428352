package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/healthcheck"
	"moonbus/proxy/sample"
)

// Publisher receives the server events of the engine (the bus).
type Publisher interface {
	PublishBatch(evs ...*bus.Event)
}

// Options configure an Engine.
type Options struct {
	// Logger receives daemon messages (state changes, warnings, alerts).
	Logger *slog.Logger
	// Stdout and Stderr are the writers behind "log stdout" and "log stderr".
	Stdout, Stderr io.Writer
	// Publisher receives server events; nil disables publishing.
	Publisher Publisher
	// Extensions add fetches, converters, actions and services (Lua).
	Extensions *Extensions
	// Previous is the engine being replaced by a reload: the runtime
	// state of servers found in both (forced maintenance or drain, weight
	// set at run time, check health) is carried over.
	Previous *Engine
	// Stats adds the daemon's version and metrics to the stats page and
	// the Prometheus exporter.
	Stats StatsOptions
}

// Engine is one running proxy configuration.
type Engine struct {
	conf   *config.Config
	log    *slog.Logger
	pub    Publisher
	stdout io.Writer
	stderr io.Writer

	proxies     []*Proxy
	byName      map[string]*Proxy
	globalSlots *semaphore
	bufsize     int
	maxHdr      int
	globalLogs  []*logTarget

	started  time.Time
	stopping atomic.Bool
	detached atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	reaper   chan struct{}

	connMu sync.Mutex
	conns  map[net.Conn]*session
	connWG sync.WaitGroup
	closed bool

	// Process-wide counters ("show info").
	CurrConns      atomic.Int64
	CumConns       atomic.Int64
	CumReq         atomic.Int64
	MaxConnReached atomic.Int64

	rules  engineRules
	checks *healthcheck.Scheduler

	clock    *coarseClock
	hostOnce sync.Once
	host     string

	statsOpts StatsOptions

	// fast is the fast path's event loops (nil when it is off).
	fast *fastLoops
}

// New builds an engine from a parsed configuration. Nothing is bound yet.
func New(cfg *config.Config, opts Options) (*Engine, error) {
	e := &Engine{
		conf:    cfg,
		log:     opts.Logger,
		pub:     opts.Publisher,
		stdout:  opts.Stdout,
		stderr:  opts.Stderr,
		byName:  map[string]*Proxy{},
		conns:   map[net.Conn]*session{},
		bufsize: cfg.Global.Tune.Bufsize,
		maxHdr:  cfg.Global.Tune.HTTPMaxHdr,

		statsOpts: opts.Stats,
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.stdout == nil {
		e.stdout = os.Stdout
	}
	if e.stderr == nil {
		e.stderr = os.Stderr
	}
	if e.bufsize <= 0 {
		e.bufsize = 16384
	}
	if e.maxHdr <= 0 {
		e.maxHdr = 101
	}
	e.globalSlots = newSemaphore(cfg.Global.Maxconn)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	var errs config.ErrorList
	fail := func(err error) {
		var ce *config.Error
		if errors.As(err, &ce) {
			errs = append(errs, ce)
			return
		}
		errs = append(errs, &config.Error{Msg: err.Error()})
	}
	for _, l := range cfg.Global.Logs {
		t, err := newLogTarget(l, &cfg.Global, e.stdout, e.stderr)
		if err != nil {
			fail(&config.Error{Pos: l.Pos, Msg: err.Error()})
			continue
		}
		e.globalLogs = append(e.globalLogs, t)
	}
	if err := e.buildRegistry(opts.Extensions); err != nil {
		fail(err)
	} else if err := e.applyGlobalSetVars(); err != nil {
		fail(err)
	}
	used := map[int]bool{}
	for _, pc := range cfg.Proxies {
		if pc.ID > 0 {
			used[pc.ID] = true
		}
	}
	next := 1
	for _, pc := range cfg.Proxies {
		p := &Proxy{e: e, conf: pc, name: pc.Name, isFE: pc.IsFrontend(), isBE: pc.IsBackend()}
		if pc.ID > 0 {
			p.uuid = pc.ID
		} else {
			for used[next] {
				next++
			}
			p.uuid = next
			used[next] = true
		}
		if err := p.init(); err != nil {
			fail(err)
		}
		e.proxies = append(e.proxies, p)
		e.byName[p.name] = p
	}
	for _, p := range e.proxies {
		if err := p.link(); err != nil {
			fail(err)
		}
	}
	for _, p := range e.proxies {
		if err := p.compileRules(); err != nil {
			fail(err)
		}
	}
	if len(errs) > 0 {
		e.closeLogs()
		return nil, errs
	}
	if opts.Previous != nil {
		e.inheritServerState(opts.Previous)
	}
	for _, p := range e.proxies {
		p.initialStates()
	}
	if err := e.buildChecks(); err != nil {
		e.closeLogs()
		return nil, config.ErrorList{asConfigError(err)}
	}
	return e, nil
}

// inheritServerState copies the run-time state of servers that exist in the
// previous engine (same backend and server names) before initial states are
// computed: forced admin bits, a weight changed at run time, check health.
func (e *Engine) inheritServerState(prev *Engine) {
	for _, p := range e.proxies {
		op := prev.byName[p.name]
		if op == nil || !p.isBE || !op.isBE {
			continue
		}
		for _, s := range p.Servers() {
			o := op.Server(s.name)
			if o == nil || o.dynamic {
				continue
			}
			forced := o.Admin() & (bus.FMaint | bus.FDrain)
			if o.conf.Disabled && !s.conf.Disabled {
				forced &^= bus.FMaint // the config no longer disables it
			}
			if !o.conf.Disabled || s.conf.Disabled {
				s.admin.Store(uint32(bus.AdminFlags(s.admin.Load()) | forced))
			}
			if o.iweight == s.iweight && o.UWeight() != int(o.iweight) {
				s.uweight.Store(int32(o.UWeight()))
				s.eweight.Store(int32(o.UWeight()))
			}
			o.mu.Lock()
			if s.health.configured && o.health.configured && o.health.rise == s.health.rise && o.health.fall == s.health.fall {
				s.health.health, s.health.enabled, s.health.stopping = o.health.health, o.health.enabled, o.health.stopping
			}
			if s.agent.configured && o.agent.configured {
				s.agent.health, s.agent.enabled = o.agent.health, o.agent.enabled
			}
			s.inheritedHealth = true
			o.mu.Unlock()
			if cs := o.lastCheck.Load(); cs != nil {
				s.lastCheck.Store(cs)
			}
			if cs := o.lastAgent.Load(); cs != nil {
				s.lastAgent.Store(cs)
			}
		}
	}
}

func asConfigError(err error) *config.Error {
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce
	}
	return &config.Error{Msg: err.Error()}
}

// init builds the proxy's own parts.
func (p *Proxy) init() error {
	c := p.conf
	if c.Mode == "http" {
		p.mode = ModeHTTP
	}
	p.timeouts = c.Timeouts
	p.retries = c.Retries
	p.fwdFor = c.ForwardFor
	p.allBackups = c.AllBackups
	p.redispatch = c.Redispatch
	p.dontLogNull = c.DontLogNull
	switch c.HTTPConnMode {
	case "close":
		p.connMode = connClose
	case "server-close":
		p.connMode = connServerClose
	}
	p.disabled.Store(c.Disabled)
	if c.LogGlobal {
		p.logs = append(p.logs, p.e.globalLogs...)
	}
	if !c.NoLog {
		for _, l := range c.Logs {
			t, err := newLogTarget(l, &p.e.conf.Global, p.e.stdout, p.e.stderr)
			if err != nil {
				return &config.Error{Pos: l.Pos, Msg: err.Error()}
			}
			p.logs = append(p.logs, t)
		}
	} else {
		p.logs = nil
	}
	if err := p.loadErrorFiles(); err != nil {
		return err
	}

	if p.isFE {
		p.maxconn.Store(int32(c.Maxconn))
		// Always present (0 = unlimited) so "set maxconn frontend" works.
		p.slots = newSemaphore(c.Maxconn)
		if err := p.buildListeners(); err != nil {
			return err
		}
	}
	if p.isBE {
		algo := "roundrobin"
		if c.Balance != nil {
			algo = c.Balance.Algo
		}
		p.lb = newBalancer(algo)
		if err := p.buildServers(); err != nil {
			return err
		}
	}
	return nil
}

// buildServers creates the servers of a backend from its server lines.
func (p *Proxy) buildServers() error {
	used := map[int]bool{}
	for _, sc := range p.conf.Servers {
		if sc.Params.ID > 0 {
			used[sc.Params.ID] = true
		}
	}
	var list []*Server
	next := 1
	for _, sc := range p.conf.Servers {
		id := sc.Params.ID
		if id == 0 {
			for used[next] {
				next++
			}
			id = next
			used[id] = true
		}
		s, err := p.newServer(sc.Name, sc.Addr, sc.Params, id, false)
		if err != nil {
			return &config.Error{Pos: sc.Pos, Msg: fmt.Sprintf("'server %s' : %v", sc.Name, err)}
		}
		s.pos = sc.Pos
		s.idx = len(list)
		list = append(list, s)
	}
	p.nextPUID = next
	p.servers.Store(&list)
	return nil
}

// newServer creates a server object (not yet inserted in the list).
func (p *Proxy) newServer(name, addr string, params config.ServerParams, id int, dynamic bool) (*Server, error) {
	a, err := ParseAddr(addr, false)
	if err != nil {
		return nil, err
	}
	sa := &serverAddr{addr: a}
	if a.Network != "unix" && a.Host != "" && net.ParseIP(a.Host) == nil {
		// FQDN: resolved once at startup (init-addr libc).
		if dynamic {
			return nil, fmt.Errorf("could not resolve address '%s' (FQDN not allowed on dynamic servers)", a.Host)
		}
		ips, err := net.LookupIP(a.Host)
		if err != nil || len(ips) == 0 {
			if strings.Contains(params.InitAddr, "none") {
				sa.addr.Host = ""
			} else {
				return nil, fmt.Errorf("could not resolve address '%s'", a.Host)
			}
		} else {
			pick := ips[0]
			for _, ip := range ips {
				if ip.To4() != nil {
					pick = ip
					break
				}
			}
			sa.addr.Host = pick.String()
		}
	}
	if sa.addr.Host == "" && sa.addr.Network != "unix" {
		sa.addr.Host = "127.0.0.1"
	}
	if a.Network != "unix" && a.Port != 0 && !a.Offset {
		sa.resolved = net.JoinHostPort(sa.addr.Host, fmt.Sprint(a.Port))
	}
	s := &Server{px: p, name: name, puid: id, dynamic: dynamic, backup: params.Backup, conf: params}
	sa.check = sa.checkString()
	s.addr.Store(sa)
	s.iweight = int32(params.Weight)
	s.uweight.Store(int32(params.Weight))
	s.eweight.Store(int32(params.Weight))
	s.autoPct.Store(100)
	s.maxconn.Store(int32(params.Maxconn))
	s.maxqueue.Store(int32(params.Maxqueue))
	s.tlsConf, err = serverTLS(params.SSL, params.Verify, params.CAFile, params.SNI, params.ALPN)
	if err != nil {
		return nil, err
	}
	if _, ok := constSNI(params.SNI); params.SNI != "" && !ok {
		s.sniExpr, err = sample.Compile(params.SNI, p.e.rules.reg, p.compileCtx(sample.InReqContent|sample.InHTTPReq))
		if err != nil {
			return nil, fmt.Errorf("'sni' : %w", err)
		}
	}
	s.health = checkState{configured: params.Check, enabled: params.Check && !dynamic, rise: params.Rise, fall: params.Fall, health: params.Rise}
	s.agent = checkState{configured: params.AgentCheck, enabled: params.AgentCheck && !dynamic, rise: 1, fall: 1, health: 1}
	switch params.InitState {
	case "fully-up":
		s.health.health = params.Rise + params.Fall - 1
	case "down":
		s.health.health = params.Rise - 1
	case "fully-down":
		s.health.health = 0
	}
	s.streams = map[*stream]struct{}{}
	return s, nil
}

// link resolves references between proxies (default_backend, track).
func (p *Proxy) link() error {
	c := p.conf
	if p.isFE && c.DefaultBackend != "" {
		be := p.e.byName[c.DefaultBackend]
		if be == nil || !be.isBE {
			return &config.Error{Pos: c.Pos, Msg: fmt.Sprintf("%s: unable to find required default_backend: '%s'.", p, c.DefaultBackend)}
		}
		p.defaultBE = be
	}
	for _, s := range p.Servers() {
		if s.conf.Track == "" {
			continue
		}
		beName, srvName := p.name, s.conf.Track
		if i := strings.IndexByte(srvName, '/'); i >= 0 {
			beName, srvName = srvName[:i], srvName[i+1:]
		}
		be := p.e.byName[beName]
		if be == nil {
			return &config.Error{Pos: s.pos, Msg: fmt.Sprintf("'server %s' : unable to find required proxy '%s' for tracking.", s.name, beName)}
		}
		t := be.Server(srvName)
		if t == nil {
			return &config.Error{Pos: s.pos, Msg: fmt.Sprintf("'server %s' : unable to find required server '%s' for tracking.", s.name, srvName)}
		}
		if t == s {
			return &config.Error{Pos: s.pos, Msg: fmt.Sprintf("'server %s' : cannot track itself.", s.name)}
		}
		s.track = t
		t.trackers = append(t.trackers, s)
	}
	return nil
}

// initialStates sets every server's starting state without events.
func (p *Proxy) initialStates() {
	for _, s := range p.Servers() {
		if s.conf.Disabled {
			s.admin.Store(uint32(bus.CMaint | bus.FMaint))
		}
	}
	// Tracked servers first so trackers inherit their state.
	var visit func(s *Server)
	done := map[*Server]bool{}
	visit = func(s *Server) {
		if done[s] {
			return
		}
		done[s] = true
		if s.track != nil {
			visit(s.track)
		}
		s.update(change{initial: true})
		s.lastChange.Store(time.Now().Unix())
		if s.Op() == Stopped {
			s.downSince = time.Now().Unix()
		}
	}
	for _, s := range p.Servers() {
		visit(s)
	}
	p.rebuildLB()
	p.lastChange.Store(time.Now().Unix())
	if p.isBE && p.SrvAct()+p.SrvBck() == 0 {
		p.downSince = time.Now().Unix()
	}
}

// Start binds every listener and starts serving.
func (e *Engine) Start() error { return e.StartInherit(nil) }

// StartInherit starts serving, reusing the listening sockets of a previous
// engine (reload) when their address matches. Sockets taken are removed
// from inherit; the rest stay with the caller.
func (e *Engine) StartInherit(inherit map[string]net.Listener) error {
	e.started = time.Now()
	if e.clock == nil {
		e.clock = newCoarseClock()
	}
	var bound []*listener
	for _, p := range e.proxies {
		if !p.isFE || p.disabled.Load() {
			continue
		}
		for _, l := range p.listeners {
			if err := l.listen(inherit); err != nil {
				for _, b := range bound {
					if _, kept := inherit[b.key()]; !kept && !b.inherited {
						_ = b.ln.Close()
					} else if b.inherited {
						inherit[b.key()] = b.ln
					}
				}
				return fmt.Errorf("Starting %s %s: %w", p.kindName(), p.name, err)
			}
			bound = append(bound, l)
		}
	}
	if e.fast == nil && fastpathEnabled(e.conf.Global.Tune.Fastpath) && fastListeners(bound) {
		f, err := newFastLoops(e, runtime.GOMAXPROCS(0))
		if err != nil {
			e.log.Warn("fast path disabled: " + err.Error())
		}
		e.fast = f
	}
	// Checks (and passive observation) run before the first request.
	if e.checks != nil {
		e.checks.Start(e.ctx)
	}
	for _, l := range bound {
		l.wg.Add(1)
		go l.acceptLoop(e)
	}
	e.reaper = make(chan struct{})
	go e.reapIdle(e.reaper)
	return nil
}

// reapIdle closes server connections idle for too long.
func (e *Engine) reapIdle(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			for _, p := range e.proxies {
				for _, s := range p.Servers() {
					s.pool.purge(5 * time.Second)
				}
			}
			for _, tbl := range e.rules.tables {
				tbl.Purge()
			}
		}
	}
}

// Proxy returns the proxy named name, or nil.
func (e *Engine) Proxy(name string) *Proxy { return e.byName[name] }

// Proxies returns every proxy in configuration order.
func (e *Engine) Proxies() []*Proxy { return e.proxies }

// Config returns the configuration the engine was built from.
func (e *Engine) Config() *config.Config { return e.conf }

// Started returns the start time.
func (e *Engine) Started() time.Time { return e.started }

// Logger returns the daemon message logger.
func (e *Engine) Logger() *slog.Logger { return e.log }

// Maxconn returns the global connection limit (0 = unlimited).
func (e *Engine) Maxconn() int { return e.globalSlots.limit() }

// SetMaxconn changes the global connection limit.
func (e *Engine) SetMaxconn(n int) { e.globalSlots.setMax(n) }

// ListenerAddr returns the bound address of a frontend's n-th listener
// (0-based), for tests and tools that bind port 0.
func (e *Engine) ListenerAddr(frontend string, n int) net.Addr {
	p := e.byName[frontend]
	if p == nil || n >= len(p.listeners) || p.listeners[n].ln == nil {
		return nil
	}
	return p.listeners[n].ln.Addr()
}

// DetachListeners stops accepting without closing the listening sockets and
// hands them over (reload): the returned map feeds StartInherit of the next
// engine. ResumeAccept undoes it if the next engine fails to start.
func (e *Engine) DetachListeners() map[string]net.Listener {
	e.detached.Store(true)
	m := map[string]net.Listener{}
	for _, p := range e.proxies {
		for _, l := range p.listeners {
			if l.ln == nil {
				continue
			}
			if tl, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
				_ = tl.SetDeadline(time.Now())
			}
		}
	}
	for _, p := range e.proxies {
		if p.slots != nil {
			p.slots.cond.Broadcast()
		}
		for _, l := range p.listeners {
			if l.ln == nil {
				continue
			}
			l.wg.Wait()
			if tl, ok := l.ln.(interface{ SetDeadline(time.Time) error }); ok {
				_ = tl.SetDeadline(time.Time{})
			}
			m[l.key()] = l.ln
			l.handedOver = true
		}
	}
	return m
}

// ResumeAccept restarts the accept loops after a failed handover.
func (e *Engine) ResumeAccept() {
	e.detached.Store(false)
	for _, p := range e.proxies {
		for _, l := range p.listeners {
			if l.ln != nil && l.handedOver {
				l.handedOver = false
				l.wg.Add(1)
				go l.acceptLoop(e)
			}
		}
	}
}

// track registers a client connection; false once the engine is closed.
func (e *Engine) track(c net.Conn) bool {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	if e.closed {
		return false
	}
	e.conns[c] = nil
	e.connWG.Add(1)
	return true
}

func (e *Engine) untrack(c net.Conn) {
	e.connMu.Lock()
	delete(e.conns, c)
	e.connMu.Unlock()
	e.connWG.Done()
}

// Stop stops accepting, lets in-flight work finish until ctx is done, then
// closes what remains. Listening sockets handed over by DetachListeners are
// not closed. It returns ctx.Err() when it had to force connections closed.
func (e *Engine) Stop(ctx context.Context) error {
	e.stopping.Store(true)
	if e.checks != nil {
		e.checks.Stop()
	}
	for _, p := range e.proxies {
		for _, l := range p.listeners {
			if l.ln != nil && !l.handedOver {
				_ = l.ln.Close()
			}
		}
		if p.slots != nil {
			p.slots.close()
		}
	}
	e.globalSlots.close()
	// Wake idle keep-alive connections: they close instead of waiting.
	e.connMu.Lock()
	for c, s := range e.conns {
		if s != nil && s.idle.Load() {
			_ = c.SetReadDeadline(time.Now())
		}
	}
	e.connMu.Unlock()
	if e.fast != nil {
		e.fast.notify(fastStopping)
	}
	done := make(chan struct{})
	go func() {
		e.connWG.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		err = ctx.Err()
		e.connMu.Lock()
		e.closed = true
		for c := range e.conns {
			_ = c.Close()
		}
		e.connMu.Unlock()
		e.cancel()
		if e.fast != nil {
			e.fast.notify(fastAbort)
		}
		<-done
	}
	e.connMu.Lock()
	e.closed = true
	e.connMu.Unlock()
	e.cancel()
	if e.fast != nil {
		e.fast.stop()
	}
	for _, p := range e.proxies {
		for _, l := range p.listeners {
			l.wg.Wait()
		}
		for _, s := range p.Servers() {
			s.pool.purge(0)
			s.mu.Lock()
			if s.rampTimer != nil {
				s.rampTimer.Stop()
			}
			s.mu.Unlock()
		}
	}
	if e.reaper != nil {
		close(e.reaper)
		e.reaper = nil
	}
	if e.clock != nil {
		e.clock.close()
	}
	e.closeLogs()
	return err
}

func (e *Engine) closeLogs() {
	seen := map[*logTarget]bool{}
	for _, t := range e.globalLogs {
		seen[t] = true
		t.close()
	}
	for _, p := range e.proxies {
		for _, t := range p.logs {
			if !seen[t] {
				seen[t] = true
				t.close()
			}
		}
	}
}
