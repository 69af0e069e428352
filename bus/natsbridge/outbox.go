package natsbridge

import "sync"

// outMsg is one encoded event waiting for NATS.
type outMsg struct {
	subject string
	id      string // Nats-Msg-Id: lets a JetStream stream drop a resent copy
	data    []byte
}

// outbox is the bridge's bounded, ordered buffer between the bus and NATS.
// The bus handler pushes; the publisher goroutine takes a batch from the
// head, sends it, and commits it once the server has confirmed it (or
// aborts and takes it again after a reconnect). When the outbox is full, the
// oldest event that is not in flight is dropped and counted.
type outbox struct {
	mu       sync.Mutex
	buf      []outMsg // ring of len max
	head     int
	n        int
	inflight int // events at the head handed to the publisher
	wake     chan struct{}

	dropped uint64 // total
	burst   uint64 // drops since the last successful commit
}

func newOutbox(max int) *outbox {
	if max < 2 {
		max = 2
	}
	return &outbox{buf: make([]outMsg, max), wake: make(chan struct{}, 1)}
}

// push appends m. It reports how many events were dropped to make room (0
// or 1) and whether this drop opened a burst (the first since the last
// commit).
func (o *outbox) push(m outMsg) (dropped, first bool) {
	o.mu.Lock()
	max := len(o.buf)
	if o.n == max {
		if o.inflight == o.n {
			// Everything is in flight (only with a tiny bound): the new
			// event is the one that cannot be kept.
			o.dropped++
			o.burst++
			first = o.burst == 1
			o.mu.Unlock()
			return true, first
		}
		// Drop the oldest event not in flight: shift the in-flight ones
		// one slot towards the tail over it.
		for i := o.inflight; i > 0; i-- {
			o.buf[(o.head+i)%max] = o.buf[(o.head+i-1)%max]
		}
		o.buf[o.head] = outMsg{}
		o.head = (o.head + 1) % max
		o.n--
		o.dropped++
		o.burst++
		first = o.burst == 1
		dropped = true
	}
	o.buf[(o.head+o.n)%max] = m
	o.n++
	o.mu.Unlock()
	select {
	case o.wake <- struct{}{}:
	default:
	}
	return dropped, first
}

// take hands up to k events from the head to the publisher (appended to
// dst). Events already in flight are handed again (after an abort they are
// not in flight any more, so normally none are).
func (o *outbox) take(dst []outMsg, k int) []outMsg {
	o.mu.Lock()
	defer o.mu.Unlock()
	k = min(k, o.n)
	for i := 0; i < k; i++ {
		dst = append(dst, o.buf[(o.head+i)%len(o.buf)])
	}
	o.inflight = k
	return dst
}

// commit removes the in-flight events (delivered) and ends a drop burst,
// returning the number of events dropped during it.
func (o *outbox) commit() (burst uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := 0; i < o.inflight; i++ {
		o.buf[(o.head+i)%len(o.buf)] = outMsg{}
	}
	o.head = (o.head + o.inflight) % len(o.buf)
	o.n -= o.inflight
	o.inflight = 0
	burst, o.burst = o.burst, 0
	return burst
}

// abort puts the in-flight events back: they will be taken again.
func (o *outbox) abort() {
	o.mu.Lock()
	o.inflight = 0
	o.mu.Unlock()
}

// len returns the number of events waiting (in flight included).
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// totalDropped returns the number of events dropped since creation.
func (o *outbox) totalDropped() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.dropped
}
