package runtimeapi

import (
	"fmt"
	"io"
	"strings"
	"testing"
)

// BenchmarkShowStat1000 measures "show stat" on a backend of 1,000 servers.
func BenchmarkShowStat1000(b *testing.B) {
	var cfg strings.Builder
	cfg.WriteString("backend big\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&cfg, "    server s%d 127.0.0.1:%d\n", i, 10000+i)
	}
	h := startHarness(b, cfg.String())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.api.Execute("admin", "show stat", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkToggle measures one "disable server"/"enable server" pair on a
// backend of 1,000 servers (each change rebuilds the load-balancing view).
func BenchmarkToggle(b *testing.B) {
	var cfg strings.Builder
	cfg.WriteString("backend big\n")
	for i := 0; i < 1000; i++ {
		fmt.Fprintf(&cfg, "    server s%d 127.0.0.1:%d\n", i, 10000+i)
	}
	h := startHarness(b, cfg.String())
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := h.api.Execute("admin", "disable server big/s500; enable server big/s500", io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
