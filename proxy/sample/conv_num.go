package sample

import (
	"encoding/binary"
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

func registerNumConverters(r *Registry) {
	arith := func(name string, fn func(a, b int64) int64) {
		r.RegisterConverter(name, ConvDef{In: SInt, Out: SInt, Args: []ArgKind{ArgIntOrVar}, MinArgs: 1, Fn: func(s Stream, a []Arg, smp *Sample) bool {
			v, ok := a[0].Int64(s)
			if !ok {
				return false
			}
			smp.SetInt(fn(smp.Int, v))
			return true
		}})
	}
	arith("add", satAdd)
	arith("sub", func(a, b int64) int64 {
		if b == math.MinInt64 {
			if a >= 0 {
				return math.MaxInt64
			}
			return a - b
		}
		return satAdd(a, -b)
	})
	arith("mul", satMul)
	arith("div", func(a, b int64) int64 {
		if b == 0 {
			return math.MaxInt64
		}
		if a == math.MinInt64 && b == -1 {
			return math.MaxInt64
		}
		return a / b
	})
	arith("mod", func(a, b int64) int64 {
		if b == 0 || b == -1 {
			return 0
		}
		return a % b
	})
	arith("and", func(a, b int64) int64 { return a & b })
	arith("or", func(a, b int64) int64 { return a | b })
	arith("xor", func(a, b int64) int64 { return a ^ b })
	unary := func(name string, out Type, fn func(smp *Sample)) {
		r.RegisterConverter(name, ConvDef{In: SInt, Out: out, Fn: func(_ Stream, _ []Arg, smp *Sample) bool {
			fn(smp)
			return true
		}})
	}
	unary("neg", SInt, func(smp *Sample) {
		if smp.Int == math.MinInt64 {
			smp.Int = math.MaxInt64
		} else {
			smp.Int = -smp.Int
		}
	})
	unary("cpl", SInt, func(smp *Sample) { smp.Int = ^smp.Int })
	unary("bool", Bool, func(smp *Sample) { smp.SetBool(smp.Int != 0) })
	unary("not", Bool, func(smp *Sample) { smp.SetBool(smp.Int == 0) })
	unary("odd", Bool, func(smp *Sample) { smp.SetBool(smp.Int&1 == 1) })
	unary("even", Bool, func(smp *Sample) { smp.SetBool(smp.Int&1 == 0) })
	r.RegisterConverter("iif", ConvDef{In: Bool, Out: Str, Args: []ArgKind{ArgStr, ArgStr}, MinArgs: 2, Fn: func(_ Stream, a []Arg, smp *Sample) bool {
		if smp.Bool {
			smp.SetStr(a[0].Bytes)
		} else {
			smp.SetStr(a[1].Bytes)
		}
		return true
	}})
	r.RegisterConverter("ipmask", ConvDef{In: Addr, Out: Addr, Args: []ArgKind{ArgStr, ArgInt}, MinArgs: 1, Fn: convIPMask, Check: checkIPMask})
	r.RegisterConverter("bytes", ConvDef{In: Bin, Out: Bin, Args: []ArgKind{ArgIntOrVar, ArgIntOrVar}, MinArgs: 1, Fn: convBytes})
	r.RegisterConverter("http_date", ConvDef{In: SInt, Out: Str, Args: []ArgKind{ArgInt, ArgStr}, Fn: convHTTPDate, Check: checkDateUnit(1)})
	r.RegisterConverter("ltime", ConvDef{In: SInt, Out: Str, Args: []ArgKind{ArgStr, ArgInt}, MinArgs: 1, Fn: convTime(false)})
	r.RegisterConverter("utime", ConvDef{In: SInt, Out: Str, Args: []ArgKind{ArgStr, ArgInt}, MinArgs: 1, Fn: convTime(true)})
}

func satAdd(a, b int64) int64 {
	c := a + b
	if a > 0 && b > 0 && c < 0 {
		return math.MaxInt64
	}
	if a < 0 && b < 0 && c >= 0 {
		return math.MinInt64
	}
	return c
}

func satMul(a, b int64) int64 {
	if a == 0 || b == 0 {
		return 0
	}
	c := a * b
	if c/b != a || (a == -1 && b == math.MinInt64) || (b == -1 && a == math.MinInt64) {
		if (a > 0) == (b > 0) {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return c
}

type ipMasks struct {
	v4    netip.Prefix
	bits4 int
	bits6 int
	has6  bool
}

func checkIPMask(a []Arg, _ *CompileCtx) error {
	m := &ipMasks{}
	s := a[0].Str
	if strings.Contains(s, ".") {
		ip, err := netip.ParseAddr(s)
		if err != nil || !ip.Is4() {
			return fmt.Errorf("invalid IPv4 mask '%s'", s)
		}
		b := ip.As4()
		v := binary.BigEndian.Uint32(b[:])
		n := 0
		for v&0x80000000 != 0 {
			n++
			v <<= 1
		}
		if v != 0 {
			return fmt.Errorf("invalid IPv4 mask '%s'", s)
		}
		m.bits4 = n
	} else {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 32 {
			return fmt.Errorf("invalid IPv4 mask '%s'", s)
		}
		m.bits4 = n
	}
	if a[1].Present {
		if a[1].Int < 0 || a[1].Int > 128 {
			return fmt.Errorf("invalid IPv6 mask '%d'", a[1].Int)
		}
		m.bits6, m.has6 = int(a[1].Int), true
	}
	a[0].Any = m
	return nil
}

func convIPMask(_ Stream, a []Arg, smp *Sample) bool {
	m := a[0].Any.(*ipMasks)
	if smp.Type == IPv4 {
		p, _ := smp.IP.Prefix(m.bits4)
		smp.IP = p.Addr()
		return true
	}
	if !m.has6 {
		return false
	}
	p, _ := smp.IP.Prefix(m.bits6)
	smp.IP = p.Addr()
	return true
}

func convBytes(s Stream, a []Arg, smp *Sample) bool {
	off, ok := a[0].Int64(s)
	if !ok || off < 0 {
		return false
	}
	b := smp.Str
	if off >= int64(len(b)) {
		smp.Str = b[:0:0]
		return true
	}
	b = b[off:]
	if a[1].Present {
		n, ok := a[1].Int64(s)
		if !ok || n < 0 {
			return false
		}
		if n < int64(len(b)) {
			b = b[:n]
		}
	}
	smp.Str = b[:len(b):len(b)]
	return true
}
