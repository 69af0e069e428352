package natsbridge

import (
	"strconv"
	"testing"
)

func msgs(o *outbox) []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []string
	for i := 0; i < o.n; i++ {
		out = append(out, o.buf[(o.head+i)%len(o.buf)].subject)
	}
	return out
}

func TestOutboxDropsOldestNotInFlight(t *testing.T) {
	o := newOutbox(4)
	for i := range 4 {
		o.push(outMsg{subject: strconv.Itoa(i)})
	}
	b := o.take(nil, 2) // 0 and 1 in flight
	if len(b) != 2 || b[0].subject != "0" || b[1].subject != "1" {
		t.Fatalf("take: %v", b)
	}
	if dropped, first := o.push(outMsg{subject: "4"}); !dropped || !first {
		t.Fatalf("push into a full outbox: dropped=%v first=%v", dropped, first)
	}
	if dropped, first := o.push(outMsg{subject: "5"}); !dropped || first {
		t.Fatalf("second drop: dropped=%v first=%v", dropped, first)
	}
	if got := msgs(o); len(got) != 4 || got[0] != "0" || got[1] != "1" || got[2] != "4" || got[3] != "5" {
		t.Fatalf("after drops: %v", got)
	}
	o.abort() // the batch failed: taken again
	if b = o.take(b[:0], 3); b[0].subject != "0" || b[2].subject != "4" {
		t.Fatalf("retake: %v", b)
	}
	if burst := o.commit(); burst != 2 {
		t.Fatalf("burst = %d, want 2", burst)
	}
	if got := msgs(o); len(got) != 1 || got[0] != "5" || o.totalDropped() != 2 {
		t.Fatalf("after commit: %v, dropped %d", got, o.totalDropped())
	}
	// Everything in flight and full: the new event is the one dropped.
	o2 := newOutbox(2)
	o2.push(outMsg{subject: "a"})
	o2.push(outMsg{subject: "b"})
	o2.take(nil, 2)
	o2.push(outMsg{subject: "c"})
	if got := msgs(o2); len(got) != 2 || got[0] != "a" || got[1] != "b" || o2.totalDropped() != 1 {
		t.Fatalf("all in flight: %v", got)
	}
}
