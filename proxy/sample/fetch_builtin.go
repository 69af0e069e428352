package sample

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"runtime"
	"strconv"
)

func registerBuiltinFetches(r *Registry) {
	r.RegisterFetch("int", FetchDef{Args: []ArgKind{ArgInt}, MinArgs: 1, Out: SInt, Fn: func(_ Stream, a []Arg, out *Sample) bool {
		out.SetInt(a[0].Int)
		return true
	}})
	r.RegisterFetch("str", FetchDef{Args: []ArgKind{ArgStr}, MinArgs: 1, Out: Str, Fn: func(_ Stream, a []Arg, out *Sample) bool {
		out.SetStr(a[0].Bytes)
		return true
	}})
	r.RegisterFetch("bool", FetchDef{Args: []ArgKind{ArgStr}, MinArgs: 1, Out: Bool, Fn: func(_ Stream, a []Arg, out *Sample) bool {
		out.SetBool(a[0].Int != 0)
		return true
	}, Check: func(a []Arg, _ *CompileCtx) error {
		switch a[0].Str {
		case "1", "true", "TRUE", "True":
			a[0].Int = 1
		case "0", "false", "FALSE", "False":
		default:
			n, err := strconv.ParseInt(a[0].Str, 10, 64)
			if err != nil {
				return fmt.Errorf("failed to parse '%s' as a boolean", a[0].Str)
			}
			a[0].Int = n
		}
		return nil
	}})
	ipConst := func(name string, t Type) {
		r.RegisterFetch(name, FetchDef{Args: []ArgKind{ArgStr}, MinArgs: 1, Out: t, Fn: func(_ Stream, a []Arg, out *Sample) bool {
			out.SetIP(a[0].Any.(netip.Addr))
			return true
		}, Check: func(a []Arg, _ *CompileCtx) error {
			ip, err := netip.ParseAddr(a[0].Str)
			if err != nil || t == IPv4 && !ip.Is4() {
				return fmt.Errorf("failed to parse '%s' as type %s", a[0].Str, t)
			}
			if t == IPv6 {
				ip = v4tov6(ip)
			}
			a[0].Any = ip
			return nil
		}})
	}
	ipConst("ipv4", IPv4)
	ipConst("ipv6", IPv6)
	r.RegisterFetch("bin", FetchDef{Args: []ArgKind{ArgStr}, MinArgs: 1, Out: Bin, Fn: func(_ Stream, a []Arg, out *Sample) bool {
		out.SetBin(a[0].Bytes)
		return true
	}, Check: func(a []Arg, _ *CompileCtx) error {
		b, err := hex.DecodeString(a[0].Str)
		if err != nil {
			return fmt.Errorf("failed to parse '%s' as type binary", a[0].Str)
		}
		a[0].Bytes = b
		return nil
	}})
	r.RegisterFetch("meth", FetchDef{Args: []ArgKind{ArgStr}, MinArgs: 1, Out: Meth, Fn: func(_ Stream, a []Arg, out *Sample) bool {
		out.SetMeth(ParseMethod(a[0].Bytes), a[0].Bytes)
		return true
	}})
	r.RegisterFetch("always_true", FetchDef{Out: Bool, Fn: func(_ Stream, _ []Arg, out *Sample) bool { out.SetBool(true); return true }})
	r.RegisterFetch("always_false", FetchDef{Out: Bool, Fn: func(_ Stream, _ []Arg, out *Sample) bool { out.SetBool(false); return true }})
	r.RegisterFetch("env", FetchDef{Args: []ArgKind{ArgStr}, MinArgs: 1, Out: Str, Fn: func(s Stream, a []Arg, out *Sample) bool {
		v, ok := s.Env(a[0].Str)
		if !ok {
			return false
		}
		out.SetStr(appendBytes(s.Scratch(), []byte(v)))
		return true
	}})
	host, _ := os.Hostname()
	hostB := []byte(host)
	r.RegisterFetch("hostname", FetchDef{Out: Str, Fn: func(_ Stream, _ []Arg, out *Sample) bool { out.SetStr(hostB); return true }})
	pid := int64(os.Getpid())
	r.RegisterFetch("pid", FetchDef{Out: SInt, Fn: func(_ Stream, _ []Arg, out *Sample) bool { out.SetInt(pid); return true }})
	constInt := func(name string, v int64) {
		r.RegisterFetch(name, FetchDef{Out: SInt, Fn: func(_ Stream, _ []Arg, out *Sample) bool { out.SetInt(v); return true }})
	}
	constInt("nbproc", 1)
	constInt("proc", 1)
	constInt("nbthread", int64(runtime.GOMAXPROCS(0)))
	constInt("thread", 0)
	r.RegisterFetch("rand", FetchDef{Args: []ArgKind{ArgInt}, Out: SInt, Fn: func(_ Stream, a []Arg, out *Sample) bool {
		v := int64(rand.Uint32())
		if a[0].Present {
			v = int64((uint64(v) * uint64(a[0].Int)) >> 32)
		}
		out.SetInt(v)
		return true
	}, Check: func(a []Arg, _ *CompileCtx) error {
		if a[0].Present && (a[0].Int <= 0 || a[0].Int > 1<<32) {
			return fmt.Errorf("range must be between 1 and 4294967296")
		}
		return nil
	}})
	r.RegisterFetch("uuid", FetchDef{Args: []ArgKind{ArgInt}, Out: Str, Fn: fetchUUID, Check: func(a []Arg, _ *CompileCtx) error {
		if !a[0].Present {
			a[0].Int = 4
		}
		if a[0].Int != 4 && a[0].Int != 7 {
			return fmt.Errorf("Unsupported UUID version: '%d'", a[0].Int)
		}
		return nil
	}})
	r.RegisterFetch("date", FetchDef{Args: []ArgKind{ArgInt, ArgStr}, Out: SInt, Fn: func(s Stream, a []Arg, out *Sample) bool {
		now := s.Now()
		var v int64
		switch a[1].Int {
		case 1000:
			v = now.UnixMilli()
		case 1000000:
			v = now.UnixMicro()
		default:
			v = now.Unix()
		}
		out.SetInt(v + a[0].Int)
		return true
	}, Check: checkDateUnit(1)})
	r.RegisterFetch("date_us", FetchDef{Out: SInt, Fn: func(s Stream, _ []Arg, out *Sample) bool {
		out.SetInt(int64(s.Now().Nanosecond() / 1000))
		return true
	}})
	r.RegisterFetch("var", FetchDef{Args: []ArgKind{ArgVar, ArgStr}, MinArgs: 1, Out: Any, Fn: func(s Stream, a []Arg, out *Sample) bool {
		if GetVar(s, a[0].Var, out) {
			return true
		}
		if a[1].Present {
			out.SetStr(a[1].Bytes)
			return true
		}
		return false
	}})
}

func fetchUUID(s Stream, a []Arg, out *Sample) bool {
	var b [16]byte
	hi, lo := rand.Uint64(), rand.Uint64()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	if a[0].Int == 7 {
		ms := uint64(s.Now().UnixMilli())
		for i := 0; i < 6; i++ {
			b[i] = byte(ms >> (40 - 8*i))
		}
		b[6] = b[6]&0x0f | 0x70
	} else {
		b[6] = b[6]&0x0f | 0x40
	}
	b[8] = b[8]&0x3f | 0x80
	rg := begin(s)
	buf := rg.buf()
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			buf = append(buf, '-')
		}
		buf = append(buf, hexLower[c>>4], hexLower[c&15])
	}
	out.SetStr(rg.end(buf))
	return true
}
