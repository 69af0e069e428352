package sample

import "testing"

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

func TestXXHash(t *testing.T) {
	tests := []struct {
		name string
		got  uint64
		want uint64
	}{
		{"xxh32 empty", uint64(xxh32(nil, 0)), 0x02CC5D05},
		{"xxh64 empty", xxh64(nil, 0), 0xEF46DB3751D8E999},
		{"xxh3 empty", xxh3(nil, 0), 0x2D06800538D394C2},
		{"xxh3 a", xxh3([]byte("a"), 0), 0xE6C632B61E964E1F},
		{"xxh3 abc", xxh3([]byte("abc"), 0), 0x78AF5F94892F3950},
		{"xxh3 abcd", xxh3([]byte("abcd"), 0), 0x6497A96F53A89890},
		{"xxh3 abcdefgh", xxh3([]byte("abcdefgh"), 0), 0x6F45A76842A96483},
		{"xxh3 seq15", xxh3(seq(15), 0), 0x55ECEDC2B87BB042},
		{"xxh3 seq32", xxh3(seq(32), 0), 0x3523581FE96E4C05},
		{"xxh3 seq64", xxh3(seq(64), 0), 0x6187EB9089B0ED55},
		{"xxh3 seq0-2", xxh3(seq(3), 0), 0x5F4299FC161C9CBB},
		{"xxh3 seq7", xxh3(seq(7), 0), 0x0CD2084A62406B69},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s = %016X, want %016X", tc.name, tc.got, tc.want)
		}
	}
	// Long inputs run every path without panicking and differ by seed.
	for _, n := range []int{129, 200, 240, 241, 1024, 1025, 5000} {
		if xxh3(seq(n), 0) == xxh3(seq(n), 1) {
			t.Errorf("xxh3 len %d ignores the seed", n)
		}
		_ = xxh64(seq(n), 3)
		_ = xxh32(seq(n), 3)
	}
}
