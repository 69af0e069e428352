package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Target is the server side of a check; package proxy's server implements it.
type Target interface {
	// CheckAddr returns the server's current address as "host:port" (the
	// server address can change at run time). It is called before every
	// probe and must be cheap and safe for concurrent use.
	CheckAddr() string
	// ReportCheck receives the outcome of every completed probe and of
	// every passive-check reaction. Calls for one Checker never overlap and
	// arrive in order; the health and agent Checkers of one server may call
	// concurrently. The Target applies the edge and the agent reply to the
	// server itself (single writer), publishes SERVER_CHECK and logs the
	// log-health-checks line when r.Changed is true. It must not block:
	// a report that changes nothing (the steady state) is made from the
	// scheduler's check loop and delays every check due meanwhile; other
	// reports delay that Checker's next probe. It may call the Checker's
	// methods (not Scheduler.Stop).
	ReportCheck(r Report)
}

// Report is what a Target receives after a check.
type Report struct {
	// Kind tells a health check from an agent check.
	Kind Kind
	// Result is the check result (status, code, info, duration).
	Result Result
	// Health is the check's health counter after the update.
	Health Health
	// Edge is the server state change the result asks for (HAProxy's
	// check_notify_*); applying it to a server already in that state must
	// be a no-op.
	Edge Edge
	// Changed is true when the status changed or the health counter
	// moved: HAProxy then publishes SERVER_CHECK and, with
	// "option log-health-checks", logs LogLine.
	Changed bool
	// Agent is the parsed agent line (agent checks that got one): the
	// Target applies Admin, then the weight, then maxconn, unless the agent
	// is disabled ("disable agent").
	Agent *AgentReply
}

// LogLine returns the "option log-health-checks" line for the report.
func (r Report) LogLine(backend, server string, backup, drain bool) string {
	return LogLine(r.Kind, backend, server, backup, r.Result, r.Health, drain)
}

// Config is one Checker's configuration.
type Config struct {
	// Name identifies the check in internal error logs ("be/srv").
	Name string
	// Kind is KindHealth or KindAgent.
	Kind Kind
	// Probe runs one check: a *Spec or an *AgentSpec.
	Probe Prober
	// Rise and Fall are the server's "rise"/"fall" (defaults 2 and 3).
	// Agent checks always use 1 and 1.
	Rise, Fall int
	// Inter, FastInter and DownInter are "inter" (or "agent-inter"),
	// "fastinter" and "downinter"; zero FastInter/DownInter mean Inter.
	Inter, FastInter, DownInter time.Duration
	// InitState is the server's "init-state".
	InitState InitState
	// Observe, OnError and ErrorLimit configure passive checks ("observe",
	// "on-error", "error-limit", default 10) on a health Checker.
	Observe    ObserveMode
	OnError    OnError
	ErrorLimit int
}

// SchedulerOptions configure a Scheduler.
type SchedulerOptions struct {
	// SpreadChecks is the global "spread-checks" percentage (0..50): each
	// interval gets a random jitter of up to this share either way.
	SpreadChecks int
	// Logf, if set, receives internal errors (a panicking Target or probe).
	Logf func(format string, args ...any)
}

// Scheduler runs the Checkers of one daemon instance. One check loop
// goroutine (loop.go) keeps the Checkers in a due queue and sleeps until the
// earliest one is due (due times are rounded up to the millisecond so that
// checks due together are started together). It runs plain TCP connect
// checks itself, without blocking, and starts every other probe on a
// goroutine of its own. A Checker is queued again only once its probe and
// report are done, so there is at most one probe in flight per Checker, and
// no goroutine sleeps between checks (10,000 idle Checkers cost one
// goroutine). Lock order: Scheduler.mu, then Checker.reportMu, then
// Checker.mu, then Scheduler.qmu; Checker methods never take Scheduler.mu
// while holding their own.
type Scheduler struct {
	opts SchedulerOptions

	mu       sync.RWMutex // guards ctx, cancel, checkers; closed is set under it
	started  atomic.Bool
	closed   atomic.Bool
	ctx      context.Context
	cancel   context.CancelFunc
	checkers []*Checker
	wg       sync.WaitGroup

	qmu        sync.Mutex // guards q, sleepUntil, poll and every Checker.qidx
	q          dueQueue
	sleepUntil int64  // the loop sleeps until then (0: it is awake)
	poll       poller // the loop's poller, for wake-ups; nil when no loop runs

	pollerFor  func() poller // nil: newPoller (tests run the portable one too)
	alwaysWait bool          // benchmarks: wait on the poller for every connect
}

// NewScheduler returns a stopped scheduler.
func NewScheduler(o SchedulerOptions) *Scheduler {
	o.SpreadChecks = max(0, min(o.SpreadChecks, 50))
	return &Scheduler{opts: o}
}

// ErrStopped is returned by Add after Stop.
var ErrStopped = errors.New("healthcheck: scheduler stopped")

// Add registers a check for t. Checkers added before Start have their first
// checks spread over the smallest interval, as HAProxy does at startup; later
// ones start after a random delay within their interval.
func (s *Scheduler) Add(t Target, cfg Config) (*Checker, error) {
	if t == nil || cfg.Probe == nil {
		return nil, errors.New("healthcheck: Add needs a target and a probe")
	}
	if cfg.Kind == KindAgent {
		cfg.Rise, cfg.Fall = 1, 1
	}
	if cfg.Rise <= 0 {
		cfg.Rise = 2
	}
	if cfg.Fall <= 0 {
		cfg.Fall = 3
	}
	if cfg.ErrorLimit <= 0 {
		cfg.ErrorLimit = 10
	}
	c := &Checker{
		s:       s,
		t:       t,
		cfg:     cfg,
		iv:      Intervals{Inter: cfg.Inter, FastInter: cfg.FastInter, DownInter: cfg.DownInter},
		health:  NewHealth(cfg.Rise, cfg.Fall, cfg.InitState),
		last:    Result{Status: StatusInit, Duration: -1},
		qidx:    -1,
		watchFD: -1,
	}
	if cfg.Kind == KindAgent {
		c.health.Cur = c.health.Max()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed.Load() {
		return nil, ErrStopped
	}
	c.pos = len(s.checkers)
	s.checkers = append(s.checkers, c)
	if s.started.Load() {
		c.mu.Lock()
		c.scheduleLocked(time.Duration(rand.Int64N(int64(c.firstInterval()) + 1)))
		c.mu.Unlock()
	}
	return c, nil
}

// Start starts checking. Cancelling ctx stops all checks like Stop, but
// only Stop waits for running probes to return.
func (s *Scheduler) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started.Load() || s.closed.Load() {
		return
	}
	s.started.Store(true)
	s.ctx, s.cancel = context.WithCancel(ctx)
	mk := s.pollerFor
	if mk == nil {
		mk = newPoller
	}
	l := &checkLoop{s: s, p: mk(), ctx: s.ctx}
	l.unwatchFD = l.p.unwatch
	s.qmu.Lock()
	s.poll = l.p
	s.sleepUntil = 0
	s.qmu.Unlock()
	s.wg.Add(1)
	go l.run()
	context.AfterFunc(s.ctx, s.halt)
	minInter := time.Duration(0)
	for _, c := range s.checkers {
		if d := c.firstInterval(); minInter == 0 || d < minInter {
			minInter = d
		}
	}
	n := len(s.checkers)
	for i, c := range s.checkers {
		c.mu.Lock()
		if !c.paused && !c.removed {
			c.scheduleLocked(minInter * time.Duration(i) / time.Duration(n))
		}
		c.mu.Unlock()
	}
}

// halt marks the scheduler closed and makes the check loop return.
func (s *Scheduler) halt() {
	s.mu.Lock()
	s.closed.Store(true)
	s.mu.Unlock()
	s.qmu.Lock()
	if s.poll != nil {
		s.poll.wake()
	}
	s.qmu.Unlock()
}

// Stop stops all checks and waits until running probes and reports have
// returned. It is idempotent.
func (s *Scheduler) Stop() {
	s.mu.Lock()
	cancel := s.cancel
	s.closed.Store(true)
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.halt()
	s.wg.Wait()
}

// enter registers a goroutine about to do check work; false once stopped.
func (s *Scheduler) enter() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed.Load() {
		return false
	}
	s.wg.Add(1)
	return true
}

func (s *Scheduler) context() context.Context {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.ctx == nil {
		return context.Background()
	}
	return s.ctx
}

func (s *Scheduler) remove(c *Checker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.pos < 0 || c.pos >= len(s.checkers) || s.checkers[c.pos] != c {
		return
	}
	last := len(s.checkers) - 1
	s.checkers[c.pos] = s.checkers[last]
	s.checkers[c.pos].pos = c.pos
	s.checkers[last] = nil
	s.checkers = s.checkers[:last]
	c.pos = -1
}

func (s *Scheduler) logf(format string, args ...any) {
	if s.opts.Logf != nil {
		s.opts.Logf(format, args...)
	}
}

// jitter applies spread-checks to d.
func (s *Scheduler) jitter(d time.Duration) time.Duration {
	if s.opts.SpreadChecks <= 0 || d <= 0 {
		return d
	}
	rv := int64(d) * int64(s.opts.SpreadChecks) / 100
	return d + time.Duration(rand.Int64N(2*rv+1)-rv)
}

// Checker is one server's health or agent check.
type Checker struct {
	s   *Scheduler
	t   Target
	cfg Config
	iv  Intervals
	pos int // index in s.checkers, under s.mu

	// reportMu serialises the application of results and the ReportCheck
	// calls of this Checker. Lock order: reportMu, then mu.
	reportMu sync.Mutex

	mu          sync.Mutex
	qidx        int          // index in s.q, -1 when not queued; under s.qmu
	att         *connAttempt // the loop's watched connect attempt; owned by the loop
	lgen        uint64       // the generation of the loop's check in flight; owned by the loop
	nbr         *runner      // the loop's check program run in flight; owned by the loop
	watchFD     int          // the socket the loop watches for it, or -1; owned by the loop
	due         time.Time
	health      Health
	last        Result
	checked     bool
	paused      bool
	removed     bool
	running     bool
	gen         uint64
	forceFast   bool
	hanaQ       []hanaItem // passive-check reactions waiting for onError
	hanaRunning bool

	errs atomic.Int32 // consecutive passive errors
}

// Kind returns the check kind.
func (c *Checker) Kind() Kind { return c.cfg.Kind }

// Health returns the current health counter.
func (c *Checker) Health() Health {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.health
}

// LastResult returns the last result (status INI before the first check).
func (c *Checker) LastResult() Result {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// Running reports whether a probe is in flight (stats prefix the check
// status with "* " then).
func (c *Checker) Running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.running
}

// Paused reports whether the Checker is paused.
func (c *Checker) Paused() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused
}

// Pause stops probing (MAINT, "disable health", "disable agent"). A probe
// in flight finishes but its result is dropped. Health is left unchanged:
// entering MAINT also calls SetHealth(0).
func (c *Checker) Pause() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused = true
	c.gen++
	if !c.running { // a running check's queue entry is its connect deadline
		c.s.dequeue(c)
	}
}

// Resume restarts probing with a check right away (leaving MAINT: call
// SetHealth(rise) first, HAProxy's "start OK but check immediately").
func (c *Checker) Resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused || c.removed {
		return
	}
	c.paused = false
	if !c.running && c.startedLocked() {
		c.scheduleLocked(0)
	}
}

// SetHealth sets the health counter, clamped to [0, rise+fall-1]
// ("set server health", MAINT). It does not report.
func (c *Checker) SetHealth(cur int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.health.Cur = max(0, min(cur, c.health.Max()))
}

// Remove stops the Checker for good (server deleted).
func (c *Checker) Remove() {
	c.mu.Lock()
	c.removed = true
	c.gen++
	if !c.running {
		c.s.dequeue(c)
	}
	c.mu.Unlock()
	c.s.remove(c)
}

func (c *Checker) startedLocked() bool {
	return c.s.started.Load() && !c.s.closed.Load()
}

// firstInterval is the interval of a server never checked yet (fastinter).
func (c *Checker) firstInterval() time.Duration {
	if c.iv.FastInter > 0 {
		return c.iv.FastInter
	}
	if c.iv.Inter > 0 {
		return c.iv.Inter
	}
	return DefaultInter
}

// nextIntervalLocked is the delay before the next probe.
func (c *Checker) nextIntervalLocked() time.Duration {
	if !c.checked {
		return c.s.jitter(c.firstInterval())
	}
	return c.s.jitter(c.health.Interval(c.iv, c.forceFast))
}

// scheduleLocked queues the next check d from now.
func (c *Checker) scheduleLocked(d time.Duration) { c.scheduleFromLocked(time.Now(), d) }

// scheduleFromLocked queues the next check d after now, rounded up to the
// next multiple of dueGranularity(d). The check loop passes the time it woke
// up at for every check it completed in that round, as HAProxy's now_ms is
// taken once per poll loop.
func (c *Checker) scheduleFromLocked(now time.Time, d time.Duration) {
	due := now
	if d > 0 {
		g := dueGranularity(d)
		due = now.Add(d).Truncate(g).Add(g)
	}
	c.due = due
	c.s.enqueue(c, due.UnixNano())
}

// dueGranularity is what due times d ahead are rounded up to: the largest
// power-of-two number of milliseconds not above d/128, between 1ms and
// 256ms (4ms for "inter 1s", 8ms for the default 2s). Windows are aligned
// on the clock, so every check falling due within one window, whatever its
// interval, is started by the same wake-up of the check loop: 10,000
// servers at inter 1s cost 250 wake-ups a second instead of 1,000 (HAProxy
// gets there by letting its checks cluster). A check is late by at most
// 1/128th of its interval, 0.4% on average.
func dueGranularity(d time.Duration) time.Duration {
	g := time.Millisecond
	for g < 256*time.Millisecond && 2*g <= d/128 {
		g *= 2
	}
	return g
}

// begin marks a probe in flight; ok is false when the check must not run
// (paused, removed, or a probe already in flight).
func (c *Checker) begin() (gen uint64, up, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.removed || c.paused || c.running {
		return 0, false, false
	}
	c.running = true
	c.forceFast = false
	return c.gen, c.health.IsUp(), true
}

// stopRunning ends a probe whose result is dropped (scheduler stopping).
func (c *Checker) stopRunning() {
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
}

// run runs a probe begun by begin on the calling goroutine, then completes
// it.
func (c *Checker) run(gen uint64, up bool) {
	ctx := c.s.context()
	res, reply, ok := c.probe(ctx, up)
	if ctx.Err() != nil || !ok {
		c.stopRunning()
		return
	}
	c.complete(gen, res, reply)
}

// complete applies a probe's result (unless the Checker was paused,
// removed or forced since the probe began), reports it and queues the next
// check.
func (c *Checker) complete(gen uint64, res Result, reply *AgentReply) {
	c.reportMu.Lock()
	c.mu.Lock()
	var rep Report
	send := false
	if gen == c.gen && !c.paused && !c.removed {
		rep = c.applyLocked(res, reply)
		send = true
	}
	c.mu.Unlock()
	if send {
		c.report(rep)
	}
	c.reportMu.Unlock()
	c.rescheduleAfterProbe(time.Now())
}

// completeQuiet is complete for a result that changes nothing (same status
// as the last one, health counter unmoved): the steady state, cheap enough
// to report on the check loop. It returns false, having done nothing, for
// any other result, or when a report of this Checker is in progress.
func (c *Checker) completeQuiet(gen uint64, res Result, now time.Time) bool {
	if !c.reportMu.TryLock() {
		return false
	}
	c.mu.Lock()
	if gen == c.gen && !c.paused && !c.removed {
		if _, _, moved := c.health.Apply(res, c.cfg.Kind == KindAgent); moved || res.Status != c.last.Status || !c.checked {
			c.mu.Unlock()
			c.reportMu.Unlock()
			return false
		}
		rep := c.applyLocked(res, nil)
		c.mu.Unlock()
		c.report(rep)
	} else {
		c.mu.Unlock()
	}
	c.reportMu.Unlock()
	c.rescheduleAfterProbe(now)
	return true
}

// rescheduleAfterProbe ends the probe in flight and queues the next one,
// its interval counted from now.
func (c *Checker) rescheduleAfterProbe(now time.Time) {
	c.mu.Lock()
	c.running = false
	if !c.removed && !c.paused && !c.s.closed.Load() {
		c.scheduleFromLocked(now, c.nextIntervalLocked())
	}
	c.mu.Unlock()
}

// probe runs the prober, turning a panic into a logged SOCKERR.
func (c *Checker) probe(ctx context.Context, up bool) (res Result, reply *AgentReply, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.s.logf("healthcheck: %s check of %s: probe panic: %v\n%s", c.cfg.Kind, c.cfg.Name, p, debug.Stack())
			res, reply, ok = Result{Status: StatusSockErr, Info: fmt.Sprint("internal error: ", p), Duration: -1}, nil, true
		}
	}()
	addr := c.t.CheckAddr()
	res, reply = c.cfg.Probe.Probe(ctx, ProbeTarget{Addr: addr, Up: up})
	return res, reply, true
}

// report calls the Target, logging a panic instead of crashing the daemon.
func (c *Checker) report(r Report) {
	defer func() {
		if p := recover(); p != nil {
			c.s.logf("healthcheck: %s check of %s: ReportCheck panic: %v\n%s", c.cfg.Kind, c.cfg.Name, p, debug.Stack())
		}
	}()
	c.t.ReportCheck(r)
}

// applyLocked folds a result into the health counter (HAProxy's
// set_server_check_status) and builds the report.
func (c *Checker) applyLocked(res Result, reply *AgentReply) Report {
	agent := c.cfg.Kind == KindAgent
	prev := c.last.Status
	h := c.health
	if agent {
		// An agent's "up" and "down" set its health directly.
		switch res.Status {
		case StatusL7OK:
			h.Cur = h.Max()
		case StatusL7STS:
			h.Cur = 0
		}
	}
	next, edge, moved := h.Apply(res, agent)
	c.health = next
	c.last = res
	c.checked = true
	cls := res.Class()
	if !agent && c.cfg.Observe != ObserveNone && (cls == ResultPassed || cls == ResultCondPass) {
		c.errs.Store(0)
	}
	changed := cls != ResultNeutral && cls != ResultUnknown && (moved || res.Status != prev)
	return Report{Kind: c.cfg.Kind, Result: res, Health: next, Edge: edge, Changed: changed, Agent: reply}
}
