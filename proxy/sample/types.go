// Package sample is Moonbus's rules engine, independent of the proxy's
// transaction type: HAProxy's sample types and casts, a Registry of fetches
// and converters, the expression compiler (fetch(args),conv1,conv2(args)),
// the built-in converters and stream-independent fetches, ACLs and
// conditions, log-format strings, variables, map files and the
// stick-table fetches and converters.
//
// Everything is compiled at configuration load; evaluation parses nothing
// and, in steady state, allocates nothing. The proxy implements Stream for
// its transactions, registers its stream-dependent fetches (src, path,
// hdr()...) on a Registry, and compiles its rules with Compile, CompileCond
// and CompileFormat. Lua fetches and converters ("lua.<name>") are
// registered through the same RegisterFetch/RegisterConverter calls.
//
// Memory rule: a Sample's Str may point into the stream's own buffers, into
// variable storage or into the stream's scratch buffer. It is valid until the
// next top-level evaluation on the same Stream (Expr.Eval, Cond.Eval,
// Format.Append); copy it to keep it longer.
package sample

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
)

// Type is a sample's type. The values follow HAProxy's order.
type Type uint8

// Sample types. Any is used in definitions only ("any type", or "same as
// input" for converter outputs); Addr means "IPv4 or IPv6".
const (
	Any Type = iota
	Bool
	SInt
	Addr
	IPv4
	IPv6
	Str
	Bin
	Meth
	numTypes
)

var typeNames = [numTypes]string{"any", "bool", "sint", "addr", "ipv4", "ipv6", "str", "bin", "meth"}

// String returns HAProxy's name of the type.
func (t Type) String() string {
	if t < numTypes {
		return typeNames[t]
	}
	return "?"
}

// Method is an HTTP method as the meth type holds it.
type Method uint8

// Methods. MethOther is a method outside the list; its name is in Str.
const (
	MethNone Method = iota
	MethOptions
	MethGet
	MethHead
	MethPost
	MethPut
	MethDelete
	MethTrace
	MethConnect
	MethOther
)

var methNames = [...]string{"", "OPTIONS", "GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "CONNECT"}

// ParseMethod returns the method named by b (case-sensitive, as on the
// wire); unknown names give MethOther.
func ParseMethod(b []byte) Method {
	for i := 1; i < len(methNames); i++ {
		if string(b) == methNames[i] {
			return Method(i)
		}
	}
	return MethOther
}

// String returns the method's name ("" for MethOther).
func (m Method) String() string {
	if int(m) < len(methNames) {
		return methNames[m]
	}
	return ""
}

// Iter carries a multi-value fetch's position. An ACL sets Multi before the
// first call; a fetch that can return several values (hdr(), cook()...)
// then returns them one per call, keeping its cursor in Pos and setting More
// while values remain. Outside ACLs Multi is false and such a fetch returns
// its single default value (the last occurrence for hdr()).
type Iter struct {
	Multi bool
	More  bool
	Pos   int
}

// Sample is one typed value.
type Sample struct {
	Type Type
	Int  int64      // SInt
	Bool bool       // Bool
	Str  []byte     // Str, Bin, and the name of a MethOther method
	IP   netip.Addr // IPv4 (a 4-byte address), IPv6 (16-byte)
	Meth Method     // Meth
	Iter Iter       // multi-value fetch state (see Iter)
}

// Reset clears the value, keeping nothing.
func (s *Sample) Reset() { *s = Sample{} }

// SetInt makes s an integer sample.
func (s *Sample) SetInt(v int64) { s.Type, s.Int = SInt, v }

// SetBool makes s a boolean sample.
func (s *Sample) SetBool(v bool) { s.Type, s.Bool = Bool, v }

// SetStr makes s a string sample pointing to b (not copied).
func (s *Sample) SetStr(b []byte) { s.Type, s.Str = Str, b }

// SetBin makes s a binary sample pointing to b (not copied).
func (s *Sample) SetBin(b []byte) { s.Type, s.Str = Bin, b }

// SetIP makes s an IPv4 or IPv6 sample (IPv4-mapped addresses stay IPv6).
func (s *Sample) SetIP(a netip.Addr) {
	s.IP = a
	if a.Is4() {
		s.Type = IPv4
	} else {
		s.Type = IPv6
	}
}

// SetMeth makes s a method sample; name is kept for MethOther.
func (s *Sample) SetMeth(m Method, name []byte) {
	s.Type, s.Meth = Meth, m
	if m == MethOther {
		s.Str = name
	} else {
		s.Str = nil
	}
}

// CanCast reports whether HAProxy's cast table has a conversion from one type
// to another (§3.1). Any and same-type casts are always possible; Addr
// accepts IPv4 and IPv6 and whatever casts to IPv4.
func CanCast(from, to Type) bool {
	if from == to || to == Any || from == Any {
		return true
	}
	if from == Addr {
		return to == IPv4 || to == IPv6 || to == Str || to == Bin || to == SInt
	}
	if to == Addr {
		return from == IPv4 || from == IPv6 || from == SInt || from == Str
	}
	switch from {
	case Bool:
		return to == SInt || to == Str || to == Bin
	case SInt:
		return to == Bool || to == IPv4 || to == IPv6 || to == Str || to == Bin
	case IPv4:
		return to == SInt || to == IPv6 || to == Str || to == Bin
	case IPv6:
		return to == IPv4 || to == Str || to == Bin
	case Str:
		return to == Bool || to == SInt || to == IPv4 || to == IPv6 || to == Bin || to == Meth
	case Bin:
		return to == Str || to == Meth
	case Meth:
		return to == Str
	}
	return false
}

// Cast converts s to type to following HAProxy's cast table, and reports
// whether it succeeded (an impossible cast or an unparsable value fails).
// Conversions that build bytes append them to scratch (see Stream.Scratch) so
// that steady-state casts do not allocate; scratch may be nil.
func (s *Sample) Cast(to Type, scratch *[]byte) bool {
	from := s.Type
	if from == to || to == Any {
		return true
	}
	if to == Addr {
		switch from {
		case IPv4, IPv6:
			return true
		case Str:
			if s.castStrToIP(IPv4) {
				return true
			}
			return s.castStrToIP(IPv6)
		case SInt:
			to = IPv4
		default:
			return false
		}
	}
	switch from {
	case Bool:
		switch to {
		case SInt:
			s.Type, s.Int = SInt, b2i(s.Bool)
			return true
		case Str:
			s.Type, s.Str = Str, appendScratch(scratch, strconv.AppendInt, b2i(s.Bool))
			return true
		case Bin:
			s.Type, s.Str = Bin, int2bin(scratch, b2i(s.Bool))
			return true
		}
	case SInt:
		switch to {
		case Bool:
			s.Type, s.Bool = Bool, s.Int != 0
			return true
		case IPv4:
			s.Type, s.IP = IPv4, netip.AddrFrom4([4]byte{byte(s.Int >> 24), byte(s.Int >> 16), byte(s.Int >> 8), byte(s.Int)})
			return true
		case IPv6:
			s.Type, s.IP = IPv6, netip.AddrFrom16(netip.AddrFrom4([4]byte{byte(s.Int >> 24), byte(s.Int >> 16), byte(s.Int >> 8), byte(s.Int)}).As16())
			return true
		case Str:
			s.Type, s.Str = Str, appendScratch(scratch, strconv.AppendInt, s.Int)
			return true
		case Bin:
			s.Type, s.Str = Bin, int2bin(scratch, s.Int)
			return true
		}
	case IPv4:
		switch to {
		case SInt:
			b := s.IP.As4()
			s.Type, s.Int = SInt, int64(binary.BigEndian.Uint32(b[:]))
			return true
		case IPv6:
			s.Type, s.IP = IPv6, netip.AddrFrom16(s.IP.As16())
			return true
		case Str:
			s.Type, s.Str = Str, appendAddr(scratch, s.IP)
			return true
		case Bin:
			b := s.IP.As4()
			s.Type, s.Str = Bin, appendBytes(scratch, b[:])
			return true
		}
	case IPv6:
		switch to {
		case IPv4:
			a, ok := v6tov4(s.IP)
			if !ok {
				return false
			}
			s.Type, s.IP = IPv4, a
			return true
		case Str:
			s.Type, s.Str = Str, appendAddr(scratch, s.IP)
			return true
		case Bin:
			b := s.IP.As16()
			s.Type, s.Str = Bin, appendBytes(scratch, b[:])
			return true
		}
	case Str:
		switch to {
		case Bool, SInt:
			if len(s.Str) == 0 {
				return false
			}
			v := readInt(s.Str)
			if to == Bool {
				s.Type, s.Bool = Bool, v != 0
			} else {
				s.Type, s.Int = SInt, v
			}
			return true
		case IPv4, IPv6:
			return s.castStrToIP(to)
		case Bin:
			s.Type = Bin
			return true
		case Meth:
			s.SetMeth(ParseMethod(s.Str), s.Str)
			return true
		}
	case Bin:
		switch to {
		case Str:
			s.Type = Str
			return true
		case Meth:
			s.SetMeth(ParseMethod(s.Str), s.Str)
			return true
		}
	case Meth:
		if to == Str {
			if s.Meth != MethOther {
				s.Str = methBytes[s.Meth]
			}
			s.Type = Str
			return true
		}
	}
	return false
}

var methBytes = func() [len(methNames)][]byte {
	var out [len(methNames)][]byte
	for i, n := range methNames {
		out[i] = []byte(n)
	}
	return out
}()

func (s *Sample) castStrToIP(to Type) bool {
	a, err := netip.ParseAddr(string(trimNUL(s.Str)))
	if err != nil {
		return false
	}
	if to == IPv4 {
		if !a.Is4() {
			return false
		}
	} else if a.Is4() {
		a = netip.AddrFrom16(a.As16())
	}
	s.Type, s.IP = to, a
	return true
}

func trimNUL(b []byte) []byte {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		return b[:i]
	}
	return b
}

// v6tov4 maps an IPv4-mapped (::ffff:a.b.c.d) or 6to4 (2002:AABB:CCDD::)
// address to IPv4, as HAProxy's v6tov4 does.
func v6tov4(a netip.Addr) (netip.Addr, bool) {
	if a.Is4() {
		return a, true
	}
	if a.Is4In6() {
		return a.Unmap(), true
	}
	b := a.As16()
	if b[0] == 0x20 && b[1] == 0x02 {
		return netip.AddrFrom4([4]byte{b[2], b[3], b[4], b[5]}), true
	}
	return netip.Addr{}, false
}

// v4tov6 maps an IPv4 address to ::ffff:a.b.c.d.
func v4tov6(a netip.Addr) netip.Addr {
	if a.Is4() {
		return netip.AddrFrom16(a.As16())
	}
	return a
}

// readInt reads a leading signed decimal integer as HAProxy's read_int64:
// an optional sign, then digits up to the first non-digit ("12ab" is 12,
// "ab" is 0). It saturates instead of overflowing.
func readInt(b []byte) int64 {
	neg := false
	i := 0
	if i < len(b) && (b[i] == '-' || b[i] == '+') {
		neg = b[i] == '-'
		i++
	}
	var v int64
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		d := int64(b[i] - '0')
		if v > (1<<63-1-d)/10 {
			if neg {
				return -1 << 63
			}
			return 1<<63 - 1
		}
		v = v*10 + d
	}
	if neg {
		return -v
	}
	return v
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// scratchAppend appends b to the scratch buffer and returns the appended
// region, capacity-limited so that later appends never overwrite it.
func appendBytes(scratch *[]byte, b []byte) []byte {
	if scratch == nil {
		return append([]byte(nil), b...)
	}
	buf := *scratch
	start := len(buf)
	buf = append(buf, b...)
	*scratch = buf
	return buf[start:len(buf):len(buf)]
}

func appendScratch(scratch *[]byte, f func([]byte, int64, int) []byte, v int64) []byte {
	if scratch == nil {
		return f(nil, v, 10)
	}
	buf := *scratch
	start := len(buf)
	buf = f(buf, v, 10)
	*scratch = buf
	return buf[start:len(buf):len(buf)]
}

func appendAddr(scratch *[]byte, a netip.Addr) []byte {
	if scratch == nil {
		return a.AppendTo(nil)
	}
	buf := *scratch
	start := len(buf)
	buf = a.AppendTo(buf)
	*scratch = buf
	return buf[start:len(buf):len(buf)]
}

func int2bin(scratch *[]byte, v int64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(v))
	return appendBytes(scratch, b[:])
}

// region helps converters build output in the scratch buffer:
//
//	r := begin(s); buf := r.buf(); buf = append(buf, ...); out := r.end(buf)
type region struct {
	sc    *[]byte
	start int
}

func begin(st Stream) region {
	sc := st.Scratch()
	return region{sc: sc, start: len(*sc)}
}

func (r region) buf() []byte { return *r.sc }

func (r region) end(buf []byte) []byte {
	*r.sc = buf
	return buf[r.start:len(buf):len(buf)]
}
