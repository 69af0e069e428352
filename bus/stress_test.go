package bus

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
)

// TestStress runs concurrent batch publishers against long-lived and
// churning subscribers. Every subscriber must see strictly increasing
// sequence numbers and every batch contiguous (the 3 events of a batch
// share a server and follow ADMIN, DOWN, STATE without anything between).
func TestStress(t *testing.T) {
	b := newBus(t, Options{History: 100})
	const publishers, batches, servers = 4, 2000, 8

	type checker struct {
		name    string
		mu      sync.Mutex
		last    uint64
		pending []*Event // the current batch so far
		n       int
		err     error
	}
	check := func(c *checker, e *Event) {
		c.mu.Lock()
		defer c.mu.Unlock()
		c.n++
		if c.err != nil {
			return
		}
		if e.Seq <= c.last {
			c.err = fmt.Errorf("%s: seq %d after %d", c.name, e.Seq, c.last)
		}
		c.last = e.Seq
		want := []Type{ServerAdmin, ServerDown, ServerState}[len(c.pending)]
		if e.Type != want || (len(c.pending) > 0 && (e.Seq != c.pending[0].Seq+uint64(len(c.pending)) ||
			*e.Server != *c.pending[0].Server)) {
			c.err = fmt.Errorf("%s: batch broken at seq %d (%s)", c.name, e.Seq, e.Type)
		}
		c.pending = append(c.pending, e)
		if len(c.pending) == 3 {
			c.pending = c.pending[:0]
		}
	}
	var checkers []*checker
	var cmu sync.Mutex
	newChecker := func(name string) *checker {
		c := &checker{name: name}
		cmu.Lock()
		checkers = append(checkers, c)
		cmu.Unlock()
		return c
	}

	// Long-lived subscribers with queues large enough to lose nothing.
	g := newChecker("global")
	b.Subscribe(g.name, Filter{}, DropOldest, func(e *Event) { check(g, e) }, QueueLen(publishers*batches*3))
	j := newChecker("subject")
	if _, err := b.SubscribeSubject(j.name, "event.*.be.>", DropOldest, func(e *Event) { check(j, e) },
		QueueLen(publishers*batches*3)); err != nil {
		t.Fatal(err)
	}
	var perServer []*checker
	for i := range servers {
		c := newChecker(fmt.Sprint("server", i))
		perServer = append(perServer, c)
		b.Subscribe(c.name, Filter{Server: srv("be", 1, i, "")}, DropOldest, func(e *Event) { check(c, e) },
			QueueLen(publishers*batches*3))
	}

	var wg sync.WaitGroup
	var stop atomic.Bool
	var churned atomic.Int64
	// Churn: subscribe and unsubscribe continuously, some from inside the
	// handler. A subscription starts and ends between batches, so what it
	// sees must pass the same checks.
	for w := range 2 {
		wg.Go(func() {
			for k := 0; !stop.Load(); k++ {
				c := &checker{name: fmt.Sprintf("churn%d-%d", w, k)}
				var s *Subscription
				switch k % 3 {
				case 0:
					s = b.Subscribe(c.name, Filter{}, Coalesce, func(*Event) {})
				case 1:
					s = b.SubscribeWithSub(c.name, Filter{}, DropOldest, func(s *Subscription, e *Event) {
						check(c, e)
						if c.n > 5 {
							s.Unsub()
						}
					}, QueueLen(publishers*batches*3))
				default:
					s = b.Subscribe(c.name, Filter{Server: srv("be", 1, k%servers, "")}, DropOldest, func(*Event) {})
				}
				_ = b.Counters()
				_ = b.History(10)
				_ = b.Subscribers()
				s.Unsub()
				cmu.Lock()
				checkers = append(checkers, c)
				cmu.Unlock()
				churned.Add(1)
			}
		})
	}
	var pw sync.WaitGroup
	for p := range publishers {
		pw.Go(func() {
			for i := range batches {
				s := srv("be", 1, (p+i)%servers, "")
				b.PublishBatch(ev(ServerAdmin, s), ev(ServerDown, s), ev(ServerState, s))
			}
		})
	}
	pw.Wait()
	stop.Store(true)
	wg.Wait()

	total := publishers * batches * 3
	waitFor(t, "long-lived subscribers", func() bool {
		n := 0
		for _, c := range perServer {
			c.mu.Lock()
			n += c.n
			c.mu.Unlock()
		}
		g.mu.Lock()
		j.mu.Lock()
		defer g.mu.Unlock()
		defer j.mu.Unlock()
		return n == total && g.n == total && j.n == total
	})
	for _, c := range checkers {
		c.mu.Lock()
		if c.err != nil {
			t.Error(c.err)
		}
		c.mu.Unlock()
	}
	if churned.Load() < 10 {
		t.Fatalf("only %d churn rounds ran during publishing", churned.Load())
	}
	if n := b.SubscriberCount(); n != 2+servers {
		t.Fatalf("SubscriberCount = %d", n)
	}
}
