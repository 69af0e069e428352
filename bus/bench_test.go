package bus

import (
	"sync/atomic"
	"testing"
	"time"
)

// benchPublish publishes b.N events to subs subscribers and waits until
// each subscriber has handled all of them. It reports events/s (published
// and fully delivered) and deliveries/s.
func benchPublish(b *testing.B, subs int) {
	bus := New(Options{Instance: "bench"})
	defer bus.Close()
	var got atomic.Int64
	done := make(chan struct{})
	var want int64
	for range subs {
		// A queue larger than any burst, so the measurement counts
		// deliveries, not drops.
		bus.Subscribe("bench", Filter{}, DropOldest, func(*Event) {
			if got.Add(1) == want {
				close(done)
			}
		}, QueueLen(1<<22))
	}
	s := srv("be", 1, 1, "s1")
	evs := make([]*Event, b.N)
	for i := range evs {
		evs[i] = &Event{Type: ServerCheck, Server: s}
	}
	want = int64(b.N) * int64(subs)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for _, e := range evs {
		bus.Publish(e)
	}
	if subs > 0 {
		<-done
	}
	el := time.Since(start).Seconds()
	b.StopTimer()
	var dropped uint64
	for _, c := range bus.Counters() {
		dropped += c.Dropped
	}
	if dropped > 0 {
		b.Fatalf("%d events dropped", dropped)
	}
	b.ReportMetric(float64(b.N)/el, "events/s")
	b.ReportMetric(float64(want)/el, "deliveries/s")
}

// BenchmarkPublish1Sub: publish -> one subscriber. Target >= 1M events/s.
func BenchmarkPublish1Sub(b *testing.B) { benchPublish(b, 1) }

// BenchmarkPublishFanout10: publish -> ten subscribers. Target >= 200k
// events/s (2M deliveries/s).
func BenchmarkPublishFanout10(b *testing.B) { benchPublish(b, 10) }

// BenchmarkPublishNoSub measures the publisher's own cost.
func BenchmarkPublishNoSub(b *testing.B) { benchPublish(b, 0) }

// BenchmarkMarshalJSON measures the JSON encoding of a SERVER_DOWN event.
func BenchmarkMarshalJSON(b *testing.B) {
	e := designEvent()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSublistMatch measures a trie lookup among 1000 patterns.
func BenchmarkSublistMatch(b *testing.B) {
	var sl Sublist[int]
	for i := range 1000 {
		_ = sl.Insert("event.*.be"+string(rune('a'+i%26))+".s"+string(rune('a'+i/26%26)), i)
	}
	_ = sl.Insert("event.>", -1)
	var buf []int
	b.ReportAllocs()
	for b.Loop() {
		buf = sl.AppendMatch(buf[:0], "event.SERVER_DOWN.bea.sb")
	}
}
