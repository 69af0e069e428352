package healthcheck

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"runtime/debug"
	"time"
)

// The check loop: one goroutine per Scheduler, shaped like HAProxy's check
// thread. It sleeps in a poller (epoll on Linux) until the earliest due
// check, then starts every check that is due. A plain TCP connect check
// (the "check" keyword alone, the 10,000-server case) and a check program
// without TLS or PROXY header (httpchk, tcp-check, smtpchk...: a runner in
// non-blocking mode) run on the loop itself without blocking, on sockets
// from a small pool: a result at once, or a socket watched by the poller
// until it is ready or its deadline passes. A result that changes nothing
// (same status, health unmoved) is applied and reported on the loop too.
// Every other probe (TLS, PROXY header, agent, a host name to resolve) and
// every report that changes something run on a goroutine of their own, as
// they may block.
//
// Ownership: the due queue is guarded by Scheduler.qmu (a leaf lock, taken
// under Checker.mu); checkLoop and the Checker fields att, nbr, lgen and
// watchFD belong to the loop goroutine.

// dueEntry is one Checker waiting in the due queue: for its next check, or
// (while its connect attempt is watched) for that attempt's deadline.
type dueEntry struct {
	when int64 // UnixNano
	c    *Checker
}

// dueQueue is a binary min-heap on when; each Checker knows its index.
type dueQueue []dueEntry

func (q dueQueue) less(i, j int) bool { return q[i].when < q[j].when }

func (q dueQueue) swap(i, j int) {
	q[i], q[j] = q[j], q[i]
	q[i].c.qidx = i
	q[j].c.qidx = j
}

func (q dueQueue) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !q.less(i, p) {
			return
		}
		q.swap(i, p)
		i = p
	}
}

func (q dueQueue) down(i int) {
	n := len(q)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && q.less(r, l) {
			m = r
		}
		if !q.less(m, i) {
			return
		}
		q.swap(i, m)
		i = m
	}
}

// enqueueLocked puts c in the due queue at when, or moves it there if it
// is queued already. Called with qmu held.
func (s *Scheduler) enqueueLocked(c *Checker, when int64) {
	if i := c.qidx; i >= 0 {
		old := s.q[i].when
		s.q[i].when = when
		if when < old {
			s.q.up(i)
		} else {
			s.q.down(i)
		}
	} else {
		c.qidx = len(s.q)
		s.q = append(s.q, dueEntry{when: when, c: c})
		s.q.up(c.qidx)
	}
	if when < s.sleepUntil && s.poll != nil {
		// The loop sleeps past this: wake it up once.
		s.sleepUntil = when
		s.poll.wake()
	}
}

// enqueue is enqueueLocked taking qmu.
func (s *Scheduler) enqueue(c *Checker, when int64) {
	s.qmu.Lock()
	s.enqueueLocked(c, when)
	s.qmu.Unlock()
}

// dequeue takes c out of the due queue (no-op if it is not queued).
func (s *Scheduler) dequeue(c *Checker) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	i := c.qidx
	if i < 0 {
		return
	}
	last := len(s.q) - 1
	if i != last {
		s.q.swap(i, last)
	}
	s.q[last] = dueEntry{}
	s.q = s.q[:last]
	c.qidx = -1
	if i != last {
		s.q.down(i)
		s.q.up(i)
	}
}

// popDue moves the Checkers due at now into batch. When none is due it
// returns how long the loop may sleep (-1: until woken) and, under the
// same lock, records that sleep so that an earlier enqueue wakes it.
func (s *Scheduler) popDue(now int64, batch []*Checker) ([]*Checker, time.Duration) {
	s.qmu.Lock()
	defer s.qmu.Unlock()
	for len(s.q) > 0 && s.q[0].when <= now {
		c := s.q[0].c
		last := len(s.q) - 1
		s.q.swap(0, last)
		s.q[last] = dueEntry{}
		s.q = s.q[:last]
		c.qidx = -1
		s.q.down(0)
		batch = append(batch, c)
	}
	if len(batch) > 0 {
		s.sleepUntil = 0 // awake: enqueues need not wake the loop
		return batch, 0
	}
	if len(s.q) == 0 {
		s.sleepUntil = maxWhen
		return batch, -1
	}
	s.sleepUntil = s.q[0].when
	return batch, time.Duration(s.q[0].when - now)
}

const maxWhen = int64(^uint64(0) >> 1)

// checkLoop is the state owned by the loop goroutine.
type checkLoop struct {
	s        *Scheduler
	p        poller
	ctx      context.Context
	watched  []*Checker // by socket fd: the Checkers whose socket p watches
	nwatched int        // how many
	batch    []*Checker
	now      time.Time      // when the current round started
	pool     sockPool       // sockets of finished checks, for the next ones
	runners  []*runner      // free runners for check programs
	att      connAttempt    // the connect attempt being started
	atts     []*connAttempt // free attempts for the watched ones
	// unwatchFD is p.unwatch, bound once for the runners.
	unwatchFD func(fd int) error
}

// run runs the loop until the scheduler stops.
func (l *checkLoop) run() {
	s := l.s
	defer s.wg.Done()
	for !s.closed.Load() {
		var sleep time.Duration
		l.now = time.Now()
		l.batch, sleep = s.popDue(l.now.UnixNano(), l.batch[:0])
		if len(l.batch) == 0 {
			l.p.wait(sleep, l.nwatched > 0, l.ready)
			continue
		}
		for i, c := range l.batch {
			l.batch[i] = nil
			switch {
			case c.att != nil: // its connect deadline passed
				l.connectDone(c, Result{Status: StatusL4TOUT})
			case c.nbr != nil && c.nbr.wait != waitNone: // its program's deadline passed
				l.runnerDone(c, c.nbr.timedOut())
			default:
				l.start(c)
			}
		}
		// Sockets that became ready meanwhile, without sleeping.
		l.p.wait(0, l.nwatched > 0, l.ready)
	}
	// Stopped: abandon the checks in flight (their results would be
	// dropped anyway) and release the poller.
	for _, c := range l.watched {
		if c != nil {
			if c.att != nil {
				c.att.abandon()
				c.att = nil
			}
			if c.nbr != nil {
				c.nbr.wait = waitNone
				c.nbr.close()
				c.nbr = nil
			}
			c.stopRunning()
		}
	}
	l.watched = nil
	l.pool.close()
	s.qmu.Lock()
	s.poll = nil
	s.qmu.Unlock()
	l.p.close()
}

// start begins c's check on the loop.
func (l *checkLoop) start(c *Checker) {
	s := l.s
	gen, up, ok := c.begin()
	if !ok {
		return
	}
	spec, _ := c.cfg.Probe.(*Spec)
	if spec == nil {
		s.spawn(c, gen, up)
		return
	}
	quick := spec.quick()
	if !quick && (!l.p.canWatch() || !spec.nbCapable()) {
		s.spawn(c, gen, up)
		return
	}
	c.lgen = gen
	serverAddr, res, ok := l.checkAddr(c)
	if !ok {
		l.finish(c, res)
		return
	}
	if !quick {
		l.startRunner(c, spec, serverAddr, gen, up)
		return
	}
	a := &l.att
	a.alwaysWait = s.alwaysWait
	switch spec.startConnect(serverAddr, a, &l.pool) {
	case quickDone:
		l.finish(c, a.res)
	case quickPending:
		// The attempt must outlive this call: it gets its own copy.
		var pa *connAttempt
		if n := len(l.atts); n > 0 {
			pa, l.atts = l.atts[n-1], l.atts[:n-1]
		} else {
			pa = new(connAttempt)
		}
		*pa = *a
		a.fd = -1
		if l.watch(c, pa.fd, false) {
			c.att = pa
			l.s.enqueue(c, pa.deadline.UnixNano())
			return
		}
		// The poller cannot watch it: wait on a goroutine.
		if !s.enter() {
			pa.abandon()
			c.stopRunning()
			return
		}
		go func() {
			defer s.wg.Done()
			res := pa.wait(s.context())
			if s.context().Err() != nil {
				c.stopRunning()
				return
			}
			c.complete(gen, res, nil)
		}()
	default:
		s.spawn(c, gen, up)
	}
}

// checkAddr calls the Target's CheckAddr; a panic there is logged and
// gives a SOCKERR result (ok false).
func (l *checkLoop) checkAddr(c *Checker) (addr string, res Result, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			l.s.logf("healthcheck: %s check of %s: probe panic: %v\n%s", c.cfg.Kind, c.cfg.Name, p, debug.Stack())
			res, ok = Result{Status: StatusSockErr, Info: fmt.Sprint("internal error: ", p), Duration: -1}, false
		}
	}()
	return c.t.CheckAddr(), Result{}, true
}

// startRunner runs c's check program in non-blocking mode.
func (l *checkLoop) startRunner(c *Checker, spec *Spec, serverAddr string, gen uint64, up bool) {
	start := time.Now()
	addr, err := checkAddr(serverAddr, spec.Addr, spec.Port)
	if err != nil {
		l.finish(c, Result{Status: StatusSockErr, Info: err.Error(), Duration: time.Since(start)})
		return
	}
	if h, _, err := net.SplitHostPort(addr); err != nil || !isIPLiteral(h) {
		l.s.spawn(c, gen, up) // a name to resolve: the blocking program dials
		return
	}
	// Runners are kept by the loop, not by each Checker: memory follows the
	// checks in flight, not the number of servers.
	if n := len(l.runners); n > 0 {
		c.nbr, l.runners = l.runners[n-1], l.runners[:n-1]
	} else {
		c.nbr = new(runner)
	}
	*c.nbr = runner{ctx: l.ctx, spec: spec, rules: spec.Rules, addr: addr, start: start, serverUp: up,
		nb: true, nbs: nbSock{fd: -1}, pool: &l.pool, unwatch: l.unwatchFD}
	c.watchFD = -1
	l.stepRunner(c)
}

func isIPLiteral(host string) bool {
	_, err := netip.ParseAddr(host)
	return err == nil
}

// stepRunner runs c's program until it waits or ends.
func (l *checkLoop) stepRunner(c *Checker) {
	r := c.nbr
	res := r.run()
	if fd := c.watchFD; fd >= 0 && fd != r.nbs.fd {
		l.unwatch(c, fd) // that socket is closed
	}
	if r.wait == waitNone {
		l.runnerDone(c, res)
		return
	}
	if !r.nbs.watched {
		if !l.watch(c, r.nbs.fd, true) {
			r.wait = waitNone
			l.runnerDone(c, r.result(StatusSockErr, "cannot watch the check socket"))
			return
		}
		r.nbs.watched = true
	}
	l.s.enqueue(c, r.waitDL.UnixNano())
}

// runnerDone ends c's program with res.
func (l *checkLoop) runnerDone(c *Checker, res Result) {
	r := c.nbr
	r.wait = waitNone
	if c.watchFD >= 0 {
		l.unwatch(c, c.watchFD)
	}
	l.s.dequeue(c) // its deadline, if queued
	r.close()
	*r = runner{}
	c.nbr = nil
	l.runners = append(l.runners, r)
	l.finish(c, res)
}

// spawn runs c's probe on a goroutine.
func (s *Scheduler) spawn(c *Checker, gen uint64, up bool) {
	if !s.enter() {
		c.stopRunning()
		return
	}
	go func() {
		defer s.wg.Done()
		c.run(gen, up)
	}()
}

// watch registers c's socket fd with the poller (rw: a check program's
// socket, for reads and writes; otherwise a connect attempt's); false when
// the poller cannot watch it.
func (l *checkLoop) watch(c *Checker, fd int, rw bool) bool {
	if l.p.watch(fd, rw) != nil {
		return false
	}
	for len(l.watched) <= fd {
		l.watched = append(l.watched, nil)
	}
	if l.watched[fd] == nil {
		l.nwatched++
	}
	l.watched[fd] = c
	c.watchFD = fd
	return true
}

// unwatch forgets c's socket fd (closed, so the poller dropped it).
func (l *checkLoop) unwatch(c *Checker, fd int) {
	if fd < len(l.watched) && l.watched[fd] == c {
		l.watched[fd] = nil
		l.nwatched--
	}
	if c.watchFD == fd {
		c.watchFD = -1
	}
}

// ready is called by the poller for a watched socket that is ready.
func (l *checkLoop) ready(fd int) {
	if fd < 0 || fd >= len(l.watched) || l.watched[fd] == nil {
		return
	}
	c := l.watched[fd]
	if c.att != nil && c.att.fd == fd {
		res, done := c.att.check()
		if !done {
			return // spurious wake-up
		}
		l.s.dequeue(c) // its deadline
		l.connectDone(c, res)
		return
	}
	if r := c.nbr; r != nil && r.nbs.fd == fd && r.wait != waitNone {
		l.stepRunner(c)
	}
}

// connectDone ends c's watched connect attempt with res (status and info;
// the duration is set here).
func (l *checkLoop) connectDone(c *Checker, res Result) {
	a := c.att
	c.att = nil
	if a.fd >= 0 {
		l.unwatch(c, a.fd)
		if l.p.unwatch(a.fd) == nil {
			a.recycle(&l.pool)
		}
	}
	a.abandon()
	res.Duration = time.Since(a.start)
	l.atts = append(l.atts, a)
	l.finish(c, res)
}

// finish completes a check run on the loop: applied and reported here when
// it changes nothing (the steady state), on a goroutine otherwise.
func (l *checkLoop) finish(c *Checker, res Result) {
	s := l.s
	gen := c.lgen
	if c.completeQuiet(gen, res, l.now) {
		return
	}
	if !s.enter() {
		c.stopRunning()
		return
	}
	go func() {
		defer s.wg.Done()
		c.complete(gen, res, nil)
	}()
}
