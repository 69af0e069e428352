package bus

import (
	"errors"
	"fmt"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
)

// Mode is a subscription's overflow policy.
type Mode int

const (
	// DropOldest (the default) gives the subscription a bounded queue
	// (DefaultQueueLen events unless QueueLen says otherwise). When it is
	// full, the oldest queued event is dropped, counted (TypeCounters.Dropped,
	// SubStats.Dropped) and reported in one warning per burst (the drops
	// of the second that follows the first one, so at most one line per
	// second per subscriber, and a stuck subscriber is reported too):
	// "bus: subscriber <name> is too slow, dropped N events".
	DropOldest Mode = iota
	// Coalesce is for state followers. The queue holds at most one event per
	// (object, dimension) and a new event supersedes the queued one of the
	// same slot: the old one is removed (and counted in Coalesced) and the
	// new one appended at the tail. The queue is therefore always a
	// subsequence of the published order that ends with the latest event of
	// every slot, so the subscriber still learns every server's true latest
	// state. Slots, per server (proxy uuid, puid, rid): lifecycle
	// (SERVER_ADD/DEL), operational (SERVER_UP/DOWN), SERVER_STATE,
	// SERVER_ADMIN, SERVER_CHECK, SERVER_INETADDR: at most 6 events per
	// server. Per backend (proxy uuid, name): BACKEND_UP/DOWN, at most 1.
	// QueueLen does not apply; the queue is bounded by the number of
	// servers and backends.
	Coalesce
)

// String returns "drop-oldest" or "coalesce".
func (m Mode) String() string {
	if m == Coalesce {
		return "coalesce"
	}
	return "drop-oldest"
}

// DefaultQueueLen is the queue bound of a DropOldest subscription.
const DefaultQueueLen = 1024

// batchMax is how many events a delivery goroutine takes from its queue at
// once. These events are no longer subject to dropping or coalescing, so a
// queue may hold up to this many events beyond its bound.
const batchMax = 64

// Filter selects the events of a subscription.
type Filter struct {
	// Types are the wanted event types; empty means all. Invalid types
	// are ignored (a list of only invalid types matches nothing).
	Types []Type
	// Server binds the subscription to one server (HAProxy's
	// Server:event_sub): it sees only events whose Server has the same
	// ProxyUUID, PUID and RID (never BACKEND_* events), and it is served
	// before global subscriptions. Nil means a global subscription.
	Server *ServerRef
	// Backends, when not empty, keeps only events whose proxy name (of
	// Server, or of Backend for BACKEND_* events) is in the list.
	Backends []string
}

// SubOption tunes a subscription.
type SubOption func(*subConfig)

type subConfig struct{ queueLen int }

// QueueLen sets the queue bound of a DropOldest subscription (n <= 0 means
// DefaultQueueLen).
func QueueLen(n int) SubOption { return func(c *subConfig) { c.queueLen = n } }

// Handler states of a Subscription.
const (
	stIdle uint32 = iota
	stCalling
	stUnsub
)

// Subscription is one subscriber of a Bus.
type Subscription struct {
	b        *Bus
	id       uint64
	name     string
	mode     Mode
	mask     typeMask
	server   *serverKey
	backends []string
	pattern  string
	h        func(*Subscription, *Event)

	state     atomic.Uint32 // stIdle, stCalling, stUnsub
	delivered atomic.Uint64

	mu         sync.Mutex
	dead       bool // unsubscribed: no more enqueues
	running    bool // a delivery goroutine exists
	ring       ring
	cq         cqueue
	dropped    uint64
	coalesced  uint64
	unreported uint64

	buf []*Event // the delivery goroutine's batch (only it touches it)
}

// Subscribe registers h for the events f selects and returns the
// subscription. h runs on the subscription's own goroutine, one event at a
// time, in publish order; a panic in h is recovered and logged, and the
// subscription continues. h must not modify the event. After Close,
// Subscribe returns an inert subscription.
func (b *Bus) Subscribe(name string, f Filter, mode Mode, h func(*Event), opts ...SubOption) *Subscription {
	return b.SubscribeWithSub(name, f, mode, func(_ *Subscription, e *Event) { h(e) }, opts...)
}

// SubscribeWithSub is Subscribe with a handler that also receives its own
// subscription, so it can call Unsub (HAProxy's sub:unsub()) without a race
// against Subscribe returning.
func (b *Bus) SubscribeWithSub(name string, f Filter, mode Mode, h func(*Subscription, *Event), opts ...SubOption) *Subscription {
	s := b.newSub(name, mode, h, opts)
	s.mask = maskOf(f.Types)
	if f.Server != nil {
		k := keyOf(f.Server)
		s.server = &k
	}
	s.backends = slices.Clone(f.Backends)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		s.state.Store(stUnsub)
		s.dead = true
		return s
	}
	b.register(s)
	if s.server != nil {
		b.byServer[*s.server] = append(b.byServer[*s.server], s)
	} else {
		for t := TypeNone + 1; t < numTypes; t++ {
			if s.mask.has(t) {
				b.global[t] = append(b.global[t], s)
			}
		}
	}
	return s
}

// SubscribeSubject registers h for the events whose Subject matches
// pattern (NATS grammar, e.g. "event.SERVER_DOWN.be1.*" or "event.>"). It
// is a global subscription, ordered with the others by subscription time.
// An invalid pattern is an error wrapping ErrBadSubject; after Close the
// error is ErrClosed.
func (b *Bus) SubscribeSubject(name, pattern string, mode Mode, h func(*Event), opts ...SubOption) (*Subscription, error) {
	if err := ValidSubject(pattern, true); err != nil {
		return nil, err
	}
	s := b.newSub(name, mode, func(_ *Subscription, e *Event) { h(e) }, opts)
	s.mask = allTypes
	s.pattern = pattern
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if err := b.subjects.Insert(pattern, s); err != nil {
		return nil, err
	}
	b.register(s)
	b.nsubj++
	return s, nil
}

// ErrClosed is returned by SubscribeSubject after Close.
var ErrClosed = errors.New("bus: closed")

func (b *Bus) newSub(name string, mode Mode, h func(*Subscription, *Event), opts []SubOption) *Subscription {
	var c subConfig
	for _, o := range opts {
		o(&c)
	}
	if c.queueLen <= 0 {
		c.queueLen = DefaultQueueLen
	}
	if mode != Coalesce {
		mode = DropOldest
	}
	s := &Subscription{b: b, name: name, mode: mode, h: h}
	s.ring.max = c.queueLen
	return s
}

// register gives s its id and records it. b.mu is held.
func (b *Bus) register(s *Subscription) {
	b.nextID++
	s.id = b.nextID
	b.all[s] = struct{}{}
}

// match applies the type and backend filters (the server binding and the
// subject pattern are applied by the routing tables).
func (s *Subscription) match(e *Event) bool {
	if !s.mask.has(e.Type) {
		return false
	}
	if len(s.backends) == 0 {
		return true
	}
	var px string
	switch {
	case e.Server != nil && e.Type.Family() == "SERVER":
		px = e.Server.ProxyName
	case e.Backend != nil:
		px = e.Backend.ProxyName
	case e.Server != nil:
		px = e.Server.ProxyName
	}
	return slices.Contains(s.backends, px)
}

// Name returns the name given at Subscribe.
func (s *Subscription) Name() string { return s.name }

// Unsub ends the subscription; queued events are discarded. It is
// idempotent and may be called from inside the handler. Once Unsub has
// returned no new handler call starts; a call already in progress on the
// delivery goroutine (when Unsub is called from elsewhere) is not waited
// for and runs to its end.
func (s *Subscription) Unsub() {
	if s.state.Swap(stUnsub) == stUnsub {
		return
	}
	b := s.b
	b.mu.Lock()
	delete(b.all, s)
	switch {
	case s.pattern != "":
		if b.subjects.Remove(s.pattern, s) {
			b.nsubj--
		}
	case s.server != nil:
		l := removeSub(b.byServer[*s.server], s)
		if len(l) == 0 {
			delete(b.byServer, *s.server)
		} else {
			b.byServer[*s.server] = l
		}
	default:
		for t := TypeNone + 1; t < numTypes; t++ {
			if s.mask.has(t) {
				b.global[t] = removeSub(b.global[t], s)
			}
		}
	}
	s.mu.Lock()
	s.dead = true
	s.ring.clear()
	s.cq.clear()
	s.mu.Unlock()
	b.mu.Unlock()
}

func removeSub(l []*Subscription, s *Subscription) []*Subscription {
	if i := slices.Index(l, s); i >= 0 {
		l = slices.Delete(l, i, i+1)
	}
	if len(l) == 0 {
		return nil
	}
	return l
}

// SubStats describes one subscription.
type SubStats struct {
	Name      string
	Mode      Mode
	Pattern   string // subject pattern ("" for filter subscriptions)
	Server    bool   // bound to one server
	Queued    int    // events waiting in the queue
	Delivered uint64 // handler calls started
	Dropped   uint64 // events dropped (DropOldest)
	Coalesced uint64 // events superseded (Coalesce)
}

// Stats returns the subscription's statistics.
func (s *Subscription) Stats() SubStats {
	st := SubStats{Name: s.name, Mode: s.mode, Pattern: s.pattern, Server: s.server != nil}
	s.mu.Lock()
	st.Queued = s.ring.len() + s.cq.len()
	st.Dropped = s.dropped
	st.Coalesced = s.coalesced
	s.mu.Unlock()
	st.Delivered = s.delivered.Load()
	return st
}

// run is the delivery goroutine: it drains the queue in batches and exits
// when the queue is empty or the subscription has ended.
func (s *Subscription) run() {
	b := s.b
	defer b.wg.Done()
	for {
		s.mu.Lock()
		if s.mode == Coalesce {
			s.buf = s.cq.popN(s.buf[:0], batchMax)
		} else {
			s.buf = s.ring.popN(s.buf[:0], batchMax)
		}
		if len(s.buf) == 0 || s.dead {
			s.running = false
			clear(s.buf)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if !s.deliver(s.buf) {
			s.mu.Lock()
			s.running = false
			s.mu.Unlock()
			return
		}
	}
}

// deliver calls the handler for each event of batch and reports whether
// the subscription is still active.
func (s *Subscription) deliver(batch []*Event) bool {
	var counts [numTypes]uint32
	n := 0
	ok := true
	for i, e := range batch {
		batch[i] = nil
		if !ok || !s.state.CompareAndSwap(stIdle, stCalling) {
			ok = false
			continue
		}
		counts[e.Type]++
		n++
		s.call(e)
		if !s.state.CompareAndSwap(stCalling, stIdle) {
			ok = false
		}
	}
	if n > 0 {
		s.delivered.Add(uint64(n))
		for t, c := range counts {
			if c > 0 {
				s.b.delivered[t].Add(uint64(c))
			}
		}
	}
	return ok
}

// call runs the handler, recovering and logging a panic.
func (s *Subscription) call(e *Event) {
	defer func() {
		if r := recover(); r != nil {
			s.b.log.Error(fmt.Sprintf("bus: subscriber %s: handler panic: %v", s.name, r),
				"subscriber", s.name, "type", e.Type.String(), "seq", e.Seq, "stack", string(debug.Stack()))
		}
	}()
	s.h(s, e)
}
