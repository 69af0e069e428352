package healthcheck

import (
	"testing"
	"time"
)

var (
	pass     = Result{Status: StatusL7OK, Code: 200}
	condPass = Result{Status: StatusL7OKC, Code: 404}
	fail     = Result{Status: StatusL4CON}
	neutral  = Result{Status: StatusChecked}
)

func TestHealthCounter(t *testing.T) {
	// rise 2, fall 3: range [0, 4]; UP from 2.
	tests := []struct {
		name      string
		start     Health
		results   []Result
		wantCur   []int
		wantEdges []Edge
	}{
		{"fully up: fall failures take it down", Health{4, 2, 3},
			[]Result{fail, fail, fail},
			[]int{3, 2, 0}, []Edge{EdgeNone, EdgeNone, EdgeDown}},
		{"bottom of UP range: one failure takes it down", Health{2, 2, 3},
			[]Result{fail},
			[]int{0}, []Edge{EdgeDown}},
		{"from 0: rise passes bring it up and jump to max", Health{0, 2, 3},
			[]Result{pass, pass},
			[]int{1, 4}, []Edge{EdgeNone, EdgeUp}},
		{"rising then a failure resets to 0", Health{1, 2, 3},
			[]Result{fail},
			[]int{0}, []Edge{EdgeDown}},
		{"down stays down and keeps asking", Health{0, 2, 3},
			[]Result{fail, fail},
			[]int{0, 0}, []Edge{EdgeDown, EdgeDown}},
		{"up stays up and keeps asking", Health{4, 2, 3},
			[]Result{pass, pass},
			[]int{4, 4}, []Edge{EdgeUp, EdgeUp}},
		{"failure then pass at full", Health{4, 2, 3},
			[]Result{fail, pass},
			[]int{3, 4}, []Edge{EdgeNone, EdgeUp}},
		{"condpass asks stopping", Health{4, 2, 3},
			[]Result{condPass},
			[]int{4}, []Edge{EdgeStopping}},
		{"condpass from down raises health", Health{0, 2, 3},
			[]Result{condPass, condPass},
			[]int{1, 4}, []Edge{EdgeNone, EdgeStopping}},
		{"neutral changes nothing", Health{3, 2, 3},
			[]Result{neutral},
			[]int{3}, []Edge{EdgeNone}},
		{"rise 1 fall 1", Health{1, 1, 1},
			[]Result{fail, pass},
			[]int{0, 1}, []Edge{EdgeDown, EdgeUp}},
		{"rise 3 fall 2 from init down", NewHealth(3, 2, InitDown),
			[]Result{pass},
			[]int{4}, []Edge{EdgeUp}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := tc.start
			for i, r := range tc.results {
				before := h
				var e Edge
				var moved bool
				h, e, moved = h.Apply(r, false)
				if h.Cur != tc.wantCur[i] || e != tc.wantEdges[i] {
					t.Fatalf("step %d (%s): cur=%d edge=%v, want cur=%d edge=%v", i, r.Status, h.Cur, e, tc.wantCur[i], tc.wantEdges[i])
				}
				if moved != (before.Cur != h.Cur) {
					t.Fatalf("step %d: moved=%v", i, moved)
				}
			}
		})
	}
}

func TestHealthAgent(t *testing.T) {
	h := NewHealth(1, 1, InitNone) // agent: rise=fall=1, starts at 1 (UP)
	// A failed agent connection never lowers health nor asks DOWN.
	for _, st := range []Status{StatusL4CON, StatusL4TOUT, StatusL7TOUT, StatusL7RSP, StatusSockErr} {
		next, e, moved := h.Apply(Result{Status: st}, true)
		if next.Cur != 1 || e != EdgeNone || moved {
			t.Errorf("agent %s: cur=%d edge=%v moved=%v, want unchanged", st, next.Cur, e, moved)
		}
	}
	// "down" (L7STS) does.
	next, e, _ := h.Apply(Result{Status: StatusL7STS}, true)
	if next.Cur != 0 || e != EdgeDown {
		t.Errorf("agent L7STS: cur=%d edge=%v", next.Cur, e)
	}
	// A connection failure while down does not re-ask DOWN.
	if _, e, _ := next.Apply(Result{Status: StatusL4CON}, true); e != EdgeNone {
		t.Errorf("agent L4CON while down: edge=%v", e)
	}
	// "up" brings it back; an agent never asks STOPPING.
	up, e, _ := next.Apply(Result{Status: StatusL7OK}, true)
	if up.Cur != 1 || e != EdgeUp {
		t.Errorf("agent up: cur=%d edge=%v", up.Cur, e)
	}
	if _, e, _ := up.Apply(condPass, true); e != EdgeNone {
		t.Errorf("agent condpass: edge=%v", e)
	}
}

func TestNewHealthInitState(t *testing.T) {
	tests := []struct {
		in      string
		cur     int
		up      bool
		startsD bool
	}{
		{"", 2, true, false},
		{"none", 2, true, false},
		{"fully-up", 4, true, false},
		{"up", 2, true, false},
		{"down", 1, false, true},
		{"fully-down", 0, false, true},
	}
	for _, tc := range tests {
		t.Run("init-state "+tc.in, func(t *testing.T) {
			is, err := ParseInitState(tc.in)
			if err != nil {
				t.Fatal(err)
			}
			h := NewHealth(2, 3, is)
			if h.Cur != tc.cur || h.IsUp() != tc.up || is.StartsDown() != tc.startsD {
				t.Errorf("cur=%d up=%v startsDown=%v", h.Cur, h.IsUp(), is.StartsDown())
			}
		})
	}
	if _, err := ParseInitState("sideways"); err == nil {
		t.Error("bad init-state accepted")
	}
	// default start: the first failure takes it DOWN.
	h := NewHealth(2, 3, InitNone)
	if h, e, _ := h.Apply(fail, false); h.Cur != 0 || e != EdgeDown {
		t.Errorf("default start, one failure: cur=%d edge=%v", h.Cur, e)
	}
	// init-state down: one success brings it UP.
	h = NewHealth(2, 3, InitDown)
	if h, e, _ := h.Apply(pass, false); !h.IsUp() || e != EdgeUp {
		t.Errorf("init-state down, one pass: cur=%d edge=%v", h.Cur, e)
	}
}

func TestHealthSetAndText(t *testing.T) {
	h := Health{1, 2, 3}
	if h.Set(HealthUp).Cur != 4 || h.Set(HealthStopping).Cur != 4 || h.Set(HealthDown).Cur != 0 {
		t.Error("Set")
	}
	tests := []struct {
		h              Health
		down, stopping bool
		want           string
	}{
		{Health{4, 2, 3}, false, false, "UP"},
		{Health{3, 2, 3}, false, false, "UP 2/3"},
		{Health{2, 2, 3}, false, false, "UP 1/3"},
		{Health{3, 2, 3}, false, true, "NOLB 2/3"},
		{Health{4, 2, 3}, false, true, "NOLB"},
		{Health{0, 2, 3}, true, false, "DOWN"},
		{Health{1, 2, 3}, true, false, "DOWN 1/2"},
	}
	for _, tc := range tests {
		if got := tc.h.StatsText(tc.down, tc.stopping); got != tc.want {
			t.Errorf("%+v down=%v stopping=%v: %q, want %q", tc.h, tc.down, tc.stopping, got, tc.want)
		}
	}
}

func TestHealthInterval(t *testing.T) {
	iv := Intervals{Inter: 1000 * time.Millisecond, FastInter: 100 * time.Millisecond, DownInter: 5000 * time.Millisecond}
	tests := []struct {
		name string
		h    Health
		iv   Intervals
		fast bool
		want time.Duration
	}{
		{"fully up: inter", Health{4, 2, 3}, iv, false, time.Second},
		{"fully up with forced fastinter", Health{4, 2, 3}, iv, true, 100 * time.Millisecond},
		{"transitional up: fastinter", Health{3, 2, 3}, iv, false, 100 * time.Millisecond},
		{"transitional down: fastinter", Health{1, 2, 3}, iv, false, 100 * time.Millisecond},
		{"fully down: downinter", Health{0, 2, 3}, iv, false, 5 * time.Second},
		{"fully down, forced fast: still downinter", Health{0, 2, 3}, iv, true, 5 * time.Second},
		{"fully down without downinter: inter", Health{0, 2, 3}, Intervals{Inter: time.Second, FastInter: 100 * time.Millisecond}, false, time.Second},
		{"transitional without fastinter: inter", Health{3, 2, 3}, Intervals{Inter: time.Second}, false, time.Second},
		{"zero inter: default 2s", Health{4, 2, 3}, Intervals{}, false, 2 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.h.Interval(tc.iv, tc.fast); got != tc.want {
				t.Errorf("Interval = %v, want %v", got, tc.want)
			}
		})
	}
}
