package sample

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
)

// MatchKind is an ACL match method (-m) or a map's key matching.
type MatchKind uint8

// Match methods.
const (
	MatchFound MatchKind = iota + 1
	MatchBool
	MatchInt
	MatchIP
	MatchBin
	MatchLen
	MatchStr
	MatchSub
	MatchBeg
	MatchEnd
	MatchReg
	MatchDir
	MatchDom
	MatchRegM // maps only: reg with back-references in the value
	MatchMeth // the method fetch's default
)

var matchNames = map[string]MatchKind{
	"found": MatchFound, "bool": MatchBool, "int": MatchInt, "ip": MatchIP, "bin": MatchBin, "len": MatchLen,
	"str": MatchStr, "sub": MatchSub, "beg": MatchBeg, "end": MatchEnd, "reg": MatchReg, "dir": MatchDir, "dom": MatchDom,
	"regm": MatchRegM, "meth": MatchMeth,
}

// ParseMatchKind returns the match method named s.
func ParseMatchKind(s string) (MatchKind, bool) {
	k, ok := matchNames[s]
	return k, ok
}

// String returns the method's name ("beg").
func (k MatchKind) String() string {
	for n, v := range matchNames {
		if v == k {
			return n
		}
	}
	return "?"
}

// inType is the sample type a match method works on.
func (k MatchKind) inType() Type {
	switch k {
	case MatchFound:
		return Any
	case MatchBool:
		return Bool
	case MatchInt:
		return SInt
	case MatchIP:
		return Addr
	case MatchBin:
		return Bin
	case MatchMeth:
		return Meth
	}
	return Str
}

// defaultMatch returns the default match method for a fetch output type.
func defaultMatch(t Type) (MatchKind, bool) {
	switch t {
	case Bool:
		return MatchBool, true
	case SInt:
		return MatchInt, true
	case IPv4, IPv6, Addr:
		return MatchIP, true
	case Str, Any:
		return MatchStr, true
	case Meth:
		return MatchMeth, true
	}
	return 0, false
}

// pattern is one compiled pattern.
type pattern struct {
	idx    int // entry index (file or line order)
	str    []byte
	re     *regexp.Regexp
	lo, hi int64
	meth   Method
}

// patSet is a compiled, immutable set of patterns of one kind.
type patSet struct {
	kind  MatchKind
	icase bool
	list  []pattern      // ordered patterns (everything but str and ip)
	exact map[string]int // str: key -> first entry index
	v4    []ipBucket     // ip: by prefix length, longest first
	v6    []ipBucket
	n     int
}

type ipBucket struct {
	bits int
	m4   map[uint32]int
	m6   map[[16]byte]int
}

func newPatSet(kind MatchKind, icase bool) *patSet {
	ps := &patSet{kind: kind, icase: icase}
	if kind == MatchStr {
		ps.exact = map[string]int{}
	}
	return ps
}

func lowerBytes(b []byte) []byte {
	out := make([]byte, len(b))
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 32
		}
		out[i] = c
	}
	return out
}

// add parses text as a pattern of the set's kind. op is the pending integer
// operator ("eq", "lt"...) for int and len patterns.
func (ps *patSet) add(text string, idx int, op string) error {
	ps.n++
	p := pattern{idx: idx}
	switch ps.kind {
	case MatchFound, MatchBool:
		return fmt.Errorf("match method '%s' takes no pattern (got '%s')", ps.kind, text)
	case MatchInt, MatchLen:
		lo, hi, err := parseIntRange(text, op)
		if err != nil {
			return err
		}
		p.lo, p.hi = lo, hi
	case MatchIP:
		return ps.addIP(text, idx)
	case MatchBin:
		b, err := hex.DecodeString(text)
		if err != nil {
			return fmt.Errorf("'%s' is not a valid hex string", text)
		}
		p.str = b
	case MatchReg, MatchRegM:
		expr := text
		if ps.icase {
			expr = "(?i)" + expr
		}
		re, err := regexp.Compile(expr)
		if err != nil {
			return fmt.Errorf("regex '%s' is invalid: %w", text, err)
		}
		p.re = re
	case MatchMeth:
		p.meth = ParseMethod([]byte(strings.ToUpper(text)))
		p.str = []byte(text)
	case MatchStr:
		k := []byte(text)
		if ps.icase {
			k = lowerBytes(k)
		}
		if _, dup := ps.exact[string(k)]; !dup {
			ps.exact[string(k)] = idx
		}
		return nil
	default:
		p.str = []byte(text)
		if ps.icase {
			p.str = lowerBytes(p.str)
		}
	}
	ps.list = append(ps.list, p)
	return nil
}

// parseIntRange parses "n", "a:b", ":b", "a:" with an optional operator.
func parseIntRange(text, op string) (int64, int64, error) {
	lo, hi := int64(math.MinInt64), int64(math.MaxInt64)
	bad := fmt.Errorf("'%s' is not a number nor a supported int range", text)
	if op != "" && op != "eq" {
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return 0, 0, bad
		}
		switch op {
		case "ge":
			return v, hi, nil
		case "gt":
			if v == math.MaxInt64 {
				return v, v - 1, nil // empty range
			}
			return v + 1, hi, nil
		case "le":
			return lo, v, nil
		case "lt":
			if v == math.MinInt64 {
				return v + 1, v, nil
			}
			return lo, v - 1, nil
		}
	}
	a, b, isRange := strings.Cut(text, ":")
	if !isRange {
		v, err := strconv.ParseInt(text, 10, 64)
		if err != nil {
			return 0, 0, bad
		}
		return v, v, nil
	}
	if op == "eq" {
		return 0, 0, bad
	}
	var err error
	if a != "" {
		if lo, err = strconv.ParseInt(a, 10, 64); err != nil {
			return 0, 0, bad
		}
	}
	if b != "" {
		if hi, err = strconv.ParseInt(b, 10, 64); err != nil {
			return 0, 0, bad
		}
	}
	if a == "" && b == "" {
		return 0, 0, bad
	}
	return lo, hi, nil
}

// parseIPPattern parses addr[/mask] with short IPv4 forms ("10.12" is
// 10.12.0.0/16, "10/8") and dotted masks.
func parseIPPattern(text string) (netip.Prefix, error) {
	addr, mask, hasMask := strings.Cut(text, "/")
	bad := fmt.Errorf("'%s' is not a valid IPv4 or IPv6 address", text)
	if strings.Contains(addr, ":") {
		a, err := netip.ParseAddr(addr)
		if err != nil {
			return netip.Prefix{}, bad
		}
		bits := 128
		if hasMask {
			if bits, err = strconv.Atoi(mask); err != nil || bits < 0 || bits > 128 {
				return netip.Prefix{}, bad
			}
		}
		if a.Is4In6() && bits >= 96 {
			return a.Unmap().Prefix(bits - 96)
		}
		return a.Prefix(bits)
	}
	parts := strings.Split(addr, ".")
	if len(parts) > 4 || addr == "" {
		return netip.Prefix{}, bad
	}
	var b [4]byte
	for i, p := range parts {
		v, err := strconv.Atoi(p)
		if err != nil || v < 0 || v > 255 {
			return netip.Prefix{}, bad
		}
		b[i] = byte(v)
	}
	bits := 8 * len(parts)
	if hasMask {
		if strings.Contains(mask, ".") {
			m, err := netip.ParseAddr(mask)
			if err != nil || !m.Is4() {
				return netip.Prefix{}, bad
			}
			mb := m.As4()
			v := binary.BigEndian.Uint32(mb[:])
			bits = 0
			for v&0x80000000 != 0 {
				bits++
				v <<= 1
			}
			if v != 0 {
				return netip.Prefix{}, bad
			}
		} else {
			n, err := strconv.Atoi(mask)
			if err != nil || n < 0 || n > 32 {
				return netip.Prefix{}, bad
			}
			bits = n
		}
	}
	return netip.AddrFrom4(b).Prefix(bits)
}

func (ps *patSet) addIP(text string, idx int) error {
	pfx, err := parseIPPattern(text)
	if err != nil {
		return err
	}
	bits := pfx.Bits()
	if pfx.Addr().Is4() {
		b := pfx.Addr().As4()
		key := binary.BigEndian.Uint32(b[:])
		bk := ps.bucket(&ps.v4, bits)
		if _, dup := bk.m4[key]; !dup {
			bk.m4[key] = idx
		}
		return nil
	}
	key := pfx.Addr().As16()
	bk := ps.bucket(&ps.v6, bits)
	if _, dup := bk.m6[key]; !dup {
		bk.m6[key] = idx
	}
	return nil
}

func (ps *patSet) bucket(l *[]ipBucket, bits int) *ipBucket {
	for i := range *l {
		if (*l)[i].bits == bits {
			return &(*l)[i]
		}
	}
	*l = append(*l, ipBucket{bits: bits, m4: map[uint32]int{}, m6: map[[16]byte]int{}})
	// keep longest prefixes first
	for i := len(*l) - 1; i > 0 && (*l)[i].bits > (*l)[i-1].bits; i-- {
		(*l)[i], (*l)[i-1] = (*l)[i-1], (*l)[i]
	}
	for i := range *l {
		if (*l)[i].bits == bits {
			return &(*l)[i]
		}
	}
	return nil
}

func (ps *patSet) lookupV4(a netip.Addr) (int, bool) {
	b := a.As4()
	v := binary.BigEndian.Uint32(b[:])
	for i := range ps.v4 {
		bk := &ps.v4[i]
		var m uint32
		if bk.bits > 0 {
			m = ^uint32(0) << (32 - bk.bits)
		}
		if idx, ok := bk.m4[v&m]; ok {
			return idx, true
		}
	}
	return 0, false
}

func (ps *patSet) lookupV6(a netip.Addr) (int, bool) {
	for i := range ps.v6 {
		bk := &ps.v6[i]
		p, _ := a.Prefix(bk.bits)
		if idx, ok := bk.m6[p.Addr().As16()]; ok {
			return idx, true
		}
	}
	return 0, false
}

// match tests a sample already cast to the kind's input type and returns
// the index of the matching entry. For list kinds the first pattern in
// order wins; str is exact; ip is the longest prefix.
func (ps *patSet) match(s Stream, smp *Sample) (int, bool) {
	switch ps.kind {
	case MatchFound:
		return 0, true
	case MatchBool:
		return 0, smp.Bool
	case MatchInt:
		for i := range ps.list {
			if p := &ps.list[i]; smp.Int >= p.lo && smp.Int <= p.hi {
				return p.idx, true
			}
		}
		return 0, false
	case MatchLen:
		n := int64(len(smp.Str))
		for i := range ps.list {
			if p := &ps.list[i]; n >= p.lo && n <= p.hi {
				return p.idx, true
			}
		}
		return 0, false
	case MatchIP:
		a := smp.IP
		if a.Is4() {
			if idx, ok := ps.lookupV4(a); ok {
				return idx, true
			}
			if len(ps.v6) > 0 {
				return ps.lookupV6(v4tov6(a))
			}
			return 0, false
		}
		if idx, ok := ps.lookupV6(a); ok {
			return idx, true
		}
		if v4, ok := v6tov4(a); ok && len(ps.v4) > 0 {
			return ps.lookupV4(v4)
		}
		return 0, false
	case MatchMeth:
		for i := range ps.list {
			p := &ps.list[i]
			if smp.Meth != MethOther && p.meth == smp.Meth || smp.Meth == MethOther && p.meth == MethOther && bytes.Equal(p.str, smp.Str) {
				return p.idx, true
			}
		}
		return 0, false
	case MatchReg, MatchRegM:
		for i := range ps.list {
			if p := &ps.list[i]; p.re.Match(smp.Str) {
				return p.idx, true
			}
		}
		return 0, false
	}
	in := smp.Str
	if ps.icase {
		rg := begin(s)
		buf := rg.buf()
		for _, c := range in {
			if c >= 'A' && c <= 'Z' {
				c += 32
			}
			buf = append(buf, c)
		}
		in = rg.end(buf)
	}
	if ps.kind == MatchStr {
		idx, ok := ps.exact[string(in)]
		return idx, ok
	}
	for i := range ps.list {
		p := &ps.list[i]
		var ok bool
		switch ps.kind {
		case MatchBin:
			ok = bytes.Equal(in, p.str)
		case MatchSub:
			ok = bytes.Contains(in, p.str)
		case MatchBeg:
			ok = bytes.HasPrefix(in, p.str)
		case MatchEnd:
			ok = bytes.HasSuffix(in, p.str)
		case MatchDir:
			ok = matchWord(in, p.str, "/")
		case MatchDom:
			ok = matchWord(in, p.str, "/?.:")
		}
		if ok {
			return p.idx, true
		}
	}
	return 0, false
}

// matchWord reports whether pat appears in s as a whole sequence of
// delimiter-separated words (dir and dom methods). Delimiters at the edges
// of the pattern are ignored.
func matchWord(s, pat []byte, delims string) bool {
	isD := func(c byte) bool { return strings.IndexByte(delims, c) >= 0 }
	for len(pat) > 0 && isD(pat[0]) {
		pat = pat[1:]
	}
	for len(pat) > 0 && isD(pat[len(pat)-1]) {
		pat = pat[:len(pat)-1]
	}
	if len(pat) == 0 {
		return true
	}
	for i := 0; i+len(pat) <= len(s); i++ {
		if (i == 0 || isD(s[i-1])) && bytes.Equal(s[i:i+len(pat)], pat) && (i+len(pat) == len(s) || isD(s[i+len(pat)])) {
			return true
		}
	}
	return false
}
