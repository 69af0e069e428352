// Package bus is Moonbus's in-process publish/subscribe event bus.
//
// It owns the event types (SERVER_* as in HAProxy 2.8+, plus our BACKEND_UP
// and BACKEND_DOWN), their JSON form, their NATS-grammar subjects with a
// subject matcher and trie, and the delivery machinery:
//
//   - Publish never blocks: it stamps the event (When, Seq, Instance), keeps
//     it in a history ring, counts it, and appends it to the queue of every
//     matching subscription: the subscriptions bound to the event's server
//     first (in subscription order), then the global ones (in subscription
//     order). PublishBatch does the same for several events at once with no
//     other publisher's event in between.
//   - Each subscription has its own ordered queue and at most one delivery
//     goroutine, started when events arrive and gone when the queue is empty:
//     its handler sees one event at a time, in publish order (HAProxy's
//     semantics). A panic in a handler is recovered and logged.
//   - Overflow is never silent. A DropOldest subscription (the default) has
//     a bounded queue that drops its oldest event when full, counts it, and
//     logs one warning per burst. A Coalesce subscription (state followers:
//     mail, webhook, auto-weight) keeps only the latest event per server and
//     dimension, so it always ends up with every server's true latest state.
//
// Events are immutable once published; see Event.
package bus

import (
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Options configure a Bus.
type Options struct {
	// Instance is stamped on every event whose Instance is empty.
	Instance string
	// History is the size of the event history ring; 0 means 1000, a
	// negative value disables the history.
	History int
	// Logger receives the bus's warnings (slow subscribers, handler
	// panics); nil discards them.
	Logger *slog.Logger
}

// DefaultHistory is the history ring size used when Options.History is 0.
const DefaultHistory = 1000

// reportDelay is how long the bus gathers drops before logging them.
const reportDelay = time.Second

// Bus is an in-process event bus. Create it with New; all its methods are
// safe for concurrent use.
type Bus struct {
	instance string
	log      *slog.Logger

	mu       sync.Mutex // guards everything below up to the counters
	closed   bool
	seq      uint64
	hist     []*Event
	histNext int
	histLen  int
	nextID   uint64
	all      map[*Subscription]struct{}
	global   [numTypes][]*Subscription
	byServer map[serverKey][]*Subscription
	subjects Sublist[*Subscription]
	nsubj    int
	matchBuf []*Subscription
	pending  []*Subscription // subscriptions with unreported drops

	published [numTypes]atomic.Uint64
	delivered [numTypes]atomic.Uint64
	dropped   [numTypes]atomic.Uint64
	coalesced [numTypes]atomic.Uint64

	wg          sync.WaitGroup
	stop        chan struct{}
	reportCh    chan struct{}
	reportDelay time.Duration

	// testEnqueue, when set (tests only, before any Publish), is called
	// under the bus lock for every event appended to a queue.
	testEnqueue func(*Subscription, *Event)
}

// serverKey identifies a server as HAProxy's event data does.
type serverKey struct{ uuid, puid, rid int }

func keyOf(r *ServerRef) serverKey { return serverKey{r.ProxyUUID, r.PUID, r.RID} }

// New returns a running Bus. Call Close to stop it.
func New(opts Options) *Bus {
	lg := opts.Logger
	if lg == nil {
		lg = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	h := opts.History
	if h == 0 {
		h = DefaultHistory
	}
	b := &Bus{
		instance:    opts.Instance,
		log:         lg,
		all:         make(map[*Subscription]struct{}),
		byServer:    make(map[serverKey][]*Subscription),
		stop:        make(chan struct{}),
		reportCh:    make(chan struct{}, 1),
		reportDelay: reportDelay,
	}
	if h > 0 {
		b.hist = make([]*Event, h)
	}
	b.wg.Add(1)
	go b.reporter()
	return b
}

// Close unsubscribes every subscription, stops the bus's goroutines and
// waits for them: a handler call in progress is allowed to finish (so Close
// must not be called from inside a handler, and a handler that never
// returns makes Close wait forever). Queued events are discarded. Publish
// and PublishBatch after Close do nothing; Subscribe returns an inert
// subscription. Close is idempotent.
func (b *Bus) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		b.wg.Wait()
		return
	}
	b.closed = true
	subs := make([]*Subscription, 0, len(b.all))
	for s := range b.all {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	for _, s := range subs {
		s.Unsub()
	}
	close(b.stop)
	b.wg.Wait()
}

// Publish stamps e and queues it for every matching subscription; see
// PublishBatch. It never blocks on subscribers. A nil event or one with an
// invalid Type is ignored.
func (b *Bus) Publish(e *Event) {
	b.mu.Lock()
	if !b.closed {
		var now time.Time
		b.publishLocked(e, &now)
	}
	b.mu.Unlock()
}

// PublishBatch publishes evs in order, atomically: no event of another
// Publish or PublishBatch call comes between them for any subscriber. One
// server update (ADMIN, UP/DOWN, STATE) is published as one batch. Events
// with a zero When share one time.Now(). It never blocks on subscribers.
func (b *Bus) PublishBatch(evs ...*Event) {
	b.mu.Lock()
	if !b.closed {
		var now time.Time
		for _, e := range evs {
			b.publishLocked(e, &now)
		}
	}
	b.mu.Unlock()
}

// publishLocked stamps, records and dispatches one event. b.mu is held.
func (b *Bus) publishLocked(e *Event, now *time.Time) {
	if e == nil || !e.Type.Valid() {
		return
	}
	if e.When.IsZero() {
		if now.IsZero() {
			*now = time.Now()
		}
		e.When = *now
	}
	b.seq++
	e.Seq = b.seq
	if e.Instance == "" {
		e.Instance = b.instance
	}
	b.published[e.Type].Add(1)
	if len(b.hist) > 0 {
		b.hist[b.histNext] = e
		b.histNext++
		if b.histNext == len(b.hist) {
			b.histNext = 0
		}
		if b.histLen < len(b.hist) {
			b.histLen++
		}
	}
	if e.Server != nil && len(b.byServer) > 0 && e.Type.Family() == "SERVER" {
		for _, s := range b.byServer[keyOf(e.Server)] {
			if s.match(e) {
				b.enqueue(s, e)
			}
		}
	}
	glob := b.global[e.Type]
	if b.nsubj == 0 {
		for _, s := range glob {
			if s.match(e) {
				b.enqueue(s, e)
			}
		}
		return
	}
	// Merge the filter subscriptions with the subject-pattern ones, both
	// in subscription order.
	m := b.subjects.AppendMatch(b.matchBuf[:0], Subject(e))
	slices.SortFunc(m, func(x, y *Subscription) int { return cmpID(x.id, y.id) })
	i, j := 0, 0
	for i < len(glob) || j < len(m) {
		var s *Subscription
		if j == len(m) || (i < len(glob) && glob[i].id < m[j].id) {
			s = glob[i]
			i++
			if !s.match(e) {
				continue
			}
		} else {
			s = m[j]
			j++
		}
		b.enqueue(s, e)
	}
	clear(m)
	b.matchBuf = m[:0]
}

func cmpID(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// enqueue appends e to s's queue and makes sure a delivery goroutine runs.
// b.mu is held.
func (b *Bus) enqueue(s *Subscription, e *Event) {
	s.mu.Lock()
	if s.dead {
		s.mu.Unlock()
		return
	}
	if b.testEnqueue != nil {
		b.testEnqueue(s, e)
	}
	if s.mode == Coalesce {
		if old := s.cq.push(e); old != nil {
			s.coalesced++
			b.coalesced[old.Type].Add(1)
		}
	} else if old := s.ring.push(e); old != nil {
		s.dropped++
		b.dropped[old.Type].Add(1)
		s.unreported++
		if s.unreported == 1 {
			b.pending = append(b.pending, s)
			select {
			case b.reportCh <- struct{}{}:
			default:
			}
		}
	}
	if !s.running {
		s.running = true
		b.wg.Add(1)
		go s.run()
	}
	s.mu.Unlock()
}

// reporter logs the drops of slow subscribers: one warning per subscriber
// per burst, a burst being the drops gathered during reportDelay after the
// first one.
func (b *Bus) reporter() {
	defer b.wg.Done()
	for {
		select {
		case <-b.stop:
			b.flushReports()
			return
		case <-b.reportCh:
		}
		t := time.NewTimer(b.reportDelay)
		select {
		case <-b.stop:
			t.Stop()
			b.flushReports()
			return
		case <-t.C:
		}
		b.flushReports()
	}
}

func (b *Bus) flushReports() {
	b.mu.Lock()
	subs := b.pending
	b.pending = nil
	b.mu.Unlock()
	for _, s := range subs {
		s.mu.Lock()
		n := s.unreported
		s.unreported = 0
		s.mu.Unlock()
		if n > 0 {
			b.log.Warn(fmt.Sprintf("bus: subscriber %s is too slow, dropped %d events", s.name, n),
				"subscriber", s.name, "dropped", n)
		}
	}
}

// History returns the last n published events, oldest first (all retained
// events when n <= 0 or n exceeds them). The events are shared: do not
// modify them.
func (b *Bus) History(n int) []*Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n <= 0 || n > b.histLen {
		n = b.histLen
	}
	out := make([]*Event, n)
	start := b.histNext - n
	if start < 0 {
		start += len(b.hist)
	}
	for i := range out {
		out[i] = b.hist[(start+i)%len(b.hist)]
	}
	return out
}

// TypeCounters are the bus counters of one event type.
type TypeCounters struct {
	Type      Type
	Published uint64 // events published
	Delivered uint64 // handler calls started, over all subscriptions
	Dropped   uint64 // events dropped by full DropOldest queues
	Coalesced uint64 // events superseded in Coalesce queues
}

// Counters returns the counters of every event type, in declaration
// order. Delivered counts are updated after each batch a delivery goroutine
// takes from its queue (at most 64 events), so they may lag slightly.
func (b *Bus) Counters() []TypeCounters {
	out := make([]TypeCounters, 0, numTypes-1)
	for t := TypeNone + 1; t < numTypes; t++ {
		out = append(out, TypeCounters{
			Type:      t,
			Published: b.published[t].Load(),
			Delivered: b.delivered[t].Load(),
			Dropped:   b.dropped[t].Load(),
			Coalesced: b.coalesced[t].Load(),
		})
	}
	return out
}

// SubscriberCount returns the number of live subscriptions.
func (b *Bus) SubscriberCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.all)
}

// Subscribers returns the statistics of every live subscription, in
// subscription order.
func (b *Bus) Subscribers() []SubStats {
	b.mu.Lock()
	subs := make([]*Subscription, 0, len(b.all))
	for s := range b.all {
		subs = append(subs, s)
	}
	b.mu.Unlock()
	slices.SortFunc(subs, func(x, y *Subscription) int { return cmpID(x.id, y.id) })
	out := make([]SubStats, len(subs))
	for i, s := range subs {
		out[i] = s.Stats()
	}
	return out
}
