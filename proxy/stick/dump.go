package stick

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParseKey converts the text form of a key (as typed in "show table ... key
// <k>" or passed to Lua's StickTable:lookup) into the table's key bytes.
func (t *Table) ParseKey(s string) ([]byte, error) {
	switch t.keyType {
	case KeyIPv4:
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Unmap().Is4() {
			return nil, fmt.Errorf("invalid IPv4 key '%s'", s)
		}
		b := a.Unmap().As4()
		return b[:], nil
	case KeyIPv6:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("invalid IPv6 key '%s'", s)
		}
		b := a.As16()
		return b[:], nil
	case KeyInteger:
		n, err := strconv.ParseInt(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("invalid integer key '%s'", s)
		}
		return t.IntKey(nil, n), nil
	case KeyBinary:
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("invalid binary key '%s'", s)
		}
		return t.BinKey(nil, b), nil
	}
	return t.StrKey(nil, []byte(s)), nil
}

// IntKey appends the key bytes of integer n (32-bit, as HAProxy) to dst.
func (t *Table) IntKey(dst []byte, n int64) []byte {
	return binary.BigEndian.AppendUint32(dst, uint32(int32(n)))
}

// StrKey appends the key bytes of a string key (truncated to the table's
// length) to dst.
func (t *Table) StrKey(dst, s []byte) []byte {
	if len(s) > t.keyLen {
		s = s[:t.keyLen]
	}
	return append(dst, s...)
}

// BinKey appends the key bytes of a binary key (truncated or zero-padded to
// the table's length) to dst.
func (t *Table) BinKey(dst, b []byte) []byte {
	if len(b) > t.keyLen {
		b = b[:t.keyLen]
	}
	dst = append(dst, b...)
	for i := len(b); i < t.keyLen; i++ {
		dst = append(dst, 0)
	}
	return dst
}

// FormatKey appends the text form of key bytes to dst.
func (t *Table) FormatKey(dst, key []byte) []byte {
	switch t.keyType {
	case KeyIPv4:
		if len(key) == 4 {
			return netip.AddrFrom4([4]byte(key)).AppendTo(dst)
		}
	case KeyIPv6:
		if len(key) == 16 {
			return netip.AddrFrom16([16]byte(key)).AppendTo(dst)
		}
	case KeyInteger:
		if len(key) == 4 {
			return strconv.AppendInt(dst, int64(int32(binary.BigEndian.Uint32(key))), 10)
		}
	case KeyBinary:
		return hex.AppendEncode(dst, key)
	}
	return append(dst, key...)
}

// Filter selects entries by a data value: "data.<type> <op> <value>" in the
// runtime API, {col, op, value} in Lua's StickTable:dump.
type Filter struct {
	Data  DataType
	Idx   int    // element for array types
	Op    string // eq, ne, le, lt, ge, gt
	Value int64
}

// ParseFilter parses a runtime-API filter: col is "data.<type>" (or the
// bare type name, as Lua gives it), op one of eq ne le lt ge gt.
func (t *Table) ParseFilter(col, op, value string) (Filter, error) {
	name := strings.TrimPrefix(col, "data.")
	f := Filter{Op: op}
	dt, ok := ParseDataType(name)
	if !ok {
		// gpc0 style names of array elements: "gpc1" is a scalar type,
		// so only "gpt<n>" / "gpc<n>" beyond those are array elements.
		return f, fmt.Errorf("Unknown data type")
	}
	if !t.Stores(dt) {
		return f, fmt.Errorf("Data type not stored in this table")
	}
	switch op {
	case "eq", "ne", "le", "lt", "ge", "gt":
	default:
		return f, fmt.Errorf("Require and operator among \"eq\", \"ne\", \"le\", \"ge\", \"lt\", \"gt\"")
	}
	v, err := strconv.ParseInt(value, 10, 64)
	if err != nil {
		return f, fmt.Errorf("Require a valid integer value to compare against")
	}
	f.Data, f.Value = dt, v
	return f, nil
}

func (t *Table) matchLocked(e *Entry, filters []Filter, now int64) bool {
	for _, f := range filters {
		v, ok := t.value(e, f.Data, f.Idx, now)
		if !ok {
			return false
		}
		var m bool
		switch f.Op {
		case "eq":
			m = v == f.Value
		case "ne":
			m = v != f.Value
		case "le":
			m = v <= f.Value
		case "lt":
			m = v < f.Value
		case "ge":
			m = v >= f.Value
		case "gt":
			m = v > f.Value
		}
		if !m {
			return false
		}
	}
	return true
}

// Field is one data value of an entry, named as in "show table": "gpc0",
// "conn_rate", or for array elements "gpc1", "gpc0_rate".
type Field struct {
	Name   string
	Type   DataType
	Idx    int
	Period int64 // ms for rates, 0 otherwise
	Value  int64
}

// Snapshot is a copy of one entry for dumps.
type Snapshot struct {
	Ptr    uintptr // identity of the entry, printed as 0x<ptr>
	Key    []byte
	Use    int   // trackers
	Exp    int64 // ms left before expiry (0 without expire)
	Shard  int
	Fields []Field
}

func fieldName(dt DataType, idx int) string {
	if !dt.IsArray() {
		return dt.String()
	}
	name := dt.String()
	pfx, sfx, _ := strings.Cut(name, "_")
	if sfx != "" {
		sfx = "_" + sfx
	}
	return pfx + strconv.Itoa(idx) + sfx
}

// snapshot copies e. Call with the lock.
func (t *Table) snapshot(e *Entry, now int64) Snapshot {
	s := Snapshot{Ptr: ptrOf(e), Key: append([]byte(nil), e.key...), Use: int(e.refs), Shard: int(e.shard)}
	if e.exp != 0 {
		s.Exp = max(e.exp-now, 0)
	}
	for dt := DataType(0); dt < numDataTypes; dt++ {
		sl := &t.layout[dt]
		if !sl.stored {
			continue
		}
		for i := 0; i < sl.n; i++ {
			v, _ := t.value(e, dt, i, now)
			s.Fields = append(s.Fields, Field{Name: fieldName(dt, i), Type: dt, Idx: i, Period: sl.period, Value: v})
		}
	}
	return s
}

// LookupSnapshot returns a copy of key's entry (Lua's StickTable:lookup).
func (t *Table) LookupSnapshot(key []byte) (Snapshot, bool) {
	e := t.Lookup(key)
	if e == nil {
		return Snapshot{}, false
	}
	sh := &t.shards[e.shard]
	now := t.nowMS()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return t.snapshot(e, now), true
}

// Dump returns copies of the live entries that match every filter, shard by
// shard, most recently updated first within a shard.
func (t *Table) Dump(filters ...Filter) []Snapshot {
	now := t.nowMS()
	var out []Snapshot
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		for e := sh.head; e != nil; e = e.next {
			if e.live(now) && t.matchLocked(e, filters, now) {
				out = append(out, t.snapshot(e, now))
			}
		}
		sh.mu.Unlock()
	}
	return out
}

// AppendHeader appends the "show table" header line of the table:
//
//	# table: <name>, type: ip, size:1048576, used:1
func (t *Table) AppendHeader(dst []byte) []byte {
	dst = append(dst, "# table: "...)
	dst = append(dst, t.name...)
	dst = append(dst, ", type: "...)
	dst = append(dst, t.keyType.String()...)
	dst = append(dst, ", size:"...)
	dst = strconv.AppendInt(dst, t.size, 10)
	dst = append(dst, ", used:"...)
	dst = strconv.AppendInt(dst, t.used.Load(), 10)
	return append(dst, '\n')
}

// AppendEntry appends one "show table" entry line:
//
//	0x<ptr>: key=127.0.0.1 use=0 exp=9995 shard=0 conn_rate(10000)=1
//
// Rates print their period in ms; array elements print as gpc0, gpc1,
// gpc0_rate(...), as HAProxy does.
func (t *Table) AppendEntry(dst []byte, s *Snapshot) []byte {
	dst = append(dst, "0x"...)
	dst = strconv.AppendUint(dst, uint64(s.Ptr), 16)
	dst = append(dst, ": key="...)
	dst = t.FormatKey(dst, s.Key)
	dst = append(dst, " use="...)
	dst = strconv.AppendInt(dst, int64(s.Use), 10)
	dst = append(dst, " exp="...)
	dst = strconv.AppendInt(dst, s.Exp, 10)
	dst = append(dst, " shard="...)
	dst = strconv.AppendInt(dst, int64(s.Shard), 10)
	for _, f := range s.Fields {
		dst = append(dst, ' ')
		dst = append(dst, f.Name...)
		if f.Period > 0 {
			dst = append(dst, '(')
			dst = strconv.AppendInt(dst, f.Period, 10)
			dst = append(dst, ')')
		}
		dst = append(dst, '=')
		dst = strconv.AppendInt(dst, f.Value, 10)
	}
	return append(dst, '\n')
}

// Show renders "show table <name> [data.<type> <op> <v>] [key <k>]": the
// header, then one line per matching entry. key, when not nil, restricts the
// output to that entry.
func (t *Table) Show(dst []byte, key []byte, filters ...Filter) []byte {
	dst = t.AppendHeader(dst)
	if key != nil {
		s, ok := t.LookupSnapshot(key)
		if ok {
			dst = t.AppendEntry(dst, &s)
		}
		return dst
	}
	for _, s := range t.Dump(filters...) {
		dst = t.AppendEntry(dst, &s)
	}
	return dst
}

// Info describes the table for Lua's StickTable:info().
type Info struct {
	Type    string
	Length  int
	Size    int64
	Used    int64
	NoPurge bool
	Expire  int64            // ms
	Data    map[string]int64 // stored type -> period in ms, or -1 for non-rates
}

// Info returns the table's description.
func (t *Table) Info() Info {
	in := Info{Type: t.keyType.String(), Length: t.keyLen, Size: t.size, Used: t.used.Load(), NoPurge: t.nopurge, Expire: t.expire, Data: map[string]int64{}}
	for dt := DataType(0); dt < numDataTypes; dt++ {
		if sl := &t.layout[dt]; sl.stored {
			p := int64(-1)
			if dt.IsRate() {
				p = sl.period
			}
			in.Data[dt.String()] = p
		}
	}
	return in
}
