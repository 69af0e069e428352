package healthcheck

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestParseObserveOnError(t *testing.T) {
	for in, want := range map[string]ObserveMode{"": ObserveNone, "none": ObserveNone, "layer4": ObserveLayer4, "layer7": ObserveLayer7} {
		if got, err := ParseObserve(in); err != nil || got != want {
			t.Errorf("ParseObserve(%q) = %v, %v", in, got, err)
		}
	}
	for in, want := range map[string]OnError{"": OnErrorFailCheck, "fail-check": OnErrorFailCheck, "fastinter": OnErrorFastInter, "sudden-death": OnErrorSuddenDeath, "mark-down": OnErrorMarkDown} {
		if got, err := ParseOnError(in); err != nil || got != want {
			t.Errorf("ParseOnError(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseObserve("layer5"); err == nil {
		t.Error("layer5 accepted")
	}
	if _, err := ParseOnError("panic"); err == nil {
		t.Error("on-error panic accepted")
	}
	for _, tc := range []struct {
		status int
		good   bool
	}{{100, true}, {200, true}, {404, true}, {499, true}, {500, false}, {501, true}, {502, false}, {503, false}, {505, true}, {99, false}} {
		if GoodHTTPStatus(tc.status) != tc.good {
			t.Errorf("GoodHTTPStatus(%d)", tc.status)
		}
	}
}

// observed returns an unstarted checker (no active probes) with passive
// checks configured, starting fully UP (rise 2, fall 3: health 4).
func observed(t *testing.T, mode ObserveMode, onErr OnError, limit int) (*Checker, *recTarget) {
	s := startSched(t, SchedulerOptions{})
	rec := newRec(t, closedPort(t))
	c, err := s.Add(rec, Config{Probe: &Spec{Inter: time.Second}, Rise: 2, Fall: 3, InitState: InitFullyUp,
		Inter: time.Hour, Observe: mode, OnError: onErr, ErrorLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	return c, rec
}

func TestObserveFailCheck(t *testing.T) {
	c, rec := observed(t, ObserveLayer4, OnErrorFailCheck, 3)
	c.Observe(false)
	c.Observe(false)
	c.Observe(true) // a good connection resets the count
	c.Observe(false)
	c.Observe(false)
	if rec.count() != 0 || c.Health().Cur != 4 {
		t.Fatal("reacted below the error limit")
	}
	c.Observe(false)
	waitFor(t, 5*time.Second, "HANA report", func() bool { return rec.count() == 1 })
	r := rec.all()[0]
	if r.Result.Status != StatusHANA || r.Result.Duration >= 0 || r.Health.Cur != 3 || r.Edge != EdgeNone || !r.Changed ||
		r.Result.Info != "Detected 3 consecutive errors, last one was: L4 unsuccessful connection" {
		t.Fatalf("report %+v", r)
	}
	if !strings.HasSuffix(r.Result.Reason(), `reason: Health analyze, info: "Detected 3 consecutive errors, last one was: L4 unsuccessful connection"`) {
		t.Fatalf("reason %q", r.Result.Reason())
	}
	for i := 0; i < 6; i++ {
		c.Observe(false)
	}
	waitFor(t, 5*time.Second, "two more reports", func() bool { return rec.count() == 3 })
	if r := rec.all()[2]; r.Health.Cur != 0 || r.Edge != EdgeDown {
		t.Fatalf("third HANA %+v", r)
	}
}

func TestObserveSuddenDeathAndMarkDown(t *testing.T) {
	c, rec := observed(t, ObserveLayer7, OnErrorSuddenDeath, 2)
	c.ObserveHTTP(502)
	c.ObserveHTTP(503)
	waitFor(t, 5*time.Second, "sudden-death", func() bool { return rec.count() == 1 })
	if r := rec.all()[0]; r.Health.Cur != 2 || !r.Health.IsUp() || r.Edge != EdgeNone ||
		r.Result.Info != "Detected 2 consecutive errors, last one was: Wrong http response" {
		t.Fatalf("sudden-death %+v", r)
	}
	c.ObserveEvent(PassiveHTTPReadTimeout)
	c.ObserveEvent(PassiveHTTPBrokenPipe)
	waitFor(t, 5*time.Second, "second sudden-death", func() bool { return rec.count() == 2 })
	if r := rec.all()[1]; r.Health.Cur != 0 || r.Edge != EdgeDown {
		t.Fatalf("second %+v", r)
	}

	m, mrec := observed(t, ObserveLayer4, OnErrorMarkDown, 1)
	m.Observe(false)
	waitFor(t, 5*time.Second, "mark-down", func() bool { return mrec.count() == 1 })
	if r := mrec.all()[0]; r.Health.Cur != 0 || r.Edge != EdgeDown {
		t.Fatalf("mark-down %+v", r)
	}
}

func TestObserveModes(t *testing.T) {
	// layer7: HTTP good statuses reset, L4 successes are ignored, L4
	// failures count.
	c, rec := observed(t, ObserveLayer7, OnErrorFailCheck, 3)
	c.ObserveHTTP(500)
	c.ObserveHTTP(404) // good
	c.ObserveHTTP(500)
	c.Observe(true) // ignored in layer7: does not reset
	c.Observe(false)
	c.ObserveHTTP(501) // good
	c.ObserveHTTP(500)
	c.ObserveHTTP(500)
	if rec.count() != 0 {
		t.Fatal("reacted too early")
	}
	c.ObserveEvent(PassiveHTTPHeaders)
	waitFor(t, 5*time.Second, "layer7 HANA", func() bool { return rec.count() == 1 })
	if got := rec.all()[0].Result.Info; got != "Detected 3 consecutive errors, last one was: Invalid http response (headers)" {
		t.Fatalf("info %q", got)
	}
	// layer4 ignores HTTP statuses; no observe ignores everything.
	l4, rec4 := observed(t, ObserveLayer4, OnErrorFailCheck, 1)
	l4.ObserveHTTP(500)
	none, recN := observed(t, ObserveNone, OnErrorMarkDown, 1)
	none.Observe(false)
	l4.Observe(false)
	waitFor(t, 5*time.Second, "layer4 HANA", func() bool { return rec4.count() == 1 })
	if rec4.all()[0].Result.Info != "Detected 1 consecutive errors, last one was: L4 unsuccessful connection" || recN.count() != 0 {
		t.Fatal("modes mixed up")
	}
	if PassiveEvent(99).Desc() != "Unknown" {
		t.Fatal("unknown event desc")
	}
}

func TestObserveFastInter(t *testing.T) {
	be := newSwitchable(t, 0)
	s := startSched(t, SchedulerOptions{})
	rec := newRec(t, be.addr)
	c, err := s.Add(rec, Config{Probe: &Spec{Inter: time.Second}, Rise: 2, Fall: 3, InitState: InitFullyUp,
		Inter: time.Hour, FastInter: 5 * time.Millisecond, Observe: ObserveLayer4, OnError: OnErrorFastInter, ErrorLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	waitFor(t, 10*time.Second, "first check", func() bool { return rec.count() == 1 && !c.Running() })
	// Next check is an hour away; two errors bring it forward to fastinter.
	c.Observe(false)
	c.Observe(false)
	waitFor(t, 10*time.Second, "check at fastinter", func() bool { return rec.count() == 2 })
	r := rec.all()[1]
	if r.Result.Status != StatusL4OK || r.Health.Cur != 4 {
		t.Fatalf("report %+v (fastinter must not report HANA)", r)
	}
	// The forced fastinter applied once: back to inter afterwards.
	c.mu.Lock()
	next := time.Until(c.due)
	c.mu.Unlock()
	if next < 30*time.Minute {
		t.Fatalf("next check in %v, want ~inter", next)
	}
}

func TestObserveResetByPassingCheck(t *testing.T) {
	be := newSwitchable(t, 0)
	s := startSched(t, SchedulerOptions{})
	rec := newRec(t, be.addr)
	c, _ := s.Add(rec, Config{Probe: &Spec{Inter: time.Second}, Inter: 5 * time.Millisecond, Observe: ObserveLayer4, ErrorLimit: 3})
	c.Observe(false)
	c.Observe(false)
	s.Start(context.Background())
	waitFor(t, 10*time.Second, "a passing check", func() bool { return rec.count() >= 1 })
	c.Observe(false)
	c.Observe(false)
	for _, r := range rec.all() {
		if r.Result.Status == StatusHANA {
			t.Fatal("error count survived a passing check")
		}
	}
	if c.errs.Load() != 2 {
		t.Fatalf("errors %d", c.errs.Load())
	}
}
