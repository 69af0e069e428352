package stick

import (
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

const nShards = 64

// slot describes where a stored data type lives in an entry's values.
type slot struct {
	stored bool
	off    int   // first value index
	n      int   // number of elements (1 unless array)
	period int64 // ms, rates only
}

// Table is one stick table. Create it with New; it is safe for concurrent use.
type Table struct {
	name    string
	keyType KeyType
	keyLen  int
	size    int64
	expire  int64 // ms, 0 = never
	nopurge bool
	layout  [numDataTypes]slot
	nvals   int
	store   []StoreItem

	seed   maphash.Seed
	shards [nShards]shard
	used   atomic.Int64
	clock  atomic.Pointer[func() time.Time]
}

type shard struct {
	mu   sync.Mutex
	m    map[string]*Entry
	head *Entry // most recently updated
	tail *Entry // least recently updated
}

// Entry is one key of a table with its data. Its fields are guarded by the
// lock of its shard: read and update it through the Table's methods.
type Entry struct {
	key        []byte
	shard      uint8
	removed    bool
	refs       int32
	exp        int64 // unix ms; 0 = never
	touched    int64 // unix ms of the last update
	vals       []int64
	prev, next *Entry
}

// Key returns the entry's key bytes (read-only).
func (e *Entry) Key() []byte { return e.key }

// ErrFull is returned by Track when the table is full and no entry can be
// evicted.
var ErrFull = errors.New("stick table full")

// New builds a table named name from a declaration.
func New(name string, spec Spec) (*Table, error) {
	kt, ok := ParseKeyType(spec.Type)
	if !ok {
		return nil, fmt.Errorf("stick-table '%s': unknown key type '%s'", name, spec.Type)
	}
	t := &Table{name: name, keyType: kt, size: spec.Size, expire: spec.Expire.Milliseconds(), nopurge: spec.NoPurge, seed: maphash.MakeSeed()}
	switch kt {
	case KeyIPv4:
		t.keyLen = 4
	case KeyIPv6:
		t.keyLen = 16
	case KeyInteger:
		t.keyLen = 4
	default:
		t.keyLen = spec.Len
		if t.keyLen <= 0 {
			t.keyLen = 32
		}
	}
	if t.size <= 0 {
		return nil, fmt.Errorf("stick-table '%s': missing or invalid size", name)
	}
	for _, it := range spec.Store {
		dt, ok := ParseDataType(it.Name)
		if !ok {
			return nil, fmt.Errorf("stick-table '%s': unknown data type '%s'", name, it.Name)
		}
		if dtInfos[dt].str {
			return nil, fmt.Errorf("stick-table '%s': data type '%s' is not supported", name, it.Name)
		}
		if t.layout[dt].stored {
			continue // HAProxy keeps the first declaration
		}
		n := 1
		if dt.IsArray() {
			n = it.Count
			if n <= 0 || n > 100 {
				return nil, fmt.Errorf("stick-table '%s': data type '%s' needs a number of elements between 1 and 100", name, it.Name)
			}
		}
		s := slot{stored: true, off: t.nvals, n: n}
		if dt.IsRate() {
			s.period = it.Period.Milliseconds()
			if s.period <= 0 {
				return nil, fmt.Errorf("stick-table '%s': data type '%s' needs a period", name, it.Name)
			}
			t.nvals += 3 * n
		} else {
			t.nvals += n
		}
		t.layout[dt] = s
		t.store = append(t.store, it)
	}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*Entry)
	}
	return t, nil
}

// SetClock replaces the table's time source (tests); nil restores time.Now.
func (t *Table) SetClock(now func() time.Time) {
	if now == nil {
		t.clock.Store(nil)
		return
	}
	t.clock.Store(&now)
}

func (t *Table) nowMS() int64 {
	if f := t.clock.Load(); f != nil {
		return (*f)().UnixMilli()
	}
	return time.Now().UnixMilli()
}

// Name returns the table's name (the proxy that declares it).
func (t *Table) Name() string { return t.name }

// KeyType returns the key type.
func (t *Table) KeyType() KeyType { return t.keyType }

// KeyLen returns the key length in bytes (the declared len for string and
// binary tables).
func (t *Table) KeyLen() int { return t.keyLen }

// Size returns the maximum number of entries.
func (t *Table) Size() int64 { return t.size }

// Used returns the current number of entries.
func (t *Table) Used() int64 { return t.used.Load() }

// Expire returns the expiration delay (0 = never).
func (t *Table) Expire() time.Duration { return time.Duration(t.expire) * time.Millisecond }

// NoPurge reports whether nopurge was set.
func (t *Table) NoPurge() bool { return t.nopurge }

// Stores reports whether the table stores dt.
func (t *Table) Stores(dt DataType) bool { return dt < numDataTypes && t.layout[dt].stored }

// Period returns the period of a stored rate (0 if not a stored rate).
func (t *Table) Period(dt DataType) time.Duration {
	if !t.Stores(dt) {
		return 0
	}
	return time.Duration(t.layout[dt].period) * time.Millisecond
}

// Elements returns the number of elements of a stored data type (1 for
// scalar types, n for gpc(n)...; 0 when not stored).
func (t *Table) Elements(dt DataType) int {
	if !t.Stores(dt) {
		return 0
	}
	return t.layout[dt].n
}

// Store returns the store items as declared (duplicates removed).
func (t *Table) Store() []StoreItem { return t.store }

func (t *Table) shardOf(key []byte) uint8 {
	return uint8(maphash.Bytes(t.seed, key) % nShards)
}

// live reports whether an entry is still valid at now. Call with the lock.
func (e *Entry) live(now int64) bool {
	return e.refs > 0 || e.exp == 0 || e.exp > now
}

// Lookup returns the entry for key, or nil. An unreferenced expired entry is
// removed and reported as absent. The entry may be removed by others after
// Lookup returns; reads through the Table stay safe, writes may be lost.
func (t *Table) Lookup(key []byte) *Entry {
	si := t.shardOf(key)
	sh := &t.shards[si]
	now := t.nowMS()
	sh.mu.Lock()
	e := sh.m[string(key)]
	if e != nil && !e.live(now) {
		t.unlink(sh, e)
		e = nil
	}
	sh.mu.Unlock()
	return e
}

// Ref is a tracker's reference to an entry: while held, the entry does not
// expire and is not evicted. The zero Ref tracks nothing. A Ref is a small
// value meant to live in a stream's stick-counter slots.
type Ref struct {
	T *Table
	E *Entry
}

// Valid reports whether the reference tracks an entry.
func (r Ref) Valid() bool { return r.E != nil }

// Track returns a reference to key's entry, creating it if needed (its
// expiration is armed). It fails with ErrFull when the table is full and
// nothing can be evicted.
func (t *Table) Track(key []byte) (Ref, error) {
	e, err := t.getOrCreate(key, true)
	if err != nil {
		return Ref{}, err
	}
	return Ref{T: t, E: e}, nil
}

// GetOrCreate returns key's entry, creating it if needed, without taking a
// reference (used by src_inc_gpc0 and similar one-shot updates).
func (t *Table) GetOrCreate(key []byte) (*Entry, error) {
	return t.getOrCreate(key, false)
}

func (t *Table) getOrCreate(key []byte, ref bool) (*Entry, error) {
	if len(key) > t.keyLen {
		key = key[:t.keyLen]
	}
	si := t.shardOf(key)
	sh := &t.shards[si]
	now := t.nowMS()
	for attempt := 0; ; attempt++ {
		sh.mu.Lock()
		e := sh.m[string(key)]
		if e != nil && !e.live(now) {
			t.unlink(sh, e)
			e = nil
		}
		if e != nil {
			if ref {
				e.refs++
			}
			sh.mu.Unlock()
			return e, nil
		}
		if t.used.Load() < t.size {
			e = &Entry{key: append([]byte(nil), key...), shard: si, vals: make([]int64, t.nvals)}
			if ref {
				e.refs = 1
			}
			sh.m[string(e.key)] = e
			t.used.Add(1)
			t.touch(sh, e, now)
			sh.mu.Unlock()
			return e, nil
		}
		sh.mu.Unlock()
		if attempt > 0 || !t.makeRoom(now) {
			return nil, ErrFull
		}
	}
}

// makeRoom purges expired entries and, unless nopurge, evicts the least
// recently updated unreferenced entry. It takes one shard lock at a time.
func (t *Table) makeRoom(now int64) bool {
	if t.Purge() > 0 {
		return true
	}
	if t.nopurge {
		return false
	}
	best, bestAt := -1, int64(0)
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.tail; e != nil; e = e.prev {
			if e.refs == 0 {
				if best < 0 || e.touched < bestAt {
					best, bestAt = i, e.touched
				}
				break
			}
		}
		sh.mu.Unlock()
	}
	if best < 0 {
		return false
	}
	sh := &t.shards[best]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	for e := sh.tail; e != nil; e = e.prev {
		if e.refs == 0 {
			t.unlink(sh, e)
			return true
		}
	}
	return false
}

// Purge removes every unreferenced expired entry and returns how many were
// removed. The owner calls it periodically (HAProxy's expire task); Lookup
// and Track also drop expired entries they meet.
func (t *Table) Purge() int {
	if t.expire == 0 {
		return 0
	}
	now := t.nowMS()
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.tail; e != nil; {
			prev := e.prev
			if e.refs == 0 {
				if e.exp > now {
					break // the list is in update order, so the rest is younger
				}
				t.unlink(sh, e)
				n++
			}
			e = prev
		}
		sh.mu.Unlock()
	}
	return n
}

// touch re-arms the expiration and moves e to the head. Call with the lock.
func (t *Table) touch(sh *shard, e *Entry, now int64) {
	e.touched = now
	if t.expire > 0 {
		e.exp = now + t.expire
	}
	if sh.head == e {
		return
	}
	if e.prev != nil || e.next != nil || sh.tail == e {
		// unlink from the list
		if e.prev != nil {
			e.prev.next = e.next
		}
		if e.next != nil {
			e.next.prev = e.prev
		}
		if sh.tail == e {
			sh.tail = e.prev
		}
	}
	e.prev = nil
	e.next = sh.head
	if sh.head != nil {
		sh.head.prev = e
	}
	sh.head = e
	if sh.tail == nil {
		sh.tail = e
	}
}

// unlink removes e from its shard. Call with the lock.
func (t *Table) unlink(sh *shard, e *Entry) {
	if e.removed {
		return
	}
	e.removed = true
	delete(sh.m, string(e.key))
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		sh.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		sh.tail = e.prev
	}
	e.prev, e.next = nil, nil
	t.used.Add(-1)
}

// Release drops the reference and re-arms the entry's expiration, as HAProxy
// does when a stream stops tracking. It is a no-op on the zero Ref and resets
// r to the zero Ref.
func (r *Ref) Release() {
	if r.E == nil {
		return
	}
	t, e := r.T, r.E
	sh := &t.shards[e.shard]
	now := t.nowMS()
	sh.mu.Lock()
	if e.refs > 0 {
		e.refs--
	}
	if !e.removed {
		t.touch(sh, e, now)
	}
	sh.mu.Unlock()
	*r = Ref{}
}

// Clear removes key's entry if no tracker holds it; it reports whether an
// entry was removed.
func (t *Table) Clear(key []byte) bool {
	if len(key) > t.keyLen {
		key = key[:t.keyLen]
	}
	sh := &t.shards[t.shardOf(key)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.m[string(key)]
	if e == nil || e.refs > 0 {
		return false
	}
	t.unlink(sh, e)
	return true
}

// ClearAll removes every unreferenced entry matching all filters (none:
// every entry) and returns how many were removed.
func (t *Table) ClearAll(filters ...Filter) int {
	now := t.nowMS()
	n := 0
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; {
			next := e.next
			if e.refs == 0 && t.matchLocked(e, filters, now) {
				t.unlink(sh, e)
				n++
			}
			e = next
		}
		sh.mu.Unlock()
	}
	return n
}
