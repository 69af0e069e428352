package proxy

import (
	"crypto/tls"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/healthcheck"
	"moonbus/proxy/sample"
)

// OpState is a server's operational state (HAProxy's enum srv_state).
type OpState int32

// Operational states, numbered as in "show servers state".
const (
	Stopped  OpState = 0
	Starting OpState = 1
	Running  OpState = 2
	Stopping OpState = 3
)

func (s OpState) String() string {
	switch s {
	case Stopped:
		return "STOPPED"
	case Starting:
		return "STARTING"
	case Running:
		return "RUNNING"
	case Stopping:
		return "STOPPING"
	}
	return "UNKNOWN"
}

// serverAddr is the current address of a server; it is replaced as a whole
// when "set server addr" changes it.
type serverAddr struct {
	addr     Addr
	resolved string // dial address ("ip:port" or path); "" when the port follows the client's
	check    string // address given to health checks ("host:port", "host:" without a port)
}

// checkString computes the address health checks use.
func (a *serverAddr) checkString() string {
	if a.addr.Network == "unix" {
		return a.addr.Host
	}
	port := ""
	if a.addr.Port != 0 && !a.addr.Offset {
		port = strconv.Itoa(a.addr.Port)
	}
	return net.JoinHostPort(a.addr.Host, port)
}

// Server is one server of a backend. All state changes go through its single
// writer (update); the load balancer reads atomics only.
type Server struct {
	px      *Proxy
	name    string
	puid    int
	rid     int
	dynamic bool
	backup  bool
	conf    config.ServerParams
	pos     config.Pos

	addr atomic.Pointer[serverAddr]

	op       atomic.Int32  // OpState
	admin    atomic.Uint32 // bus.AdminFlags
	uweight  atomic.Int32  // user weight (set weight, agent)
	iweight  int32         // initial weight from the config
	eweight  atomic.Int32  // effective weight used by the load balancer
	autoPct  atomic.Int32  // auto-weight factor in percent (100 = none)
	maxconn  atomic.Int32
	maxqueue atomic.Int32
	deleted  atomic.Bool

	cur   atomic.Int32 // requests/connections currently using the server
	queue waitQueue    // requests waiting for this server specifically

	Counters Counters

	tlsConf *tls.Config
	sniExpr *sample.Expr // a non-constant sni expression, evaluated per connection
	pool    connPool

	// Writer state, guarded by mu.
	mu         sync.Mutex
	health     checkState
	agent      checkState
	track      *Server
	trackers   []*Server
	lastChange atomic.Int64 // unix seconds of the last state change
	downSince  int64        // unix seconds when it went down, 0 when up
	downtime   atomic.Int64 // accumulated seconds down
	chkDown    atomic.Int64 // number of UP->DOWN transitions
	rampStart  time.Time
	rampTimer  *time.Timer
	lastCheck  atomic.Pointer[CheckStatus]
	lastAgent  atomic.Pointer[CheckStatus]
	streams    map[*stream]struct{}
	idx        int // position in the backend's server list

	// lb holds per-server state of the load balancing algorithm.
	lb lbServer

	observer atomic.Pointer[Observer]

	// referenced is set when a rule (use-server) names the server.
	referenced bool

	healthChk     *healthcheck.Checker
	agentChk      *healthcheck.Checker
	agentDisabled atomic.Bool
	chkFail       atomic.Int64

	inheritedHealth bool // health values come from the previous engine (reload)
}

// checkState is the part of a health or agent check the state machine needs.
type checkState struct {
	configured bool
	enabled    bool
	health     int
	rise, fall int
	stopping   bool // last result was CONDPASS (NOLB)
	// forced: "set server health" while no check runs; the forced health
	// then decides the state (HAProxy stops a server without checks too)
	// until checks are enabled or disabled again.
	forced bool
}

func (c *checkState) up() bool { return !c.configured || !c.enabled || c.health >= c.rise }

// CheckStatus is the last result of a check, for "show stat".
type CheckStatus struct {
	Short    string
	Desc     string
	Code     int
	Info     string
	Duration time.Duration
	At       time.Time
	Health   bus.Health
}

// Name returns the server name.
func (s *Server) Name() string { return s.name }

// PUID returns the proxy-unique id.
func (s *Server) PUID() int { return s.puid }

// RID returns the revision id.
func (s *Server) RID() int { return s.rid }

// Proxy returns the server's backend.
func (s *Server) Proxy() *Proxy { return s.px }

// IsBackup reports whether it is a backup server.
func (s *Server) IsBackup() bool { return s.backup }

// IsDynamic reports whether it was added at run time.
func (s *Server) IsDynamic() bool { return s.dynamic }

// Deleted reports whether the server was removed.
func (s *Server) Deleted() bool { return s.deleted.Load() }

// Op returns the operational state.
func (s *Server) Op() OpState { return OpState(s.op.Load()) }

// Admin returns the admin flags.
func (s *Server) Admin() bus.AdminFlags { return bus.AdminFlags(s.admin.Load()) }

// UWeight returns the user weight; IWeight the initial one; EWeight the
// effective one the load balancer uses.
func (s *Server) UWeight() int { return int(s.uweight.Load()) }

// IWeight returns the weight from the configuration.
func (s *Server) IWeight() int { return int(s.iweight) }

// EWeight returns the effective weight.
func (s *Server) EWeight() int { return int(s.eweight.Load()) }

// Maxconn returns the server's maxconn (0 = unlimited).
func (s *Server) Maxconn() int { return int(s.maxconn.Load()) }

// CurConns returns the requests currently served.
func (s *Server) CurConns() int { return int(s.cur.Load()) }

// QueueLen returns the requests waiting for this server.
func (s *Server) QueueLen() int { return s.queue.len() }

// Conf returns the server's configuration parameters.
func (s *Server) Conf() config.ServerParams { return s.conf }

// AddrString returns the address as "ip:port" (no brackets for IPv6, as the
// Lua API does) or the unix path.
func (s *Server) AddrString() string {
	a := s.addr.Load()
	if a.addr.Network == "unix" {
		return a.addr.Host
	}
	return a.addr.Host + ":" + strconv.Itoa(a.addr.Port)
}

// dialAddr returns the address to connect to for a client whose destination
// port is dstPort.
func (s *Server) dialAddr(dstPort int) (network, address string) {
	a := s.addr.Load()
	if a.resolved != "" {
		return netOf(a.addr), a.resolved
	}
	port := a.addr.Port
	if a.addr.Offset || port == 0 {
		port += dstPort
	}
	return netOf(a.addr), net.JoinHostPort(a.addr.Host, strconv.Itoa(port))
}

func netOf(a Addr) string {
	if a.Network == "unix" {
		return "unix"
	}
	return a.Network
}

// usable reports whether the load balancer may pick the server: it is up
// (RUNNING or STARTING), not in maintenance or drain, with a weight.
func (s *Server) usable() bool {
	op := OpState(s.op.Load())
	if op != Running && op != Starting {
		return false
	}
	if bus.AdminFlags(s.admin.Load())&(bus.MaintMask|bus.DrainMask) != 0 {
		return false
	}
	return s.eweight.Load() > 0
}

// isUp reports whether the server is not STOPPED (it counts in nbsrv and
// get_srv_act even when draining).
func (s *Server) isUp() bool {
	return OpState(s.op.Load()) != Stopped && bus.AdminFlags(s.admin.Load())&bus.MaintMask == 0
}

// hasFreeSlot reports whether a new request may use the server now.
func (s *Server) hasFreeSlot() bool {
	m := s.effMaxconn()
	return m == 0 || int(s.cur.Load()) < m
}

// effMaxconn is maxconn, ramped during slowstart.
func (s *Server) effMaxconn() int {
	m := int(s.maxconn.Load())
	if m == 0 || OpState(s.op.Load()) != Starting || s.conf.Slowstart <= 0 {
		return m
	}
	w, uw := int(s.eweight.Load()), int(s.uweight.Load())
	if uw <= 0 {
		return m
	}
	r := m * w / uw
	if r < 1 {
		r = 1
	}
	return r
}

// tryAcquire takes a slot if one is free.
func (s *Server) tryAcquire() bool {
	m := int32(s.effMaxconn())
	for {
		c := s.cur.Load()
		if m != 0 && c >= m {
			return false
		}
		if s.cur.CompareAndSwap(c, c+1) {
			return true
		}
	}
}

// acquireForced takes a slot regardless of maxconn (used when a queued
// request is handed a slot that was just released).
func (s *Server) acquireForced() { s.cur.Add(1) }

// release gives a slot back and hands it to the next queued request, if any.
func (s *Server) release() {
	s.cur.Add(-1)
	s.px.dequeue(s)
}

// sniFor evaluates the server's sni expression for a transaction. It returns
// "" when the server has none (or a constant one) or when the expression
// yields no string, in which case the configured name applies.
func (s *Server) sniFor(t *Txn) string {
	if s.sniExpr == nil || s.tlsConf == nil {
		return ""
	}
	var out sample.Sample
	if !s.sniExpr.EvalAs(t, sample.Str, &out) {
		return ""
	}
	return string(out.Str)
}

// idleConn returns a pooled connection usable for a request that would send
// sni (see sniFor), or nil.
func (s *Server) idleConn(sni string, pref func(*srvConn) bool) *srvConn {
	if s.sniExpr == nil {
		if pref != nil {
			return s.pool.getPref(pref)
		}
		return s.pool.get()
	}
	return s.pool.getSNI(sni)
}
