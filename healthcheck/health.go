package healthcheck

import (
	"fmt"
	"strconv"
	"time"
)

// Health is a check's health counter (reference §4.3). Cur is in
// [0, Rise+Fall-1]; Cur >= Rise means the check considers the server UP.
// It is a plain value: methods return the updated counter.
type Health struct {
	Cur  int `json:"cur"`
	Rise int `json:"rise"`
	Fall int `json:"fall"`
}

// InitState is the server's "init-state" keyword.
type InitState uint8

// Init states.
const (
	InitNone      InitState = iota // default: health = rise, server UP, first failure takes it DOWN
	InitFullyUp                    // "fully-up": RUNNING, health = rise+fall-1
	InitUp                         // "up": RUNNING, health = rise
	InitDown                       // "down": STOPPED, health = rise-1 (one success brings it UP)
	InitFullyDown                  // "fully-down": STOPPED, health = 0
)

// ParseInitState parses an init-state value; "" and "none" give InitNone.
func ParseInitState(s string) (InitState, error) {
	switch s {
	case "", "none":
		return InitNone, nil
	case "fully-up":
		return InitFullyUp, nil
	case "up":
		return InitUp, nil
	case "down":
		return InitDown, nil
	case "fully-down":
		return InitFullyDown, nil
	}
	return InitNone, fmt.Errorf("init-state: unknown value %q (expects fully-up, up, down, fully-down or none)", s)
}

// StartsDown reports whether a server with this init-state starts STOPPED.
func (s InitState) StartsDown() bool { return s == InitDown || s == InitFullyDown }

// NewHealth returns the starting counter for rise/fall and an init-state.
// Rise and fall below 1 are raised to 1.
func NewHealth(rise, fall int, init InitState) Health {
	if rise < 1 {
		rise = 1
	}
	if fall < 1 {
		fall = 1
	}
	h := Health{Cur: rise, Rise: rise, Fall: fall}
	switch init {
	case InitFullyUp:
		h.Cur = h.Max()
	case InitDown:
		h.Cur = rise - 1
	case InitFullyDown:
		h.Cur = 0
	}
	return h
}

// Max is rise+fall-1, the value of a fully UP counter.
func (h Health) Max() int { return h.Rise + h.Fall - 1 }

// IsUp reports whether the counter is in the UP range (Cur >= Rise).
func (h Health) IsUp() bool { return h.Cur >= h.Rise }

// IsFull reports whether the counter is fully UP.
func (h Health) IsFull() bool { return h.Cur >= h.Max() }

// Edge is what a check result asks of the server's operational state. The
// values mirror HAProxy's check_notify_failure / check_notify_success /
// check_notify_stopping; like srv_set_stopped/running/stopping, applying an
// edge to a server already in that state must be a no-op.
type Edge uint8

// Edges.
const (
	// EdgeNone: nothing to do.
	EdgeNone Edge = iota
	// EdgeDown: the check failed and its health is 0: mark the server DOWN
	// (STOPPED). An agent asks this only for "down", "fail" and "stopped".
	EdgeDown
	// EdgeUp: the check passed and its health is in the UP range. The
	// server goes RUNNING (STARTING with slowstart) only if it is not in
	// MAINT, its tracked server is not STOPPED, and every enabled check
	// (health and agent) has health >= its rise. An agent's EdgeUp does not
	// take a server out of STOPPING (NOLB).
	EdgeUp
	// EdgeStopping: a conditional pass (L7OKC, 404 with disable-on-404) with
	// health in the UP range: the server goes STOPPING (NOLB) under the same
	// conditions as EdgeUp. Only health checks produce it.
	EdgeStopping
)

// String names the edge.
func (e Edge) String() string {
	switch e {
	case EdgeDown:
		return "down"
	case EdgeUp:
		return "up"
	case EdgeStopping:
		return "stopping"
	}
	return "none"
}

// Apply updates the counter with one result, as HAProxy's
// set_server_check_status does, and returns the new counter, the edge the
// result asks for and whether the counter moved.
//
// A failure lowers health by one and forces it to 0 once it is below rise; a
// pass raises it by one and jumps to rise+fall-1 once it reaches rise. For an
// agent (agent true), a failure that is not a layer 5-7 answer (the agent
// could not be reached or did not answer) never lowers health, and only
// L7STS ("down", "fail", "stopped") asks for EdgeDown.
func (h Health) Apply(r Result, agent bool) (next Health, e Edge, moved bool) {
	next = h
	switch r.Class() {
	case ResultFailed:
		if (!agent || r.Status.HasCode()) && h.Cur > 0 {
			next.Cur--
			if next.Cur < next.Rise {
				next.Cur = 0
			}
		}
		if (!agent || r.Status == StatusL7STS) && next.Cur == 0 {
			e = EdgeDown
		}
	case ResultPassed, ResultCondPass:
		if h.Cur < h.Max() {
			next.Cur++
			if next.Cur >= next.Rise {
				next.Cur = next.Max()
			}
		}
		if next.IsUp() {
			switch {
			case r.Class() == ResultPassed:
				e = EdgeUp
			case !agent:
				e = EdgeStopping
			}
		}
	}
	return next, e, next.Cur != h.Cur
}

// HealthOp is a "set server <b>/<s> health" argument.
type HealthOp uint8

// Health operations.
const (
	HealthUp       HealthOp = iota // "up": rise+fall-1
	HealthStopping                 // "stopping": rise+fall-1 (the server then goes NOLB)
	HealthDown                     // "down": 0
)

// Set returns the counter after a "set server ... health" operation.
func (h Health) Set(op HealthOp) Health {
	if op == HealthDown {
		h.Cur = 0
	} else {
		h.Cur = h.Max()
	}
	return h
}

// StatsText returns the stats status text for a server with this check
// health: while the server is up "UP" or "UP <cur-rise+1>/<fall>" ("NOLB"
// instead of "UP" when stopping), while it is down "DOWN" or
// "DOWN <cur>/<rise>".
func (h Health) StatsText(serverDown, stopping bool) string {
	if serverDown {
		if h.Cur == 0 {
			return "DOWN"
		}
		return "DOWN " + strconv.Itoa(h.Cur) + "/" + strconv.Itoa(h.Rise)
	}
	word := "UP"
	if stopping {
		word = "NOLB"
	}
	if h.IsFull() {
		return word
	}
	return word + " " + strconv.Itoa(h.Cur-h.Rise+1) + "/" + strconv.Itoa(h.Fall)
}

// Intervals are a check's configured intervals. Zero FastInter or DownInter
// means "same as Inter".
type Intervals struct {
	Inter     time.Duration // "inter" / "agent-inter", default 2s
	FastInter time.Duration // "fastinter"
	DownInter time.Duration // "downinter"
}

// DefaultInter is HAProxy's default check interval.
const DefaultInter = 2 * time.Second

// Interval returns the delay before the next check (reference §5.3, HAProxy's
// srv_getinter): Inter when fully UP (unless forceFast, set by a passive check
// error), DownInter when fully DOWN, FastInter otherwise.
func (h Health) Interval(iv Intervals, forceFast bool) time.Duration {
	inter := iv.Inter
	if inter <= 0 {
		inter = DefaultInter
	}
	if h.IsFull() && !forceFast {
		return inter
	}
	if h.Cur == 0 && iv.DownInter > 0 {
		return iv.DownInter
	}
	if h.Cur == 0 {
		return inter
	}
	if iv.FastInter > 0 {
		return iv.FastInter
	}
	return inter
}
