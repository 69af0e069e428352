package proxy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"moonbus/bus"
	"moonbus/config"
)

// Dynamic servers (reference §8): "add server" and "del server".

// Errors of AddServer and DelServer (HAProxy's texts).
var (
	ErrServerExists     = errors.New("Already exists a server with the same name in backend.")
	ErrServerReferenced = errors.New("This server cannot be removed at runtime due to other configuration elements pointing to it.")
	ErrServerNotMaint   = errors.New("Only servers in maintenance mode can be deleted.")
	ErrServerHasConns   = errors.New("Server still has connections attached to it, cannot remove it.")
	ErrNoSuchServer     = errors.New("No such server.")
)

// DynamicUnsupportedError is returned by AddServer on a backend whose
// algorithm cannot take dynamic servers.
type DynamicUnsupportedError struct{ Proxy *Proxy }

// Error returns HAProxy's text: "Backend does not support dynamic servers :
// <kind> '<name>' uses a non dynamic load balancing method."
func (e *DynamicUnsupportedError) Error() string {
	return fmt.Sprintf("Backend does not support dynamic servers : %s '%s' uses a non dynamic load balancing method.", e.Proxy.kindName(), e.Proxy.name)
}

// SupportsDynamicServers returns nil when "add server" may be used on the
// backend, else a *DynamicUnsupportedError.
func (p *Proxy) SupportsDynamicServers() error {
	if !p.isBE || !p.DynamicLB() {
		return &DynamicUnsupportedError{Proxy: p}
	}
	return nil
}

// AddServer registers a dynamic server (runtime API "add server"): it starts
// in forced maintenance (FMAINT, state STOPPED), with its health and agent
// checks configured but not enabled, gets the next free id (or params.ID),
// and SERVER_ADD is published. It is not written back to the configuration.
func (p *Proxy) AddServer(name, addr string, params config.ServerParams) (*Server, error) {
	if err := p.SupportsDynamicServers(); err != nil {
		return nil, err
	}
	var tracked *Server
	if params.Track != "" {
		t, err := p.resolveTrack(name, params.Track)
		if err != nil {
			return nil, err
		}
		tracked = t
	}
	p.srvMu.Lock()
	cur := p.Servers()
	used := make(map[int]bool, len(cur))
	for _, s := range cur {
		if s.name == name {
			p.srvMu.Unlock()
			return nil, ErrServerExists
		}
		used[s.puid] = true
		if s.puid >= p.nextPUID {
			// Ids only grow, so (puid, rid 0) never names two servers.
			p.nextPUID = s.puid + 1
		}
	}
	id := params.ID
	if id > 0 {
		if used[id] {
			p.srvMu.Unlock()
			return nil, fmt.Errorf("'server %s/%s' : custom id %d already used by another server.", p.name, name, id)
		}
	} else {
		id = p.nextPUID
		if id < 1 {
			id = 1
		}
		for used[id] {
			id++
		}
		p.nextPUID = id + 1
	}
	s, err := p.newServer(name, addr, params, id, true)
	if err != nil {
		p.srvMu.Unlock()
		return nil, fmt.Errorf("'server %s/%s' : %w", p.name, name, err)
	}
	adm := bus.FMaint
	if params.Disabled {
		adm |= bus.CMaint
	}
	s.admin.Store(uint32(adm))
	// Checks are configured but paused until "enable health"/"enable agent".
	if err := s.attachChecks(); err != nil {
		p.srvMu.Unlock()
		return nil, fmt.Errorf("'server %s/%s' : %w", p.name, name, err)
	}
	now := time.Now()
	s.lastChange.Store(now.Unix())
	s.downSince = now.Unix()
	s.idx = len(cur)
	if tracked != nil {
		s.track = tracked
		tracked.mu.Lock()
		tracked.trackers = append(tracked.trackers, s)
		tracked.mu.Unlock()
	}
	list := make([]*Server, len(cur), len(cur)+1)
	copy(list, cur)
	list = append(list, s)
	p.servers.Store(&list)
	p.srvMu.Unlock()

	// Inherit the tracked server's maintenance/drain bits; no event.
	s.update(change{initial: true})
	if pub := p.e.pub; pub != nil {
		pub.PublishBatch(&bus.Event{Type: bus.ServerAdd, When: now, Server: s.ref(), Snapshot: s.snapshot()})
	}
	p.e.log.Info(fmt.Sprintf("New server %s/%s registered.", p.name, name))
	return s, nil
}

// resolveTrack finds the server a dynamic server wants to track: it must
// exist, come from the configuration, and end a chain that has checks.
func (p *Proxy) resolveTrack(name, ref string) (*Server, error) {
	beName, srvName := p.name, ref
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		beName, srvName = ref[:i], ref[i+1:]
	}
	be := p.e.byName[beName]
	if be == nil || !be.isBE {
		return nil, fmt.Errorf("'server %s/%s' : unable to find required proxy '%s' for tracking.", p.name, name, beName)
	}
	t := be.Server(srvName)
	if t == nil {
		return nil, fmt.Errorf("'server %s/%s' : unable to find required server '%s' for tracking.", p.name, name, srvName)
	}
	if t.dynamic {
		return nil, fmt.Errorf("'server %s/%s' : unable to use %s/%s for tracking as it is a dynamic server.", p.name, name, beName, srvName)
	}
	end := t
	for i := 0; end.track != nil && i < 64; i++ {
		end = end.track
	}
	if !end.health.configured && !end.agent.configured {
		return nil, fmt.Errorf("'server %s/%s' : unable to use %s/%s for tracking as it does not have any check nor agent enabled.", p.name, name, beName, srvName)
	}
	return t, nil
}

// referenced reports whether something in the configuration points to s:
// servers tracking it, or a use-server rule naming it.
func (p *Proxy) referenced(s *Server) bool {
	s.mu.Lock()
	n := len(s.trackers)
	s.mu.Unlock()
	if n > 0 || s.referenced {
		return true
	}
	if p.conf != nil {
		for _, l := range p.conf.UseServers {
			if len(l.Words) > 0 && l.Words[0] == s.name {
				return true
			}
		}
	}
	return false
}

// CheckRemovable returns nil when "del server" would succeed on s, else the
// reason (ErrServerReferenced, ErrServerNotMaint, ErrServerHasConns). Idle
// pooled connections do not count: DelServer closes them.
func (p *Proxy) CheckRemovable(s *Server) error {
	if s.px != p || s.deleted.Load() {
		return ErrNoSuchServer
	}
	if p.referenced(s) {
		return ErrServerReferenced
	}
	if s.Admin()&bus.MaintMask == 0 {
		return ErrServerNotMaint
	}
	if s.cur.Load() > 0 || s.queue.len() > 0 || s.NumStreams() > 0 {
		return ErrServerHasConns
	}
	return nil
}

// DelServer removes a server (runtime API "del server") once nothing refers
// to it, it is in maintenance and no connection uses it; idle pooled
// connections are closed. SERVER_DEL is published and the server is marked
// deleted.
func (p *Proxy) DelServer(s *Server) error {
	p.srvMu.Lock()
	if err := p.CheckRemovable(s); err != nil {
		p.srvMu.Unlock()
		return err
	}
	s.pool.purge(0)
	cur := p.Servers()
	list := make([]*Server, 0, len(cur))
	for _, x := range cur {
		if x != s {
			list = append(list, x)
		}
	}
	s.deleted.Store(true)
	p.servers.Store(&list)
	p.srvMu.Unlock()

	if s.healthChk != nil {
		s.healthChk.Remove()
	}
	if s.agentChk != nil {
		s.agentChk.Remove()
	}
	s.mu.Lock()
	if s.rampTimer != nil {
		s.rampTimer.Stop()
	}
	t := s.track
	s.mu.Unlock()
	if t != nil {
		t.mu.Lock()
		for i, x := range t.trackers {
			if x == s {
				t.trackers = append(t.trackers[:i:i], t.trackers[i+1:]...)
				break
			}
		}
		t.mu.Unlock()
	}
	p.rebuildLB()
	now := time.Now()
	if pub := p.e.pub; pub != nil {
		pub.PublishBatch(&bus.Event{Type: bus.ServerDel, When: now, Server: s.ref(), Snapshot: s.snapshot()})
	}
	p.e.log.Info(fmt.Sprintf("Server %s/%s deleted.", p.name, s.name))
	return nil
}
