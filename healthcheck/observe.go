package healthcheck

import (
	"fmt"
	"strconv"
	"time"
)

// ObserveMode is the server's "observe" keyword.
type ObserveMode uint8

// Observe modes.
const (
	ObserveNone ObserveMode = iota
	ObserveLayer4
	ObserveLayer7
)

// ParseObserve parses "layer4" or "layer7" ("" and "none" give ObserveNone).
func ParseObserve(s string) (ObserveMode, error) {
	switch s {
	case "", "none":
		return ObserveNone, nil
	case "layer4":
		return ObserveLayer4, nil
	case "layer7":
		return ObserveLayer7, nil
	}
	return ObserveNone, fmt.Errorf("observe: unknown mode %q (expects layer4 or layer7)", s)
}

// OnError is the server's "on-error" keyword: what happens once "error-limit"
// consecutive errors were observed.
type OnError uint8

// On-error actions.
const (
	// OnErrorFailCheck simulates a failed health check (the default).
	OnErrorFailCheck OnError = iota
	// OnErrorFastInter only makes the next check use fastinter.
	OnErrorFastInter
	// OnErrorSuddenDeath simulates a pre-fatal failed check: one more
	// failure marks the server DOWN.
	OnErrorSuddenDeath
	// OnErrorMarkDown marks the server DOWN at once.
	OnErrorMarkDown
)

// ParseOnError parses fastinter, fail-check, sudden-death or mark-down (""
// gives the default, fail-check).
func ParseOnError(s string) (OnError, error) {
	switch s {
	case "", "fail-check":
		return OnErrorFailCheck, nil
	case "fastinter":
		return OnErrorFastInter, nil
	case "sudden-death":
		return OnErrorSuddenDeath, nil
	case "mark-down":
		return OnErrorMarkDown, nil
	}
	return OnErrorFailCheck, fmt.Errorf("on-error: unknown action %q (expects fastinter, fail-check, sudden-death or mark-down)", s)
}

// PassiveEvent is one observation of real traffic (HAProxy's
// analyze_statuses).
type PassiveEvent uint8

// Passive events.
const (
	PassiveL4OK            PassiveEvent = iota // L4 successful connection
	PassiveL4Err                               // L4 unsuccessful connection
	PassiveHTTPOK                              // Correct http response
	PassiveHTTPStatus                          // Wrong http response
	PassiveHTTPHeaders                         // Invalid http response (headers)
	PassiveHTTPInvalid                         // Invalid http response
	PassiveHTTPReadError                       // Read error (http)
	PassiveHTTPReadTimeout                     // Read timeout (http)
	PassiveHTTPBrokenPipe                      // Close from server (http)
	numPassiveEvents
)

// passiveTable: description and, per mode (layer4, layer7), 0 = ignored,
// 1 = error, 2 = good.
var passiveTable = [numPassiveEvents]struct {
	desc string
	lr   [2]uint8
}{
	PassiveL4OK:            {"L4 successful connection", [2]uint8{2, 0}},
	PassiveL4Err:           {"L4 unsuccessful connection", [2]uint8{1, 1}},
	PassiveHTTPOK:          {"Correct http response", [2]uint8{0, 2}},
	PassiveHTTPStatus:      {"Wrong http response", [2]uint8{0, 1}},
	PassiveHTTPHeaders:     {"Invalid http response (headers)", [2]uint8{0, 1}},
	PassiveHTTPInvalid:     {"Invalid http response", [2]uint8{0, 1}},
	PassiveHTTPReadError:   {"Read error (http)", [2]uint8{0, 1}},
	PassiveHTTPReadTimeout: {"Read timeout (http)", [2]uint8{0, 1}},
	PassiveHTTPBrokenPipe:  {"Close from server (http)", [2]uint8{0, 1}},
}

// Desc returns HAProxy's description of the event.
func (e PassiveEvent) Desc() string {
	if e < numPassiveEvents {
		return passiveTable[e].desc
	}
	return "Unknown"
}

// GoodHTTPStatus reports whether a response status counts as good for
// "observe layer7": 100-499, 501 and 505.
func GoodHTTPStatus(status int) bool {
	return (status >= 100 && status <= 499) || status == 501 || status == 505
}

// Observe records the outcome of a connection attempt to the server (layer4
// observation). It is cheap and safe to call from the request path.
func (c *Checker) Observe(ok bool) {
	if ok {
		c.ObserveEvent(PassiveL4OK)
	} else {
		c.ObserveEvent(PassiveL4Err)
	}
}

// ObserveHTTP records an HTTP response status from the server (layer7
// observation).
func (c *Checker) ObserveHTTP(status int) {
	if GoodHTTPStatus(status) {
		c.ObserveEvent(PassiveHTTPOK)
	} else {
		c.ObserveEvent(PassiveHTTPStatus)
	}
}

// ObserveEvent records a passive event. Good events reset the error count;
// once error-limit consecutive errors are seen, the on-error action runs on
// a separate goroutine (never on the caller's), with status HANA.
func (c *Checker) ObserveEvent(e PassiveEvent) {
	mode := c.cfg.Observe
	if mode == ObserveNone || e >= numPassiveEvents || c.cfg.Kind != KindHealth {
		return
	}
	switch passiveTable[e].lr[mode-1] {
	case 2:
		if c.errs.Load() != 0 {
			c.errs.Store(0)
		}
		return
	case 0:
		return
	}
	n := c.errs.Add(1)
	if int(n) < c.cfg.ErrorLimit || !c.errs.CompareAndSwap(n, 0) {
		return
	}
	c.mu.Lock()
	if c.paused || c.removed {
		c.mu.Unlock()
		return
	}
	c.forceFast = true
	// More queued failures than it takes to bring health from full to 0
	// would change nothing: drop them.
	if len(c.hanaQ) <= c.health.Max() {
		c.hanaQ = append(c.hanaQ, hanaItem{count: int(n), event: e})
	}
	if c.hanaRunning {
		c.mu.Unlock()
		return
	}
	c.hanaRunning = true
	c.mu.Unlock()
	if !c.s.enter() {
		c.mu.Lock()
		c.hanaRunning, c.hanaQ = false, nil
		c.mu.Unlock()
		return
	}
	go func() {
		defer c.s.wg.Done()
		for c.onError() {
		}
	}()
}

// hanaItem is one reached error limit.
type hanaItem struct {
	count int
	event PassiveEvent
}

// onError applies one queued on-error action (HAProxy's __health_adjust);
// it returns false when the queue is empty.
func (c *Checker) onError() bool {
	c.reportMu.Lock()
	c.mu.Lock()
	if len(c.hanaQ) == 0 || c.paused || c.removed {
		c.hanaQ, c.hanaRunning = nil, false
		c.mu.Unlock()
		c.reportMu.Unlock()
		return false
	}
	item := c.hanaQ[0]
	c.hanaQ = c.hanaQ[1:]
	res := Result{
		Status:   StatusHANA,
		Info:     "Detected " + strconv.Itoa(item.count) + " consecutive errors, last one was: " + item.event.Desc(),
		Duration: -1,
	}
	var rep Report
	send := true
	switch c.cfg.OnError {
	case OnErrorFastInter:
		send = false
	case OnErrorSuddenDeath:
		if c.health.Cur > c.health.Rise {
			c.health.Cur = c.health.Rise + 1
		}
		rep = c.applyLocked(res, nil)
	case OnErrorMarkDown:
		c.health.Cur = c.health.Rise
		rep = c.applyLocked(res, nil)
	default:
		rep = c.applyLocked(res, nil)
	}
	c.mu.Unlock()
	if send {
		c.report(rep)
	}
	c.reportMu.Unlock()

	// Bring the next check forward to fastinter if that is sooner.
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.iv.FastInter > 0 && !c.running && !c.paused && !c.removed && !c.due.IsZero() && c.startedLocked() {
		d := c.health.Interval(c.iv, c.forceFast)
		if time.Now().Add(d).Before(c.due) {
			c.scheduleLocked(d)
		}
	}
	return true
}
