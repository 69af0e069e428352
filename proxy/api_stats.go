package proxy

import (
	"strconv"
	"strings"
	"time"

	"moonbus/bus"
)

// Statistics rows ("show stat", the stats page CSV, Lua get_stats(), metrics).
// A row holds the fixed columns 0..118 of HAProxy's CSV (reference §6.4);
// a column that does not apply to the row's type is absent (an empty CSV
// field, a missing Lua key).

// Stat row types (the "type" column).
const (
	StatTypeFrontend = 0
	StatTypeBackend  = 1
	StatTypeServer   = 2
	StatTypeListener = 3
)

// StatColumns are the names of the fixed "show stat" columns, in order.
var StatColumns = [...]string{
	"pxname", "svname", "qcur", "qmax", "scur", "smax", "slim", "stot", "bin", "bout",
	"dreq", "dresp", "ereq", "econ", "eresp", "wretr", "wredis", "status", "weight", "act",
	"bck", "chkfail", "chkdown", "lastchg", "downtime", "qlimit", "pid", "iid", "sid", "throttle",
	"lbtot", "tracked", "type", "rate", "rate_lim", "rate_max", "check_status", "check_code", "check_duration",
	"hrsp_1xx", "hrsp_2xx", "hrsp_3xx", "hrsp_4xx", "hrsp_5xx", "hrsp_other", "hanafail", "req_rate", "req_rate_max",
	"req_tot", "cli_abrt", "srv_abrt", "comp_in", "comp_out", "comp_byp", "comp_rsp", "lastsess", "last_chk", "last_agt",
	"qtime", "ctime", "rtime", "ttime", "agent_status", "agent_code", "agent_duration", "check_desc", "agent_desc",
	"check_rise", "check_fall", "check_health", "agent_rise", "agent_fall", "agent_health", "addr", "cookie", "mode",
	"algo", "conn_rate", "conn_rate_max", "conn_tot", "intercepted", "dcon", "dses", "wrew", "connect", "reuse",
	"cache_lookups", "cache_hits", "srv_icur", "src_ilim", "qtime_max", "ctime_max", "rtime_max", "ttime_max", "eint",
	"idle_conn_cur", "safe_conn_cur", "used_conn_cur", "need_conn_est", "uweight", "agg_server_status",
	"agg_server_status_check", "agg_check_status", "srid",
	"sess_other", "h1_sess", "h2_sess", "h3_sess", "req_other", "h1req", "h2req", "h3req",
	"proto", "priv_idle_cur", "reqbin", "reqbout", "resbin", "resbout", "cache_hint_hits",
}

// NumStatColumns is the number of fixed columns (119).
const NumStatColumns = len(StatColumns)

// Column indexes used below.
const (
	stPxname = iota
	stSvname
	stQcur
	stQmax
	stScur
	stSmax
	stSlim
	stStot
	stBin
	stBout
	stDreq
	stDresp
	stEreq
	stEcon
	stEresp
	stWretr
	stWredis
	stStatus
	stWeight
	stAct
	stBck
	stChkfail
	stChkdown
	stLastchg
	stDowntime
	stQlimit
	stPid
	stIid
	stSid
	stThrottle
	stLbtot
	stTracked
	stType
	stRate
	stRateLim
	stRateMax
	stCheckStatus
	stCheckCode
	stCheckDuration
	stHrsp1xx // .. stHrsp1xx+5 = hrsp_other
	_
	_
	_
	_
	_
	stHanafail
	stReqRate
	stReqRateMax
	stReqTot
	stCliAbrt
	stSrvAbrt
	stCompIn
	stCompOut
	stCompByp
	stCompRsp
	stLastsess
	stLastChk
	stLastAgt
	stQtime
	stCtime
	stRtime
	stTtime
	stAgentStatus
	stAgentCode
	stAgentDuration
	stCheckDesc
	stAgentDesc
	stCheckRise
	stCheckFall
	stCheckHealth
	stAgentRise
	stAgentFall
	stAgentHealth
	stAddr
	stCookie
	stMode
	stAlgo
	stConnRate
	stConnRateMax
	stConnTot
	stIntercepted
	stDcon
	stDses
	stWrew
	stConnect
	stReuse
	stCacheLookups
	stCacheHits
	stSrvIcur
	stSrcIlim
	stQtimeMax
	stCtimeMax
	stRtimeMax
	stTtimeMax
	stEint
	stIdleConnCur
	stSafeConnCur
	stUsedConnCur
	stNeedConnEst
	stUweight
	stAggServerStatus
	stAggServerStatusCheck
	stAggCheckStatus
	stSrid
	stSessOther
	stH1Sess
	stH2Sess
	stH3Sess
	stReqOther
	stH1Req
	stH2Req
	stH3Req
	stProto
	stPrivIdleCur
	stReqbin
	stReqbout
	stResbin
	stResbout
	stCacheHintHits
	numStatCols
)

// Compile-time check that the index list matches the names.
var _ [numStatCols - NumStatColumns]struct{}
var _ [NumStatColumns - numStatCols]struct{}

// StatValue is one field of a row: absent, an integer or a string.
type StatValue struct {
	Kind StatKind
	Int  int64
	Str  string
}

// StatKind tells whether a field is present and its type.
type StatKind uint8

// Field kinds.
const (
	StatAbsent StatKind = iota
	StatInt
	StatStr
)

// String returns the CSV text of the value ("" when absent).
func (v StatValue) String() string {
	switch v.Kind {
	case StatInt:
		return strconv.FormatInt(v.Int, 10)
	case StatStr:
		return v.Str
	}
	return ""
}

// StatRow is one "show stat" line.
type StatRow [NumStatColumns]StatValue

func (r *StatRow) setI(col int, v int64)  { r[col] = StatValue{Kind: StatInt, Int: v} }
func (r *StatRow) setS(col int, v string) { r[col] = StatValue{Kind: StatStr, Str: v} }

// Type returns the row type (StatTypeFrontend...).
func (r *StatRow) Type() int { return int(r[stType].Int) }

// Get returns the field named name (a StatColumns entry).
func (r *StatRow) Get(name string) StatValue {
	for i, n := range StatColumns {
		if n == name {
			return r[i]
		}
	}
	return StatValue{}
}

// Map returns the present fields keyed by column name, as Lua's
// Server:get_stats() and Proxy:get_stats() expose them: integers as int64,
// strings as string.
func (r *StatRow) Map() map[string]any {
	m := make(map[string]any, 64)
	for i, v := range r {
		switch v.Kind {
		case StatInt:
			m[StatColumns[i]] = v.Int
		case StatStr:
			m[StatColumns[i]] = v.Str
		}
	}
	return m
}

// AppendStatHeader appends the CSV header line:
// "# pxname,svname,...,cache_hint_hits,-,\n". The "-" column marks the end
// of the fixed columns, as in HAProxy (no module columns follow here).
func AppendStatHeader(dst []byte) []byte {
	dst = append(dst, "# "...)
	for _, n := range StatColumns {
		dst = append(dst, n...)
		dst = append(dst, ',')
	}
	return append(dst, "-,\n"...)
}

// AppendCSV appends the row as one CSV line: every field followed by a comma,
// then the "-" end-of-fixed-columns marker. Values containing a comma or a
// double quote are quoted, with inner quotes doubled.
func (r *StatRow) AppendCSV(dst []byte) []byte {
	for _, v := range r {
		switch v.Kind {
		case StatInt:
			dst = strconv.AppendInt(dst, v.Int, 10)
		case StatStr:
			dst = appendCSVField(dst, v.Str)
		}
		dst = append(dst, ',')
	}
	return append(dst, "-,\n"...)
}

func appendCSVField(dst []byte, s string) []byte {
	if !strings.ContainsAny(s, ",\"\n\r") {
		return append(dst, s...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

// setCommon fills the counter columns shared by every row type.
func (r *StatRow) setCounters(c *Counters, now time.Time) {
	r.setI(stScur, c.Scur.Load())
	r.setI(stSmax, c.Smax.Load())
	r.setI(stStot, c.Stot.Load())
	r.setI(stBin, c.Bin.Load())
	r.setI(stBout, c.Bout.Load())
	r.setI(stDresp, c.Dresp.Load())
	r.setI(stPid, 1)
	r.setI(stRate, int64(c.SessRate(now)))
	r.setI(stRateMax, c.SessRateMax.Load())
	r.setI(stWrew, c.Wrew.Load())
	r.setI(stEint, c.Eint.Load())
}

func (r *StatRow) setHrsp(c *Counters) {
	for i := 0; i < 6; i++ {
		r.setI(stHrsp1xx+i, c.Hrsp[i].Load())
	}
}

// setBackendSide fills the columns backends and servers share.
func (r *StatRow) setBackendSide(c *Counters, now time.Time) {
	r.setI(stQmax, c.Qmax.Load())
	r.setI(stEcon, c.Econ.Load())
	r.setI(stEresp, c.Eresp.Load())
	r.setI(stWretr, c.Wretr.Load())
	r.setI(stWredis, c.Wredis.Load())
	r.setI(stLbtot, c.Lbtot.Load())
	r.setI(stCliAbrt, c.CliAbrt.Load())
	r.setI(stSrvAbrt, c.SrvAbrt.Load())
	ls := int64(-1)
	if t := c.LastSess.Load(); t > 0 {
		ls = now.Unix() - t
	}
	r.setI(stLastsess, ls)
	r.setI(stQtime, c.Qtime())
	r.setI(stCtime, c.Ctime())
	r.setI(stRtime, c.Rtime())
	r.setI(stTtime, c.Ttime())
	r.setI(stQtimeMax, c.QtimeMax.Load())
	r.setI(stCtimeMax, c.CtimeMax.Load())
	r.setI(stRtimeMax, c.RtimeMax.Load())
	r.setI(stTtimeMax, c.TtimeMax.Load())
	r.setI(stConnect, c.Connect.Load())
	r.setI(stReuse, c.Reuse.Load())
}

// FrontendStatus returns the frontend's status text: "OPEN", "PAUSED"
// (disable frontend) or "STOP" (shutdown frontend, or disabled in the
// configuration).
func (p *Proxy) FrontendStatus() string {
	switch {
	case p.stopped.Load() || (p.conf != nil && p.conf.Disabled):
		return "STOP"
	case p.disabled.Load():
		return "PAUSED"
	}
	return "OPEN"
}

// FrontendStatRow returns the FRONTEND line of a proxy with frontend
// capability (nil otherwise).
func (p *Proxy) FrontendStatRow(now time.Time) *StatRow {
	if !p.isFE {
		return nil
	}
	r := &StatRow{}
	c := &p.Counters
	r.setS(stPxname, p.name)
	r.setS(stSvname, "FRONTEND")
	r.setCounters(c, now)
	slim := int64(p.maxconn.Load())
	if slim == 0 {
		slim = int64(p.e.Maxconn())
	}
	r.setI(stSlim, slim)
	r.setI(stDreq, c.Dreq.Load())
	r.setI(stEreq, c.Ereq.Load())
	r.setS(stStatus, p.FrontendStatus())
	r.setI(stIid, int64(p.uuid))
	r.setI(stType, StatTypeFrontend)
	r.setI(stRateLim, 0)
	r.setS(stMode, p.mode.String())
	r.setI(stConnRate, int64(c.ConnRate(now)))
	r.setI(stConnRateMax, c.ConnRateMax.Load())
	r.setI(stConnTot, c.ConnTot.Load())
	r.setI(stIntercepted, c.Intercepted.Load())
	r.setI(stDcon, c.DCon.Load())
	r.setI(stDses, c.DSes.Load())
	if p.mode == ModeHTTP {
		r.setHrsp(c)
		r.setI(stReqRate, int64(c.ReqRate(now)))
		r.setI(stReqRateMax, c.ReqRateMax.Load())
		r.setI(stReqTot, c.ReqTot.Load())
		for col := stCompIn; col <= stCompRsp; col++ {
			r.setI(col, 0)
		}
		r.setI(stCacheLookups, 0)
		r.setI(stCacheHits, 0)
		r.setI(stSessOther, 0)
		r.setI(stH1Sess, c.Stot.Load())
		r.setI(stReqOther, 0)
		r.setI(stH1Req, c.ReqTot.Load())
		r.setI(stH2Req, 0)
		r.setI(stH3Req, 0)
	} else {
		r.setI(stSessOther, c.Stot.Load())
		r.setI(stH1Sess, 0)
	}
	r.setI(stH2Sess, 0)
	r.setI(stH3Sess, 0)
	return r
}

// BackendStatus returns "UP" when the backend has usable weight (or no
// server at all), else "DOWN".
func (p *Proxy) BackendStatus() string {
	if len(p.Servers()) == 0 || p.totalWeight(false) > 0 {
		return "UP"
	}
	return "DOWN"
}

// totalWeight sums the effective (or user) weights of the servers the load
// balancer currently uses: the active ones, else the backups.
func (p *Proxy) totalWeight(user bool) int64 {
	v := p.lbView.Load()
	if v == nil {
		return 0
	}
	var t int64
	for _, s := range v.candidates() {
		if user {
			t += int64(s.uweight.Load())
		} else {
			t += int64(s.eweight.Load())
		}
	}
	return t
}

// BackendStatRow returns the BACKEND line of a proxy with backend capability
// (nil otherwise).
func (p *Proxy) BackendStatRow(now time.Time) *StatRow {
	if !p.isBE {
		return nil
	}
	r := &StatRow{}
	c := &p.BeCounters
	r.setS(stPxname, p.name)
	r.setS(stSvname, "BACKEND")
	r.setCounters(c, now)
	r.setBackendSide(c, now)
	r.setI(stQcur, int64(p.queue.len()))
	r.setI(stSlim, int64(p.conf.Fullconn))
	r.setI(stDreq, c.Dreq.Load())
	r.setS(stStatus, p.BackendStatus())
	r.setI(stWeight, p.totalWeight(false))
	r.setI(stAct, int64(p.SrvAct()))
	r.setI(stBck, int64(p.SrvBck()))
	r.setI(stChkdown, p.chkDown.Load())
	r.setI(stLastchg, now.Unix()-p.lastChange.Load())
	r.setI(stDowntime, p.DowntimeSeconds(now))
	r.setI(stIid, int64(p.uuid))
	r.setI(stType, StatTypeBackend)
	r.setI(stIntercepted, c.Intercepted.Load())
	r.setS(stMode, p.mode.String())
	r.setS(stAlgo, p.algoName())
	r.setI(stUweight, p.totalWeight(true))
	if p.mode == ModeHTTP {
		r.setHrsp(c)
		r.setI(stReqTot, c.Stot.Load())
		for col := stCompIn; col <= stCompRsp; col++ {
			r.setI(col, 0)
		}
		r.setI(stCacheLookups, 0)
		r.setI(stCacheHits, 0)
	}
	return r
}

// DowntimeSeconds returns how long the backend had no usable server, in
// seconds, including the current outage.
func (p *Proxy) DowntimeSeconds(now time.Time) int64 {
	p.srvMu.Lock()
	since := p.downSince
	p.srvMu.Unlock()
	d := p.downtime.Load()
	if since != 0 {
		d += now.Unix() - since
	}
	return d
}

// DownTransitions returns how many times the backend lost its last server.
func (p *Proxy) DownTransitions() int64 { return p.chkDown.Load() }

// LastChange returns when the backend's usable server count last crossed zero.
func (p *Proxy) LastChange() time.Time { return time.Unix(p.lastChange.Load(), 0) }

// StatRow returns the server's "show stat" line.
func (s *Server) StatRow(now time.Time) *StatRow {
	r := &StatRow{}
	c := &s.Counters
	p := s.px
	r.setS(stPxname, p.name)
	r.setS(stSvname, s.name)
	r.setCounters(c, now)
	r.setBackendSide(c, now)
	r.setI(stQcur, int64(s.queue.len()))
	if m := s.maxconn.Load(); m > 0 {
		r.setI(stSlim, int64(m))
	}
	r.setS(stStatus, s.StatusText())
	r.setI(stWeight, int64(s.eweight.Load()))
	if s.backup {
		r.setI(stAct, 0)
		r.setI(stBck, 1)
	} else {
		r.setI(stAct, 1)
		r.setI(stBck, 0)
	}
	hc, ac := s.HealthInfo(), s.AgentInfo()
	if hc.Enabled {
		r.setI(stChkfail, s.chkFail.Load())
		r.setI(stChkdown, s.chkDown.Load())
		r.setI(stDowntime, s.DowntimeSeconds(now))
	}
	r.setI(stLastchg, now.Unix()-s.lastChange.Load())
	if q := s.maxqueue.Load(); q > 0 {
		r.setI(stQlimit, int64(q))
	}
	r.setI(stIid, int64(p.uuid))
	r.setI(stSid, int64(s.puid))
	if s.Op() == Starting && s.Admin()&bus.DrainMask == 0 {
		if uw := s.uweight.Load(); uw > 0 {
			r.setI(stThrottle, int64(s.eweight.Load())*100/int64(uw))
		}
	}
	if t := s.track; t != nil {
		r.setS(stTracked, t.px.name+"/"+t.name)
	}
	r.setI(stType, StatTypeServer)
	if hc.Enabled {
		setCheckCols(r, hc, stCheckStatus, stCheckCode, stCheckDuration, stLastChk, stCheckDesc)
		r.setI(stCheckRise, int64(hc.Rise))
		r.setI(stCheckFall, int64(hc.Fall))
		r.setI(stCheckHealth, int64(hc.Health))
	}
	if ac.Enabled {
		setCheckCols(r, ac, stAgentStatus, stAgentCode, stAgentDuration, stLastAgt, stAgentDesc)
		r.setI(stAgentRise, int64(ac.Rise))
		r.setI(stAgentFall, int64(ac.Fall))
		r.setI(stAgentHealth, int64(ac.Health))
	}
	if p.mode == ModeHTTP {
		r.setHrsp(c)
		r.setI(stReqTot, c.Stot.Load())
	}
	r.setI(stHanafail, 0)
	r.setS(stAddr, s.AddrString())
	if s.conf.Cookie != "" {
		r.setS(stCookie, s.conf.Cookie)
	}
	r.setS(stMode, p.mode.String())
	idle := int64(s.pool.numIdle())
	r.setI(stSrvIcur, idle)
	r.setI(stIdleConnCur, idle)
	r.setI(stSafeConnCur, 0)
	r.setI(stUsedConnCur, int64(s.cur.Load()))
	r.setI(stNeedConnEst, 0)
	r.setI(stUweight, int64(s.uweight.Load()))
	r.setI(stSrid, int64(s.rid))
	r.setI(stPrivIdleCur, 0)
	return r
}

// setCheckCols fills the status/code/duration/info/desc columns of a check.
func setCheckCols(r *StatRow, ci CheckInfo, status, code, dur, info, desc int) {
	last := ci.Last
	if last == nil {
		r.setS(status, "INI")
		r.setS(desc, "Initializing")
		r.setS(info, "")
		return
	}
	r.setS(status, last.Short)
	if last.Code != 0 {
		r.setI(code, int64(last.Code))
	}
	if last.Duration >= 0 {
		r.setI(dur, last.Duration.Milliseconds())
	}
	r.setS(info, last.Info)
	r.setS(desc, last.Desc)
}

// StatusText returns the server's "status" column (reference §4.2, §4.3,
// §6.4): "MAINT", "MAINT (via b/s)", "MAINT (resolution)", "UP", "UP 1/3",
// "DOWN", "DOWN 1/2", "DOWN (agent)", "NOLB", "NOLB 1/3", "DRAIN",
// "DRAIN 1/3", "DRAIN (agent)" or "no check".
func (s *Server) StatusText() string {
	adm := s.Admin()
	via := s.track
	if via == nil {
		via = s
	}
	ref := via
	for i := 0; ref.track != nil && i < 64; i++ {
		ref = ref.track
	}
	switch {
	case adm&bus.RMaint != 0:
		return "MAINT (resolution)"
	case adm&bus.IMaint != 0:
		return "MAINT (via " + via.px.name + "/" + via.name + ")"
	case adm&bus.MaintMask != 0:
		return "MAINT"
	}
	hc, ac := ref.HealthInfo(), ref.AgentInfo()
	full := hc.Rise + hc.Fall - 1
	frac := func(word string) string {
		if ref.Op() != Stopped {
			return word + " " + strconv.Itoa(hc.Health-hc.Rise+1) + "/" + strconv.Itoa(hc.Fall)
		}
		return word + " " + strconv.Itoa(hc.Health) + "/" + strconv.Itoa(hc.Rise)
	}
	switch s.Op() {
	case Running, Starting:
		goingDown := hc.Enabled && hc.Health < full
		drain := adm&bus.DrainMask != 0 || s.eweight.Load() == 0
		switch {
		case drain && ac.Enabled:
			return "DRAIN (agent)"
		case drain && goingDown:
			return frac("DRAIN")
		case drain:
			return "DRAIN"
		case goingDown:
			return frac("UP")
		case !hc.Enabled:
			return "no check"
		}
		return "UP"
	case Stopping:
		if (!s.HealthInfo().Enabled && s.track == nil) || hc.Health == full {
			return "NOLB"
		}
		return frac("NOLB")
	}
	switch {
	case ac.Enabled && ac.Health == 0:
		return "DOWN (agent)"
	case hc.Enabled && hc.Health == 0:
		return "DOWN"
	case ac.Enabled || hc.Enabled:
		return frac("DOWN")
	}
	return "DOWN"
}

// DowntimeSeconds returns the server's accumulated down time in seconds,
// including the current outage.
func (s *Server) DowntimeSeconds(now time.Time) int64 {
	s.mu.Lock()
	since := s.downSince
	s.mu.Unlock()
	d := s.downtime.Load()
	if since != 0 {
		d += now.Unix() - since
	}
	return d
}

// DownTransitions returns the number of UP to DOWN transitions.
func (s *Server) DownTransitions() int64 { return s.chkDown.Load() }

// LastChange returns the time of the last operational state change.
func (s *Server) LastChange() time.Time { return time.Unix(s.lastChange.Load(), 0) }
