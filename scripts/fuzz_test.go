package scripts

import (
	"testing"
	"time"
)

// Script-reachable parsers must not panic on any input.

func FuzzStrftime(f *testing.F) {
	for _, s := range []string{"%a %d %b %Y %T %z (%Z)", "%", "%%%", "!%c", "%E%Q", "plain"} {
		f.Add(s, int64(1795350000))
	}
	f.Fuzz(func(t *testing.T, format string, sec int64) {
		_, _ = Strftime(format, time.Unix(sec%(1<<40), 0), sec%2 == 0)
	})
}

func FuzzParseHAAddr(f *testing.F) {
	for _, s := range []string{"127.0.0.1:25", "ipv6@[::1]:25", "unix@/x", "abns@y", "[::1", "@", "ipv4@", ":", "fd@1"} {
		f.Add(s, -1)
	}
	f.Fuzz(func(t *testing.T, s string, port int) {
		if a, err := parseHAAddr(s, port%70000); err == nil {
			_ = a.dialAddr()
		}
	})
}
