package stick

// Rates are stored as three values: the count of the current period, the
// count of the previous one, and the start (unix ms) of the current period.

// rateAdd adds n to a freq counter, rotating periods as HAProxy's
// update_freq_ctr_period does.
func rateAdd(v []int64, period, now, n int64) {
	rateRotate(v, period, now)
	v[0] += n
}

func rateRotate(v []int64, period, now int64) {
	if v[2] == 0 {
		v[2] = now
		return
	}
	elapsed := now - v[2]
	if elapsed < period {
		return
	}
	if elapsed < 2*period {
		v[1] = v[0]
	} else {
		v[1] = 0
	}
	v[0] = 0
	v[2] = now - elapsed%period
}

// rateRead returns the events over the last period: the current count plus
// the previous period's count weighted by the part of it still inside the
// sliding window (HAProxy's read_freq_ctr_period).
func rateRead(v []int64, period, now int64) int64 {
	curr, past, tick := v[0], v[1], v[2]
	if tick == 0 {
		return 0
	}
	elapsed := now - tick
	if elapsed < 0 {
		elapsed = 0
	}
	if elapsed >= period {
		elapsed -= period
		if elapsed < period {
			past, curr = curr, 0
		} else {
			past, curr = 0, 0
		}
	}
	return (past*(period-elapsed) + curr*period) / period
}

// value returns the value of element idx of dt. Call with the lock.
func (t *Table) value(e *Entry, dt DataType, idx int, now int64) (int64, bool) {
	if dt >= numDataTypes {
		return 0, false
	}
	s := &t.layout[dt]
	if !s.stored || idx < 0 || idx >= s.n {
		return 0, false
	}
	if dtInfos[dt].rate {
		o := s.off + 3*idx
		return rateRead(e.vals[o:o+3], s.period, now), true
	}
	return e.vals[s.off+idx], true
}

// add adds n to element idx of dt (counter or rate). Call with the lock.
func (t *Table) add(e *Entry, dt DataType, idx int, n int64, now int64) bool {
	s := &t.layout[dt]
	if !s.stored || idx < 0 || idx >= s.n {
		return false
	}
	if dtInfos[dt].rate {
		o := s.off + 3*idx
		rateAdd(e.vals[o:o+3], s.period, now, n)
		return true
	}
	e.vals[s.off+idx] += n
	return true
}

// Get returns the current value of element idx (0 for scalar types) of dt
// in e: the count, the tag, or the rate over its period. ok is false when
// the table does not store dt.
func (t *Table) Get(e *Entry, dt DataType, idx int) (v int64, ok bool) {
	if e == nil {
		return 0, false
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	v, ok = t.value(e, dt, idx, now)
	sh.mu.Unlock()
	return v, ok
}

// Add adds n to element idx of dt (a counter or a rate) and refreshes the
// entry's expiration. It reports whether dt is stored.
func (t *Table) Add(e *Entry, dt DataType, idx int, n int64) bool {
	if e == nil || dt >= numDataTypes {
		return false
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	ok := t.add(e, dt, idx, n, now)
	if ok && !e.removed {
		t.touch(sh, e, now)
	}
	sh.mu.Unlock()
	return ok
}

// Set sets element idx of a non-rate data type (gpt0, gpt(n), server_id,
// counters) and refreshes the expiration.
func (t *Table) Set(e *Entry, dt DataType, idx int, v int64) bool {
	if e == nil || dt >= numDataTypes || dtInfos[dt].rate {
		return false
	}
	s := &t.layout[dt]
	if !s.stored || idx < 0 || idx >= s.n {
		return false
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	e.vals[s.off+idx] = v
	if !e.removed {
		t.touch(sh, e, now)
	}
	sh.mu.Unlock()
	return true
}

// IncGPC increments a general purpose counter and its rate: counter/rate
// are GPC0/GPC0Rate, GPC1/GPC1Rate or GPC/GPCRate (with idx). It returns
// the counter's new value, or the rate when only the rate is stored; ok is
// false when neither is stored (HAProxy's sc_inc_gpc*).
func (t *Table) IncGPC(e *Entry, counter, rate DataType, idx int) (v int64, ok bool) {
	if e == nil {
		return 0, false
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := t.add(e, rate, idx, 1, now)
	c := t.add(e, counter, idx, 1, now)
	if !r && !c {
		return 0, false
	}
	if !e.removed {
		t.touch(sh, e, now)
	}
	if c {
		return t.value(e, counter, idx, now)
	}
	return t.value(e, rate, idx, now)
}

// ClearGPC sets a general purpose counter to 0 and returns its previous
// value (HAProxy's sc_clr_gpc*).
func (t *Table) ClearGPC(e *Entry, counter DataType, idx int) (prev int64, ok bool) {
	if e == nil {
		return 0, false
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	prev, ok = t.value(e, counter, idx, now)
	if !ok {
		return 0, false
	}
	e.vals[t.layout[counter].off+idx] = 0
	if !e.removed {
		t.touch(sh, e, now)
	}
	return prev, true
}

// Event is a bit set of the things a stream reports to the entries it
// tracks, applied under one lock by Count.
type Event uint16

// Events, named after the counters they update.
const (
	// EvConnStart: a stream starts tracking the entry: conn_cur+1,
	// conn_cnt+1, conn_rate+1 (HAProxy's stream_start_counters, done by every
	// track-sc action).
	EvConnStart Event = 1 << iota
	// EvConnStop: the tracking stream ends: conn_cur-1.
	EvConnStop
	// EvSess: a session was accepted: sess_cnt+1, sess_rate+1.
	EvSess
	// EvHTTPReq: an HTTP request was tracked: http_req_cnt+1, http_req_rate+1.
	EvHTTPReq
	// EvHTTPErr: a request error or a 4xx response: http_err_cnt/rate+1.
	EvHTTPErr
	// EvHTTPFail: a 5xx response or server failure: http_fail_cnt/rate+1.
	EvHTTPFail
	// EvGlitch: a protocol glitch: glitch_cnt/rate+1.
	EvGlitch
)

// Count applies events to e and refreshes its expiration.
func (t *Table) Count(e *Entry, ev Event) {
	if e == nil {
		return
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	if ev&EvConnStart != 0 {
		t.add(e, ConnCur, 0, 1, now)
		t.add(e, ConnCnt, 0, 1, now)
		t.add(e, ConnRate, 0, 1, now)
	}
	if ev&EvConnStop != 0 {
		if s := &t.layout[ConnCur]; s.stored && e.vals[s.off] > 0 {
			e.vals[s.off]--
		}
	}
	if ev&EvSess != 0 {
		t.add(e, SessCnt, 0, 1, now)
		t.add(e, SessRate, 0, 1, now)
	}
	if ev&EvHTTPReq != 0 {
		t.add(e, HTTPReqCnt, 0, 1, now)
		t.add(e, HTTPReqRate, 0, 1, now)
	}
	if ev&EvHTTPErr != 0 {
		t.add(e, HTTPErrCnt, 0, 1, now)
		t.add(e, HTTPErrRate, 0, 1, now)
	}
	if ev&EvHTTPFail != 0 {
		t.add(e, HTTPFailCnt, 0, 1, now)
		t.add(e, HTTPFailRate, 0, 1, now)
	}
	if ev&EvGlitch != 0 {
		t.add(e, GlitchCnt, 0, 1, now)
		t.add(e, GlitchRate, 0, 1, now)
	}
	if !e.removed {
		t.touch(sh, e, now)
	}
	sh.mu.Unlock()
}

// AddBytes adds transferred bytes: bytes_in_cnt/rate and bytes_out_cnt/rate.
func (t *Table) AddBytes(e *Entry, in, out int64) {
	if e == nil {
		return
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	if in != 0 {
		t.add(e, BytesInCnt, 0, in, now)
		t.add(e, BytesInRate, 0, in, now)
	}
	if out != 0 {
		t.add(e, BytesOutCnt, 0, out, now)
		t.add(e, BytesOutRate, 0, out, now)
	}
	if !e.removed {
		t.touch(sh, e, now)
	}
	sh.mu.Unlock()
}

// Trackers returns how many references hold e (HAProxy's "use" and the
// *_trackers fetches).
func (t *Table) Trackers(e *Entry) int {
	if e == nil {
		return 0
	}
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	n := int(e.refs)
	sh.mu.Unlock()
	return n
}

// ExpireIn returns the time left before e expires in ms (0 when the table
// has no expire), and the time since its last update in ms.
func (t *Table) ExpireIn(e *Entry) (exp, idle int64) {
	if e == nil {
		return 0, 0
	}
	now := t.nowMS()
	sh := &t.shards[e.shard]
	sh.mu.Lock()
	if e.exp != 0 {
		exp = max(e.exp-now, 0)
	}
	idle = now - e.touched
	sh.mu.Unlock()
	return exp, idle
}

// Get returns a data value of the tracked entry (see Table.Get).
func (r Ref) Get(dt DataType, idx int) (int64, bool) {
	if r.E == nil {
		return 0, false
	}
	return r.T.Get(r.E, dt, idx)
}

// Count applies events to the tracked entry (see Table.Count).
func (r Ref) Count(ev Event) {
	if r.E != nil {
		r.T.Count(r.E, ev)
	}
}
