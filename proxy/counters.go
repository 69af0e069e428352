package proxy

import (
	"sync/atomic"
	"time"
)

// Counters are the per-proxy and per-server statistics behind "show stat",
// the Lua get_stats() tables and the metrics. Every field is an atomic so the
// request path updates them without locks.
type Counters struct {
	Scur, Smax       atomic.Int64    // current / max sessions
	Stot             atomic.Int64    // cumulative sessions (connections for frontends, requests/sessions for backends and servers)
	Bin, Bout        atomic.Int64    // bytes in / out
	Dreq, Dresp      atomic.Int64    // denied requests / responses
	Ereq             atomic.Int64    // request errors
	Econ, Eresp      atomic.Int64    // connection errors / response errors
	Wretr, Wredis    atomic.Int64    // retries / redispatches
	Qcur, Qmax       atomic.Int64    // queued requests
	Lbtot            atomic.Int64    // times selected by the load balancer
	CliAbrt, SrvAbrt atomic.Int64    // data transfers aborted by the client / server
	Hrsp             [6]atomic.Int64 // 1xx..5xx, other
	ReqTot           atomic.Int64
	Intercepted      atomic.Int64
	ConnTot          atomic.Int64
	DCon, DSes       atomic.Int64
	Wrew             atomic.Int64
	Eint             atomic.Int64
	Connect, Reuse   atomic.Int64
	LastSess         atomic.Int64 // unix seconds of the last session, 0 = never
	// Timing averages over the last 1024 requests (ms), kept as sums of a
	// sliding window approximated by an exponential moving average.
	qtime, ctime, rtime, ttime             ewma
	QtimeMax, CtimeMax, RtimeMax, TtimeMax atomic.Int64
	sessRate, connRate, reqRate            rate
	SessRateMax, ConnRateMax, ReqRateMax   atomic.Int64
}

// addSession accounts one new session.
func (c *Counters) addSession(now time.Time) {
	cur := c.Scur.Add(1)
	maxStore(&c.Smax, cur)
	c.Stot.Add(1)
	c.LastSess.Store(now.Unix())
	maxStore(&c.SessRateMax, int64(c.sessRate.add(now)))
}

func (c *Counters) endSession() { c.Scur.Add(-1) }

// addConn accounts one accepted connection (frontends).
func (c *Counters) addConn(now time.Time) {
	c.ConnTot.Add(1)
	maxStore(&c.ConnRateMax, int64(c.connRate.add(now)))
}

// addRequest accounts one HTTP request.
func (c *Counters) addRequest(now time.Time) {
	c.ReqTot.Add(1)
	maxStore(&c.ReqRateMax, int64(c.reqRate.add(now)))
}

// addStatus accounts a response status in the hrsp_* columns.
func (c *Counters) addStatus(status int) {
	i := status/100 - 1
	if i < 0 || i > 4 {
		i = 5
	}
	c.Hrsp[i].Add(1)
}

// SessRate, ConnRate and ReqRate return the events of the last second.
func (c *Counters) SessRate(now time.Time) int { return c.sessRate.read(now) }

// ConnRate returns the connections accepted over the last second.
func (c *Counters) ConnRate(now time.Time) int { return c.connRate.read(now) }

// ReqRate returns the HTTP requests of the last second.
func (c *Counters) ReqRate(now time.Time) int { return c.reqRate.read(now) }

// Qtime, Ctime, Rtime and Ttime return the averages in ms.
func (c *Counters) Qtime() int64 { return c.qtime.get() }

// Ctime returns the average connect time in ms.
func (c *Counters) Ctime() int64 { return c.ctime.get() }

// Rtime returns the average response time in ms.
func (c *Counters) Rtime() int64 { return c.rtime.get() }

// Ttime returns the average total session time in ms.
func (c *Counters) Ttime() int64 { return c.ttime.get() }

func (c *Counters) addTimes(q, cn, r, t int64) {
	if q >= 0 {
		c.qtime.add(q)
		maxStore(&c.QtimeMax, q)
	}
	if cn >= 0 {
		c.ctime.add(cn)
		maxStore(&c.CtimeMax, cn)
	}
	if r >= 0 {
		c.rtime.add(r)
		maxStore(&c.RtimeMax, r)
	}
	if t >= 0 {
		c.ttime.add(t)
		maxStore(&c.TtimeMax, t)
	}
}

// ClearMax resets the max values ("clear counters").
func (c *Counters) ClearMax() {
	c.Smax.Store(c.Scur.Load())
	c.Qmax.Store(c.Qcur.Load())
	c.SessRateMax.Store(0)
	c.ConnRateMax.Store(0)
	c.ReqRateMax.Store(0)
	c.QtimeMax.Store(0)
	c.CtimeMax.Store(0)
	c.RtimeMax.Store(0)
	c.TtimeMax.Store(0)
}

// ClearAll resets every counter but the current values ("clear counters all").
func (c *Counters) ClearAll() {
	scur, qcur := c.Scur.Load(), c.Qcur.Load()
	for _, a := range []*atomic.Int64{&c.Smax, &c.Stot, &c.Bin, &c.Bout, &c.Dreq, &c.Dresp, &c.Ereq, &c.Econ,
		&c.Eresp, &c.Wretr, &c.Wredis, &c.Qmax, &c.Lbtot, &c.CliAbrt, &c.SrvAbrt, &c.ReqTot, &c.Intercepted,
		&c.ConnTot, &c.DCon, &c.DSes, &c.Wrew, &c.Eint, &c.Connect, &c.Reuse, &c.LastSess} {
		a.Store(0)
	}
	for i := range c.Hrsp {
		c.Hrsp[i].Store(0)
	}
	c.ClearMax()
	c.Scur.Store(scur)
	c.Qcur.Store(qcur)
	c.Smax.Store(scur)
	c.Qmax.Store(qcur)
	c.qtime.reset()
	c.ctime.reset()
	c.rtime.reset()
	c.ttime.reset()
}

func maxStore(a *atomic.Int64, v int64) {
	for {
		cur := a.Load()
		if v <= cur || a.CompareAndSwap(cur, v) {
			return
		}
	}
}

// ewma is an exponentially weighted moving average (weight 1/16), stored in
// fixed point so it needs a single atomic.
type ewma struct{ v atomic.Int64 } // value * 16

func (e *ewma) add(x int64) {
	for {
		old := e.v.Load()
		nv := old - old/16 + x
		if old == 0 {
			nv = x * 16
		}
		if e.v.CompareAndSwap(old, nv) {
			return
		}
	}
}

func (e *ewma) get() int64 { return e.v.Load() / 16 }
func (e *ewma) reset()     { e.v.Store(0) }

// rate counts events over the current and the previous second, and reads as
// HAProxy's freq_ctr does: the previous second weighted by what remains of it
// plus the current one.
type rate struct {
	sec  atomic.Int64 // unix second of cur
	cur  atomic.Int64
	prev atomic.Int64
}

func (r *rate) rotate(now time.Time) {
	s := now.Unix()
	for {
		old := r.sec.Load()
		if old == s {
			return
		}
		if r.sec.CompareAndSwap(old, s) {
			c := r.cur.Swap(0)
			if s-old == 1 {
				r.prev.Store(c)
			} else {
				r.prev.Store(0)
			}
			return
		}
	}
}

func (r *rate) add(now time.Time) int {
	r.rotate(now)
	r.cur.Add(1)
	return r.read(now)
}

func (r *rate) read(now time.Time) int {
	r.rotate(now)
	frac := int64(now.Nanosecond()) / 1e6 // ms elapsed in this second
	return int(r.cur.Load() + r.prev.Load()*(1000-frac)/1000)
}
