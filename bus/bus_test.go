package bus

import (
	"bytes"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// logBuf is a goroutine-safe log sink.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *logBuf) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

// recorder collects the events a handler sees.
type recorder struct {
	mu  sync.Mutex
	evs []*Event
}

func (r *recorder) add(e *Event) {
	r.mu.Lock()
	r.evs = append(r.evs, e)
	r.mu.Unlock()
}

func (r *recorder) get() []*Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.evs)
}

func (r *recorder) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

func srv(px string, uuid, puid int, name string) *ServerRef {
	return &ServerRef{Name: name, PUID: puid, ProxyName: px, ProxyUUID: uuid}
}

func ev(t Type, s *ServerRef) *Event { return &Event{Type: t, Server: s} }

func newBus(t *testing.T, o Options) *Bus {
	b := New(o)
	t.Cleanup(b.Close)
	return b
}

func TestPublishStampsAndHistory(t *testing.T) {
	b := newBus(t, Options{Instance: "lb1", History: 5})
	fixed := time.Unix(1000, 0)
	evs := []*Event{ev(ServerUp, srv("be", 1, 1, "a")), {Type: ServerDown, When: fixed, Instance: "other"}}
	b.Publish(evs[0])
	b.Publish(evs[1])
	b.Publish(nil)
	b.Publish(&Event{})               // TypeNone: ignored
	b.Publish(&Event{Type: numTypes}) // out of range: ignored
	if evs[0].Seq != 1 || evs[1].Seq != 2 {
		t.Fatalf("seq %d %d", evs[0].Seq, evs[1].Seq)
	}
	if evs[0].Instance != "lb1" || evs[1].Instance != "other" {
		t.Fatalf("instance %q %q", evs[0].Instance, evs[1].Instance)
	}
	if evs[0].When.IsZero() || !evs[1].When.Equal(fixed) {
		t.Fatalf("when %v %v", evs[0].When, evs[1].When)
	}
	if h := b.History(0); len(h) != 2 || h[0] != evs[0] || h[1] != evs[1] {
		t.Fatalf("history %v", h)
	}
	for i := range 10 {
		b.Publish(ev(ServerCheck, srv("be", 1, i, "x")))
	}
	h := b.History(0)
	if len(h) != 5 || h[0].Seq != 8 || h[4].Seq != 12 {
		t.Fatalf("wrapped history: len %d first %d last %d", len(h), h[0].Seq, h[len(h)-1].Seq)
	}
	if h := b.History(2); len(h) != 2 || h[0].Seq != 11 || h[1].Seq != 12 {
		t.Fatalf("History(2) = %v", h)
	}
	if h := b.History(100); len(h) != 5 {
		t.Fatalf("History(100) len %d", len(h))
	}
	off := newBus(t, Options{History: -1})
	off.Publish(ev(ServerUp, nil))
	if len(off.History(10)) != 0 {
		t.Fatal("disabled history kept events")
	}
	c := b.Counters()
	if len(c) != int(numTypes)-1 || c[ServerCheck-1].Type != ServerCheck || c[ServerCheck-1].Published != 10 ||
		c[ServerUp-1].Published != 1 || c[ServerDown-1].Published != 1 {
		t.Fatalf("counters %+v", c)
	}
}

func TestBatchInOrder(t *testing.T) {
	b := newBus(t, Options{})
	var r recorder
	b.Subscribe("r", Filter{}, DropOldest, r.add)
	s := srv("be", 1, 1, "s1")
	for range 100 {
		b.PublishBatch(ev(ServerAdmin, s), ev(ServerDown, s), ev(ServerState, s))
	}
	waitFor(t, "300 deliveries", func() bool { return r.len() == 300 })
	for i, e := range r.get() {
		want := []Type{ServerAdmin, ServerDown, ServerState}[i%3]
		if e.Type != want || e.Seq != uint64(i+1) {
			t.Fatalf("event %d: %s seq %d", i, e.Type, e.Seq)
		}
		if i%3 > 0 && !e.When.Equal(r.get()[i-1].When) {
			t.Fatalf("batch events have different When")
		}
	}
}

// TestEnqueueOrder checks, at enqueue time, that the subscriptions bound to
// the event's server get each event before the global ones, both in
// subscription order, with subject subscriptions merged by subscription time.
func TestEnqueueOrder(t *testing.T) {
	b := newBus(t, Options{})
	type rec struct {
		sub  string
		seq  uint64
		kind Type
	}
	var order []rec // appended under the bus lock by the hook
	b.testEnqueue = func(s *Subscription, e *Event) { order = append(order, rec{s.name, e.Seq, e.Type}) }
	gate := make(chan struct{})
	block := func(*Event) { <-gate }
	s1, s2 := srv("be", 3, 1, "s1"), srv("be", 3, 2, "s2")
	b.Subscribe("G1", Filter{}, DropOldest, block)
	b.Subscribe("S1a", Filter{Server: s1}, DropOldest, block)
	if _, err := b.SubscribeSubject("J", "event.*.be.>", DropOldest, block); err != nil {
		t.Fatal(err)
	}
	b.Subscribe("S2", Filter{Server: s2}, DropOldest, block)
	b.Subscribe("S1b", Filter{Server: &ServerRef{ProxyUUID: 3, PUID: 1}}, Coalesce, block)
	b.Subscribe("G2", Filter{Types: []Type{ServerDown}}, DropOldest, block)
	b.Subscribe("S1c", Filter{Server: s1, Types: []Type{ServerState}}, DropOldest, block)
	defer close(gate)

	b.PublishBatch(ev(ServerAdmin, s1), ev(ServerDown, s1), ev(ServerState, s1))
	b.Publish(ev(ServerDown, s2))
	b.Publish(&Event{Type: BackendDown, Server: s1, Backend: &BackendInfo{ProxyName: "be", ProxyUUID: 3}})
	want := []rec{
		{"S1a", 1, ServerAdmin}, {"S1b", 1, ServerAdmin}, {"G1", 1, ServerAdmin}, {"J", 1, ServerAdmin},
		{"S1a", 2, ServerDown}, {"S1b", 2, ServerDown}, {"G1", 2, ServerDown}, {"J", 2, ServerDown}, {"G2", 2, ServerDown},
		{"S1a", 3, ServerState}, {"S1b", 3, ServerState}, {"S1c", 3, ServerState}, {"G1", 3, ServerState}, {"J", 3, ServerState},
		{"S2", 4, ServerDown}, {"G1", 4, ServerDown}, {"J", 4, ServerDown}, {"G2", 4, ServerDown},
		{"G1", 5, BackendDown},
	}
	b.mu.Lock()
	got := slices.Clone(order)
	b.mu.Unlock()
	if !slices.Equal(got, want) {
		t.Fatalf("enqueue order\n got %v\nwant %v", got, want)
	}
}

func TestFilters(t *testing.T) {
	b := newBus(t, Options{})
	s1, s2, s3 := srv("web", 1, 1, "a"), srv("web", 1, 2, "b"), srv("api", 2, 1, "a")
	types, err := ParseTypes([]string{"BACKEND", "SERVER_UP"})
	if err != nil {
		t.Fatal(err)
	}
	subs := map[string]*recorder{}
	sub := func(name string, f Filter) {
		r := &recorder{}
		subs[name] = r
		b.Subscribe(name, f, DropOldest, r.add)
	}
	sub("all", Filter{})
	sub("down", Filter{Types: []Type{ServerDown}})
	sub("fam", Filter{Types: types})
	sub("s1", Filter{Server: s1})
	sub("s1up", Filter{Server: s1, Types: []Type{ServerUp}})
	sub("api", Filter{Backends: []string{"api"}})
	sub("webDownBe", Filter{Backends: []string{"web"}, Types: []Type{BackendDown, ServerDown}})
	sub("none", Filter{Types: []Type{TypeNone, Type(99)}})
	subj := &recorder{}
	if _, err := b.SubscribeSubject("subj", "event.*.web.a", DropOldest, subj.add); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SubscribeSubject("bad", "event..x", DropOldest, subj.add); err == nil {
		t.Fatal("bad pattern accepted")
	}

	pub := []*Event{
		ev(ServerUp, s1), ev(ServerDown, s1), ev(ServerUp, s2), ev(ServerDown, s3),
		{Type: BackendDown, Backend: &BackendInfo{ProxyName: "web", ProxyUUID: 1}},
		{Type: BackendUp, Backend: &BackendInfo{ProxyName: "api", ProxyUUID: 2}},
		ev(ServerCheck, s3),
	}
	for _, e := range pub {
		b.Publish(e)
	}
	want := map[string][]uint64{
		"all":       {1, 2, 3, 4, 5, 6, 7},
		"down":      {2, 4},
		"fam":       {1, 3, 5, 6},
		"s1":        {1, 2},
		"s1up":      {1},
		"api":       {4, 6, 7},
		"webDownBe": {2, 5},
		"none":      nil,
	}
	for name, seqs := range want {
		r := subs[name]
		waitFor(t, name, func() bool { return r.len() == len(seqs) })
		var got []uint64
		for _, e := range r.get() {
			got = append(got, e.Seq)
		}
		if !slices.Equal(got, seqs) {
			t.Errorf("%s got %v want %v", name, got, seqs)
		}
	}
	waitFor(t, "subject sub", func() bool { return subj.len() == 2 })
	if g := subj.get(); g[0].Seq != 1 || g[1].Seq != 2 {
		t.Errorf("subject sub got %v", g)
	}
	if n := b.SubscriberCount(); n != 9 {
		t.Fatalf("SubscriberCount = %d", n)
	}
}

func TestUnsub(t *testing.T) {
	b := newBus(t, Options{})
	s := srv("be", 1, 1, "a")

	// From inside the handler: no further call, queued events discarded.
	var calls atomic.Int32
	b.SubscribeWithSub("self", Filter{Server: s}, DropOldest, func(sub *Subscription, e *Event) {
		if calls.Add(1) == 3 {
			sub.Unsub()
			sub.Unsub() // idempotent
		}
	})
	// From elsewhere while a call is in progress.
	started, gate := make(chan struct{}), make(chan struct{})
	var ocalls atomic.Int32
	other := b.Subscribe("other", Filter{}, DropOldest, func(*Event) {
		if ocalls.Add(1) == 1 {
			close(started)
			<-gate
		}
	})
	// While idle.
	var icalls atomic.Int32
	idle := b.Subscribe("idle", Filter{}, Coalesce, func(*Event) { icalls.Add(1) })
	subjSub, _ := b.SubscribeSubject("subj", ">", DropOldest, func(*Event) { icalls.Add(1) })
	subjSub.Unsub()
	idle.Unsub()
	if b.SubscriberCount() != 2 {
		t.Fatalf("count %d", b.SubscriberCount())
	}

	evs := make([]*Event, 10)
	for i := range evs {
		evs[i] = ev(ServerCheck, s)
	}
	b.PublishBatch(evs...)
	<-started
	other.Unsub() // returns while the first call is still blocked
	close(gate)
	b.Publish(ev(ServerCheck, s))
	waitFor(t, "self unsub", func() bool { return b.SubscriberCount() == 0 })
	b.Close() // waits for the delivery goroutines
	if calls.Load() != 3 || ocalls.Load() != 1 || icalls.Load() != 0 {
		t.Fatalf("calls self=%d other=%d idle=%d", calls.Load(), ocalls.Load(), icalls.Load())
	}
	if st := other.Stats(); st.Queued != 0 || st.Delivered != 1 {
		t.Fatalf("other stats %+v", st)
	}
}

func TestPanicRecovery(t *testing.T) {
	var lb logBuf
	b := newBus(t, Options{Logger: lb.logger()})
	var r recorder
	b.Subscribe("boom", Filter{}, DropOldest, func(e *Event) {
		r.add(e)
		if e.Seq == 2 {
			panic("kaboom")
		}
	})
	for range 4 {
		b.Publish(ev(ServerUp, nil))
	}
	waitFor(t, "4 deliveries", func() bool { return r.len() == 4 })
	if !strings.Contains(lb.String(), "bus: subscriber boom: handler panic: kaboom") {
		t.Fatalf("log: %s", lb.String())
	}
	if b.SubscriberCount() != 1 {
		t.Fatal("panic ended the subscription")
	}
}

func TestClose(t *testing.T) {
	base := runtime.NumGoroutine()
	b := New(Options{})
	var r recorder
	sub := b.Subscribe("r", Filter{Types: []Type{ServerUp, ServerDown}}, DropOldest, r.add)
	b.Publish(ev(ServerUp, nil))
	waitFor(t, "delivery", func() bool { return r.len() == 1 })
	// A handler in progress: Close lets it finish, then every goroutine
	// of the bus is gone.
	started, gate := make(chan struct{}), make(chan struct{})
	b.Subscribe("busy", Filter{Types: []Type{ServerCheck}}, Coalesce, func(*Event) {
		close(started)
		<-gate
	})
	b.Publish(ev(ServerCheck, nil))
	<-started
	closed := make(chan struct{})
	go func() {
		b.Close()
		close(closed)
	}()
	waitFor(t, "unsubscribed", func() bool { return b.SubscriberCount() == 0 })
	close(gate)
	<-closed
	b.Close()
	if n := runtime.NumGoroutine(); n > base {
		t.Fatalf("%d goroutines after Close, %d before New", n, base)
	}
	b.Publish(ev(ServerUp, nil))
	b.PublishBatch(ev(ServerUp, nil), ev(ServerDown, nil))
	if c := b.Counters(); c[ServerUp-1].Published != 1 || c[ServerDown-1].Published != 0 || c[ServerCheck-1].Delivered != 1 {
		t.Fatalf("publish after close counted: %+v", c)
	}
	if b.SubscriberCount() != 0 || r.len() != 1 {
		t.Fatal("subscription survived Close")
	}
	sub.Unsub()
	late := b.Subscribe("late", Filter{}, DropOldest, r.add)
	late.Unsub()
	if _, err := b.SubscribeSubject("late", ">", DropOldest, r.add); err != ErrClosed {
		t.Fatalf("SubscribeSubject after Close: %v", err)
	}
	if b.SubscriberCount() != 0 {
		t.Fatal("subscribed after Close")
	}
}

func TestDropOldest(t *testing.T) {
	var lb logBuf
	b := newBus(t, Options{Logger: lb.logger()})
	started, gate := make(chan struct{}), make(chan struct{})
	var r recorder
	first := true
	sub := b.Subscribe("slow", Filter{}, DropOldest, func(e *Event) {
		if first {
			first = false
			close(started)
			<-gate
		}
		r.add(e)
	}, QueueLen(10))
	b.Publish(ev(ServerCheck, nil))
	<-started
	evs := make([]*Event, 100)
	for i := range evs {
		evs[i] = ev([]Type{ServerUp, ServerDown}[i%2], nil)
	}
	b.PublishBatch(evs...)
	st := sub.Stats()
	if st.Queued != 10 || st.Dropped != 90 {
		t.Fatalf("stats while blocked: %+v", st)
	}
	c := b.Counters()
	if c[ServerUp-1].Dropped != 45 || c[ServerDown-1].Dropped != 45 {
		t.Fatalf("counters %+v", c)
	}
	want := "bus: subscriber slow is too slow, dropped 90 events"
	waitFor(t, "warning", func() bool { return strings.Contains(lb.String(), want) })
	close(gate)
	waitFor(t, "11 deliveries", func() bool { return r.len() == 11 })
	got := r.get()
	if got[0].Seq != 1 {
		t.Fatalf("first event %d", got[0].Seq)
	}
	for i, e := range got[1:] {
		if e.Seq != uint64(92+i) { // the 10 newest of seq 2..101
			t.Fatalf("kept event %d has seq %d", i, e.Seq)
		}
	}
	waitFor(t, "counters", func() bool {
		var pub, del, drop uint64
		for _, c := range b.Counters() {
			pub, del, drop = pub+c.Published, del+c.Delivered, drop+c.Dropped
		}
		return pub == 101 && del == 11 && drop == 90
	})
	if n := strings.Count(lb.String(), "is too slow"); n != 1 {
		t.Fatalf("%d warnings for one burst:\n%s", n, lb.String())
	}
}

func TestStuckSubscriberNeverBlocksPublish(t *testing.T) {
	b := New(Options{})
	stuck := make(chan struct{})
	defer b.Close()
	defer close(stuck) // runs before Close: releases the handler
	sub := b.Subscribe("stuck", Filter{}, DropOldest, func(*Event) { <-stuck })
	cs := b.Subscribe("stuck-c", Filter{}, Coalesce, func(*Event) { <-stuck })
	const n = 100000
	for i := range n {
		b.Publish(ev(ServerCheck, srv("be", 1, i%100, "x")))
	}
	st := sub.Stats()
	total := st.Dropped + uint64(st.Queued) + st.Delivered
	if st.Delivered > 1 || total+batchMax < n || total > n || st.Queued != DefaultQueueLen {
		t.Fatalf("stats %+v", st)
	}
	if cst := cs.Stats(); cst.Queued > 100 {
		t.Fatalf("coalesce queue holds %d events for 100 servers", cst.Queued)
	}
}

func TestCoalesceFinalState(t *testing.T) {
	b := newBus(t, Options{})
	const servers, flips = 1000, 50
	gate := make(chan struct{})
	var mu sync.Mutex
	state := map[int]string{} // puid -> new_state seen last
	oper := map[int]Type{}    // puid -> last UP/DOWN seen
	first := true
	sub := b.Subscribe("follower", Filter{Types: []Type{ServerUp, ServerDown, ServerState}}, Coalesce, func(e *Event) {
		if first {
			first = false
			<-gate
		}
		mu.Lock()
		defer mu.Unlock()
		if e.Type == ServerState {
			// Intermediate transitions are coalesced away, so
			// old_state need not follow the previous new_state.
			state[e.Server.PUID] = e.State.NewState
		} else {
			oper[e.Server.PUID] = e.Type
		}
	})
	truth := map[int]string{}
	for i := range servers {
		truth[i] = "RUNNING"
	}
	maxQueued := 0
	for f := range flips {
		for i := range servers {
			if f == flips-1 && i%3 == 0 {
				continue // these servers end up after 49 flips
			}
			s := srv("be", 1, i, fmt.Sprint("s", i))
			next, typ := "STOPPED", ServerDown
			if truth[i] == "STOPPED" {
				next, typ = "RUNNING", ServerUp
			}
			b.PublishBatch(ev(typ, s), &Event{Type: ServerState, Server: s,
				State: &StateChange{OldState: truth[i], NewState: next}})
			truth[i] = next
		}
		sub.mu.Lock()
		q, slots, capacity := sub.cq.len(), sub.cq.slots(), cap(sub.cq.items)
		sub.mu.Unlock()
		if q > 2*servers || slots > 2*q+32 || capacity > 8*q+256 {
			t.Fatalf("flip %d: queue %d events, %d slots, cap %d", f, q, slots, capacity)
		}
		maxQueued = max(maxQueued, q)
	}
	if maxQueued < servers {
		t.Fatalf("the queue never filled (max %d): the handler was not blocked", maxQueued)
	}
	close(gate)
	waitFor(t, "queue drained", func() bool {
		var pub, del, co uint64
		for _, c := range b.Counters() {
			pub, del, co = pub+c.Published, del+c.Delivered, co+c.Coalesced
		}
		return pub == del+co && sub.Stats().Queued == 0
	})
	mu.Lock()
	defer mu.Unlock()
	for i := range servers {
		wantOper := ServerUp
		if truth[i] == "STOPPED" {
			wantOper = ServerDown
		}
		if state[i] != truth[i] || oper[i] != wantOper {
			t.Fatalf("server %d: saw %s/%s, truth %s", i, state[i], oper[i], truth[i])
		}
	}
	if st := sub.Stats(); st.Coalesced == 0 || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
}
