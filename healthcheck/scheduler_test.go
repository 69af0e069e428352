package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// recTarget records reports and fails the test on overlapping calls.
type recTarget struct {
	t       testing.TB
	addr    atomic.Value
	mu      sync.Mutex
	reports []Report
	in      atomic.Int32
}

func newRec(t testing.TB, addr string) *recTarget {
	r := &recTarget{t: t}
	r.addr.Store(addr)
	return r
}

func (r *recTarget) CheckAddr() string { return r.addr.Load().(string) }

func (r *recTarget) ReportCheck(rep Report) {
	if r.in.Add(1) != 1 {
		r.t.Errorf("overlapping ReportCheck calls")
	}
	r.mu.Lock()
	r.reports = append(r.reports, rep)
	r.mu.Unlock()
	r.in.Add(-1)
}

func (r *recTarget) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.reports)
}

func (r *recTarget) all() []Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Report(nil), r.reports...)
}

// switchable is an HTTP backend whose status can be flipped; it counts
// requests and the largest number served at once.
type switchable struct {
	status  atomic.Int32
	hold    time.Duration
	reqs    atomic.Int32
	cur     atomic.Int32
	maxConc atomic.Int32
	addr    string
}

func newSwitchable(t testing.TB, hold time.Duration) *switchable {
	s := &switchable{hold: hold}
	s.status.Store(200)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.reqs.Add(1)
		n := s.cur.Add(1)
		for {
			m := s.maxConc.Load()
			if n <= m || s.maxConc.CompareAndSwap(m, n) {
				break
			}
		}
		if s.hold > 0 {
			time.Sleep(s.hold) // a slow server, not a wait in the test
		}
		s.cur.Add(-1)
		w.WriteHeader(int(s.status.Load()))
	}))
	t.Cleanup(srv.Close)
	s.addr = srv.Listener.Addr().String()
	return s
}

func httpSpec(t testing.TB) *Spec {
	r, err := ParseHTTPCheck(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &Spec{Rules: r, Inter: 2 * time.Second}
}

func startSched(t testing.TB, o SchedulerOptions) *Scheduler {
	s := NewScheduler(o)
	t.Cleanup(s.Stop)
	return s
}

func TestSchedulerTransitions(t *testing.T) {
	be := newSwitchable(t, 0)
	rec := newRec(t, be.addr)
	s := startSched(t, SchedulerOptions{})
	c, err := s.Add(rec, Config{Probe: httpSpec(t), Rise: 2, Fall: 3, Inter: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	// Fully up first.
	waitFor(t, 10*time.Second, "fully up", func() bool { return c.Health().Cur == 4 })
	be.status.Store(503)
	waitFor(t, 10*time.Second, "down", func() bool {
		for _, r := range rec.all() {
			if r.Edge == EdgeDown {
				return true
			}
		}
		return false
	})
	be.status.Store(200)
	waitFor(t, 10*time.Second, "up again", func() bool { return c.Health().IsFull() })

	reps := rec.all()
	if !reps[0].Changed || reps[0].Result.Status != StatusL7OK || reps[0].Health.Cur != 4 || reps[0].Edge != EdgeUp {
		t.Fatalf("first report %+v", reps[0])
	}
	// Find the failures: exactly fall (3) of them lead to DOWN.
	i := 0
	for i < len(reps) && reps[i].Result.Status == StatusL7OK {
		if reps[i].Edge != EdgeUp {
			t.Fatalf("pass %d edge %v", i, reps[i].Edge)
		}
		if i > 0 && reps[i].Changed {
			t.Fatalf("pass %d at full health reported as changed", i)
		}
		i++
	}
	wantFail := []struct {
		cur  int
		edge Edge
	}{{3, EdgeNone}, {2, EdgeNone}, {0, EdgeDown}}
	for k, w := range wantFail {
		r := reps[i+k]
		if r.Result.Status != StatusL7STS || r.Result.Code != 503 || r.Health.Cur != w.cur || r.Edge != w.edge || !r.Changed {
			t.Fatalf("failure %d: %+v", k+1, r)
		}
	}
	i += 3
	for i < len(reps) && reps[i].Result.Status == StatusL7STS {
		if reps[i].Edge != EdgeDown || reps[i].Changed {
			t.Fatalf("failure while down: %+v", reps[i])
		}
		i++
	}
	// Exactly rise (2) passes bring it back.
	if r := reps[i]; r.Health.Cur != 1 || r.Edge != EdgeNone || !r.Changed {
		t.Fatalf("first pass after down: %+v", r)
	}
	if r := reps[i+1]; r.Health.Cur != 4 || r.Edge != EdgeUp || !r.Changed {
		t.Fatalf("second pass after down: %+v", r)
	}
	if line := reps[i+1].LogLine("be", "s1", false, false); line[:44] != "Health check for server be/s1 succeeded, rea" {
		t.Fatalf("log line %q", line)
	}
}

func TestSchedulerIntervals(t *testing.T) {
	be := newSwitchable(t, 0)
	dead := closedPort(t)
	s := startSched(t, SchedulerOptions{})
	add := func(addr string, rise, fall int, init InitState) *recTarget {
		rec := newRec(t, addr)
		_, err := s.Add(rec, Config{Probe: &Spec{Inter: 2 * time.Second}, Rise: rise, Fall: fall, InitState: init,
			Inter: 100 * time.Millisecond, FastInter: 10 * time.Millisecond, DownInter: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return rec
	}
	full := add(be.addr, 2, 3, InitFullyUp)        // fully UP: inter
	rising := add(be.addr, 1000, 1, InitFullyDown) // climbing 1..999: fastinter
	down := add(dead, 2, 3, InitFullyDown)         // fully DOWN: downinter
	s.Start(context.Background())
	waitFor(t, 20*time.Second, "6 checks at inter", func() bool { return full.count() >= 6 })
	nFull, nRising, nDown := full.count(), rising.count(), down.count()
	t.Logf("checks: inter=%d fastinter=%d downinter=%d", nFull, nRising, nDown)
	if nRising < 3*nFull {
		t.Errorf("fastinter checker ran %d checks vs %d at inter", nRising, nFull)
	}
	if nDown < 1 || nDown*2 > nFull {
		t.Errorf("downinter checker ran %d checks vs %d at inter", nDown, nFull)
	}
	if h := rising.all()[nRising-1].Health; h.Cur != nRising || h.IsUp() {
		t.Errorf("rising health %+v after %d passes", h, nRising)
	}
}

func TestSchedulerOneInFlight(t *testing.T) {
	be := newSwitchable(t, 20*time.Millisecond)
	rec := newRec(t, be.addr)
	s := startSched(t, SchedulerOptions{SpreadChecks: 50})
	if _, err := s.Add(rec, Config{Probe: httpSpec(t), Inter: time.Millisecond, FastInter: time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	waitFor(t, 10*time.Second, "8 checks", func() bool { return rec.count() >= 8 })
	if m := be.maxConc.Load(); m != 1 {
		t.Fatalf("%d probes in flight at once", m)
	}
}

func TestSchedulerPauseResumeSetHealth(t *testing.T) {
	be := newSwitchable(t, 0)
	s := startSched(t, SchedulerOptions{})
	cfg := Config{Probe: &Spec{Inter: time.Second}, Rise: 2, Fall: 3, Inter: 5 * time.Millisecond}
	rec, ref := newRec(t, be.addr), newRec(t, be.addr)
	c, _ := s.Add(rec, cfg)
	if _, err := s.Add(ref, cfg); err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	waitFor(t, 10*time.Second, "first checks", func() bool { return rec.count() >= 2 })

	// MAINT: pause and health 0.
	c.Pause()
	c.SetHealth(0)
	if !c.Paused() || c.Health().Cur != 0 {
		t.Fatal("pause")
	}
	// A probe already reporting when Pause was called may still land.
	waitFor(t, 10*time.Second, "in-flight probe to finish", func() bool { return !c.Running() })
	paused := rec.count()
	base := ref.count()
	waitFor(t, 10*time.Second, "reference checker to run 10 more checks", func() bool { return ref.count() >= base+10 })
	if n := rec.count(); n != paused {
		t.Fatalf("paused checker reported %d more checks", n-paused)
	}
	// Leaving MAINT: health = rise, check at once.
	c.SetHealth(2)
	c.Resume()
	waitFor(t, 10*time.Second, "resumed check", func() bool { return rec.count() > paused })
	if r := rec.all()[paused]; r.Health.Cur != 4 || r.Edge != EdgeUp {
		t.Fatalf("first check after resume %+v", r)
	}
	// "set server health down" then a pass: health 1, still DOWN.
	c.Pause()
	c.SetHealth(c.Health().Set(HealthDown).Cur)
	waitFor(t, 10*time.Second, "in-flight probe to finish", func() bool { return !c.Running() })
	n := rec.count()
	c.Resume()
	waitFor(t, 10*time.Second, "check after set health", func() bool { return rec.count() > n })
	if r := rec.all()[n]; r.Health.Cur != 1 || r.Edge != EdgeNone {
		t.Fatalf("after set health down %+v", r)
	}
	c.SetHealth(99)
	if c.Health().Cur != 4 {
		t.Fatal("SetHealth not clamped")
	}
}

func TestSchedulerAgent(t *testing.T) {
	var reply atomic.Value
	reply.Store("up 50%\n")
	agent := listen(t, func(c net.Conn) {
		c.Write([]byte(reply.Load().(string)))
		c.Read(make([]byte, 1))
	})
	rec := newRec(t, "127.0.0.1:80")
	s := startSched(t, SchedulerOptions{})
	c, err := s.Add(rec, Config{Kind: KindAgent, Probe: &AgentSpec{Port: portOf(agent), Inter: time.Second}, Rise: 5, Fall: 5, Inter: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if h := c.Health(); h.Rise != 1 || h.Fall != 1 || h.Cur != 1 || c.Kind() != KindAgent {
		t.Fatalf("agent health %+v", h)
	}
	s.Start(context.Background())
	waitFor(t, 10*time.Second, "agent up", func() bool { return rec.count() >= 2 })
	r := rec.all()[0]
	if r.Kind != KindAgent || r.Result.Status != StatusL7OK || r.Edge != EdgeUp || r.Agent == nil || r.Agent.Weight != 50 {
		t.Fatalf("agent report %+v", r)
	}
	if rec.all()[1].Changed {
		t.Fatal("same agent answer reported as changed")
	}
	reply.Store("down#maintenance window\n")
	waitFor(t, 10*time.Second, "agent down", func() bool { return c.Health().Cur == 0 })
	reply.Store("75%\n")
	n := rec.count()
	waitFor(t, 10*time.Second, "neutral reply", func() bool { return rec.count() > n+1 })
	last := rec.all()[rec.count()-1]
	if last.Result.Status != StatusChecked || last.Changed || last.Edge != EdgeNone || last.Health.Cur != 0 || !last.Agent.HasWeight {
		t.Fatalf("neutral agent reply %+v", last)
	}
	// An unreachable agent: its health never drops because of that.
	rec2 := newRec(t, "127.0.0.1:80")
	if _, err := s.Add(rec2, Config{Kind: KindAgent, Probe: &AgentSpec{Port: portOf(closedPort(t)), Inter: time.Second}, Inter: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "unreachable agent checks", func() bool { return rec2.count() >= 3 })
	for _, r := range rec2.all() {
		if r.Result.Status != StatusL4CON || r.Health.Cur != 1 || r.Edge != EdgeNone || r.Agent != nil {
			t.Fatalf("unreachable agent %+v", r)
		}
	}
	if !rec2.all()[0].Changed || rec2.all()[1].Changed {
		t.Fatal("Changed should follow the status change only")
	}
}

func TestSchedulerAddressChangeAndRemove(t *testing.T) {
	a, b := newSwitchable(t, 0), newSwitchable(t, 0)
	rec := newRec(t, a.addr)
	s := startSched(t, SchedulerOptions{})
	c, _ := s.Add(rec, Config{Probe: httpSpec(t), Inter: 5 * time.Millisecond})
	s.Start(context.Background())
	waitFor(t, 10*time.Second, "checks on a", func() bool { return a.reqs.Load() >= 2 })
	rec.addr.Store(b.addr)
	waitFor(t, 10*time.Second, "checks on b", func() bool { return b.reqs.Load() >= 2 })
	c.Remove()
	n := rec.count()
	// Another checker proves time went by.
	ref := newRec(t, b.addr)
	if _, err := s.Add(ref, Config{Probe: httpSpec(t), Inter: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "reference checks", func() bool { return ref.count() >= 5 })
	if rec.count() > n+1 {
		t.Fatalf("removed checker kept reporting: %d -> %d", n, rec.count())
	}
}

func TestSchedulerStartSpreadAndStop(t *testing.T) {
	be := newSwitchable(t, 0)
	s := NewScheduler(SchedulerOptions{SpreadChecks: 80})
	if s.opts.SpreadChecks != 50 {
		t.Fatalf("spread-checks not capped: %d", s.opts.SpreadChecks)
	}
	var cs []*Checker
	for i := 0; i < 10; i++ {
		c, err := s.Add(newRec(t, be.addr), Config{Probe: &Spec{Inter: time.Second}, Inter: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	before := time.Now()
	s.Start(context.Background())
	seen := map[int64]bool{}
	for _, c := range cs {
		c.mu.Lock()
		d := c.due.Sub(before)
		c.mu.Unlock()
		if d < 0 || d > time.Hour+time.Second {
			t.Fatalf("first check in %v", d)
		}
		seen[int64(d/time.Minute)] = true
	}
	if len(seen) < 9 {
		t.Fatalf("first checks not spread over the interval: %v", seen)
	}
	for i := 0; i < 1000; i++ {
		d := s.jitter(time.Second)
		if d < 500*time.Millisecond || d > 1500*time.Millisecond {
			t.Fatalf("jitter %v", d)
		}
	}
	s.Stop()
	s.Stop()
	if _, err := s.Add(newRec(t, be.addr), Config{Probe: &Spec{}}); !errors.Is(err, ErrStopped) {
		t.Fatalf("Add after Stop: %v", err)
	}
}

func TestSchedulerStopDuringProbe(t *testing.T) {
	addr := silent(t)
	rec := newRec(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := NewScheduler(SchedulerOptions{})
	spec := httpSpec(t)
	spec.Inter = time.Hour // the probe would wait an hour for an answer
	c, _ := s.Add(rec, Config{Probe: spec, Inter: time.Millisecond})
	s.Start(ctx)
	waitFor(t, 10*time.Second, "probe in flight", c.Running)
	done := make(chan struct{})
	go func() { cancel(); s.Stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Stop did not return while a probe was blocked")
	}
	if rec.count() != 0 {
		t.Fatal("aborted probe was reported")
	}
}

func TestSchedulerPanics(t *testing.T) {
	be := newSwitchable(t, 0)
	var logged atomic.Int32
	s := startSched(t, SchedulerOptions{Logf: func(string, ...any) { logged.Add(1) }})
	pt := &panicTarget{addr: be.addr}
	if _, err := s.Add(pt, Config{Probe: &Spec{Inter: time.Second}, Inter: 5 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	waitFor(t, 10*time.Second, "checks despite a panicking target", func() bool { return pt.calls.Load() >= 3 && logged.Load() >= 3 })
}

type panicTarget struct {
	addr  string
	calls atomic.Int32
}

func (p *panicTarget) CheckAddr() string { return p.addr }
func (p *panicTarget) ReportCheck(Report) {
	p.calls.Add(1)
	panic("target bug")
}
