package proxy

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"moonbus/config"
	"moonbus/healthcheck"
	"moonbus/proxy/sample"
)

// Mode is a proxy's mode.
type Mode int

// Proxy modes.
const (
	ModeTCP Mode = iota
	ModeHTTP
)

func (m Mode) String() string {
	if m == ModeHTTP {
		return "http"
	}
	return "tcp"
}

// connMode is the HTTP connection mode (option http-keep-alive,
// http-server-close, httpclose).
type connMode int

const (
	connKeepAlive connMode = iota
	connServerClose
	connClose
)

// Proxy is a frontend, a backend, or both (listen).
type Proxy struct {
	e    *Engine
	conf *config.Proxy
	name string
	uuid int
	mode Mode
	isFE bool
	isBE bool

	disabled atomic.Bool // "disable frontend", "disabled"
	stopped  atomic.Bool // "shutdown frontend"

	timeouts config.Timeouts
	connMode connMode
	retries  int
	fwdFor   *config.ForwardFor

	// Frontend side.
	maxconn     atomic.Int32
	feConns     atomic.Int32
	slots       *semaphore // nil when maxconn is 0
	listeners   []*listener
	defaultBE   *Proxy
	logs        []*logTarget
	logFormat   *sample.Format
	dontLogNull bool
	errorFiles  map[int][]byte

	// Backend side.
	servers    atomic.Pointer[[]*Server] // copy-on-write list, in config order
	srvMu      sync.Mutex                // serializes server list changes
	nextPUID   int
	lb         balancer
	lbView     atomic.Pointer[lbView]
	lbMu       sync.Mutex
	queue      waitQueue
	beConns    atomic.Int32
	allBackups bool
	redispatch bool
	lastChange atomic.Int64
	downSince  int64
	downtime   atomic.Int64
	chkDown    atomic.Int64

	Counters   Counters // frontend counters (or the backend's for a pure backend)
	BeCounters Counters // backend counters of a listen/backend

	// rules holds the compiled rule sets (rules engine).
	rules proxyRules
	// stats is the stats page ("stats enable"...), nil when not configured.
	stats *statsPage

	checkRules *healthcheck.Rules
}

// Name returns the proxy name.
func (p *Proxy) Name() string { return p.name }

// UUID returns the proxy's numeric id (iid in stats).
func (p *Proxy) UUID() int { return p.uuid }

// Mode returns the proxy mode.
func (p *Proxy) Mode() Mode { return p.mode }

// IsFrontend reports whether the proxy has frontend capability.
func (p *Proxy) IsFrontend() bool { return p.isFE }

// IsBackend reports whether the proxy has backend capability.
func (p *Proxy) IsBackend() bool { return p.isBE }

// Config returns the parsed configuration of the proxy.
func (p *Proxy) Config() *config.Proxy { return p.conf }

// Servers returns the current servers in configuration order. The slice must
// not be modified.
func (p *Proxy) Servers() []*Server {
	if l := p.servers.Load(); l != nil {
		return *l
	}
	return nil
}

// Server returns the server named name, or nil.
func (p *Proxy) Server(name string) *Server {
	for _, s := range p.Servers() {
		if s.name == name {
			return s
		}
	}
	return nil
}

// ServerByID returns the server with puid id, or nil.
func (p *Proxy) ServerByID(id int) *Server {
	for _, s := range p.Servers() {
		if s.puid == id {
			return s
		}
	}
	return nil
}

// SrvAct returns the number of usable active servers; SrvBck the backups.
func (p *Proxy) SrvAct() int {
	if v := p.lbView.Load(); v != nil {
		return v.nAct
	}
	return 0
}

// SrvBck returns the number of usable backup servers.
func (p *Proxy) SrvBck() int {
	if v := p.lbView.Load(); v != nil {
		return v.nBck
	}
	return 0
}

// FeConns returns the current frontend connections.
func (p *Proxy) FeConns() int { return int(p.feConns.Load()) }

// BeConns returns the current backend connections.
func (p *Proxy) BeConns() int { return int(p.beConns.Load()) }

// QueueLen returns the requests waiting in the backend queue.
func (p *Proxy) QueueLen() int { return p.queue.len() }

// Disabled reports whether the frontend was disabled from the CLI.
func (p *Proxy) Disabled() bool { return p.disabled.Load() }

func (p *Proxy) timeoutQueue() time.Duration {
	if p.timeouts.Queue > 0 {
		return p.timeouts.Queue
	}
	return p.timeouts.Connect
}

func (p *Proxy) timeoutConnect() time.Duration {
	if p.timeouts.Connect > 0 {
		return p.timeouts.Connect
	}
	return 0
}

// algoName returns the stats "algo" column.
func (p *Proxy) algoName() string {
	if p.conf != nil && p.conf.Balance != nil {
		return p.conf.Balance.Algo
	}
	return "roundrobin"
}

func (p *Proxy) String() string { return fmt.Sprintf("%s '%s'", p.kindName(), p.name) }

func (p *Proxy) kindName() string {
	switch {
	case p.isFE && p.isBE:
		return "proxy"
	case p.isFE:
		return "frontend"
	}
	return "backend"
}
