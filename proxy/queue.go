package proxy

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// Queueing. A request that finds every usable server at its maxconn waits in
// the backend queue (or in a server's own queue when it must use that
// server). When a slot is released, the releasing server takes the next
// waiter and hands it the slot directly, so no request jumps the queue.

// waiter is one queued request.
type waiter struct {
	ch     chan *Server // buffered(1): receives the server whose slot it was given
	forSrv *Server      // nil for the backend queue
	queued bool
}

// waitQueue is a FIFO of waiters.
type waitQueue struct {
	mu   sync.Mutex
	list []*waiter
	n    atomic.Int32
}

func (q *waitQueue) len() int { return int(q.n.Load()) }

func (q *waitQueue) push(w *waiter) {
	q.mu.Lock()
	w.queued = true
	q.list = append(q.list, w)
	q.n.Store(int32(len(q.list)))
	q.mu.Unlock()
}

// remove takes w out of the queue; it reports false when w was already
// handed a slot (then the slot is on w.ch).
func (q *waitQueue) remove(w *waiter) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !w.queued {
		return false
	}
	for i, x := range q.list {
		if x == w {
			copy(q.list[i:], q.list[i+1:])
			q.list[len(q.list)-1] = nil
			q.list = q.list[:len(q.list)-1]
			break
		}
	}
	w.queued = false
	q.n.Store(int32(len(q.list)))
	return true
}

// assign hands slots of s to waiters at the head of q while s has room.
func (q *waitQueue) assign(s *Server) int {
	if q.n.Load() == 0 {
		return 0
	}
	n := 0
	q.mu.Lock()
	for len(q.list) > 0 && s.usable() && s.tryAcquire() {
		w := q.list[0]
		copy(q.list, q.list[1:])
		q.list[len(q.list)-1] = nil
		q.list = q.list[:len(q.list)-1]
		w.queued = false
		w.ch <- s
		n++
	}
	q.n.Store(int32(len(q.list)))
	q.mu.Unlock()
	return n
}

// takeAll empties the queue and returns the waiters (used to requeue the
// requests of a server that went down).
func (q *waitQueue) takeAll() []*waiter {
	q.mu.Lock()
	l := q.list
	q.list = nil
	for _, w := range l {
		w.queued = false
	}
	q.n.Store(0)
	q.mu.Unlock()
	return l
}

// dequeue runs after a slot of s was released.
func (p *Proxy) dequeue(s *Server) {
	if s.queue.len() > 0 {
		s.queue.assign(s)
	}
	if p.queue.len() > 0 {
		p.queue.assign(s)
	}
}

// drainQueue gives free slots of every usable server to queued requests
// (after a server came up or its weight or maxconn changed).
func (p *Proxy) drainQueue() {
	if p.queue.len() == 0 {
		return
	}
	for _, s := range p.Servers() {
		p.queue.assign(s)
		if p.queue.len() == 0 {
			return
		}
	}
}

var (
	errNoServer     = errors.New("no server available")
	errQueueTimeout = errors.New("queue timeout")
	errQueueFull    = errors.New("server queue full")
)

// acquire picks a server for a request and takes a slot on it, waiting in
// the queue when every usable server is full. force is a server chosen by
// persistence or use-server.
func (p *Proxy) acquire(ctx context.Context, key lbKey, force *Server, avoid *Server) (*Server, time.Duration, error) {
	s, q, qSrv, err := p.pick(key, force, avoid)
	if s != nil || err != nil {
		return s, 0, err
	}
	return p.wait(ctx, q, qSrv)
}

// pick takes a slot on a server without waiting. When every usable server
// is full it returns the queue to wait in instead, with the server that
// queue belongs to (nil for the backend queue).
func (p *Proxy) pick(key lbKey, force *Server, avoid *Server) (s *Server, q *waitQueue, qSrv *Server, err error) {
	if force != nil {
		if force.tryAcquire() {
			return force, nil, nil, nil
		}
		if mq := int(force.maxqueue.Load()); mq > 0 && force.queue.len() >= mq {
			return nil, nil, nil, errQueueFull
		}
		return nil, &force.queue, force, nil
	}
	v := p.lbView.Load()
	if v == nil {
		return nil, nil, nil, errNoServer
	}
	if avoid != nil && len(v.candidates()) > 1 {
		// Redispatch: try once without the failed server.
		s, full := p.lb.pick(p, v, lbKey{})
		if s == avoid {
			s.release()
			s, full = nil, true
			for _, c := range v.candidates() {
				if c != avoid && c.tryAcquire() {
					s, full = c, false
					break
				}
			}
		}
		if s != nil {
			return s, nil, nil, nil
		}
		if !full {
			return nil, nil, nil, errNoServer
		}
		return nil, &p.queue, nil, nil
	}
	s, full := p.lb.pick(p, v, key)
	if s != nil {
		return s, nil, nil, nil
	}
	if !full {
		return nil, nil, nil, errNoServer
	}
	return nil, &p.queue, nil, nil
}

func (p *Proxy) wait(ctx context.Context, q *waitQueue, forSrv *Server) (*Server, time.Duration, error) {
	start := time.Now()
	w := &waiter{ch: make(chan *Server, 1), forSrv: forSrv}
	q.push(w)
	cur := p.BeCounters.Qcur.Add(1)
	maxStore(&p.BeCounters.Qmax, cur)
	if forSrv != nil {
		c := forSrv.Counters.Qcur.Add(1)
		maxStore(&forSrv.Counters.Qmax, c)
	}
	defer func() {
		p.BeCounters.Qcur.Add(-1)
		if forSrv != nil {
			forSrv.Counters.Qcur.Add(-1)
		}
	}()
	// A slot may have been freed between the pick and the push.
	if forSrv != nil {
		forSrv.queue.assign(forSrv)
	} else {
		p.drainQueue()
	}
	tmo := p.timeoutQueue()
	var timer <-chan time.Time
	if tmo > 0 {
		t := time.NewTimer(tmo)
		defer t.Stop()
		timer = t.C
	}
	select {
	case s := <-w.ch:
		if s == nil {
			return nil, time.Since(start), errNoServer
		}
		return s, time.Since(start), nil
	case <-timer:
	case <-ctx.Done():
	}
	if !q.remove(w) {
		// Handed a slot at the last moment: give it back.
		if s := <-w.ch; s != nil {
			s.release()
		}
	}
	if ctx.Err() != nil {
		return nil, time.Since(start), ctx.Err()
	}
	return nil, time.Since(start), errQueueTimeout
}
