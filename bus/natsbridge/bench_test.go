package natsbridge

import (
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/internal/natstest"
)

// BenchmarkBridge measures events per second from bus.Publish to events
// confirmed by an embedded nats-server (loopback): "core" confirms each
// batch with a flush round trip, "stream" waits for JetStream's stored
// acknowledgement of every event.
func BenchmarkBridge(b *testing.B) {
	for _, mode := range []string{"core", "stream"} {
		b.Run(mode, func(b *testing.B) {
			srv := natstest.Start(b)
			bb := bus.New(bus.Options{Instance: "lb1", History: -1})
			defer bb.Close()
			cfg := &config.NATS{Name: "bench", URLs: []string{srv.HostPort()}, Instance: "lb1", Prefix: "moonbus"}
			if mode == "stream" {
				cfg.Stream = "BENCH"
			}
			br, err := New(cfg, Options{Bus: bb, Buffer: 1 << 20})
			if err != nil {
				b.Fatal(err)
			}
			if err := br.Start(b.Context()); err != nil {
				b.Fatal(err)
			}
			defer br.Stop(b.Context())
			deadline := time.Now().Add(10 * time.Second)
			for !br.Conn().IsConnected() || (mode == "stream" && !br.Stats().StreamReady) {
				if time.Now().After(deadline) {
					b.Fatal("not connected")
				}
				time.Sleep(time.Millisecond)
			}
			ref := &bus.ServerRef{Name: "s1", PUID: 1, ProxyName: "be", ProxyUUID: 3}
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				bb.Publish(&bus.Event{Type: bus.ServerCheck, Server: ref,
					Check: &bus.CheckResult{Result: "PASSED", Reason: bus.CheckReason{Short: "L7OK", Desc: "Layer7 check passed", Code: 200}, Health: bus.Health{Cur: 3, Rise: 2, Fall: 3}}})
				if i%1000 == 999 { // stay well within the bus queue
					for br.out.len() > 50000 {
						time.Sleep(100 * time.Microsecond)
					}
				}
			}
			for br.Stats().Published < uint64(b.N) {
				time.Sleep(100 * time.Microsecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
			if st := br.Stats(); st.Dropped != 0 {
				b.Fatalf("dropped %d", st.Dropped)
			}
		})
	}
}
