package config

import (
	"math"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	good := map[string]time.Duration{
		"0": 0, "10": 10 * time.Millisecond, "10ms": 10 * time.Millisecond, "10us": 10 * time.Microsecond,
		"10s": 10 * time.Second, "2m": 2 * time.Minute, "3h": 3 * time.Hour, "1d": 24 * time.Hour,
		"007s": 7 * time.Second, "106751d": 106751 * 24 * time.Hour,
	}
	for in, want := range good {
		got, err := ParseTime(in)
		if err != nil || got != want {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "s", "1.5s", "-1", "+1", "10S", "10 s", "10sec", "1w", "106752d", "99999999999999999999"} {
		if d, err := ParseTime(in); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", in, d)
		}
	}
}

func TestParseSize(t *testing.T) {
	good := map[string]int64{
		"0": 0, "1": 1, "1k": 1024, "1K": 1024, "2m": 2 << 20, "2M": 2 << 20, "3g": 3 << 30, "3G": 3 << 30,
		"9223372036854775807": math.MaxInt64,
	}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "k", "1t", "1.5k", "-1", "1kb", "9223372036854775808", "8589934592g"} {
		if n, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %v, want an error", in, n)
		}
	}
}

func TestParseTimer(t *testing.T) {
	if d, err := parseTimer("timeout client", "2147483647"); err != nil || d != maxTimer {
		t.Errorf("parseTimer(max) = %v, %v", d, err)
	}
	if _, err := parseTimer("timeout client", "2147483648"); err == nil {
		t.Error("parseTimer accepted an overflowing timer")
	}
	if _, err := parseTimer("timeout client", "999us"); err == nil {
		t.Error("parseTimer accepted a sub-millisecond timer")
	}
	if d, err := parseTimer("timeout client", "0"); err != nil || d != 0 {
		t.Errorf("parseTimer(0) = %v, %v", d, err)
	}
}
