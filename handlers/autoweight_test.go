package handlers

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
)

func TestChecksFactor(t *testing.T) {
	for _, c := range []struct{ cur, rise, fall, floor, want int }{
		{4, 2, 3, 10, 100}, // full: rise+fall-1
		{3, 2, 3, 10, 66},  // one failure
		{2, 2, 3, 10, 33},  // two failures: one more takes it DOWN
		{2, 2, 3, 40, 40},  // floor
		{9, 2, 3, 10, 100}, // above full
		{1, 2, 3, 10, 10},  // below rise (not UP): floor
		{2, 2, 2, 10, 50},
		{3, 1, 3, 0, 100},
		{1, 1, 3, 0, 33},
		{1, 1, 100, 0, 1}, // floor 0 still leaves 1%
		{5, 5, 1, 10, 100},
		{0, 2, 0, 10, 100}, // nonsense fall
	} {
		if got := ChecksFactor(c.cur, c.rise, c.fall, c.floor); got != c.want {
			t.Errorf("ChecksFactor(%d, %d, %d, floor %d) = %d, want %d", c.cur, c.rise, c.fall, c.floor, got, c.want)
		}
	}
}

func TestLatencyFactor(t *testing.T) {
	for _, c := range []struct {
		fastest, own int64
		floor, want  int
	}{
		{10, 10, 10, 100},
		{10, 20, 10, 50},
		{10, 30, 10, 33},
		{10, 15, 10, 67},
		{10, 1000, 10, 10},
		{10, 1000, 0, 1},
		{0, 0, 10, 100}, // sub-millisecond both: equal
		{0, 4, 10, 25},  // the fastest counts as 1 ms
		{20, 10, 10, 100},
	} {
		if got := LatencyFactor(c.fastest, c.own, c.floor); got != c.want {
			t.Errorf("LatencyFactor(%d, %d, floor %d) = %d, want %d", c.fastest, c.own, c.floor, got, c.want)
		}
	}
}

// awEnv is a real proxy engine (its listeners and checkers running) with a
// bus, and an AutoWeight over it.
type awEnv struct {
	t   *testing.T
	eng *proxy.Engine
	bus *bus.Bus
	aw  *AutoWeight
	log *awBuf
}

type awBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *awBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *awBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startAW parses text, starts an engine and an AutoWeight subscribed to the
// engine's events. interval 0 keeps the periodic pass out of the way (an
// hour): tests call tick themselves.
func startAW(t *testing.T, text string, interval time.Duration) *awEnv {
	t.Helper()
	cfg, err := config.Parse("aw.cfg", []byte(text), config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &awBuf{}
	logger := slog.New(slog.NewTextHandler(logs, nil))
	b := bus.New(bus.Options{Instance: "t", Logger: logger})
	eng, err := proxy.New(cfg, proxy.Options{Publisher: b, Logger: logger, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		b.Close()
		t.Fatalf("engine: %v", err)
	}
	if err := eng.Start(); err != nil {
		b.Close()
		t.Fatalf("engine start: %v", err)
	}
	if interval == 0 {
		interval = time.Hour
	}
	aw := NewAutoWeight(cfg, func() *proxy.Engine { return eng }, AutoWeightOptions{Logger: logger, Interval: interval})
	if err := aw.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	sub := b.Subscribe("auto-weight", aw.Filter(), bus.Coalesce, aw.Handle)
	t.Cleanup(func() {
		sub.Unsub()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := aw.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
		_ = eng.Stop(ctx)
		b.Close()
	})
	return &awEnv{t: t, eng: eng, bus: b, aw: aw, log: logs}
}

func (e *awEnv) server(be, name string) *proxy.Server {
	e.t.Helper()
	px := e.eng.Proxy(be)
	if px == nil || px.Server(name) == nil {
		e.t.Fatalf("no server %s/%s", be, name)
	}
	return px.Server(name)
}

func awWait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// healthBackend serves 200, or 503 on /health while sick.
func healthBackend(t *testing.T, sick *atomic.Bool) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// weightTrace samples a server's effective weight until stopped and returns
// the sequence of distinct values.
func weightTrace(s *proxy.Server) (stop func() []int) {
	var mu sync.Mutex
	var seq []int
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			w := s.EWeight()
			mu.Lock()
			if len(seq) == 0 || seq[len(seq)-1] != w {
				seq = append(seq, w)
			}
			mu.Unlock()
			select {
			case <-quit:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()
	return func() []int {
		close(quit)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return append([]int(nil), seq...)
	}
}

func TestAutoWeightChecksFollowsHealth(t *testing.T) {
	var sick atomic.Bool
	addr := healthBackend(t, &sick)
	e := startAW(t, `
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend be
    auto-weight checks floor 20
    option httpchk GET /health
    server a `+addr+` check inter 150ms rise 2 fall 3 weight 90
    server b `+addr+` weight 90
`, 0)
	a := e.server("be", "a")
	awWait(t, "a fully up", func() bool { return a.HealthInfo().Health == 4 })
	if a.EWeight() != 90 || e.aw.Factor("be", "a") != 100 {
		t.Fatalf("healthy: eweight %d factor %d", a.EWeight(), e.aw.Factor("be", "a"))
	}
	stop := weightTrace(a)
	sick.Store(true)
	awWait(t, "a DOWN", func() bool { return a.Op() == proxy.Stopped })
	// DOWN: back to 100% (a DOWN server gets no traffic; it comes back full).
	awWait(t, "factor reset", func() bool { return e.aw.Factor("be", "a") == 100 })
	sick.Store(false)
	awWait(t, "a UP", func() bool { return a.Op() == proxy.Running })
	awWait(t, "weight restored", func() bool { return a.EWeight() == 90 })
	trace := stop()
	// 90 → 66% (health 3/4: 59) → 33% (health 2/4: 30) → DOWN → 90.
	want := []int{90, 59, 30, 90}
	if fmt.Sprint(trace) != fmt.Sprint(want) {
		t.Fatalf("effective weights %v, want %v", trace, want)
	}
	if a.UWeight() != 90 {
		t.Fatalf("user weight changed: %d", a.UWeight())
	}
}

func TestAutoWeightChecksFloorAndOperatorWeight(t *testing.T) {
	var sick atomic.Bool
	addr := healthBackend(t, &sick)
	e := startAW(t, `
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend be
    auto-weight checks floor 50
    option httpchk GET /health
    server a `+addr+` check inter 150ms rise 1 fall 5 weight 100
`, 0)
	a := e.server("be", "a")
	awWait(t, "a fully up", func() bool { return a.HealthInfo().Health == 5 })
	sick.Store(true)
	// health 5 → 4 (80%) → 3 (60%) → 2 (40%: floor 50) ...
	awWait(t, "at the floor", func() bool { return a.HealthInfo().Health == 2 && a.EWeight() == 50 })
	// An operator's set weight is the base the factor scales.
	if err := a.ChangeWeight("40"); err != nil {
		t.Fatal(err)
	}
	if a.UWeight() != 40 || e.aw.Factor("be", "a") != 50 {
		t.Fatalf("uweight %d factor %d", a.UWeight(), e.aw.Factor("be", "a"))
	}
	if w := a.EWeight(); w != 20 && a.Op() != proxy.Stopped {
		t.Fatalf("set weight 40 at 50%%: effective %d", w)
	}
	sick.Store(false)
	awWait(t, "restored", func() bool { return a.Op() == proxy.Running && a.HealthInfo().Health == 5 && a.EWeight() == 40 })
}

// slowBackend answers after d.
func slowBackend(t *testing.T, d time.Duration, name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		io.WriteString(w, name)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func httpGet(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(c)
	return string(b)
}

func TestAutoWeightLatency(t *testing.T) {
	fast, slow := slowBackend(t, 0, "fast"), slowBackend(t, 40*time.Millisecond, "slow")
	e := startAW(t, `
defaults
    mode http
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    auto-weight latency floor 10
    server fast `+fast+` weight 100
    server slow `+slow+` weight 100
    server idle `+fast+` weight 100 disabled
`, 0)
	fe := e.eng.ListenerAddr("fe", 0).String()
	f, s, idle := e.server("be", "fast"), e.server("be", "slow"), e.server("be", "idle")
	// No samples yet: nothing changes.
	e.aw.tick()
	if f.EWeight() != 100 || s.EWeight() != 100 {
		t.Fatalf("without samples: %d %d", f.EWeight(), s.EWeight())
	}
	for i := 0; i < 20; i++ {
		httpGet(t, fe)
	}
	if s.Counters.Rtime() < 20 {
		t.Fatalf("slow server's mean response time %d ms", s.Counters.Rtime())
	}
	e.aw.tick()
	if f.EWeight() != 100 || e.aw.Factor("be", "fast") != 100 {
		t.Fatalf("fastest server: weight %d", f.EWeight())
	}
	if sw := s.EWeight(); sw >= 50 || sw < 10 {
		t.Fatalf("slow server (%d ms vs %d ms): weight %d, want between the floor and half", s.Counters.Rtime(), f.Counters.Rtime(), sw)
	}
	if idle.EWeight() != 100 || e.aw.Factor("be", "idle") != 100 {
		t.Fatalf("server without samples: %d", idle.EWeight())
	}
	// The fastest going DOWN does not drive everything to the floor: the
	// slow one becomes the fastest up server and gets 100%.
	f.SetAdmin(bus.FMaint, 0, "")
	e.aw.tick()
	if s.EWeight() != 100 {
		t.Fatalf("only server up: weight %d", s.EWeight())
	}
	f.SetAdmin(0, bus.FMaint, "")
	e.aw.tick()
	if s.EWeight() >= 50 {
		t.Fatalf("fast is back: slow weight %d", s.EWeight())
	}
}

// Slowstart ramps the scaled weight: effective = user × factor × elapsed /
// slowstart.
func TestAutoWeightLatencyWithSlowstart(t *testing.T) {
	fast, slow := slowBackend(t, 0, "fast"), slowBackend(t, 20*time.Millisecond, "slow")
	e := startAW(t, `
defaults
    mode http
    timeout connect 1s
    timeout client 2s
    timeout server 2s
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    auto-weight latency floor 50
    server fast `+fast+` weight 200
    server slow `+slow+` weight 200 slowstart 4s
`, 0)
	fe := e.eng.ListenerAddr("fe", 0).String()
	s := e.server("be", "slow")
	for i := 0; i < 10; i++ {
		httpGet(t, fe)
	}
	e.aw.tick()
	if e.aw.Factor("be", "slow") != 50 || s.EWeight() != 100 {
		t.Fatalf("factor %d eweight %d", e.aw.Factor("be", "slow"), s.EWeight())
	}
	s.SetAdmin(bus.FMaint, 0, "")
	t0 := time.Now()
	s.SetAdmin(0, bus.FMaint, "")
	if s.Op() != proxy.Starting {
		t.Fatalf("not starting: %v", s.Op())
	}
	e.aw.tick() // the factor stays while the server warms up
	awWait(t, "first ramp step", func() bool { return s.EWeight() > 1 })
	w, el := s.EWeight(), time.Since(t0)
	// Unscaled the ramp would be at 200 × el / 4s; scaled it is at most
	// 100 × el / 4s (rounded up).
	if limit := int((100*el + 4*time.Second - 1) / (4 * time.Second)); w > limit {
		t.Fatalf("after %v the ramp is at %d, above %d: the factor is not applied under slowstart", el, w, limit)
	}
	if w < 25 {
		t.Fatalf("after %v the ramp is at %d, want at least 25 (100 × 1s / 4s at the first step)", el, w)
	}
	t.Run("ramp completes", func(t *testing.T) {
		awWait(t, "ramp done", func() bool { return s.Op() == proxy.Running })
		if s.EWeight() != 100 {
			t.Fatalf("after the ramp: %d", s.EWeight())
		}
	})
}

func TestAutoWeightStaticAlgorithmIgnored(t *testing.T) {
	var sick atomic.Bool
	addr := healthBackend(t, &sick)
	e := startAW(t, `
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend be
    balance static-rr
    auto-weight checks
    option httpchk GET /health
    server a `+addr+` check inter 100ms rise 2 fall 3 weight 10
`, 0)
	a := e.server("be", "a")
	awWait(t, "a fully up", func() bool { return a.HealthInfo().Health == 4 })
	sick.Store(true)
	awWait(t, "health dropping", func() bool { return a.HealthInfo().Health == 3 })
	e.aw.tick()
	if a.EWeight() != 10 {
		t.Fatalf("static-rr backend reweighted: %d", a.EWeight())
	}
	awWait(t, "warning", func() bool { return strings.Contains(e.log.String(), "static load-balancing algorithm") })
}

// Once its context is cancelled (what the daemon does at a reload) the
// handler does nothing, from events or ticks.
func TestAutoWeightSilencedByContext(t *testing.T) {
	var sick atomic.Bool
	addr := healthBackend(t, &sick)
	cfg, err := config.Parse("aw.cfg", []byte(`
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
backend be
    auto-weight checks
    option httpchk GET /health
    server a `+addr+` check inter 100ms rise 2 fall 3 weight 10
`), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b := bus.New(bus.Options{Instance: "t"})
	defer b.Close()
	eng, err := proxy.New(cfg, proxy.Options{Publisher: b, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Start(); err != nil {
		t.Fatal(err)
	}
	defer eng.Stop(context.Background())
	aw := NewAutoWeight(cfg, func() *proxy.Engine { return eng }, AutoWeightOptions{Interval: 20 * time.Millisecond})
	if !aw.Enabled() {
		t.Fatal("not enabled")
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := aw.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := aw.Start(ctx); err == nil {
		t.Fatal("second Start accepted")
	}
	a := eng.Proxy("be").Server("a")
	awWait(t, "a fully up", func() bool { return a.HealthInfo().Health == 4 })
	cancel()
	sick.Store(true)
	awWait(t, "health dropping", func() bool { return a.HealthInfo().Health == 3 })
	aw.Handle(&bus.Event{Type: bus.ServerCheck, Server: &bus.ServerRef{Name: "a", PUID: a.PUID(), ProxyName: "be"}})
	aw.tick()
	if a.EWeight() != 10 {
		t.Fatalf("silenced handler changed the weight: %d", a.EWeight())
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := aw.Stop(sctx); err != nil {
		t.Fatal(err)
	}
}

func TestAutoWeightDisabledWithoutKeyword(t *testing.T) {
	cfg, err := config.Parse("aw.cfg", []byte("backend be\n    server a 127.0.0.1:1\n"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if NewAutoWeight(cfg, func() *proxy.Engine { return nil }, AutoWeightOptions{}).Enabled() {
		t.Fatal("enabled without auto-weight")
	}
	if NewAutoWeight(nil, nil, AutoWeightOptions{}).Enabled() {
		t.Fatal("enabled without config")
	}
	// Inherited from defaults.
	cfg, err = config.Parse("aw.cfg", []byte("defaults\n    auto-weight latency floor 30\nbackend be\n    server a 127.0.0.1:1\n"), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	aw := NewAutoWeight(cfg, func() *proxy.Engine { return nil }, AutoWeightOptions{})
	if !aw.Enabled() || aw.backends["be"].mode != AutoWeightLatency || aw.backends["be"].floor != 30 {
		t.Fatalf("defaults not inherited: %+v", aw.backends["be"])
	}
	if f := aw.Filter(); len(f.Backends) != 1 || f.Backends[0] != "be" {
		t.Fatalf("filter %+v", f)
	}
	if aw.Factor("be", "a") != 100 {
		t.Fatal("factor without engine")
	}
}
