// Package stick implements HAProxy stick tables: keyed entries holding
// counters, rates and general-purpose tags, shared by every stream of a Moonbus
// instance and updated by the track-sc actions, the sc-inc-gpc actions and the
// stick-counter fetches.
//
// A Table is built from a stick-table declaration (see Spec and FromConfig).
// Entries are reached by key: Lookup for readers, Track for trackers (a Ref
// pins the entry until Release). Rates follow HAProxy's freq-counter
// semantics: a counter for the current period plus the previous period's
// count, weighted by how much of the current period is left. Entries expire
// Expire after their last update unless a Ref holds them; when the table is
// full the least recently updated unreferenced entry is evicted (unless
// nopurge is set, in which case creation fails).
//
// All state of an entry is guarded by the lock of its shard (64 shards per
// table), so concurrent streams tracking different keys rarely contend.
// Expired entries are removed lazily by Lookup/Track and in bulk by Purge,
// which the owner calls periodically (see Table.Purge); the package starts no
// goroutine.
package stick

import (
	"fmt"
	"strings"
	"time"
)

// KeyType is the type of a table's keys.
type KeyType uint8

// Key types. "ip" is an alias of ipv4 (HAProxy 3.2+).
const (
	KeyIPv4 KeyType = iota
	KeyIPv6
	KeyInteger
	KeyString
	KeyBinary
)

// String returns the name HAProxy prints in "show table" headers.
func (k KeyType) String() string {
	switch k {
	case KeyIPv4:
		return "ip"
	case KeyIPv6:
		return "ipv6"
	case KeyInteger:
		return "integer"
	case KeyString:
		return "string"
	case KeyBinary:
		return "binary"
	}
	return "?"
}

// ParseKeyType parses the word after "type" in a stick-table line.
func ParseKeyType(s string) (KeyType, bool) {
	switch s {
	case "ip", "ipv4":
		return KeyIPv4, true
	case "ipv6":
		return KeyIPv6, true
	case "integer":
		return KeyInteger, true
	case "string":
		return KeyString, true
	case "binary":
		return KeyBinary, true
	}
	return 0, false
}

// DataType identifies one stored data item. The values follow HAProxy's
// enum order, which is also the order of "show table" columns.
type DataType uint8

// Data types.
const (
	ServerID DataType = iota
	GPT0
	GPC0
	GPC0Rate
	ConnCnt
	ConnRate
	ConnCur
	SessCnt
	SessRate
	HTTPReqCnt
	HTTPReqRate
	HTTPErrCnt
	HTTPErrRate
	BytesInCnt
	BytesInRate
	BytesOutCnt
	BytesOutRate
	GPC1
	GPC1Rate
	ServerKey
	HTTPFailCnt
	HTTPFailRate
	GPT
	GPC
	GPCRate
	GlitchCnt
	GlitchRate
	numDataTypes
)

// NumDataTypes is the number of data types (for arrays indexed by DataType).
const NumDataTypes = int(numDataTypes)

type dtInfo struct {
	name  string
	rate  bool // a freq counter over a period
	array bool // gpc(n), gpt(n), gpc_rate(n,p)
	str   bool // not an integer (server_key): not supported for storage
}

var dtInfos = [numDataTypes]dtInfo{
	ServerID:     {name: "server_id"},
	GPT0:         {name: "gpt0"},
	GPC0:         {name: "gpc0"},
	GPC0Rate:     {name: "gpc0_rate", rate: true},
	ConnCnt:      {name: "conn_cnt"},
	ConnRate:     {name: "conn_rate", rate: true},
	ConnCur:      {name: "conn_cur"},
	SessCnt:      {name: "sess_cnt"},
	SessRate:     {name: "sess_rate", rate: true},
	HTTPReqCnt:   {name: "http_req_cnt"},
	HTTPReqRate:  {name: "http_req_rate", rate: true},
	HTTPErrCnt:   {name: "http_err_cnt"},
	HTTPErrRate:  {name: "http_err_rate", rate: true},
	BytesInCnt:   {name: "bytes_in_cnt"},
	BytesInRate:  {name: "bytes_in_rate", rate: true},
	BytesOutCnt:  {name: "bytes_out_cnt"},
	BytesOutRate: {name: "bytes_out_rate", rate: true},
	GPC1:         {name: "gpc1"},
	GPC1Rate:     {name: "gpc1_rate", rate: true},
	ServerKey:    {name: "server_key", str: true},
	HTTPFailCnt:  {name: "http_fail_cnt"},
	HTTPFailRate: {name: "http_fail_rate", rate: true},
	GPT:          {name: "gpt", array: true},
	GPC:          {name: "gpc", array: true},
	GPCRate:      {name: "gpc_rate", rate: true, array: true},
	GlitchCnt:    {name: "glitch_cnt"},
	GlitchRate:   {name: "glitch_rate", rate: true},
}

// String returns the data type's configuration name ("conn_rate").
func (d DataType) String() string {
	if d < numDataTypes {
		return dtInfos[d].name
	}
	return fmt.Sprintf("dt%d", d)
}

// IsRate reports whether the type is a rate over a period.
func (d DataType) IsRate() bool { return d < numDataTypes && dtInfos[d].rate }

// IsArray reports whether the type is an array (gpc, gpt, gpc_rate).
func (d DataType) IsArray() bool { return d < numDataTypes && dtInfos[d].array }

// ParseDataType returns the data type named s ("conn_rate", "gpc0", "gpc").
func ParseDataType(s string) (DataType, bool) {
	for i := range dtInfos {
		if dtInfos[i].name == s {
			return DataType(i), true
		}
	}
	return 0, false
}

// DataTypes returns the names of every data type, in HAProxy's order.
func DataTypes() []string {
	out := make([]string, 0, numDataTypes)
	for i := range dtInfos {
		out = append(out, dtInfos[i].name)
	}
	return out
}

// StoreItem is one "store" element: Name with an optional Period (rates) and
// Count (array types gpc(n), gpt(n), gpc_rate(n,p)).
type StoreItem struct {
	Name   string
	Period time.Duration
	Count  int
}

// Spec is a stick-table declaration. It mirrors config.StickTable so this
// package can be used (and tested) without the config package; FromConfig
// converts.
type Spec struct {
	Type    string        // ip, ipv4, ipv6, integer, string, binary
	Len     int           // key length for string and binary (default 32)
	Size    int64         // maximum number of entries
	Expire  time.Duration // 0: entries never expire
	NoPurge bool          // never evict entries to make room
	Store   []StoreItem
}

// ParseStore parses one store element as written in the config
// ("conn_rate(10s)", "gpc(3)", "gpc_rate(2,1m)", "gpc0").
func ParseStore(s string) (StoreItem, error) {
	name, args, ok := strings.Cut(s, "(")
	it := StoreItem{Name: name}
	dt, known := ParseDataType(name)
	if !known {
		return it, fmt.Errorf("unknown data type '%s'", name)
	}
	var parts []string
	if ok {
		if !strings.HasSuffix(args, ")") {
			return it, fmt.Errorf("missing ')' after data type '%s'", name)
		}
		parts = strings.Split(strings.TrimSuffix(args, ")"), ",")
	}
	if dt.IsArray() {
		if len(parts) == 0 {
			return it, fmt.Errorf("data type '%s' needs the number of elements", name)
		}
		var n int
		if _, err := fmt.Sscanf(parts[0], "%d", &n); err != nil || n <= 0 || n > 100 {
			return it, fmt.Errorf("invalid number of elements '%s' for data type '%s'", parts[0], name)
		}
		it.Count = n
		parts = parts[1:]
	}
	if dt.IsRate() {
		if len(parts) != 1 {
			return it, fmt.Errorf("data type '%s' needs a period", name)
		}
		d, err := ParseDuration(parts[0])
		if err != nil || d <= 0 {
			return it, fmt.Errorf("invalid period '%s' for data type '%s'", parts[0], name)
		}
		it.Period = d
		parts = nil
	}
	if len(parts) != 0 {
		return it, fmt.Errorf("data type '%s' takes no argument", name)
	}
	return it, nil
}

// ParseDuration parses an HAProxy time value (ms by default; us, ms, s, m,
// h, d suffixes).
func ParseDuration(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("invalid time value '%s'", s)
	}
	var n int64
	for _, c := range s[:i] {
		n = n*10 + int64(c-'0')
		if n > 1<<40 {
			return 0, fmt.Errorf("time value '%s' too large", s)
		}
	}
	unit := time.Millisecond
	switch s[i:] {
	case "", "ms":
	case "us":
		unit = time.Microsecond
	case "s":
		unit = time.Second
	case "m":
		unit = time.Minute
	case "h":
		unit = time.Hour
	case "d":
		unit = 24 * time.Hour
	default:
		return 0, fmt.Errorf("invalid time unit in '%s'", s)
	}
	return time.Duration(n) * unit, nil
}
