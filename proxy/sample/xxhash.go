package sample

import (
	"encoding/binary"
	"math/bits"
)

// xxHash 32/64 and XXH3-64, written from the published algorithm
// description, for the xxh32, xxh64 and xxh3 converters.

const (
	p32_1 = 0x9E3779B1
	p32_2 = 0x85EBCA77
	p32_3 = 0xC2B2AE3D
	p32_4 = 0x27D4EB2F
	p32_5 = 0x165667B1
	p64_1 = 0x9E3779B185EBCA87
	p64_2 = 0xC2B2AE3D27D4EB4F
	p64_3 = 0x165667B19E3779F9
	p64_4 = 0x85EBCA77C2B2AE63
	p64_5 = 0x27D4EB2F165667C5
)

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

func xxh32(b []byte, seed uint32) uint32 {
	n := len(b)
	var h uint32
	if n >= 16 {
		v1, v2, v3, v4 := seed+p32_1+p32_2, seed+p32_2, seed, seed-p32_1
		round := func(acc, in uint32) uint32 { return bits.RotateLeft32(acc+in*p32_2, 13) * p32_1 }
		for len(b) >= 16 {
			v1 = round(v1, le32(b))
			v2 = round(v2, le32(b[4:]))
			v3 = round(v3, le32(b[8:]))
			v4 = round(v4, le32(b[12:]))
			b = b[16:]
		}
		h = bits.RotateLeft32(v1, 1) + bits.RotateLeft32(v2, 7) + bits.RotateLeft32(v3, 12) + bits.RotateLeft32(v4, 18)
	} else {
		h = seed + p32_5
	}
	h += uint32(n)
	for len(b) >= 4 {
		h += le32(b) * p32_3
		h = bits.RotateLeft32(h, 17) * p32_4
		b = b[4:]
	}
	for _, c := range b {
		h += uint32(c) * p32_5
		h = bits.RotateLeft32(h, 11) * p32_1
	}
	h ^= h >> 15
	h *= p32_2
	h ^= h >> 13
	h *= p32_3
	h ^= h >> 16
	return h
}

func xxh64Round(acc, in uint64) uint64 {
	return bits.RotateLeft64(acc+in*p64_2, 31) * p64_1
}

func xxh64Avalanche(h uint64) uint64 {
	h ^= h >> 33
	h *= p64_2
	h ^= h >> 29
	h *= p64_3
	h ^= h >> 32
	return h
}

func xxh64(b []byte, seed uint64) uint64 {
	n := len(b)
	var h uint64
	if n >= 32 {
		v1, v2, v3, v4 := seed+p64_1+p64_2, seed+p64_2, seed, seed-p64_1
		for len(b) >= 32 {
			v1 = xxh64Round(v1, le64(b))
			v2 = xxh64Round(v2, le64(b[8:]))
			v3 = xxh64Round(v3, le64(b[16:]))
			v4 = xxh64Round(v4, le64(b[24:]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) + bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		for _, v := range [4]uint64{v1, v2, v3, v4} {
			h = (h^xxh64Round(0, v))*p64_1 + p64_4
		}
	} else {
		h = seed + p64_5
	}
	h += uint64(n)
	for len(b) >= 8 {
		h ^= xxh64Round(0, le64(b))
		h = bits.RotateLeft64(h, 27)*p64_1 + p64_4
		b = b[8:]
	}
	if len(b) >= 4 {
		h ^= uint64(le32(b)) * p64_1
		h = bits.RotateLeft64(h, 23)*p64_2 + p64_3
		b = b[4:]
	}
	for _, c := range b {
		h ^= uint64(c) * p64_5
		h = bits.RotateLeft64(h, 11) * p64_1
	}
	return xxh64Avalanche(h)
}

var xxh3Secret = [192]byte{
	0xb8, 0xfe, 0x6c, 0x39, 0x23, 0xa4, 0x4b, 0xbe, 0x7c, 0x01, 0x81, 0x2c, 0xf7, 0x21, 0xad, 0x1c,
	0xde, 0xd4, 0x6d, 0xe9, 0x83, 0x90, 0x97, 0xdb, 0x72, 0x40, 0xa4, 0xa4, 0xb7, 0xb3, 0x67, 0x1f,
	0xcb, 0x79, 0xe6, 0x4e, 0xcc, 0xc0, 0xe5, 0x78, 0x82, 0x5a, 0xd0, 0x7d, 0xcc, 0xff, 0x72, 0x21,
	0xb8, 0x08, 0x46, 0x74, 0xf7, 0x43, 0x24, 0x8e, 0xe0, 0x35, 0x90, 0xe6, 0x81, 0x3a, 0x26, 0x4c,
	0x3c, 0x28, 0x52, 0xbb, 0x91, 0xc3, 0x00, 0xcb, 0x88, 0xd0, 0x65, 0x8b, 0x1b, 0x53, 0x2e, 0xa3,
	0x71, 0x64, 0x48, 0x97, 0xa2, 0x0d, 0xf9, 0x4e, 0x38, 0x19, 0xef, 0x46, 0xa9, 0xde, 0xac, 0xd8,
	0xa8, 0xfa, 0x76, 0x3f, 0xe3, 0x9c, 0x34, 0x3f, 0xf9, 0xdc, 0xbb, 0xc7, 0xc7, 0x0b, 0x4f, 0x1d,
	0x8a, 0x51, 0xe0, 0x4b, 0xcd, 0xb4, 0x59, 0x31, 0xc8, 0x9f, 0x7e, 0xc9, 0xd9, 0x78, 0x73, 0x64,
	0xea, 0xc5, 0xac, 0x83, 0x34, 0xd3, 0xeb, 0xc3, 0xc5, 0x81, 0xa0, 0xff, 0xfa, 0x13, 0x63, 0xeb,
	0x17, 0x0d, 0xdd, 0x51, 0xb7, 0xf0, 0xda, 0x49, 0xd3, 0x16, 0x55, 0x26, 0x29, 0xd4, 0x68, 0x9e,
	0x2b, 0x16, 0xbe, 0x58, 0x7d, 0x47, 0xa1, 0xfc, 0x8f, 0xf8, 0xb8, 0xd1, 0x7a, 0xd0, 0x31, 0xce,
	0x45, 0xcb, 0x3a, 0x8f, 0x95, 0x16, 0x04, 0x28, 0xaf, 0xd7, 0xfb, 0xca, 0xbb, 0x4b, 0x40, 0x7e,
}

func fold64(a, b uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	return hi ^ lo
}

func xxh3Avalanche(h uint64) uint64 {
	h ^= h >> 37
	h *= 0x165667919E3779F9
	return h ^ h>>32
}

func rrmxmx(h uint64, n uint64) uint64 {
	h ^= bits.RotateLeft64(h, 49) ^ bits.RotateLeft64(h, 24)
	h *= 0x9FB21C651E98DF25
	h ^= (h >> 35) + n
	h *= 0x9FB21C651E98DF25
	return h ^ h>>28
}

func mix16(in, sec []byte, seed uint64) uint64 {
	return fold64(le64(in)^(le64(sec)+seed), le64(in[8:])^(le64(sec[8:])-seed))
}

func xxh3(b []byte, seed uint64) uint64 {
	sec := xxh3Secret[:]
	n := len(b)
	switch {
	case n == 0:
		return xxh64Avalanche(seed ^ le64(sec[56:]) ^ le64(sec[64:]))
	case n <= 3:
		c1, c2, c3 := uint32(b[0]), uint32(b[n>>1]), uint32(b[n-1])
		combined := c1<<16 | c2<<24 | c3 | uint32(n)<<8
		bitflip := uint64(le32(sec)^le32(sec[4:])) + seed
		return xxh64Avalanche(uint64(combined) ^ bitflip)
	case n <= 8:
		seed ^= uint64(bits.ReverseBytes32(uint32(seed))) << 32
		in1, in2 := le32(b), le32(b[n-4:])
		bitflip := (le64(sec[8:]) ^ le64(sec[16:])) - seed
		in64 := uint64(in2) + uint64(in1)<<32
		return rrmxmx(in64^bitflip, uint64(n))
	case n <= 16:
		bf1 := (le64(sec[24:]) ^ le64(sec[32:])) + seed
		bf2 := (le64(sec[40:]) ^ le64(sec[48:])) - seed
		lo := le64(b) ^ bf1
		hi := le64(b[n-8:]) ^ bf2
		acc := uint64(n) + bits.ReverseBytes64(lo) + hi + fold64(lo, hi)
		return xxh3Avalanche(acc)
	case n <= 128:
		acc := uint64(n) * p64_1
		if n > 32 {
			if n > 64 {
				if n > 96 {
					acc += mix16(b[48:], sec[96:], seed)
					acc += mix16(b[n-64:], sec[112:], seed)
				}
				acc += mix16(b[32:], sec[64:], seed)
				acc += mix16(b[n-48:], sec[80:], seed)
			}
			acc += mix16(b[16:], sec[32:], seed)
			acc += mix16(b[n-32:], sec[48:], seed)
		}
		acc += mix16(b, sec, seed)
		acc += mix16(b[n-16:], sec[16:], seed)
		return xxh3Avalanche(acc)
	case n <= 240:
		acc := uint64(n) * p64_1
		for i := 0; i < 8; i++ {
			acc += mix16(b[16*i:], sec[16*i:], seed)
		}
		accEnd := mix16(b[n-16:], sec[136-17:], seed)
		acc = xxh3Avalanche(acc)
		for i := 8; i < n/16; i++ {
			accEnd += mix16(b[16*i:], sec[16*(i-8)+3:], seed)
		}
		return xxh3Avalanche(acc + accEnd)
	}
	var custom [192]byte
	if seed != 0 {
		for i := 0; i < 12; i++ {
			binary.LittleEndian.PutUint64(custom[16*i:], le64(sec[16*i:])+seed)
			binary.LittleEndian.PutUint64(custom[16*i+8:], le64(sec[16*i+8:])-seed)
		}
		sec = custom[:]
	}
	acc := [8]uint64{p32_3, p64_1, p64_2, p64_3, p64_4, p32_2, p64_5, p32_1}
	const stripesPerBlock = (192 - 64) / 8
	const blockLen = 64 * stripesPerBlock
	nBlocks := (n - 1) / blockLen
	for blk := 0; blk < nBlocks; blk++ {
		for s := 0; s < stripesPerBlock; s++ {
			xxh3Accumulate(&acc, b[blk*blockLen+s*64:], sec[s*8:])
		}
		for i := 0; i < 8; i++ {
			a := acc[i]
			a ^= a >> 47
			a ^= le64(sec[192-64+8*i:])
			acc[i] = a * p32_1
		}
	}
	start := nBlocks * blockLen
	nStripes := (n - 1 - start) / 64
	for s := 0; s < nStripes; s++ {
		xxh3Accumulate(&acc, b[start+s*64:], sec[s*8:])
	}
	xxh3Accumulate(&acc, b[n-64:], sec[192-64-7:])
	res := uint64(n) * p64_1
	for i := 0; i < 4; i++ {
		res += fold64(acc[2*i]^le64(sec[11+16*i:]), acc[2*i+1]^le64(sec[11+16*i+8:]))
	}
	return xxh3Avalanche(res)
}

func xxh3Accumulate(acc *[8]uint64, in, sec []byte) {
	for i := 0; i < 8; i++ {
		v := le64(in[8*i:])
		k := v ^ le64(sec[8*i:])
		acc[i^1] += v
		acc[i] += uint64(uint32(k)) * (k >> 32)
	}
}
