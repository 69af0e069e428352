package healthcheck

import (
	"errors"
	"time"
)

// poller is what the check loop sleeps in: it returns when the timeout
// passes, when wake is called, or when a watched socket is ready (a
// connect attempt completed or failed).
type poller interface {
	// wait blocks up to d (d < 0: until woken; d == 0: does not block)
	// and calls ready for each watched socket that is ready; sockets tells
	// whether any is watched.
	wait(d time.Duration, sockets bool, ready func(fd int))
	// wake makes a wait in progress, or the next one, return at once. It
	// is safe for concurrent use.
	wake()
	// watch asks for ready calls for fd: once it is writable or failed (a
	// connecting socket), or, with rw, each time it becomes readable or
	// writable (edge-triggered: the caller reads or writes until EAGAIN).
	// Closing fd stops watching it.
	watch(fd int, rw bool) error
	// unwatch stops watching fd.
	unwatch(fd int) error
	// canWatch reports whether watch works.
	canWatch() bool
	// close releases the poller.
	close()
}

// chanPoller is the portable poller: it only sleeps (sockets are waited
// for on Go's poller by a goroutine instead).
type chanPoller struct {
	wakeC chan struct{}
	t     *time.Timer
}

func newChanPoller() *chanPoller {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &chanPoller{wakeC: make(chan struct{}, 1), t: t}
}

func (p *chanPoller) wait(d time.Duration, _ bool, _ func(int)) {
	if d == 0 {
		return
	}
	if d < 0 {
		<-p.wakeC
		return
	}
	p.t.Reset(d)
	select {
	case <-p.wakeC:
		p.t.Stop()
	case <-p.t.C:
	}
}

func (p *chanPoller) wake() {
	select {
	case p.wakeC <- struct{}{}:
	default:
	}
}

var errNoWatch = errors.New("healthcheck: socket watching not supported")

func (p *chanPoller) watch(int, bool) error { return errNoWatch }

func (p *chanPoller) canWatch() bool { return false }

func (p *chanPoller) unwatch(int) error { return errNoWatch }

func (p *chanPoller) close() { p.t.Stop() }
