package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"time"
	"unsafe"
)

// Frontend and process operations of the runtime API ("disable frontend",
// "enable frontend", "shutdown frontend", "set maxconn", "clear counters",
// "show sess") and the Lua Proxy class.

// Errors and notices of the frontend operations (HAProxy's texts).
var (
	ErrFrontendShutDisable = errors.New("Frontend was previously shut down, cannot disable.")
	ErrFrontendShutEnable  = errors.New("Frontend was previously shut down, cannot enable.")
	ErrFrontendAlreadyShut = errors.New("Frontend was already shut down.")
	ErrFrontendPaused      = errors.New("All sockets are already disabled.")
	ErrFrontendRunning     = errors.New("All sockets are already enabled.")
	ErrFrontendResume      = errors.New("Failed to resume frontend, check logs for precise cause (port conflict?).")
)

// shutDown reports whether the frontend was stopped for good (shutdown
// frontend, or disabled in the configuration).
func (p *Proxy) shutDown() bool { return p.stopped.Load() || (p.conf != nil && p.conf.Disabled) }

// PauseFrontend implements "disable frontend" (Lua Proxy:pause): the
// listeners stop accepting connections until ResumeFrontend. Established
// connections are not affected. The listening sockets are closed while
// paused, so new connections are refused instead of waiting in the backlog.
func (p *Proxy) PauseFrontend() error {
	p.srvMu.Lock()
	defer p.srvMu.Unlock()
	if p.shutDown() {
		return ErrFrontendShutDisable
	}
	if p.disabled.Load() {
		return ErrFrontendPaused
	}
	p.disabled.Store(true)
	for _, l := range p.listeners {
		if l.ln != nil {
			_ = l.ln.Close()
		}
	}
	p.e.log.Warn(fmt.Sprintf("Paused %s %s.", p.kindName(), p.name))
	return nil
}

// ResumeFrontend implements "enable frontend" (Lua Proxy:resume): the
// listeners are bound again on the addresses they had and accept again.
func (p *Proxy) ResumeFrontend() error {
	p.srvMu.Lock()
	defer p.srvMu.Unlock()
	if p.shutDown() {
		return ErrFrontendShutEnable
	}
	if !p.disabled.Load() {
		return ErrFrontendRunning
	}
	if p.e.stopping.Load() {
		return ErrFrontendResume
	}
	var bound []net.Listener
	for _, l := range p.listeners {
		network, address := l.addr.Network, l.addr.String()
		if l.ln != nil {
			address = l.ln.Addr().String()
		}
		if network == "unix" {
			_ = os.Remove(address)
		}
		ln, err := net.Listen(network, address)
		if err != nil {
			for _, b := range bound {
				_ = b.Close()
			}
			p.e.log.Error(fmt.Sprintf("Failed to resume %s %s: cannot bind socket (%v) for [%s]", p.kindName(), p.name, err, address))
			return ErrFrontendResume
		}
		if network == "unix" && l.conf.Mode != 0 {
			_ = os.Chmod(address, os.FileMode(l.conf.Mode))
		}
		bound = append(bound, ln)
	}
	for i, l := range p.listeners {
		l.ln = bound[i]
		l.wg.Add(1)
		go l.acceptLoop(p.e)
	}
	p.disabled.Store(false)
	p.e.log.Warn(fmt.Sprintf("Resumed %s %s.", p.kindName(), p.name))
	return nil
}

// StopFrontend implements "shutdown frontend" (Lua Proxy:stop): the
// listeners are closed for good; established connections finish.
func (p *Proxy) StopFrontend() error {
	p.srvMu.Lock()
	defer p.srvMu.Unlock()
	if p.shutDown() {
		return ErrFrontendAlreadyShut
	}
	p.stopped.Store(true)
	for _, l := range p.listeners {
		if l.ln != nil {
			_ = l.ln.Close()
		}
	}
	p.e.log.Warn(fmt.Sprintf("Proxy %s stopped (cumulated conns: FE: %d, BE: %d).", p.name, p.Counters.ConnTot.Load(), p.BeCounters.Stot.Load()))
	return nil
}

// FrontendMaxconn returns the frontend's connection limit (0 = none).
func (p *Proxy) FrontendMaxconn() int { return int(p.maxconn.Load()) }

// SetFrontendMaxconn implements "set maxconn frontend".
func (p *Proxy) SetFrontendMaxconn(n int) {
	p.maxconn.Store(int32(n))
	if p.slots != nil {
		p.slots.setMax(n)
	}
}

// HardMaxconn returns the global maxconn of the configuration (the ceiling
// of "set maxconn global"; 0 = unlimited).
func (e *Engine) HardMaxconn() int { return e.conf.Global.Maxconn }

// Stopping reports whether the engine is stopping.
func (e *Engine) Stopping() bool { return e.stopping.Load() }

// ClearCounters implements "clear counters" (max values only) and "clear
// counters all" (every counter but the current values).
func (e *Engine) ClearCounters(all bool) {
	clear := func(c *Counters) {
		if all {
			c.ClearAll()
		} else {
			c.ClearMax()
		}
	}
	for _, p := range e.proxies {
		clear(&p.Counters)
		clear(&p.BeCounters)
		for _, l := range p.listeners {
			clear(&l.Counters)
		}
		for _, s := range p.Servers() {
			clear(&s.Counters)
		}
	}
}

// SessionInfo describes one client connection ("show sess").
type SessionInfo struct {
	ID       uintptr   // opaque identifier, printed in hex
	Src      string    // client address "ip:port"
	Frontend string    // frontend name
	Accepted time.Time // accept time
}

// Sessions returns the client connections being served (HTTP sessions that
// reached the request loop).
func (e *Engine) Sessions() []SessionInfo {
	e.connMu.Lock()
	defer e.connMu.Unlock()
	out := make([]SessionInfo, 0, len(e.conns))
	for _, s := range e.conns {
		if s == nil {
			continue
		}
		out = append(out, SessionInfo{ID: sessionID(s), Src: s.src.String(), Frontend: s.fe.name, Accepted: s.accept})
	}
	return out
}

func sessionID(s *session) uintptr { return uintptr(unsafe.Pointer(s)) }
