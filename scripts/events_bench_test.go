package scripts

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"moonbus/bus"
)

// Event framework benchmarks with real Lua, the real bus and a real engine:
//   - BenchmarkEventToLuaLatency: a server state change (admin) until the
//     Lua callback runs, at idle; reports p50 and p99.
//   - BenchmarkEventFloodSlowHandler: 1,000 events/s into a Lua handler
//     that sleeps 10 ms while HTTP traffic flows through the proxy; reports
//     the HTTP p99 and rate during the flood and proves every event was
//     delivered or counted and logged as dropped. Run it with a count of
//     events: go test -bench EventFlood -benchtime 3000x ./scripts/

const benchEventsCfg = `
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 @BACKEND@
    server s2 @BACKEND@
`

func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p)
	return s[i]
}

func BenchmarkEventToLuaLatency(b *testing.B) {
	file := writeTestLua(b, `
core.register_init(function()
  core.backends.be.servers.s2:event_sub({"SERVER_ADMIN"}, function(event, data) mark() end)
end)
`)
	rt, _, eng := startEngineRuntime(b, file, benchEventsCfg, false)
	marks := make(chan time.Time, 1)
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error {
		L.SetGlobal("mark", L.NewFunction(func(L *lua.LState) int { marks <- time.Now(); return 0 }))
		return nil
	})
	s2 := eng.Proxy("be").Server("s2")
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if i%2 == 0 {
			s2.SetAdmin(bus.FDrain, 0, "")
		} else {
			s2.SetAdmin(0, bus.FDrain, "")
		}
		t1 := <-marks
		lat = append(lat, t1.Sub(t0))
	}
	b.StopTimer()
	b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
}

// benchHTTPLoad runs keep-alive GET clients against addr until stop is
// closed and records every request's latency.
type benchHTTPLoad struct {
	mu   sync.Mutex
	lat  []time.Duration
	errs atomic.Int64
	wg   sync.WaitGroup
}

func startHTTPLoad(addr string, clients int, stop <-chan struct{}) *benchHTTPLoad {
	l := &benchHTTPLoad{}
	for i := 0; i < clients; i++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				l.errs.Add(1)
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			var local []time.Duration
			defer func() {
				l.mu.Lock()
				l.lat = append(l.lat, local...)
				l.mu.Unlock()
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				t0 := time.Now()
				if _, err := c.Write(req); err != nil {
					l.errs.Add(1)
					return
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					l.errs.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					l.errs.Add(1)
				}
				local = append(local, time.Since(t0))
			}
		}()
	}
	return l
}

func BenchmarkEventFloodSlowHandler(b *testing.B) {
	const queueLen = 500
	file := writeTestLua(b, `
handled = 0
core.event_sub({"SERVER_ADMIN"}, function()
  core.msleep(10)
  handled = handled + 1
end)
`)
	rt, logger, eng := startEngineRuntime(b, file, benchEventsCfg, false, func(o *Options) { o.EventQueueLen = queueLen })
	addr := eng.ListenerAddr("fe", 0).String()
	s2 := eng.Proxy("be").Server("s2")

	// HTTP traffic before and during the flood.
	const idleFor = time.Second
	baseline := measureHTTP(b, addr, idleFor)
	stop := make(chan struct{})
	load := startHTTPLoad(addr, 4, stop)
	b.ResetTimer()
	t0 := time.Now()
	for i := 0; i < b.N; i++ {
		// Paced at 1,000/s: event i is due at t0 + i ms (late ones catch up).
		if d := time.Until(t0.Add(time.Duration(i) * time.Millisecond)); d > 0 {
			time.Sleep(d)
		}
		if i%2 == 0 {
			s2.SetAdmin(bus.FDrain, 0, "")
		} else {
			s2.SetAdmin(0, bus.FDrain, "")
		}
	}
	flood := time.Since(t0)
	close(stop)
	load.wg.Wait()
	b.StopTimer()

	// Every event is either delivered or counted (and logged) as dropped.
	var st EventStats
	deadline := time.Now().Add(time.Duration(queueLen+100) * 15 * time.Millisecond)
	for {
		st = rt.EventStats()[0]
		if st.Queued == 0 && st.Started == st.Finished && st.Finished+st.Dropped == uint64(b.N) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("events unaccounted for: published %d, %+v", b.N, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
	logged := loggedDrops(logger)
	if logged != st.Dropped {
		b.Fatalf("dropped %d events but logged %d", st.Dropped, logged)
	}
	var handled int
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error {
		handled = int(L.GetGlobal("handled").(lua.LNumber))
		return nil
	})
	if uint64(handled) != st.Finished {
		b.Fatalf("handler ran %d times, stats say %d", handled, st.Finished)
	}
	load.mu.Lock()
	lat := load.lat
	load.mu.Unlock()
	if load.errs.Load() > 0 || (len(lat) == 0 && flood > 100*time.Millisecond) {
		b.Fatalf("HTTP errors during the flood: %d (%d requests)", load.errs.Load(), len(lat))
	}
	b.ReportMetric(float64(b.N)/flood.Seconds(), "events/s")
	b.ReportMetric(float64(st.Finished), "delivered")
	b.ReportMetric(float64(st.Dropped), "dropped")
	b.ReportMetric(float64(len(lat))/flood.Seconds(), "http-req/s")
	b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "http-p99-µs")
	b.ReportMetric(float64(percentile(baseline, 0.99).Microseconds()), "idle-http-p99-µs")
	b.ReportMetric(float64(len(baseline))/idleFor.Seconds(), "idle-http-req/s")
}

// measureHTTP runs the load alone for d and returns the latencies.
func measureHTTP(b *testing.B, addr string, d time.Duration) []time.Duration {
	stop := make(chan struct{})
	l := startHTTPLoad(addr, 4, stop)
	time.Sleep(d)
	close(stop)
	l.wg.Wait()
	if l.errs.Load() > 0 {
		b.Fatalf("%d HTTP errors", l.errs.Load())
	}
	return l.lat
}

// loggedDrops sums the counts of the "events dropped" warnings.
func loggedDrops(l *recLogger) uint64 {
	var sum uint64
	for _, line := range l.snapshot() {
		i := strings.Index(line, "Lua event_hdl: ")
		if i < 0 {
			continue
		}
		var n uint64
		if _, err := fmt.Sscanf(line[i:], "Lua event_hdl: %d events dropped", &n); err == nil {
			sum += n
		}
	}
	return sum
}
