package proxy

import (
	"sync/atomic"
	"time"
)

// coarseClock is a clock read with one atomic load, refreshed every
// coarseTick by a goroutine: the inactivity-timeout bookkeeping of every
// read and write uses it instead of time.Now (two vDSO calls each, a few
// percent of the CPU of a busy proxy). Timeouts shorter than
// preciseBelow keep using time.Now.
type coarseClock struct {
	ns   atomic.Int64
	stop chan struct{}
}

const (
	coarseTick   = 20 * time.Millisecond
	preciseBelow = 2 * time.Second
)

func newCoarseClock() *coarseClock {
	c := &coarseClock{stop: make(chan struct{})}
	c.ns.Store(time.Now().UnixNano())
	go func() {
		t := time.NewTicker(coarseTick)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				c.ns.Store(now.UnixNano())
			}
		}
	}()
	return c
}

// now returns the clock, at most about coarseTick behind.
func (c *coarseClock) now() time.Time { return time.Unix(0, c.ns.Load()) }

func (c *coarseClock) close() { close(c.stop) }

// nowFor returns the time to use for a timeout of d.
func (c *coarseClock) nowFor(d time.Duration) time.Time {
	if c == nil || d < preciseBelow {
		return time.Now()
	}
	return c.now()
}
