package handlers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
)

// Auto-weight modes (config.AutoWeight.Mode).
const (
	AutoWeightChecks  = "checks"
	AutoWeightLatency = "latency"
)

// DefaultAutoWeightInterval is how often the latency mode recomputes its
// factors (and both modes resynchronise with the live servers).
const DefaultAutoWeightInterval = time.Second

// AutoWeightOptions tune an AutoWeight beyond its configuration.
type AutoWeightOptions struct {
	// Logger receives the one-time notices about backends auto-weight
	// cannot act on (default slog.Default()).
	Logger *slog.Logger
	// Interval is the period of the latency computation and of the
	// resynchronisation pass (default DefaultAutoWeightInterval).
	Interval time.Duration
}

// AutoWeight is the `auto-weight checks|latency [floor <pct>]` backend
// keyword (DESIGN §5). It never touches the user weight: it sets each
// server's auto-weight factor (proxy.Server.SetAutoWeight, a percentage of
// the user weight, 100 = none), so the effective weight — the one the load
// balancer uses and `show stat` prints in its weight column — is
// user weight × factor, further scaled by a slowstart ramp, and an
// operator's `set weight` changes the base the factor scales.
//
// checks: while a server is up, its factor follows its health-check
// counter: 100 × (cur − rise + 1) / fall percent, at least the floor, 100%
// when the counter is full (and whenever the server is DOWN, in
// maintenance, tracking another server or has no enabled health check). It
// reacts to the server's SERVER_CHECK, SERVER_UP/DOWN, SERVER_STATE and
// SERVER_ADMIN events (feed them with Handle) and reads the live counter,
// so coalesced events lose nothing.
//
// latency: every Interval, per backend, each server that has answered
// requests gets 100 × fastest / own percent of the mean response times
// (proxy Counters.Rtime, an EWMA in ms, counted as at least 1 ms), at least
// the floor, where fastest is the lowest mean among the servers that are
// up; so the fastest server always keeps 100% and the backend is never
// driven to the floor as a whole. Servers without samples keep 100%.
// Response times exist in mode http only: a TCP backend keeps its weights.
//
// Backends with a static algorithm (static-rr, non-consistent hashing)
// cannot change weights in HAProxy; auto-weight leaves them alone and says
// so once in the log.
type AutoWeight struct {
	engine   func() *proxy.Engine
	log      *slog.Logger
	interval time.Duration
	backends map[string]*awBackend
	names    []string

	mu      sync.Mutex
	applied map[*proxy.Server]int // factors set so far; absent = 100
	warned  map[string]bool
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	started bool
}

type awBackend struct {
	name  string
	mode  string
	floor int
}

// NewAutoWeight builds the auto-weight handler of a configuration: every
// backend (or listen) proxy with an `auto-weight` line, over the live
// engine that engine returns (the daemon's current one: it changes on
// reload). Start it, subscribe Handle with Filter (bus.Coalesce), Stop it.
func NewAutoWeight(cfg *config.Config, engine func() *proxy.Engine, opts AutoWeightOptions) *AutoWeight {
	a := &AutoWeight{
		engine:   engine,
		log:      opts.Logger,
		interval: opts.Interval,
		backends: map[string]*awBackend{},
		applied:  map[*proxy.Server]int{},
		warned:   map[string]bool{},
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.interval <= 0 {
		a.interval = DefaultAutoWeightInterval
	}
	if cfg == nil {
		return a
	}
	for _, px := range cfg.Proxies {
		aw := px.AutoWeight
		if aw == nil || !px.IsBackend() || (aw.Mode != AutoWeightChecks && aw.Mode != AutoWeightLatency) {
			continue
		}
		a.backends[px.Name] = &awBackend{name: px.Name, mode: aw.Mode, floor: min(max(aw.Floor, 1), 100)}
		a.names = append(a.names, px.Name)
	}
	sort.Strings(a.names)
	return a
}

// Enabled reports whether at least one backend has auto-weight.
func (a *AutoWeight) Enabled() bool { return len(a.backends) > 0 }

// Filter is the bus subscription the handler needs: the server events of
// the auto-weight backends.
func (a *AutoWeight) Filter() bus.Filter {
	return bus.Filter{
		Types:    []bus.Type{bus.ServerCheck, bus.ServerUp, bus.ServerDown, bus.ServerState, bus.ServerAdmin},
		Backends: append([]string(nil), a.names...),
	}
}

// Start starts the periodic pass. ctx bounds its lifetime: once ctx is
// cancelled the handler does nothing more (not even from Handle), which is
// how the daemon silences the old handler at a reload without waiting.
func (a *AutoWeight) Start(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.started {
		return errors.New("auto-weight: already started")
	}
	a.started = true
	a.ctx, a.cancel = context.WithCancel(ctx)
	a.done = make(chan struct{})
	go a.run(a.ctx, a.done)
	return nil
}

// Stop stops the periodic pass and waits for it until ctx is done. Factors
// already applied stay (a reload builds new servers at 100%).
func (a *AutoWeight) Stop(ctx context.Context) error {
	a.mu.Lock()
	cancel, done := a.cancel, a.done
	a.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("auto-weight: stopping: %w", ctx.Err())
	}
}

func (a *AutoWeight) run(ctx context.Context, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			a.tick()
		}
	}
}

// Handle reacts to one server event of a checks-mode backend: it
// recomputes that server's factor from its live health counter. It is
// meant for the handler's own bus delivery goroutine.
func (a *AutoWeight) Handle(e *bus.Event) {
	if e == nil || e.Server == nil {
		return
	}
	b := a.backends[e.Server.ProxyName]
	if b == nil || b.mode != AutoWeightChecks {
		return
	}
	if e.Type == bus.ServerCheck && e.Check != nil && e.Check.Agent {
		return
	}
	px := a.proxy(b)
	if px == nil {
		return
	}
	s := px.ServerByID(e.Server.PUID)
	if s == nil || s.Deleted() {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil || a.ctx.Err() != nil {
		return
	}
	a.apply(s, checksFactorOf(s, b.floor))
}

// proxy returns the live backend b, nil when it is gone or auto-weight
// cannot act on it.
func (a *AutoWeight) proxy(b *awBackend) *proxy.Proxy {
	eng := a.engine()
	if eng == nil {
		return nil
	}
	px := eng.Proxy(b.name)
	if px == nil || !px.IsBackend() {
		return nil
	}
	if !px.DynamicLB() {
		a.warnOnce(b.name+"/static", fmt.Sprintf("auto-weight: backend '%s' uses a static load-balancing algorithm, which cannot change weights; auto-weight ignored", b.name))
		return nil
	}
	if b.mode == AutoWeightLatency && px.Mode() != proxy.ModeHTTP {
		a.warnOnce(b.name+"/tcp", fmt.Sprintf("auto-weight latency: backend '%s' is not in mode http and has no response times; its weights stay as they are", b.name))
		return nil
	}
	return px
}

func (a *AutoWeight) warnOnce(key, msg string) {
	a.mu.Lock()
	seen := a.warned[key]
	a.warned[key] = true
	a.mu.Unlock()
	if !seen {
		a.log.Warn(msg)
	}
}

// tick is the periodic pass: latency factors, and a resynchronisation of
// the checks-mode factors (after a reload the new servers start at 100%).
func (a *AutoWeight) tick() {
	type live struct {
		b  *awBackend
		px *proxy.Proxy
	}
	var todo []live
	for _, name := range a.names {
		b := a.backends[name]
		if px := a.proxy(b); px != nil {
			todo = append(todo, live{b, px})
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil || a.ctx.Err() != nil {
		return
	}
	seen := map[*proxy.Server]bool{}
	for _, l := range todo {
		servers := l.px.Servers()
		for _, s := range servers {
			seen[s] = true
		}
		switch l.b.mode {
		case AutoWeightChecks:
			for _, s := range servers {
				if !s.Deleted() {
					a.apply(s, checksFactorOf(s, l.b.floor))
				}
			}
		case AutoWeightLatency:
			for s, pct := range latencyFactorsOf(servers, l.b.floor) {
				a.apply(s, pct)
			}
		}
	}
	for s := range a.applied {
		if !seen[s] {
			delete(a.applied, s)
		}
	}
}

// apply sets a server's factor when it changed. Called with a.mu held, so
// the factors of one server are applied in the order they were computed.
func (a *AutoWeight) apply(s *proxy.Server, pct int) {
	cur, ok := a.applied[s]
	if !ok {
		cur = 100
	}
	if cur == pct {
		return
	}
	s.SetAutoWeight(pct)
	if pct == 100 {
		delete(a.applied, s)
	} else {
		a.applied[s] = pct
	}
}

// Factor returns the factor auto-weight last applied to a server of the
// live engine, in percent (100 when none or unknown).
func (a *AutoWeight) Factor(backend, server string) int {
	eng := a.engine()
	if eng == nil {
		return 100
	}
	px := eng.Proxy(backend)
	if px == nil {
		return 100
	}
	s := px.Server(server)
	a.mu.Lock()
	defer a.mu.Unlock()
	if pct, ok := a.applied[s]; ok {
		return pct
	}
	return 100
}

// ChecksFactor is the checks-mode factor in percent of a server whose
// health counter is cur, with thresholds rise and fall: 100 × (cur − rise +
// 1) / fall, at least floor, 100 when the counter is full (cur ≥ rise + fall
// − 1).
func ChecksFactor(cur, rise, fall, floor int) int {
	floor = min(max(floor, 1), 100)
	if fall < 1 || cur >= rise+fall-1 {
		return 100
	}
	return min(max(100*(cur-rise+1)/fall, floor), 100)
}

// LatencyFactor is the latency-mode factor in percent of a server whose
// mean response time is own ms when the fastest server's is fastest ms:
// 100 × fastest / own, rounded, at least floor; both count as at least 1 ms.
func LatencyFactor(fastest, own int64, floor int) int {
	floor = min(max(floor, 1), 100)
	fastest, own = max(fastest, 1), max(own, 1)
	if own <= fastest {
		return 100
	}
	return min(max(int((100*fastest+own/2)/own), floor), 100)
}

// checksFactorOf reads a server's live health counter.
func checksFactorOf(s *proxy.Server, floor int) int {
	h := s.HealthInfo()
	if !h.Enabled || s.Tracked() != nil || s.Op() == proxy.Stopped || s.Admin()&bus.MaintMask != 0 {
		return 100
	}
	return ChecksFactor(h.Health, h.Rise, h.Fall, floor)
}

// latencyFactorsOf computes the latency factors of a backend's servers.
func latencyFactorsOf(servers []*proxy.Server, floor int) map[*proxy.Server]int {
	type sample struct {
		s  *proxy.Server
		rt int64
	}
	var samples []sample
	fastest := int64(-1)
	out := make(map[*proxy.Server]int, len(servers))
	for _, s := range servers {
		if s.Deleted() {
			continue
		}
		out[s] = 100
		if !hasResponses(&s.Counters) {
			continue
		}
		rt := max(s.Counters.Rtime(), 1)
		samples = append(samples, sample{s, rt})
		if s.Op() != proxy.Stopped && s.Admin()&bus.MaintMask == 0 && (fastest < 0 || rt < fastest) {
			fastest = rt
		}
	}
	if fastest < 0 {
		return out
	}
	for _, sm := range samples {
		out[sm.s] = LatencyFactor(fastest, sm.rt, floor)
	}
	return out
}

// hasResponses reports whether a server has answered at least one request
// (its response-time average means something).
func hasResponses(c *proxy.Counters) bool {
	for i := range c.Hrsp {
		if c.Hrsp[i].Load() > 0 {
			return true
		}
	}
	return false
}
