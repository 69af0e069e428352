package bus

import "testing"

// TestCqueueSustained keeps a Coalesce queue from ever draining while
// events flow through it: its memory must stay bounded.
func TestCqueueSustained(t *testing.T) {
	var q cqueue
	var out []*Event
	const servers = 50
	for i := range 200000 {
		q.push(&Event{Type: ServerCheck, Server: &ServerRef{PUID: i % servers}})
		if i%3 == 0 {
			out = q.popN(out[:0], 2)
		}
		if q.len() > servers {
			t.Fatalf("step %d: %d queued for %d servers", i, q.len(), servers)
		}
		if cap(q.items) > 8*servers+256 {
			t.Fatalf("step %d: cap %d (head %d, len %d, live %d)", i, cap(q.items), q.head, len(q.items), q.live)
		}
	}
	// Every index entry points at a live entry with its own key.
	for k, pos := range q.index {
		it := q.items[pos-q.base]
		if it.ev == nil || it.key != k {
			t.Fatalf("stale index entry %+v", k)
		}
	}
	if len(q.index) != q.len() {
		t.Fatalf("index %d entries, %d live", len(q.index), q.len())
	}
	for q.len() > 0 {
		out = q.popN(out[:0], 7)
	}
	if q.slots() != 0 || len(q.index) != 0 {
		t.Fatalf("drained queue keeps %d slots, %d index entries", q.slots(), len(q.index))
	}
}

func TestRing(t *testing.T) {
	r := ring{max: 40}
	var evs []*Event
	for i := range 100 {
		e := &Event{Seq: uint64(i)}
		evs = append(evs, e)
		d := r.push(e)
		if (i < 40) != (d == nil) || (d != nil && d.Seq != uint64(i-40)) {
			t.Fatalf("push %d dropped %v", i, d)
		}
	}
	got := r.popN(nil, 1000)
	if len(got) != 40 || got[0].Seq != 60 || got[39].Seq != 99 || r.len() != 0 {
		t.Fatalf("popN got %d events", len(got))
	}
	small := ring{max: 3}
	for i := range 5 {
		small.push(evs[i])
	}
	if got := small.popN(nil, 2); len(got) != 2 || got[0].Seq != 2 || small.len() != 1 {
		t.Fatalf("small ring %v", got)
	}
}
