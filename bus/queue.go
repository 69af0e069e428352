package bus

// ring is the bounded FIFO of a DropOldest subscription. It grows on demand
// (from 16 slots) up to max, so idle subscriptions stay small.
type ring struct {
	buf  []*Event
	head int
	n    int
	max  int
}

// push appends e. When the ring already holds max events it drops the
// oldest one and returns it.
func (r *ring) push(e *Event) (dropped *Event) {
	if r.n == len(r.buf) {
		if len(r.buf) < r.max {
			r.grow()
		} else {
			dropped = r.buf[r.head]
			r.buf[r.head] = nil
			r.head = r.next(r.head)
			r.n--
		}
	}
	r.buf[(r.head+r.n)%len(r.buf)] = e
	r.n++
	return dropped
}

func (r *ring) next(i int) int {
	i++
	if i == len(r.buf) {
		return 0
	}
	return i
}

func (r *ring) grow() {
	size := min(max(16, 2*len(r.buf)), r.max)
	nb := make([]*Event, size)
	for i := 0; i < r.n; i++ {
		nb[i] = r.buf[(r.head+i)%len(r.buf)]
	}
	r.buf, r.head = nb, 0
}

// popN moves up to limit events, oldest first, to dst.
func (r *ring) popN(dst []*Event, limit int) []*Event {
	for r.n > 0 && len(dst) < limit {
		dst = append(dst, r.buf[r.head])
		r.buf[r.head] = nil
		r.head = r.next(r.head)
		r.n--
	}
	return dst
}

func (r *ring) len() int { return r.n }

// clear empties the ring and releases its memory.
func (r *ring) clear() { r.buf, r.head, r.n = nil, 0, 0 }

// Coalescing dimensions: a Coalesce queue holds at most one event per
// (object, dimension).
const (
	dimLife    uint8 = iota + 1 // SERVER_ADD, SERVER_DEL
	dimOper                     // SERVER_UP, SERVER_DOWN
	dimState                    // SERVER_STATE
	dimAdmin                    // SERVER_ADMIN
	dimCheck                    // SERVER_CHECK
	dimAddr                     // SERVER_INETADDR
	dimBackend                  // BACKEND_UP, BACKEND_DOWN
)

// ckey names the slot an event occupies in a Coalesce queue.
type ckey struct {
	dim  uint8
	uuid int
	puid int
	rid  int
	name string // backend name (BACKEND events only)
}

func coalesceKey(e *Event) ckey {
	var k ckey
	switch e.Type {
	case ServerAdd, ServerDel:
		k.dim = dimLife
	case ServerUp, ServerDown:
		k.dim = dimOper
	case ServerState:
		k.dim = dimState
	case ServerAdmin:
		k.dim = dimAdmin
	case ServerCheck:
		k.dim = dimCheck
	case ServerInetAddr:
		k.dim = dimAddr
	case BackendUp, BackendDown:
		k.dim = dimBackend
		switch {
		case e.Backend != nil:
			k.uuid, k.name = e.Backend.ProxyUUID, e.Backend.ProxyName
		case e.Server != nil:
			k.uuid, k.name = e.Server.ProxyUUID, e.Server.ProxyName
		}
		return k
	}
	if e.Server != nil {
		k.uuid, k.puid, k.rid = e.Server.ProxyUUID, e.Server.PUID, e.Server.RID
	} else {
		k.uuid, k.puid, k.rid = -1, -1, -1
	}
	return k
}

type centry struct {
	ev  *Event
	key ckey
}

// cqueue is the queue of a Coalesce subscription: a FIFO in which a new
// event replaces the queued event with the same ckey. The replaced event is
// removed and the new one appended at the tail, so the queue is always a
// subsequence of the published order. Removed entries leave tombstones that
// are compacted away once they outnumber the live ones.
type cqueue struct {
	items []centry // items[head:] are queued; ev == nil marks a tombstone
	head  int
	base  int // absolute position of items[0]
	live  int
	index map[ckey]int // key -> absolute position of its live entry
}

// push appends e and returns the event it superseded, if any.
func (q *cqueue) push(e *Event) (replaced *Event) {
	if q.index == nil {
		q.index = make(map[ckey]int)
	}
	k := coalesceKey(e)
	if pos, ok := q.index[k]; ok {
		i := pos - q.base
		replaced = q.items[i].ev
		q.items[i].ev = nil
		q.live--
	}
	q.items = append(q.items, centry{ev: e, key: k})
	q.index[k] = q.base + len(q.items) - 1
	q.live++
	// Compact when tombstones outnumber live entries, or when the consumed
	// prefix is the larger half (a queue that never fully drains).
	if len(q.items)-q.head > 2*q.live+32 || (q.head > 32 && q.head > len(q.items)/2) {
		q.compact()
	}
	return replaced
}

// compact drops tombstones and consumed slots, renumbering the live entries
// with fresh absolute positions.
func (q *cqueue) compact() {
	nb := q.base + len(q.items)
	old := q.items
	items := old[:0] // compact in place: the write index never passes the read index
	if cap(old) > 4*q.live+64 {
		items = make([]centry, 0, 2*q.live+16)
	}
	for _, it := range old[q.head:] {
		if it.ev != nil {
			q.index[it.key] = nb + len(items)
			items = append(items, it)
		}
	}
	clear(old[len(items):]) // release stale references left behind in place
	q.items, q.head, q.base = items, 0, nb
}

// popN moves up to limit events, oldest first, to dst.
func (q *cqueue) popN(dst []*Event, limit int) []*Event {
	for q.head < len(q.items) && len(dst) < limit {
		it := q.items[q.head]
		q.items[q.head] = centry{}
		q.head++
		if it.ev == nil {
			continue
		}
		delete(q.index, it.key)
		q.live--
		dst = append(dst, it.ev)
	}
	if q.head == len(q.items) {
		q.base += len(q.items)
		q.items, q.head = q.items[:0], 0
		if cap(q.items) > 1024 {
			q.items = nil
		}
	}
	return dst
}

func (q *cqueue) len() int { return q.live }

// slots returns the number of slots in use, tombstones included.
func (q *cqueue) slots() int { return len(q.items) - q.head }

func (q *cqueue) clear() { *q = cqueue{} }
