package healthcheck

import (
	"fmt"
	"runtime/debug"
	"time"
)

// The check loop: one goroutine per Scheduler, shaped like HAProxy's check
// thread. It sleeps in a poller (epoll on Linux) until the earliest due
// check, then starts every check that is due. A plain TCP connect check
// (the "check" keyword alone, the 10,000-server case) runs on the loop
// itself without blocking: socket, connect, and either a result at once or
// a socket watched by the same poller until it connects, fails or times
// out; a result that changes nothing (same status, health unmoved) is
// applied and reported on the loop too. Every other probe (HTTP, TLS,
// agent, tcp-check, PROXY header, a host name to resolve) and every report
// that changes something run on a goroutine of their own, as they may block.
//
// Ownership: the due queue is guarded by Scheduler.qmu (a leaf lock, taken
// under Checker.mu); Checker.att and Scheduler.watched belong to the loop.

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
	s       *Scheduler
	p       poller
	watched []*Checker // by socket fd: the Checkers whose attempt p watches
	batch   []*Checker
	now     time.Time // when the current round started
	pool    sockPool  // sockets of finished checks, for the next ones
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
			l.p.wait(sleep, l.connectReady)
			continue
		}
		for i, c := range l.batch {
			l.batch[i] = nil
			if c.att.fd >= 0 {
				l.connectDone(c, Result{Status: StatusL4TOUT}) // its deadline passed
				continue
			}
			l.start(c)
		}
		// Sockets that became ready meanwhile, without sleeping.
		l.p.wait(0, l.connectReady)
	}
	// Stopped: abandon the attempts in flight (their results would be
	// dropped anyway) and release the poller.
	for _, c := range l.watched {
		if c != nil {
			c.att.abandon()
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
	if spec == nil || !spec.quick() {
		s.spawn(c, gen, up)
		return
	}
	c.att.gen = gen
	var st quickState
	func() {
		defer func() {
			if p := recover(); p != nil { // from the Target's CheckAddr
				s.logf("healthcheck: %s check of %s: probe panic: %v\n%s", c.cfg.Kind, c.cfg.Name, p, debug.Stack())
				c.att.abandon()
				c.att.res = Result{Status: StatusSockErr, Info: fmt.Sprint("internal error: ", p), Duration: -1}
				st = quickDone
			}
		}()
		st = spec.startConnect(c.t.CheckAddr(), &c.att, &l.pool)
	}()
	switch st {
	case quickDone:
		l.finish(c, c.att.res)
	case quickPending:
		if l.watch(c) {
			return
		}
		// The poller cannot watch it: wait on a goroutine.
		if !s.enter() {
			c.att.abandon()
			c.stopRunning()
			return
		}
		att := c.att
		c.att.fd = -1
		go func() {
			defer s.wg.Done()
			res := att.wait(s.context())
			if s.context().Err() != nil {
				c.stopRunning()
				return
			}
			c.complete(att.gen, res, nil)
		}()
	default:
		s.spawn(c, gen, up)
	}
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

// watch hands c's connect attempt to the poller, with its deadline in the
// due queue; false when the poller cannot watch it.
func (l *checkLoop) watch(c *Checker) bool {
	fd := c.att.fd
	if l.p.watch(fd) != nil {
		return false
	}
	for len(l.watched) <= fd {
		l.watched = append(l.watched, nil)
	}
	l.watched[fd] = c
	l.s.enqueue(c, c.att.deadline.UnixNano())
	return true
}

// connectReady is called by the poller for a watched socket that is ready.
func (l *checkLoop) connectReady(fd int) {
	if fd < 0 || fd >= len(l.watched) || l.watched[fd] == nil {
		return
	}
	c := l.watched[fd]
	res, done := c.att.check()
	if !done {
		return // spurious wake-up
	}
	l.s.dequeue(c) // its deadline
	l.connectDone(c, res)
}

// connectDone ends c's watched attempt with res (status and info; the
// duration is set here).
func (l *checkLoop) connectDone(c *Checker, res Result) {
	if fd := c.att.fd; fd >= 0 && fd < len(l.watched) {
		l.watched[fd] = nil
	}
	c.att.abandon()
	res.Duration = time.Since(c.att.start)
	l.finish(c, res)
}

// finish completes a check run on the loop: applied and reported here when
// it changes nothing (the steady state), on a goroutine otherwise.
func (l *checkLoop) finish(c *Checker, res Result) {
	s := l.s
	gen := c.att.gen
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
