package proxy

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"moonbus/bus"
)

// Server operations of the runtime API and the Lua Server class. Errors carry
// HAProxy's texts without the trailing newline.

// Errors of the server operations (HAProxy's texts).
var (
	ErrHealthNotConfigured = errors.New("Health check was not configured on this server, cannot enable.")
	ErrAgentNotConfigured  = errors.New("Agent was not configured on this server, cannot enable.")
	ErrAgentNotEnabled     = errors.New("agent checks are not enabled on this server.")
	ErrTrackingHealth      = errors.New("cannot change health on a tracking server.")
	ErrStaticWeight        = errors.New("Backend is using a static LB algorithm and only accepts weights '0%' and '100%'.")
	ErrWeightRequired      = errors.New("Require <weight> or <weight%>.")
	ErrWeightRange         = errors.New("Absolute weight can only be between 0 and 256 inclusive.")
	ErrWeightRelative      = errors.New("Relative weight must be positive.")
	ErrWeightGarbage       = errors.New("Empty weight string empty or preceded by garbage")
	ErrWeightTrailing      = errors.New("Trailing garbage in weight string")
	ErrMaxconnRequired     = errors.New("Require <maxconn>.")
	ErrMaxconnGarbage      = errors.New("maxconn string empty or preceded by garbage")
	ErrMaxconnTrailing     = errors.New("Trailing garbage in maxconn string")
)

// CheckInfo describes a server's health or agent check.
type CheckInfo struct {
	Configured bool         // "check" / "agent-check" was given
	Enabled    bool         // configured and not disabled ("disable health", dynamic servers before "enable health")
	Health     int          // the health counter
	Rise, Fall int          // thresholds
	Last       *CheckStatus // last result, nil before the first one
}

// HealthInfo returns the state of the server's health check.
func (s *Server) HealthInfo() CheckInfo {
	s.mu.Lock()
	h := s.health
	s.mu.Unlock()
	return CheckInfo{Configured: h.configured, Enabled: h.configured && h.enabled, Health: h.health, Rise: h.rise, Fall: h.fall, Last: s.lastCheck.Load()}
}

// AgentInfo returns the state of the server's agent check.
func (s *Server) AgentInfo() CheckInfo {
	s.mu.Lock()
	h := s.agent
	s.mu.Unlock()
	return CheckInfo{Configured: h.configured, Enabled: h.configured && h.enabled, Health: h.health, Rise: h.rise, Fall: h.fall, Last: s.lastAgent.Load()}
}

// Tracked returns the server this one tracks ("track"), nil when none.
func (s *Server) Tracked() *Server { return s.track }

// Trackers returns the servers that track this one.
func (s *Server) Trackers() []*Server {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Server(nil), s.trackers...)
}

// IsUsable reports whether the load balancer may currently pick the server.
func (s *Server) IsUsable() bool { return s.usable() }

// IdleConns returns the number of idle pooled connections to the server.
func (s *Server) IdleConns() int { return s.pool.numIdle() }

// EnableHealth implements "enable health": the configured health check is
// taken into account again. cause is the operational cause text of any state
// change that follows (CauseCLI, CauseLua...).
func (s *Server) EnableHealth(cause string) error {
	if !s.health.configured {
		return ErrHealthNotConfigured
	}
	s.update(change{cause: cause, mut: func(s *Server) { s.health.enabled, s.health.forced = true, false }})
	return nil
}

// DisableHealth implements "disable health": the check result is ignored
// and the server counts as UP unless its agent says otherwise.
func (s *Server) DisableHealth(cause string) {
	s.update(change{cause: cause, mut: func(s *Server) { s.health.enabled, s.health.forced = false, false }})
}

// EnableAgent implements "enable agent".
func (s *Server) EnableAgent(cause string) error {
	if !s.agent.configured {
		return ErrAgentNotConfigured
	}
	s.update(change{cause: cause, mut: func(s *Server) { s.agent.enabled = true }})
	return nil
}

// DisableAgent implements "disable agent".
func (s *Server) DisableAgent(cause string) {
	s.update(change{cause: cause, mut: func(s *Server) { s.agent.enabled = false }})
}

// SetHealthState implements "set server <b>/<s> health up|stopping|down"
// with HAProxy's refusal on tracking servers.
func (s *Server) SetHealthState(state, cause string) error {
	if s.track != nil {
		return ErrTrackingHealth
	}
	s.ForceHealth(state, cause)
	return nil
}

// SetAgentState implements "set server <b>/<s> agent up|down".
func (s *Server) SetAgentState(up bool, cause string) error {
	if !s.AgentInfo().Enabled {
		return ErrAgentNotEnabled
	}
	s.ForceAgent(up, cause)
	return nil
}

// DynamicLB reports whether the backend's algorithm accepts weight changes
// and dynamic servers (HAProxy's BE_LB_PROP_DYN): roundrobin, leastconn,
// first, random and consistent hashing.
func (p *Proxy) DynamicLB() bool {
	algo := p.algoName()
	switch algo {
	case "roundrobin", "leastconn", "first", "random", "sticky":
		return true
	case "static-rr":
		return false
	}
	if strings.HasPrefix(algo, "random") {
		return true
	}
	return isHashAlgo(algo) && p.hashConsistent()
}

// ChangeWeight implements "set weight" / "set server weight" and Lua's
// Server:set_weight: arg is an absolute weight 0..256 or a percentage of the
// initial weight ("50%", capped at 256).
func (s *Server) ChangeWeight(arg string) error {
	if arg == "" {
		return ErrWeightRequired
	}
	i := 0
	if i < len(arg) && (arg[i] == '-' || arg[i] == '+') {
		i++
	}
	for i < len(arg) && arg[i] >= '0' && arg[i] <= '9' {
		i++
	}
	num, rest := arg[:i], arg[i:]
	w, err := strconv.Atoi(num)
	if err != nil {
		if num == "" || num == "-" || num == "+" {
			return ErrWeightGarbage
		}
		w = 1 << 30 // overflow: out of range below
		if strings.HasPrefix(num, "-") {
			w = -w
		}
	}
	switch {
	case rest == "%":
		if w < 0 {
			return ErrWeightRelative
		}
		if w > 25600 {
			w = 25600
		}
		w = int(s.iweight) * w / 100
		if w > 256 {
			w = 256
		}
	case w < 0 || w > 256:
		return ErrWeightRange
	case rest != "":
		return ErrWeightTrailing
	}
	if w != 0 && w != int(s.iweight) && !s.px.DynamicLB() {
		return ErrStaticWeight
	}
	s.SetWeight(w)
	return nil
}

// ChangeMaxconn implements "set maxconn server" and Lua's
// Server:set_maxconn.
func (s *Server) ChangeMaxconn(arg string) error {
	if arg == "" {
		return ErrMaxconnRequired
	}
	i := 0
	if arg[0] == '-' || arg[0] == '+' {
		i++
	}
	for i < len(arg) && arg[i] >= '0' && arg[i] <= '9' {
		i++
	}
	if i == 0 || (i == 1 && (arg[0] == '-' || arg[0] == '+')) {
		return ErrMaxconnGarbage
	}
	if i != len(arg) {
		return ErrMaxconnTrailing
	}
	v, err := strconv.Atoi(arg)
	if err != nil || v < 0 || v > 1<<30 {
		return ErrMaxconnGarbage
	}
	s.SetMaxconn(v)
	return nil
}

// SetAddr implements "set server <b>/<s> addr <ip> [port <p>]" and Lua's
// Server:set_addr. port is "" to keep the current one. It returns HAProxy's
// reply: "IP changed from 'A' to 'B', port changed from 'p1' to 'p2' by
// '<updater>'" (the parts that changed) or "nothing changed". Idle pooled
// connections to the old address are closed and SERVER_INETADDR is
// published.
func (s *Server) SetAddr(ip, port, updater string) (string, error) {
	nip := net.ParseIP(ip)
	if nip == nil {
		return "", fmt.Errorf("Invalid addr '%s'", ip)
	}
	newPort := -1
	if port != "" {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 {
			return "", fmt.Errorf("Invalid port '%s'", port)
		}
		newPort = n
	}
	s.mu.Lock()
	old := s.addr.Load()
	if old.addr.Network == "unix" {
		s.mu.Unlock()
		return "", fmt.Errorf("Cannot change the address of a server on a unix socket")
	}
	na := old.addr
	na.Host = nip.String()
	if nip.To4() != nil {
		if na.Network == "tcp6" {
			na.Network = "tcp"
		}
	} else if na.Network == "tcp4" {
		na.Network = "tcp"
	}
	if newPort >= 0 {
		na.Port, na.Offset = newPort, false
	}
	var parts []string
	if na.Host != old.addr.Host {
		parts = append(parts, fmt.Sprintf("IP changed from '%s' to '%s'", old.addr.Host, na.Host))
	}
	if na.Port != old.addr.Port || na.Offset != old.addr.Offset {
		parts = append(parts, fmt.Sprintf("port changed from '%s' to '%s'", portText(old.addr), portText(na)))
	}
	if len(parts) == 0 {
		s.mu.Unlock()
		return "nothing changed", nil
	}
	sa := &serverAddr{addr: na}
	if na.Port != 0 && !na.Offset {
		sa.resolved = net.JoinHostPort(na.Host, strconv.Itoa(na.Port))
	}
	s.addr.Store(sa)
	s.mu.Unlock()
	s.pool.purge(0)
	msg := strings.Join(parts, ", ") + " by '" + updater + "'"
	s.px.e.log.Warn(fmt.Sprintf("%s/%s changed its IP from %s to %s by '%s'.", s.px.name, s.name, old.addr.Host, na.Host, updater))
	if pub := s.px.e.pub; pub != nil {
		pub.PublishBatch(&bus.Event{Type: bus.ServerInetAddr, When: time.Now(), Server: s.ref(), Snapshot: s.snapshot()})
	}
	return msg, nil
}

func portText(a Addr) string {
	if a.Offset && a.Port >= 0 {
		return "+" + strconv.Itoa(a.Port)
	}
	return strconv.Itoa(a.Port)
}

// CheckPort returns the health-check port ("port", "set server check-port"),
// 0 when the checks use the server's port.
func (s *Server) CheckPort() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conf.Port
}

// SetCheckPort implements "set server <b>/<s> check-port <p>". The health
// checker must read CheckPort before each probe to follow it.
func (s *Server) SetCheckPort(port int) {
	s.mu.Lock()
	s.conf.Port = port
	s.mu.Unlock()
}
