package sample

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
)

var crc32c = crc32.MakeTable(crc32.Castagnoli)

func registerEncConverters(r *Registry) {
	r.RegisterConverter("base64", ConvDef{In: Bin, Out: Str, Fn: encodeWith(base64.StdEncoding)})
	r.RegisterConverter("ub64enc", ConvDef{In: Bin, Out: Str, Fn: encodeWith(base64.RawURLEncoding)})
	r.RegisterConverter("b64dec", ConvDef{In: Str, Out: Bin, Fn: decodeWith(base64.StdEncoding)})
	r.RegisterConverter("ub64dec", ConvDef{In: Str, Out: Bin, Fn: decodeWith(base64.RawURLEncoding)})
	r.RegisterConverter("hex", ConvDef{In: Bin, Out: Str, Fn: func(s Stream, _ []Arg, smp *Sample) bool {
		rg := begin(s)
		buf := rg.buf()
		for _, c := range smp.Str {
			buf = append(buf, hexUpper[c>>4], hexUpper[c&15])
		}
		smp.SetStr(rg.end(buf))
		return true
	}})
	r.RegisterConverter("hex2i", ConvDef{In: Bin, Out: SInt, Fn: func(_ Stream, _ []Arg, smp *Sample) bool {
		var v int64
		for _, c := range smp.Str {
			d := unhex(c)
			if d < 0 {
				smp.SetInt(0)
				return true
			}
			v = v<<4 | int64(d)
		}
		smp.SetInt(v)
		return true
	}})
	hash32 := func(name string, fn func([]byte) uint32) {
		r.RegisterConverter(name, ConvDef{In: Bin, Out: SInt, Args: []ArgKind{ArgInt}, Fn: func(_ Stream, a []Arg, smp *Sample) bool {
			h := fn(smp.Str)
			if a[0].Present && a[0].Int != 0 {
				h = fullHash(h)
			}
			smp.SetInt(int64(h))
			return true
		}})
	}
	hash32("crc32", crc32.ChecksumIEEE)
	hash32("crc32c", func(b []byte) uint32 { return crc32.Checksum(b, crc32c) })
	hash32("djb2", djb2)
	hash32("sdbm", sdbm)
	hash32("wt6", wt6)
	r.RegisterConverter("xxh32", ConvDef{In: Bin, Out: SInt, Args: []ArgKind{ArgInt}, Fn: func(_ Stream, a []Arg, smp *Sample) bool {
		smp.SetInt(int64(xxh32(smp.Str, uint32(a[0].Int))))
		return true
	}})
	r.RegisterConverter("xxh64", ConvDef{In: Bin, Out: SInt, Args: []ArgKind{ArgInt}, Fn: func(_ Stream, a []Arg, smp *Sample) bool {
		smp.SetInt(int64(xxh64(smp.Str, uint64(a[0].Int))))
		return true
	}})
	r.RegisterConverter("xxh3", ConvDef{In: Bin, Out: SInt, Args: []ArgKind{ArgInt}, Fn: func(_ Stream, a []Arg, smp *Sample) bool {
		smp.SetInt(int64(xxh3(smp.Str, uint64(a[0].Int))))
		return true
	}})
	r.RegisterConverter("sha1", ConvDef{In: Bin, Out: Bin, Fn: func(s Stream, _ []Arg, smp *Sample) bool {
		sum := sha1.Sum(smp.Str)
		smp.SetBin(appendBytes(s.Scratch(), sum[:]))
		return true
	}})
	r.RegisterConverter("sha2", ConvDef{In: Bin, Out: Bin, Args: []ArgKind{ArgInt}, Fn: convSHA2, Check: func(a []Arg, _ *CompileCtx) error {
		if !a[0].Present {
			a[0].Int = 256
		}
		switch a[0].Int {
		case 224, 256, 384, 512:
			return nil
		}
		return fmt.Errorf("Unsupported number of bits: '%d'", a[0].Int)
	}})
	r.RegisterConverter("digest", ConvDef{In: Bin, Out: Bin, Args: []ArgKind{ArgStr}, MinArgs: 1, Fn: convDigest, Check: func(a []Arg, _ *CompileCtx) error {
		if newHash(a[0].Str) == nil {
			return fmt.Errorf("failed to create message digest '%s'", a[0].Str)
		}
		return nil
	}})
	r.RegisterConverter("hmac", ConvDef{In: Bin, Out: Bin, Args: []ArgKind{ArgStr, ArgStr}, MinArgs: 2, Fn: convHMAC, Check: func(a []Arg, _ *CompileCtx) error {
		if newHash(a[0].Str) == nil {
			return fmt.Errorf("failed to create message digest '%s'", a[0].Str)
		}
		key, err := base64.StdEncoding.DecodeString(a[1].Str)
		if err != nil {
			return fmt.Errorf("failed to decode key '%s': it must be base64-encoded", a[1].Str)
		}
		a[1].Bytes = key
		return nil
	}})
}

func encodeWith(enc *base64.Encoding) ConvFunc {
	return func(s Stream, _ []Arg, smp *Sample) bool {
		rg := begin(s)
		smp.SetStr(rg.end(enc.AppendEncode(rg.buf(), smp.Str)))
		return true
	}
}

func decodeWith(enc *base64.Encoding) ConvFunc {
	return func(s Stream, _ []Arg, smp *Sample) bool {
		rg := begin(s)
		in := smp.Str
		if enc == base64.RawURLEncoding {
			for len(in) > 0 && in[len(in)-1] == '=' {
				in = in[:len(in)-1]
			}
		}
		out, err := enc.AppendDecode(rg.buf(), in)
		if err != nil {
			*rg.sc = rg.buf()[:rg.start]
			return false
		}
		smp.SetBin(rg.end(out))
		return true
	}
}

// fullHash is the 32-bit integer avalanche HAProxy applies to hashes when
// the converter's argument is non-zero.
func fullHash(a uint32) uint32 {
	a = (a + 0x7ed55d16) + (a << 12)
	a = (a ^ 0xc761c23c) ^ (a >> 19)
	a = (a + 0x165667b1) + (a << 5)
	a = (a + 0xd3a2646c) ^ (a << 9)
	a = (a + 0xfd7046c5) + (a << 3)
	a = (a ^ 0xb55a4f09) ^ (a >> 16)
	return a
}

func djb2(b []byte) uint32 {
	h := uint32(5381)
	for _, c := range b {
		h = h*33 + uint32(c)
	}
	return h
}

func sdbm(b []byte) uint32 {
	var h uint32
	for _, c := range b {
		h = uint32(c) + (h << 6) + (h << 16) - h
	}
	return h
}

func wt6(b []byte) uint32 {
	h0, h1 := uint32(0xa53c965a), uint32(0x5ca6953a)
	step0, step1 := uint32(6), uint32(18)
	for _, c := range b {
		t := uint32(c)
		h0 = ^(h0 ^ t)
		h1 = ^(h1 + t)
		t = h1<<step0 | h1>>(32-step0)
		h1 = h0<<step1 | h0>>(32-step1)
		h0 = t
		t = ((h0 >> 16) ^ h1) & 0xffff
		step0 = t & 0x1f
		step1 = t >> 11
	}
	return h0 ^ h1
}

func convSHA2(s Stream, a []Arg, smp *Sample) bool {
	switch a[0].Int {
	case 224:
		sum := sha256.Sum224(smp.Str)
		smp.SetBin(appendBytes(s.Scratch(), sum[:]))
	case 384:
		sum := sha512.Sum384(smp.Str)
		smp.SetBin(appendBytes(s.Scratch(), sum[:]))
	case 512:
		sum := sha512.Sum512(smp.Str)
		smp.SetBin(appendBytes(s.Scratch(), sum[:]))
	default:
		sum := sha256.Sum256(smp.Str)
		smp.SetBin(appendBytes(s.Scratch(), sum[:]))
	}
	return true
}

func newHash(name string) func() hash.Hash {
	switch name {
	case "md5", "MD5":
		return md5.New
	case "sha1", "SHA1":
		return sha1.New
	case "sha224", "SHA224":
		return sha256.New224
	case "sha256", "SHA256":
		return sha256.New
	case "sha384", "SHA384":
		return sha512.New384
	case "sha512", "SHA512":
		return sha512.New
	}
	return nil
}

func convDigest(s Stream, a []Arg, smp *Sample) bool {
	h := newHash(a[0].Str)()
	h.Write(smp.Str)
	rg := begin(s)
	smp.SetBin(rg.end(h.Sum(rg.buf())))
	return true
}

func convHMAC(s Stream, a []Arg, smp *Sample) bool {
	h := hmac.New(newHash(a[0].Str), a[1].Bytes)
	h.Write(smp.Str)
	rg := begin(s)
	smp.SetBin(rg.end(h.Sum(rg.buf())))
	return true
}
