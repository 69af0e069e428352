package proxy

import (
	"time"

	"moonbus/bus"
)

// The frontend, backend and server families of the Prometheus exporter.
// Each definition names the metric as HAProxy's exporter does (after
// "haproxy_frontend_", "haproxy_backend_" or "haproxy_server_") and reads
// the value from the same counters and methods as the "show stat" columns;
// a value the CSV leaves empty (no check configured, no limit) has no
// sample here either.

// promDef is one metric of the proxy families. A nil getter means the
// metric does not exist for that kind of object.
type promDef struct {
	name, help, typ string
	http            bool // HTTP proxies only
	fe              func(p *Proxy, now time.Time) (float64, bool)
	be              func(p *Proxy, now time.Time) (float64, bool)
	srv             func(s *Server, now time.Time) (float64, bool)
	special         int // a family with a state= or code= label, written by code
}

// Families written by code rather than with a single value.
const (
	promPlain = iota
	promStatus
	promHTTPResponses
	promCheckStatus
	promAggServerStatus
	promAggCheckStatus
)

const (
	onFE = 1 << iota
	onBE
	onSrv
)

// counter builds a definition reading one field of the Counters of each
// object kind in mask.
func counter(name, help, typ string, mask int, get func(c *Counters) int64) promDef {
	d := promDef{name: name, help: help, typ: typ}
	if mask&onFE != 0 {
		d.fe = func(p *Proxy, _ time.Time) (float64, bool) { return float64(get(&p.Counters)), true }
	}
	if mask&onBE != 0 {
		d.be = func(p *Proxy, _ time.Time) (float64, bool) { return float64(get(&p.BeCounters)), true }
	}
	if mask&onSrv != 0 {
		d.srv = func(s *Server, _ time.Time) (float64, bool) { return float64(get(&s.Counters)), true }
	}
	return d
}

// msToSec builds a definition of a time in ms exported in seconds
// (backends and servers).
func msToSec(name, help string, get func(c *Counters) int64) promDef {
	d := counter(name, help, "gauge", onBE|onSrv, get)
	fb, fs := d.be, d.srv
	d.be = func(p *Proxy, now time.Time) (float64, bool) { v, ok := fb(p, now); return v / 1000, ok }
	d.srv = func(s *Server, now time.Time) (float64, bool) { v, ok := fs(s, now); return v / 1000, ok }
	return d
}

func lastSess(c *Counters, now time.Time) (float64, bool) {
	if t := c.LastSess.Load(); t > 0 {
		return float64(now.Unix() - t), true
	}
	return -1, true
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (d promDef) httpOnly() promDef { d.http = true; return d }

var promDefs = []promDef{
	{name: "status", help: "Current status of the service, per state label value", typ: "gauge", special: promStatus},
	counter("current_sessions", "Current number of active sessions", "gauge", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Scur.Load() }),
	counter("max_sessions", "Maximum observed number of active sessions", "gauge", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Smax.Load() }),
	{name: "limit_sessions", help: "Configured session limit", typ: "gauge",
		fe: func(p *Proxy, _ time.Time) (float64, bool) {
			if m := p.maxconn.Load(); m > 0 {
				return float64(m), true
			}
			return float64(p.e.Maxconn()), true
		},
		be: func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.conf.Fullconn), true },
		srv: func(s *Server, _ time.Time) (float64, bool) {
			m := s.maxconn.Load()
			return float64(m), m > 0
		}},
	counter("sessions_total", "Total number of sessions", "counter", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Stot.Load() }),
	counter("bytes_in_total", "Current total of incoming bytes", "counter", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Bin.Load() }),
	counter("bytes_out_total", "Current total of outgoing bytes", "counter", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Bout.Load() }),
	counter("requests_denied_total", "Total number of denied requests", "counter", onFE|onBE, func(c *Counters) int64 { return c.Dreq.Load() }),
	counter("responses_denied_total", "Total number of denied responses", "counter", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Dresp.Load() }),
	counter("request_errors_total", "Total number of request errors", "counter", onFE, func(c *Counters) int64 { return c.Ereq.Load() }),
	counter("connection_errors_total", "Total number of connection errors", "counter", onBE|onSrv, func(c *Counters) int64 { return c.Econ.Load() }),
	counter("response_errors_total", "Total number of response errors", "counter", onBE|onSrv, func(c *Counters) int64 { return c.Eresp.Load() }),
	counter("retry_warnings_total", "Total number of retry warnings", "counter", onBE|onSrv, func(c *Counters) int64 { return c.Wretr.Load() }),
	counter("redispatch_warnings_total", "Total number of redispatch warnings", "counter", onBE|onSrv, func(c *Counters) int64 { return c.Wredis.Load() }),
	{name: "current_queue", help: "Number of current queued connections", typ: "gauge",
		be:  func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.queue.len()), true },
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.queue.len()), true }},
	counter("max_queue", "Highest value of queued connections encountered since process started", "gauge", onBE|onSrv, func(c *Counters) int64 { return c.Qmax.Load() }),
	{name: "weight", help: "Service weight (effective)", typ: "gauge",
		be:  func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.totalWeight(false)), true },
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.eweight.Load()), true }},
	{name: "uweight", help: "Server's user weight, or sum of active servers' user weights for a backend", typ: "gauge",
		be:  func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.totalWeight(true)), true },
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.uweight.Load()), true }},
	{name: "active_servers", help: "Current number of active servers", typ: "gauge",
		be: func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.SrvAct()), true }},
	{name: "backup_servers", help: "Current number of backup servers", typ: "gauge",
		be: func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.SrvBck()), true }},
	{name: "active", help: "1 for an active server, 0 for a backup one", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) { return b2f(!s.backup), true }},
	{name: "backup", help: "1 for a backup server, 0 for an active one", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) { return b2f(s.backup), true }},
	{name: "check_failures_total", help: "Total number of failed individual health checks", typ: "counter",
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.chkFail.Load()), s.HealthInfo().Enabled }},
	{name: "check_up_down_total", help: "Total number of failed checks causing UP to DOWN server transitions", typ: "counter",
		be:  func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.chkDown.Load()), true },
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.chkDown.Load()), s.HealthInfo().Enabled }},
	{name: "check_last_change_seconds", help: "How long ago the last server state change happened (seconds)", typ: "gauge",
		be:  func(p *Proxy, now time.Time) (float64, bool) { return float64(now.Unix() - p.lastChange.Load()), true },
		srv: func(s *Server, now time.Time) (float64, bool) { return float64(now.Unix() - s.lastChange.Load()), true }},
	{name: "downtime_seconds_total", help: "Total downtime (in seconds) for the service", typ: "counter",
		be: func(p *Proxy, now time.Time) (float64, bool) { return float64(p.DowntimeSeconds(now)), true },
		srv: func(s *Server, now time.Time) (float64, bool) {
			return float64(s.DowntimeSeconds(now)), s.HealthInfo().Enabled
		}},
	{name: "queue_limit", help: "Configured maxqueue for the server (0 meaning no limit)", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) { q := s.maxqueue.Load(); return float64(q), q > 0 }},
	{name: "current_throttle", help: "Current throttle percentage for the server, when slowstart is active", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) {
			if s.Op() != Starting || s.Admin()&bus.DrainMask != 0 {
				return 0, false
			}
			uw := s.uweight.Load()
			if uw <= 0 {
				return 0, false
			}
			return float64(int64(s.eweight.Load()) * 100 / int64(uw)), true
		}},
	counter("loadbalanced_total", "Total number of times a service was selected, either for new sessions, or when redispatching", "counter", onBE|onSrv, func(c *Counters) int64 { return c.Lbtot.Load() }),
	{name: "limit_session_rate", help: "Configured limit on new sessions per second", typ: "gauge",
		fe: func(*Proxy, time.Time) (float64, bool) { return 0, true }},
	counter("max_session_rate", "Maximum observed number of sessions per second", "gauge", onFE|onBE|onSrv, func(c *Counters) int64 { return c.SessRateMax.Load() }),
	{name: "check_status", help: "Status of last health check, per state label value", typ: "gauge", special: promCheckStatus},
	{name: "check_code", help: "layer5-7 code, if available of the last health check", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) {
			hc := s.HealthInfo()
			if !hc.Enabled || hc.Last == nil || hc.Last.Code == 0 {
				return 0, false
			}
			return float64(hc.Last.Code), true
		}},
	{name: "check_duration_seconds", help: "Total duration of the latest server health check, in seconds", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) {
			hc := s.HealthInfo()
			if !hc.Enabled || hc.Last == nil || hc.Last.Duration < 0 {
				return 0, false
			}
			return hc.Last.Duration.Seconds(), true
		}},
	{name: "http_responses_total", help: "Total number of HTTP responses, per status class", typ: "counter", special: promHTTPResponses, http: true},
	counter("http_requests_rate_max", "Maximum observed number of HTTP requests per second", "gauge", onFE, func(c *Counters) int64 { return c.ReqRateMax.Load() }).httpOnly(),
	{name: "http_requests_total", help: "Total number of HTTP requests received", typ: "counter", http: true,
		fe: func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.Counters.ReqTot.Load()), true },
		be: func(p *Proxy, _ time.Time) (float64, bool) { return float64(p.BeCounters.Stot.Load()), true }},
	counter("connections_rate_max", "Maximum observed number of connections per second", "gauge", onFE, func(c *Counters) int64 { return c.ConnRateMax.Load() }),
	counter("connections_total", "Total number of connections", "counter", onFE, func(c *Counters) int64 { return c.ConnTot.Load() }),
	counter("intercepted_requests_total", "Total number of intercepted HTTP requests (stats page, services, return)", "counter", onFE, func(c *Counters) int64 { return c.Intercepted.Load() }),
	counter("denied_connections_total", "Total number of requests denied by \"tcp-request connection\" rules", "counter", onFE, func(c *Counters) int64 { return c.DCon.Load() }),
	counter("denied_sessions_total", "Total number of requests denied by \"tcp-request session\" rules", "counter", onFE, func(c *Counters) int64 { return c.DSes.Load() }),
	counter("failed_header_rewriting_total", "Total number of failed HTTP header rewrites", "counter", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Wrew.Load() }),
	counter("internal_errors_total", "Total number of internal errors", "counter", onFE|onBE|onSrv, func(c *Counters) int64 { return c.Eint.Load() }),
	counter("client_aborts_total", "Total number of data transfers aborted by the client", "counter", onBE|onSrv, func(c *Counters) int64 { return c.CliAbrt.Load() }),
	counter("server_aborts_total", "Total number of data transfers aborted by the server", "counter", onBE|onSrv, func(c *Counters) int64 { return c.SrvAbrt.Load() }),
	{name: "last_session_seconds", help: "How long ago some traffic was seen on this object (-1: never)", typ: "gauge",
		be:  func(p *Proxy, now time.Time) (float64, bool) { return lastSess(&p.BeCounters, now) },
		srv: func(s *Server, now time.Time) (float64, bool) { return lastSess(&s.Counters, now) }},
	msToSec("queue_time_average_seconds", "Avg. queue time for last 1024 successful connections", (*Counters).Qtime),
	msToSec("connect_time_average_seconds", "Avg. connect time for last 1024 successful connections", (*Counters).Ctime),
	msToSec("response_time_average_seconds", "Avg. response time for last 1024 successful connections", (*Counters).Rtime),
	msToSec("total_time_average_seconds", "Avg. total time for last 1024 successful connections", (*Counters).Ttime),
	msToSec("max_queue_time_seconds", "Maximum observed time spent in the queue", func(c *Counters) int64 { return c.QtimeMax.Load() }),
	msToSec("max_connect_time_seconds", "Maximum observed time spent waiting for a connection to complete", func(c *Counters) int64 { return c.CtimeMax.Load() }),
	msToSec("max_response_time_seconds", "Maximum observed time spent waiting for a server response", func(c *Counters) int64 { return c.RtimeMax.Load() }),
	msToSec("max_total_time_seconds", "Maximum observed total request+response time (request+queue+connect+response+processing)", func(c *Counters) int64 { return c.TtimeMax.Load() }),
	counter("connection_attempts_total", "Total number of outgoing connection attempts on this backend/server since the worker process started", "counter", onBE|onSrv, func(c *Counters) int64 { return c.Connect.Load() }),
	counter("connection_reuses_total", "Total number of reused connection on this backend/server since the worker process started", "counter", onBE|onSrv, func(c *Counters) int64 { return c.Reuse.Load() }),
	{name: "idle_connections_current", help: "Current number of idle connections available for reuse on this server", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.pool.numIdle()), true }},
	{name: "unsafe_idle_connections_current", help: "Current number of unsafe idle connections", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.pool.numIdle()), true }},
	{name: "safe_idle_connections_current", help: "Current number of safe idle connections", typ: "gauge",
		srv: func(*Server, time.Time) (float64, bool) { return 0, true }},
	{name: "used_connections_current", help: "Current number of connections in use", typ: "gauge",
		srv: func(s *Server, _ time.Time) (float64, bool) { return float64(s.cur.Load()), true }},
	{name: "need_connections_current", help: "Estimated needed number of connections", typ: "gauge",
		srv: func(*Server, time.Time) (float64, bool) { return 0, true }},
	{name: "agg_server_status", help: "Backend's aggregated server status: number of servers per state label value", typ: "gauge", special: promAggServerStatus},
	{name: "agg_check_status", help: "Backend's aggregated health check status: number of checked servers per last check status", typ: "gauge", special: promAggCheckStatus},
}

// Full metric names, built once.
var promFENames, promBENames, promSrvNames []string

func init() {
	for _, d := range promDefs {
		promFENames = append(promFENames, "haproxy_frontend_"+d.name)
		promBENames = append(promBENames, "haproxy_backend_"+d.name)
		promSrvNames = append(promSrvNames, "haproxy_server_"+d.name)
	}
}

// Server states of haproxy_server_status, and the state of a server as
// HAProxy's exporter reports it: MAINT wins, then NOLB for a stopping
// server, DRAIN for a running one in drain, UP, else DOWN.
var promSrvStates = [...]string{"DOWN", "UP", "MAINT", "DRAIN", "NOLB"}

func promSrvState(s *Server) int {
	adm := s.Admin()
	if adm.IsMaint() {
		return 2
	}
	switch s.Op() {
	case Running, Starting:
		if adm&bus.DrainMask != 0 {
			return 3
		}
		return 1
	case Stopping:
		return 4
	}
	return 0
}

// promCheckStates are the check results haproxy_server_check_status
// reports (those that end a check: failed, passed, conditionally passed).
var promCheckStates = [...]string{"HANA", "SOCKERR", "L4OK", "L4TOUT", "L4CON", "L6OK", "L6TOUT", "L6RSP",
	"L7TOUT", "L7RSP", "L7OK", "L7OKC", "L7STS", "PROCERR", "PROCTOUT", "PROCOK"}

var promCodes = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}
var promUpDown = [...]string{"DOWN", "UP"}

// promFrontends writes the haproxy_frontend_* families.
func (e *Engine) promFrontends(w *promWriter, now time.Time) {
	for i := range promDefs {
		d := &promDefs[i]
		if d.fe == nil && d.special != promStatus && d.special != promHTTPResponses {
			continue
		}
		w.family(promFENames[i], d.help, d.typ)
		for _, p := range e.proxies {
			if !p.isFE || (d.http && p.mode != ModeHTTP) {
				continue
			}
			switch d.special {
			case promStatus:
				up := p.FrontendStatus() != "STOP"
				for j, st := range promUpDown {
					w.sample(b2f(up == (j == 1)), "proxy", p.name, "state", st)
				}
			case promHTTPResponses:
				for j, c := range promCodes {
					w.sample(float64(p.Counters.Hrsp[j].Load()), "proxy", p.name, "code", c)
				}
			default:
				if v, ok := d.fe(p, now); ok {
					w.sample(v, "proxy", p.name)
				}
			}
		}
	}
}

// promBackends writes the haproxy_backend_* families.
func (e *Engine) promBackends(w *promWriter, now time.Time) {
	for i := range promDefs {
		d := &promDefs[i]
		if d.be == nil && d.special == promPlain || d.special == promCheckStatus {
			continue
		}
		w.family(promBENames[i], d.help, d.typ)
		for _, p := range e.proxies {
			if !p.isBE || (d.http && p.mode != ModeHTTP) {
				continue
			}
			switch d.special {
			case promStatus:
				up := p.BackendStatus() == "UP"
				for j, st := range promUpDown {
					w.sample(b2f(up == (j == 1)), "proxy", p.name, "state", st)
				}
			case promHTTPResponses:
				for j, c := range promCodes {
					w.sample(float64(p.BeCounters.Hrsp[j].Load()), "proxy", p.name, "code", c)
				}
			case promAggServerStatus:
				var n [len(promSrvStates)]int
				for _, s := range p.Servers() {
					n[promSrvState(s)]++
				}
				for j, st := range promSrvStates {
					w.sample(float64(n[j]), "proxy", p.name, "state", st)
				}
			case promAggCheckStatus:
				var n [len(promCheckStates)]int
				for _, s := range p.Servers() {
					if j := promCheckIndex(s); j >= 0 {
						n[j]++
					}
				}
				for j, st := range promCheckStates {
					w.sample(float64(n[j]), "proxy", p.name, "state", st)
				}
			default:
				if v, ok := d.be(p, now); ok {
					w.sample(v, "proxy", p.name)
				}
			}
		}
	}
}

// promCheckIndex returns the index in promCheckStates of the server's last
// health check result, -1 when it has none to report (no check, check
// disabled or paused by maintenance, no result yet).
func promCheckIndex(s *Server) int {
	hc := s.HealthInfo()
	if !hc.Enabled || hc.Last == nil || s.Admin().IsMaint() {
		return -1
	}
	for j, st := range promCheckStates {
		if st == hc.Last.Short {
			return j
		}
	}
	return -1
}

// promServers writes the haproxy_server_* families.
func (e *Engine) promServers(w *promWriter, noMaint bool, now time.Time) {
	for i := range promDefs {
		d := &promDefs[i]
		if d.srv == nil && d.special != promStatus && d.special != promHTTPResponses && d.special != promCheckStatus {
			continue
		}
		w.family(promSrvNames[i], d.help, d.typ)
		for _, p := range e.proxies {
			if !p.isBE || (d.http && p.mode != ModeHTTP) {
				continue
			}
			for _, s := range p.Servers() {
				if noMaint && s.Admin().IsMaint() {
					continue
				}
				switch d.special {
				case promStatus:
					cur := promSrvState(s)
					for j, st := range promSrvStates {
						w.sample(b2f(j == cur), "proxy", p.name, "server", s.name, "state", st)
					}
				case promHTTPResponses:
					for j, c := range promCodes {
						w.sample(float64(s.Counters.Hrsp[j].Load()), "proxy", p.name, "server", s.name, "code", c)
					}
				case promCheckStatus:
					hc := s.HealthInfo()
					if !hc.Enabled || s.Admin().IsMaint() {
						continue
					}
					cur := promCheckIndex(s)
					for j, st := range promCheckStates {
						w.sample(b2f(j == cur), "proxy", p.name, "server", s.name, "state", st)
					}
				default:
					if v, ok := d.srv(s, now); ok {
						w.sample(v, "proxy", p.name, "server", s.name)
					}
				}
			}
		}
	}
}
