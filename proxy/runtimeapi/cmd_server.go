package runtimeapi

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
)

// Common errors (reference §6.3).
const (
	errRequireSrv   = errorText("Require 'backend/server'.")
	errNoBackend    = errorText("No such backend.")
	errNoServer     = errorText("No such server.")
	errProxyDisable = errorText("Proxy is disabled.")
	errNoFrontendNm = errorText("A frontend name is expected.")
	errNoFrontend   = errorText("No such frontend.")
)

// findProxy returns the proxy named name or "#<id>".
func findProxy(e *proxy.Engine, name string) *proxy.Proxy {
	if strings.HasPrefix(name, "#") {
		id, err := strconv.Atoi(name[1:])
		if err != nil {
			return nil
		}
		for _, p := range e.Proxies() {
			if p.UUID() == id {
				return p
			}
		}
		return nil
	}
	return e.Proxy(name)
}

// findBackend returns the backend named name or "#<id>".
func findBackend(e *proxy.Engine, name string) *proxy.Proxy {
	if p := findProxy(e, name); p != nil && p.IsBackend() {
		return p
	}
	return nil
}

// findServer resolves "<backend>/<server>" (each part may be "#<id>") the
// way HAProxy's cli_find_server does, with its error texts.
func findServer(c *Call, arg string) (*proxy.Server, error) {
	e, err := c.engine()
	if err != nil {
		return nil, err
	}
	be, sv, ok := strings.Cut(arg, "/")
	if !ok || be == "" || sv == "" {
		return nil, errRequireSrv
	}
	p := findBackend(e, be)
	if p == nil {
		return nil, errNoBackend
	}
	var s *proxy.Server
	if strings.HasPrefix(sv, "#") {
		if id, err := strconv.Atoi(sv[1:]); err == nil {
			s = p.ServerByID(id)
		}
	} else {
		s = p.Server(sv)
	}
	if s == nil {
		return nil, errNoServer
	}
	if p.FrontendStatus() == "STOP" {
		return nil, errProxyDisable
	}
	return s, nil
}

// findFrontend resolves a frontend for the frontend commands.
func findFrontend(c *Call, name string) (*proxy.Proxy, error) {
	e, err := c.engine()
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errNoFrontendNm
	}
	p := findProxy(e, name)
	if p == nil || !p.IsFrontend() {
		return nil, errNoFrontend
	}
	return p, nil
}

func cmdSetServer(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	arg := c.Arg(4)
	switch c.Arg(3) {
	case "state":
		switch arg {
		case "ready":
			s.SetAdmin(0, bus.FMaint|bus.FDrain, "")
		case "drain":
			s.SetAdmin(bus.FDrain, bus.FMaint, "")
		case "maint":
			s.SetAdmin(bus.FMaint, bus.FDrain, "")
		default:
			return errorText("'set server <srv> state' expects 'ready', 'drain' and 'maint'.")
		}
	case "health":
		switch arg {
		case "up", "stopping", "down":
			return s.SetHealthState(arg, proxy.CauseCLI)
		}
		if s.Tracked() != nil {
			return proxy.ErrTrackingHealth
		}
		return errorText("'set server <srv> health' expects 'up', 'stopping', or 'down'.")
	case "agent":
		if !s.AgentInfo().Enabled {
			return proxy.ErrAgentNotEnabled
		}
		switch arg {
		case "up":
			return s.SetAgentState(true, proxy.CauseCLI)
		case "down":
			return s.SetAgentState(false, proxy.CauseCLI)
		}
		return errorText("'set server <srv> agent' expects 'up' or 'down'.")
	case "weight":
		return s.ChangeWeight(arg)
	case "maxconn":
		return s.ChangeMaxconn(arg)
	case "addr":
		if arg == "" {
			return errorText("set server <b>/<s> addr requires an address and optionally a port.")
		}
		port := ""
		if c.Arg(5) == "port" {
			port = c.Arg(6)
			if port == "" {
				return errorText("set server <b>/<s> addr requires an address and optionally a port.")
			}
		}
		msg, err := s.SetAddr(arg, port, "stats socket command")
		if err != nil {
			return err
		}
		c.Printf("%s\n", msg)
	case "check-port":
		if arg == "" {
			return errorText("set server <b>/<s> check-port requires an integer argument.")
		}
		p, err := strconv.Atoi(arg)
		if err != nil || p < 0 || p > 65535 {
			return errorText("provided port is not valid.")
		}
		s.SetCheckPort(p)
		c.Printf("health check port updated.\n")
	default:
		return errorText("'set server <srv>' only supports 'agent', 'health', 'state', 'weight', 'addr', 'maxconn' and 'check-port'.")
	}
	return nil
}

func cmdEnableServer(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	s.SetAdmin(0, bus.FMaint|bus.FDrain, "")
	return nil
}

func cmdDisableServer(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	s.SetAdmin(bus.FMaint, bus.FDrain, "")
	return nil
}

func cmdEnableHealth(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	return s.EnableHealth(proxy.CauseCLI)
}

func cmdDisableHealth(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	s.DisableHealth(proxy.CauseCLI)
	return nil
}

func cmdEnableAgent(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	return s.EnableAgent(proxy.CauseCLI)
}

func cmdDisableAgent(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	s.DisableAgent(proxy.CauseCLI)
	return nil
}

func cmdSetWeight(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	return s.ChangeWeight(c.Arg(3))
}

func cmdGetWeight(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	c.Printf("%d (initial %d)\n", s.UWeight(), s.IWeight())
	return nil
}

func cmdMaxconnServer(c *Call) error {
	s, err := findServer(c, c.Arg(3))
	if err != nil {
		return err
	}
	return s.ChangeMaxconn(c.Arg(4))
}

func cmdMaxconnFrontend(c *Call) error {
	p, err := findFrontend(c, c.Arg(3))
	if err != nil {
		return err
	}
	if c.Arg(4) == "" {
		return errorText("Integer value expected.")
	}
	v, err := strconv.Atoi(c.Arg(4))
	if err != nil || v < 0 {
		return errorText("Value out of range.")
	}
	p.SetFrontendMaxconn(v)
	return nil
}

func cmdMaxconnGlobal(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	if c.Arg(3) == "" {
		return errorText("Expects an integer value.")
	}
	v, err := strconv.Atoi(c.Arg(3))
	if err != nil {
		return errorText("Expects an integer value.")
	}
	hard := e.HardMaxconn()
	if hard > 0 && v > hard {
		return errorText("Value out of range.")
	}
	if v <= 0 {
		v = hard
	}
	e.SetMaxconn(v)
	return nil
}

// dynamicKeywords are the server keywords "add server" accepts (reference
// §2.5), listed by "add server help".
var dynamicKeywords = []string{
	"addr", "agent-addr", "agent-check", "agent-inter", "agent-port", "agent-send", "allow-0rtt", "alpn",
	"backup", "ca-file", "check", "check-alpn", "check-proto", "check-send-proxy", "check-sni", "check-ssl",
	"ciphers", "ciphersuites", "cookie", "crl-file", "crt", "disabled", "downinter", "error-limit", "fall",
	"fastinter", "guid", "hash-key", "id", "init-state", "inter", "maxconn", "maxqueue", "minconn",
	"no-backup", "no-check-ssl", "no-send-proxy", "no-send-proxy-v2", "no-tfo", "observe", "on-error",
	"on-marked-down", "on-marked-up", "pool-low-conn", "pool-max-conn", "pool-purge-delay", "port", "proto",
	"rise", "send-proxy", "send-proxy-v2", "shard", "slowstart", "sni", "ssl", "ssl-max-ver", "ssl-min-ver",
	"tfo", "track", "verify", "weight", "ws",
}

func cmdAddServer(c *Call) error {
	if c.Arg(2) == "help" {
		c.Printf("List of keywords supported for dynamic server:\n")
		for _, k := range dynamicKeywords {
			c.Printf("%s\n", k)
		}
		return nil
	}
	e, err := c.engine()
	if err != nil {
		return err
	}
	be, sv, ok := strings.Cut(c.Arg(2), "/")
	if !ok || be == "" || sv == "" {
		return errRequireSrv
	}
	p := findBackend(e, be)
	if p == nil {
		return errNoBackend
	}
	if err := p.SupportsDynamicServers(); err != nil {
		return err
	}
	if c.Arg(3) == "" {
		return errorText("'server' expects <name> and <addr>[:<port>] as arguments.")
	}
	words := c.Args[4:]
	base, words, err := dynamicBase(e, p, words)
	if err != nil {
		return err
	}
	params, err := config.ParseServerParams(words, base, true)
	if err != nil {
		return errorText("'server " + be + "/" + sv + "' : " + err.Error() + ".")
	}
	if _, err := p.AddServer(sv, c.Arg(3), params); err != nil {
		return err
	}
	c.Printf("New server registered.\n")
	return nil
}

// dynamicBase handles "from be:[<be>]" / "from srv:[<be>/]<srv>" / "from
// none": default-server settings apply to dynamic servers only with it.
func dynamicBase(e *proxy.Engine, p *proxy.Proxy, words []string) (config.ServerParams, []string, error) {
	if len(words) == 0 || words[0] != "from" {
		return config.NewServerParams(), words, nil
	}
	if len(words) < 2 {
		return config.ServerParams{}, nil, errorText("'from' expects 'none', 'be:[<backend>]' or 'srv:[<backend>/]<server>'.")
	}
	origin, rest := words[1], words[2:]
	switch {
	case origin == "none":
		return config.NewServerParams(), rest, nil
	case strings.HasPrefix(origin, "be:"):
		bp := p
		if n := origin[3:]; n != "" {
			if bp = findBackend(e, n); bp == nil {
				return config.ServerParams{}, nil, errorText("'from " + origin + "' : no such backend.")
			}
		}
		if bp.Config() != nil && bp.Config().DefaultServer != nil {
			sp := *bp.Config().DefaultServer
			sp.Other = append([]string(nil), sp.Other...)
			return sp, rest, nil
		}
		return config.NewServerParams(), rest, nil
	case strings.HasPrefix(origin, "srv:"):
		ref, bp := origin[4:], p
		if b, s, ok := strings.Cut(ref, "/"); ok {
			if bp = findBackend(e, b); bp == nil {
				return config.ServerParams{}, nil, errorText("'from " + origin + "' : no such backend.")
			}
			ref = s
		}
		src := bp.Server(ref)
		if src == nil {
			return config.ServerParams{}, nil, errorText("'from " + origin + "' : no such server.")
		}
		sp := src.Conf()
		sp.Other, sp.ID = append([]string(nil), sp.Other...), 0
		return sp, rest, nil
	}
	return config.ServerParams{}, nil, errorText("'from' expects 'none', 'be:[<backend>]' or 'srv:[<backend>/]<server>', got '" + origin + "'.")
}

func cmdDelServer(c *Call) error {
	s, err := findServer(c, c.Arg(2))
	if err != nil {
		return err
	}
	if err := s.Proxy().DelServer(s); err != nil {
		if errors.Is(err, proxy.ErrNoSuchServer) {
			return errNoServer
		}
		return err
	}
	c.Printf("Server deleted.\n")
	return nil
}

func cmdShutdownSessions(c *Call) error {
	s, err := findServer(c, c.Arg(3))
	if err != nil {
		return err
	}
	s.ShutdownSessions()
	return nil
}

// cmdWait implements "wait <delay> [srv-removable <bk>/<srv>]": it waits
// for the delay, or until the server could be deleted. On timeout with a
// condition, the reason it is still not removable is printed.
func cmdWait(c *Call) error {
	if c.Arg(1) == "" {
		return errorText("Expects a duration in milliseconds.")
	}
	d, err := parseDelay(c.Arg(1))
	if err != nil || d < time.Millisecond {
		return errorText("Invalid duration.")
	}
	var check func() error
	switch c.Arg(2) {
	case "":
	case "srv-removable":
		if c.Arg(3) == "" {
			return errorText("Missing server name (<backend>/<server>).")
		}
		s, err := findServer(c, c.Arg(3))
		if err != nil {
			return err
		}
		check = func() error {
			if s.Deleted() {
				return errNoServer
			}
			return s.Proxy().CheckRemovable(s)
		}
	default:
		return errorText("Unsupported condition.")
	}
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if check != nil {
			if err := check(); err == nil {
				return nil
			} else if errors.Is(err, errNoServer) {
				return err
			}
		}
		select {
		case <-deadline.C:
			if check != nil {
				if err := check(); err != nil {
					return err
				}
			}
			return nil
		case <-c.Context().Done():
			return errorText("Interrupted.")
		case <-tick.C:
		}
	}
}

// parseDelay parses a time with HAProxy's units (default ms).
func parseDelay(s string) (time.Duration, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, errors.New("invalid")
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil {
		return 0, err
	}
	unit := map[string]time.Duration{"": time.Millisecond, "us": time.Microsecond, "ms": time.Millisecond,
		"s": time.Second, "m": time.Minute, "h": time.Hour, "d": 24 * time.Hour}
	u, ok := unit[s[i:]]
	if !ok {
		return 0, errors.New("invalid unit")
	}
	return time.Duration(n) * u, nil
}

func cmdDisableFrontend(c *Call) error {
	p, err := findFrontend(c, c.Arg(2))
	if err != nil {
		return err
	}
	return p.PauseFrontend()
}

func cmdEnableFrontend(c *Call) error {
	p, err := findFrontend(c, c.Arg(2))
	if err != nil {
		return err
	}
	return p.ResumeFrontend()
}

func cmdShutdownFrontend(c *Call) error {
	p, err := findFrontend(c, c.Arg(2))
	if err != nil {
		return err
	}
	return p.StopFrontend()
}

func cmdClearCounters(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	switch c.Arg(2) {
	case "":
		e.ClearCounters(false)
	case "all":
		if c.Level() < LevelAdmin {
			return errorText("Permission denied")
		}
		e.ClearCounters(true)
	default:
		return errorText("Usage: clear counters [all]")
	}
	return nil
}
