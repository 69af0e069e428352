package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// serverKeyword describes one server parameter.
type serverKeyword struct {
	nargs   int
	dynamic bool // accepted by the runtime API "add server"
	// set applies the keyword; nil means "accepted without behaviour here"
	// (kept in ServerParams.Other as written).
	set func(sp *ServerParams, kw string, args []string) error
}

var serverKeywords map[string]serverKeyword

// unimplementedServer are server parameters refused with an explicit error.
var unimplementedServer = map[string]bool{"source": true, "redir": true, "socks4": true, "check-via-socks4": true}

func init() {
	flag := func(f func(*ServerParams, bool), v bool) func(*ServerParams, string, []string) error {
		return func(sp *ServerParams, _ string, _ []string) error { f(sp, v); return nil }
	}
	str := func(f func(*ServerParams, string)) func(*ServerParams, string, []string) error {
		return func(sp *ServerParams, _ string, a []string) error { f(sp, a[0]); return nil }
	}
	choice := func(f func(*ServerParams, string), choices ...string) func(*ServerParams, string, []string) error {
		return func(sp *ServerParams, kw string, a []string) error {
			for _, c := range choices {
				if a[0] == c {
					f(sp, c)
					return nil
				}
			}
			return fmt.Errorf("'%s' expects '%s', got '%s'", kw, strings.Join(choices, "', '"), a[0])
		}
	}
	num := func(f func(*ServerParams, int), min, max int) func(*ServerParams, string, []string) error {
		return func(sp *ServerParams, kw string, a []string) error {
			n, err := parseInt(kw, a[0], min, max)
			if err == nil {
				f(sp, n)
			}
			return err
		}
	}
	dur := func(f func(*ServerParams, time.Duration), positive bool) func(*ServerParams, string, []string) error {
		return func(sp *ServerParams, kw string, a []string) error {
			d, err := parseTimer(kw, a[0])
			if err == nil && positive && d == 0 {
				err = fmt.Errorf("'%s' expects a positive time value, got '%s'", kw, a[0])
			}
			if err == nil {
				f(sp, d)
			}
			return err
		}
	}
	const maxI = math.MaxInt32
	serverKeywords = map[string]serverKeyword{
		"check":            {0, true, flag(func(s *ServerParams, v bool) { s.Check = v }, true)},
		"no-check":         {0, false, flag(func(s *ServerParams, v bool) { s.Check = v }, false)},
		"inter":            {1, true, dur(func(s *ServerParams, d time.Duration) { s.Inter = d }, true)},
		"fastinter":        {1, true, dur(func(s *ServerParams, d time.Duration) { s.FastInter = d }, true)},
		"downinter":        {1, true, dur(func(s *ServerParams, d time.Duration) { s.DownInter = d }, true)},
		"rise":             {1, true, num(func(s *ServerParams, n int) { s.Rise = n }, 1, maxI)},
		"fall":             {1, true, num(func(s *ServerParams, n int) { s.Fall = n }, 1, maxI)},
		"port":             {1, true, num(func(s *ServerParams, n int) { s.Port = n }, 1, 65535)},
		"addr":             {1, true, str(func(s *ServerParams, v string) { s.Addr = v })},
		"check-ssl":        {0, true, flag(func(s *ServerParams, v bool) { s.CheckSSL = v }, true)},
		"no-check-ssl":     {0, true, flag(func(s *ServerParams, v bool) { s.CheckSSL = v }, false)},
		"check-sni":        {1, true, str(func(s *ServerParams, v string) { s.CheckSNI = v })},
		"check-alpn":       {1, true, str(func(s *ServerParams, v string) { s.CheckALPN = v })},
		"check-send-proxy": {0, true, flag(func(s *ServerParams, v bool) { s.CheckSendProxy = v }, true)},
		"agent-check":      {0, true, flag(func(s *ServerParams, v bool) { s.AgentCheck = v }, true)},
		"no-agent-check":   {0, false, flag(func(s *ServerParams, v bool) { s.AgentCheck = v }, false)},
		"agent-port":       {1, true, num(func(s *ServerParams, n int) { s.AgentPort = n }, 1, 65535)},
		"agent-inter":      {1, true, dur(func(s *ServerParams, d time.Duration) { s.AgentInter = d }, true)},
		"agent-addr":       {1, true, str(func(s *ServerParams, v string) { s.AgentAddr = v })},
		"agent-send":       {1, true, str(func(s *ServerParams, v string) { s.AgentSend = v })},
		"weight":           {1, true, num(func(s *ServerParams, n int) { s.Weight = n }, 0, 256)},
		"maxconn":          {1, true, num(func(s *ServerParams, n int) { s.Maxconn = n }, 0, maxI)},
		"maxqueue":         {1, true, num(func(s *ServerParams, n int) { s.Maxqueue = n }, 0, maxI)},
		"minconn":          {1, true, num(func(s *ServerParams, n int) { s.Minconn = n }, 0, maxI)},
		"backup":           {0, true, flag(func(s *ServerParams, v bool) { s.Backup = v }, true)},
		"no-backup":        {0, true, flag(func(s *ServerParams, v bool) { s.Backup = v }, false)},
		"disabled":         {0, true, flag(func(s *ServerParams, v bool) { s.Disabled = v }, true)},
		"enabled":          {0, false, flag(func(s *ServerParams, v bool) { s.Disabled = v }, false)},
		"id":               {1, true, num(func(s *ServerParams, n int) { s.ID = n }, 1, maxI)},
		"cookie":           {1, true, str(func(s *ServerParams, v string) { s.Cookie = v })},
		"slowstart":        {1, true, dur(func(s *ServerParams, d time.Duration) { s.Slowstart = d }, false)},
		"track":            {1, true, str(func(s *ServerParams, v string) { s.Track = v })},
		"on-marked-down":   {1, true, choice(func(s *ServerParams, v string) { s.OnMarkedDown = v }, "shutdown-sessions")},
		"on-marked-up":     {1, true, choice(func(s *ServerParams, v string) { s.OnMarkedUp = v }, "shutdown-backup-sessions")},
		"observe":          {1, true, choice(func(s *ServerParams, v string) { s.Observe = v }, "none", "layer4", "layer7")},
		"on-error":         {1, true, choice(func(s *ServerParams, v string) { s.OnError = v }, "fastinter", "fail-check", "sudden-death", "mark-down")},
		"error-limit":      {1, true, num(func(s *ServerParams, n int) { s.ErrorLimit = n }, 1, maxI)},
		"init-state":       {1, true, choice(func(s *ServerParams, v string) { s.InitState = v }, "fully-up", "up", "down", "fully-down", "none")},
		"init-addr":        {1, false, str(func(s *ServerParams, v string) { s.InitAddr = v })},
		"resolvers":        {1, false, str(func(s *ServerParams, v string) { s.Resolvers = v })},
		"resolve-prefer":   {1, false, choice(func(s *ServerParams, v string) { s.ResolvePrefer = v }, "ipv4", "ipv6")},
		"ssl":              {0, true, flag(func(s *ServerParams, v bool) { s.SSL = v }, true)},
		"no-ssl":           {0, false, flag(func(s *ServerParams, v bool) { s.SSL = v }, false)},
		"verify":           {1, true, choice(func(s *ServerParams, v string) { s.Verify = v }, "none", "required")},
		"sni":              {1, true, str(func(s *ServerParams, v string) { s.SNI = v })},
		"alpn":             {1, true, str(func(s *ServerParams, v string) { s.ALPN = v })},
		"ca-file":          {1, true, str(func(s *ServerParams, v string) { s.CAFile = v })},
		"crt":              {1, true, str(func(s *ServerParams, v string) { s.Crt = v })},
		"send-proxy":       {0, true, flag(func(s *ServerParams, v bool) { s.SendProxy = v }, true)},
		"no-send-proxy":    {0, true, flag(func(s *ServerParams, v bool) { s.SendProxy = v }, false)},
		"send-proxy-v2":    {0, true, flag(func(s *ServerParams, v bool) { s.SendProxyV2 = v }, true)},
		"no-send-proxy-v2": {0, true, flag(func(s *ServerParams, v bool) { s.SendProxyV2 = v }, false)},
	}
	// Accepted without behaviour here: kept in Other.
	for kw, n := range map[string]int{
		"resolve-opts": 1, "resolve-net": 1, "namespace": 1, "non-stick": 0, "stick": 0, "tcp-ut": 1,
		"verifyhost": 1, "no-verifyhost": 0, "crl-file": 1, "ciphers": 1, "ciphersuites": 1,
		"curves": 1, "sigalgs": 1, "client-sigalgs": 1, "ssl-min-ver": 1, "ssl-max-ver": 1,
		"no-sslv3": 0, "no-tlsv10": 0, "no-tlsv11": 0, "no-tlsv12": 0, "no-tlsv13": 0,
		"force-sslv3": 0, "force-tlsv10": 0, "force-tlsv11": 0, "force-tlsv12": 0, "force-tlsv13": 0,
		"no-ssl-reuse": 0, "ssl-reuse": 0, "no-tls-tickets": 0, "tls-tickets": 0, "npn": 1,
		"allow-0rtt": 0, "send-proxy-v2-ssl": 0, "send-proxy-v2-ssl-cn": 0, "proxy-v2-options": 1,
		"proto": 1, "ws": 1, "tfo": 0, "no-tfo": 0, "pool-max-conn": 1, "pool-low-conn": 1,
		"pool-purge-delay": 1, "pool-conn-name": 1, "guid": 1, "hash-key": 1, "shard": 1,
		"max-reuse": 1, "log-proto": 1, "strict-maxconn": 0, "idle-ping": 1, "check-proto": 1,
		"check-reuse-pool": 0, "check-pool-conn-name": 1, "no-check-send-proxy": 0,
		"log-bufsize": 1, "ktls": 1,
	} {
		dyn := true
		switch kw {
		case "resolve-opts", "resolve-net", "namespace", "non-stick", "stick", "tcp-ut":
			dyn = false
		}
		serverKeywords[kw] = serverKeyword{nargs: n, dynamic: dyn}
	}
}

// ParseServerParams applies the keywords of a server (or default-server)
// line to base and returns the result. words holds only the keywords and
// their arguments, without "server <name> <addr>". base is not modified.
// With dynamic set (the runtime API "add server"), keywords that HAProxy does
// not accept on dynamic servers are refused with HAProxy's text
// ("'init-addr' option is not accepted for dynamic server").
func ParseServerParams(words []string, base ServerParams, dynamic bool) (ServerParams, error) {
	sp := base
	sp.Other = clone(base.Other)
	for i := 0; i < len(words); {
		kw := words[i]
		def, ok := serverKeywords[kw]
		if !ok && strings.HasPrefix(kw, "set-proxy-v2-tlv-fmt(") {
			def, ok = serverKeyword{nargs: 1, dynamic: true}, true
		}
		if !ok {
			if unimplementedServer[kw] {
				return sp, fmt.Errorf("'%s' is an HAProxy keyword that Moonbus does not implement", kw)
			}
			msg := fmt.Sprintf("unknown keyword '%s'", kw)
			if s := suggest(kw, keysOf(serverKeywords)); s != "" {
				msg += fmt.Sprintf("; did you mean '%s' maybe ?", s)
			}
			return sp, fmt.Errorf("%s", msg)
		}
		if dynamic && !def.dynamic {
			return sp, fmt.Errorf("'%s' option is not accepted for dynamic server", kw)
		}
		if i+def.nargs >= len(words) && def.nargs > 0 {
			return sp, fmt.Errorf("'%s' expects an argument", kw)
		}
		args := words[i+1 : i+1+def.nargs]
		if def.set == nil {
			sp.Other = append(sp.Other, strings.Join(words[i:i+1+def.nargs], " "))
		} else if err := def.set(&sp, kw, args); err != nil {
			return sp, err
		}
		i += 1 + def.nargs
	}
	return sp, nil
}

// serverBase returns the parameters a new server of px starts from.
func serverBase(px *Proxy) ServerParams {
	if px.DefaultServer != nil {
		sp := *px.DefaultServer
		sp.Other = clone(sp.Other)
		return sp
	}
	return NewServerParams()
}

func checkServerName(name string) error {
	if name == "" {
		return fmt.Errorf("'server' expects <name> as an argument")
	}
	if r := invalidNameChar(name); r != 0 {
		return fmt.Errorf("character '%c' is not permitted in server name '%s'", r, name)
	}
	return nil
}

func kwServer(p *parser, px *Proxy, a []string) error {
	if len(a) < 3 {
		return fmt.Errorf("'server' expects <name> and <addr>[:<port>] as arguments")
	}
	name, addr := a[1], a[2]
	if err := checkServerName(name); err != nil {
		return err
	}
	if err := checkAddr(addr, addrServer); err != nil {
		return fmt.Errorf("'server %s/%s' : %w", px.Name, name, err)
	}
	base, rest, err := p.serverOrigin(px, a[3:])
	if err != nil {
		return fmt.Errorf("'server %s/%s' : %w", px.Name, name, err)
	}
	sp, err := ParseServerParams(rest, base, false)
	if err != nil {
		return fmt.Errorf("'server %s/%s' : %w", px.Name, name, err)
	}
	for _, s := range px.Servers {
		if s.Name == name {
			return fmt.Errorf("'server %s/%s' : %s '%s' has another server named '%s' declared at %s", px.Name, name, px.Kind, px.Name, name, s.Pos)
		}
	}
	px.Servers = append(px.Servers, &Server{Pos: p.pos(), Name: name, Addr: addr, Params: sp})
	return nil
}

// serverOrigin handles an optional leading "from <origin>" of server and
// default-server lines: "none", "be:[<be>]" or "srv:[<be>/]<srv>".
func (p *parser) serverOrigin(px *Proxy, rest []string) (ServerParams, []string, error) {
	if len(rest) == 0 || rest[0] != "from" {
		return serverBase(px), rest, nil
	}
	if len(rest) < 2 {
		return ServerParams{}, nil, fmt.Errorf("'from' expects 'none', 'be:[<backend>]' or 'srv:[<backend>/]<server>'")
	}
	origin, rest := rest[1], rest[2:]
	switch {
	case origin == "none":
		return NewServerParams(), rest, nil
	case strings.HasPrefix(origin, "be:"):
		be := px
		if n := origin[3:]; n != "" && n != px.Name {
			if be = p.proxies[n]; be == nil || !be.IsBackend() {
				return ServerParams{}, nil, fmt.Errorf("'from %s' : no backend '%s' declared before", origin, n)
			}
		}
		return serverBase(be), rest, nil
	case strings.HasPrefix(origin, "srv:"):
		ref := origin[4:]
		be := px
		if b, s, ok := strings.Cut(ref, "/"); ok {
			if be = p.proxies[b]; be == nil || !be.IsBackend() {
				return ServerParams{}, nil, fmt.Errorf("'from %s' : no backend '%s' declared before", origin, b)
			}
			ref = s
		}
		for _, s := range be.Servers {
			if s.Name == ref {
				sp := s.Params
				sp.Other, sp.ID = clone(sp.Other), 0
				return sp, rest, nil
			}
		}
		return ServerParams{}, nil, fmt.Errorf("'from %s' : no server '%s' declared before in '%s'", origin, ref, be.Name)
	}
	return ServerParams{}, nil, fmt.Errorf("'from' expects 'none', 'be:[<backend>]' or 'srv:[<backend>/]<server>', got '%s'", origin)
}

// notOnDefaultServer are server keywords that make no sense on default-server.
var notOnDefaultServer = map[string]bool{"id": true, "cookie": true, "track": true}

func kwDefaultServer(p *parser, px *Proxy, a []string) error {
	rest := a[1:]
	if len(rest) >= 2 && rest[0] == "name" {
		rest = rest[2:]
	}
	base, rest, err := p.serverOrigin(px, rest)
	if err != nil {
		return fmt.Errorf("'default-server' : %w", err)
	}
	for _, w := range rest {
		if notOnDefaultServer[w] {
			return fmt.Errorf("'default-server' : '%s' is not allowed on 'default-server' lines", w)
		}
	}
	sp, err := ParseServerParams(rest, base, false)
	if err != nil {
		return fmt.Errorf("'default-server' : %w", err)
	}
	px.DefaultServer = &sp
	return nil
}

func kwServerTemplate(p *parser, px *Proxy, a []string) error {
	if len(a) < 4 {
		return fmt.Errorf("'server-template' expects <prefix> <num | range> <fqdn>[:<port>] as arguments")
	}
	if r := invalidNameChar(a[1]); r != 0 || a[1] == "" {
		return fmt.Errorf("'server-template' : invalid prefix '%s'", a[1])
	}
	lo, hi, isRange := strings.Cut(a[2], "-")
	n1, err1 := strconv.Atoi(lo)
	n2 := n1
	var err2 error
	if isRange {
		n2, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || n1 < 1 || n2 < n1 {
		return fmt.Errorf("'server-template' : invalid number or range '%s'", a[2])
	}
	if err := checkAddr(a[3], addrServer); err != nil {
		return fmt.Errorf("'server-template %s' : %w", a[1], err)
	}
	if _, err := ParseServerParams(a[4:], serverBase(px), false); err != nil {
		return fmt.Errorf("'server-template %s' : %w", a[1], err)
	}
	px.ServerTemplates = append(px.ServerTemplates, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}
