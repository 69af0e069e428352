package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// optionDef describes one "option" keyword.
type optionDef struct {
	caps      uint8
	negatable bool // accepts the "no" and "default" prefixes
	fn        func(px *Proxy, args []string, mod string) error
}

var proxyOptions map[string]optionDef

func init() {
	boolOpt := func(caps uint8, field func(*Proxy) *bool) optionDef {
		return optionDef{caps, true, func(px *Proxy, args []string, mod string) error {
			*field(px) = mod == ""
			return nil
		}}
	}
	connMode := func(mode string) optionDef {
		return optionDef{capAll, true, func(px *Proxy, args []string, mod string) error {
			switch {
			case mod == "":
				px.HTTPConnMode = mode
			case px.HTTPConnMode == mode || mod == "default":
				px.HTTPConnMode = ""
			}
			return nil
		}}
	}
	check := func(kind string, maxArgs int) optionDef {
		return optionDef{capD | capB, false, func(px *Proxy, args []string, mod string) error {
			if len(args) > maxArgs {
				return fmt.Errorf("'option %s' cannot handle unexpected argument '%s'", kind, args[maxArgs])
			}
			if mod != "" {
				if px.CheckKind == kind {
					px.CheckKind, px.CheckArgs = "", nil
				}
				return nil
			}
			px.CheckKind, px.CheckArgs = kind, clone(args)
			return nil
		}}
	}
	proxyOptions = map[string]optionDef{
		"forwardfor":          {capAll, false, optForwardFor},
		"httpclose":           connMode("close"),
		"http-server-close":   connMode("server-close"),
		"http-keep-alive":     connMode("keep-alive"),
		"redispatch":          {capD | capB, true, optRedispatch},
		"allbackups":          boolOpt(capD|capB, func(px *Proxy) *bool { return &px.AllBackups }),
		"dontlognull":         boolOpt(capD|capF, func(px *Proxy) *bool { return &px.DontLogNull }),
		"log-health-checks":   boolOpt(capD|capB, func(px *Proxy) *bool { return &px.LogHealthChecks }),
		"http-buffer-request": boolOpt(capAll, func(px *Proxy) *bool { return &px.HTTPBufferRequest }),
		"log-separate-errors": boolOpt(capD|capF, func(px *Proxy) *bool { return &px.LogSeparateErrors }),
		"httpchk":             check("httpchk", 4),
		"tcp-check":           check("tcp-check", 0),
		"smtpchk":             check("smtpchk", 2),
		"redis-check":         check("redis-check", 0),
		"pgsql-check":         check("pgsql-check", 3),
		"mysql-check":         check("mysql-check", 3),
		"ldap-check":          check("ldap-check", 0),
		"ssl-hello-chk":       check("ssl-hello-chk", 0),
		"httplog":             {capD | capF, true, optLog("httplog")},
		"httpslog":            {capD | capF, true, optLog("httpslog")},
		"tcplog":              {capD | capF, true, optLog("tcplog")},
	}
}

// option handles "[no|default] option <name> [args]".
func (p *parser) option(px *Proxy, a []string, mod string) error {
	if len(a) < 2 {
		return fmt.Errorf("'option' expects an option name")
	}
	name, args := a[1], a[2:]
	def, ok := proxyOptions[name]
	if !ok {
		switch {
		case tuneOptions[name]:
			if len(args) > 0 {
				return fmt.Errorf("'option %s' cannot handle unexpected argument '%s'", name, args[0])
			}
			px.OtherOptions = slices.DeleteFunc(px.OtherOptions, func(o string) bool { return o == name })
			if mod == "" {
				px.OtherOptions = append(px.OtherOptions, name)
			}
			return nil
		case unimplementedOptions[name]:
			return fmt.Errorf("'option %s' is an HAProxy keyword that Moonbus does not implement", name)
		}
		msg := fmt.Sprintf("unknown option '%s'", name)
		if s := suggest(name, append(keysOf(proxyOptions), keysOf(tuneOptions)...)); s != "" {
			msg += fmt.Sprintf("; did you mean '%s' maybe ?", s)
		}
		return fmt.Errorf("%s", msg)
	}
	if caps := proxyCaps(px.Kind); def.caps&caps == 0 {
		p.warnf("'%s' ignored because %s '%s' has no %s capability", name, px.Kind, px.Name, capName(def.caps&^capD))
		return nil
	}
	if mod != "" && !def.negatable {
		return fmt.Errorf("negation/default is not supported for option '%s'", name)
	}
	if err := def.fn(px, args, mod); err != nil {
		return err
	}
	if name == "httplog" || name == "httpslog" || name == "tcplog" {
		px.LogFormatPos = p.pos()
	}
	return nil
}

func optForwardFor(px *Proxy, args []string, mod string) error {
	if mod != "" {
		px.ForwardFor = nil
		return nil
	}
	ff := &ForwardFor{Header: "X-Forwarded-For"}
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "except", "header":
			if i+1 >= len(args) {
				return fmt.Errorf("'option forwardfor %s' expects an argument", args[i])
			}
			if args[i] == "except" {
				ff.Except = args[i+1]
			} else {
				ff.Header = args[i+1]
			}
			i++
		case "if-none":
			ff.IfNone = true
		default:
			return fmt.Errorf("'option forwardfor' only supports optional values 'except', 'header' and 'if-none', got '%s'", args[i])
		}
	}
	px.ForwardFor = ff
	return nil
}

func optRedispatch(px *Proxy, args []string, mod string) error {
	if mod != "" {
		px.Redispatch, px.RedispatchInterval = false, 0
		return nil
	}
	if len(args) > 1 {
		return fmt.Errorf("'option redispatch' cannot handle unexpected argument '%s'", args[1])
	}
	interval := -1
	if len(args) == 1 {
		n, err := strconv.Atoi(args[0])
		if err != nil {
			return fmt.Errorf("'option redispatch' expects an integer interval, got '%s'", args[0])
		}
		interval = n
	}
	px.Redispatch, px.RedispatchInterval = true, interval
	return nil
}

func optLog(kind string) func(px *Proxy, args []string, mod string) error {
	return func(px *Proxy, args []string, mod string) error {
		if mod != "" {
			if strings.HasPrefix(px.LogOption, kind) {
				px.LogFormat, px.LogOption = "", ""
			}
			return nil
		}
		clf := len(args) == 1 && args[0] == "clf" && kind != "httpslog"
		if len(args) > 0 && !clf {
			return fmt.Errorf("'option %s' cannot handle unexpected argument '%s'", kind, args[0])
		}
		switch {
		case kind == "httplog" && clf:
			px.LogFormat, px.LogOption = HTTPCLFLogFormat, "httplog clf"
		case kind == "httplog":
			px.LogFormat, px.LogOption = HTTPLogFormat, "httplog"
		case kind == "httpslog":
			px.LogFormat, px.LogOption = HTTPSLogFormat, "httpslog"
		case clf:
			px.LogFormat, px.LogOption = TCPCLFLogFormat, "tcplog clf"
		default:
			px.LogFormat, px.LogOption = TCPLogFormat, "tcplog"
		}
		return nil
	}
}

// timeoutDefs maps each timeout name to its capabilities and field.
var timeoutDefs = map[string]struct {
	caps  uint8
	field func(*Timeouts) *time.Duration
}{
	"connect":         {capD | capB, func(t *Timeouts) *time.Duration { return &t.Connect }},
	"client":          {capD | capF, func(t *Timeouts) *time.Duration { return &t.Client }},
	"server":          {capD | capB, func(t *Timeouts) *time.Duration { return &t.Server }},
	"http-request":    {capAll, func(t *Timeouts) *time.Duration { return &t.HTTPRequest }},
	"http-keep-alive": {capAll, func(t *Timeouts) *time.Duration { return &t.HTTPKeepAlive }},
	"queue":           {capD | capB, func(t *Timeouts) *time.Duration { return &t.Queue }},
	"check":           {capD | capB, func(t *Timeouts) *time.Duration { return &t.Check }},
	"tunnel":          {capD | capB, func(t *Timeouts) *time.Duration { return &t.Tunnel }},
	"tarpit":          {capAll, func(t *Timeouts) *time.Duration { return &t.Tarpit }},
	"client-fin":      {capD | capF, func(t *Timeouts) *time.Duration { return &t.ClientFin }},
	"server-fin":      {capD | capB, func(t *Timeouts) *time.Duration { return &t.ServerFin }},
}

func kwTimeout(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'timeout' expects 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' or 'server-fin'")
	}
	def, ok := timeoutDefs[a[1]]
	if !ok {
		return fmt.Errorf("'timeout' supports 'client', 'server', 'connect', 'check', 'queue', 'http-keep-alive', 'http-request', 'tunnel', 'tarpit', 'client-fin' and 'server-fin' (got '%s')", a[1])
	}
	kw := "timeout " + a[1]
	if len(a) != 3 {
		return fmt.Errorf("'%s' expects an integer value (in milliseconds)", kw)
	}
	d, err := parseTimer(kw, a[2])
	if err != nil {
		return err
	}
	if def.caps&proxyCaps(px.Kind) == 0 {
		p.warnf("'%s' will be ignored because %s '%s' has no %s capability", kw, px.Kind, px.Name, capName(def.caps&^capD))
		return nil
	}
	*def.field(&px.Timeouts) = d
	return nil
}

func kwLog(p *parser, px *Proxy, a []string) error {
	if len(a) == 2 && a[1] == "global" {
		px.LogGlobal, px.NoLog = true, false
		return nil
	}
	l, err := parseLog(p.pos(), a)
	if err != nil {
		return err
	}
	px.Logs, px.NoLog = append(px.Logs, l), false
	return nil
}

var logFacilities = map[string]bool{
	"kern": true, "user": true, "mail": true, "daemon": true, "auth": true, "syslog": true,
	"lpr": true, "news": true, "uucp": true, "cron": true, "auth2": true, "ftp": true,
	"ntp": true, "audit": true, "alert": true, "cron2": true, "local0": true, "local1": true,
	"local2": true, "local3": true, "local4": true, "local5": true, "local6": true, "local7": true,
}

var logFormats = map[string]bool{
	"rfc3164": true, "rfc5424": true, "raw": true, "local": true, "short": true,
	"priority": true, "timed": true, "iso": true,
}

// parseLog parses "log <target> [len N] [format F] [sample R:S] <facility> [max [min]]".
func parseLog(pos Pos, a []string) (*Log, error) {
	if len(a) < 3 {
		return nil, fmt.Errorf("'log' expects either <address[:port]> and <facility> or 'global' as arguments")
	}
	l := &Log{Pos: pos, Target: a[1], Len: 1024, Format: "rfc3164", Level: "debug", MinLevel: "emerg"}
	if err := checkLogTarget(a[1]); err != nil {
		return nil, err
	}
	rest := a[2:]
	for len(rest) > 0 {
		opt := rest[0]
		if opt != "len" && opt != "format" && opt != "sample" && opt != "profile" {
			break
		}
		if len(rest) < 2 {
			return nil, fmt.Errorf("'log' : '%s' expects an argument", opt)
		}
		v := rest[1]
		switch opt {
		case "len":
			n, err := parseInt("log len", v, 80, 65535)
			if err != nil {
				return nil, err
			}
			l.Len = n
		case "format":
			if !logFormats[v] {
				return nil, fmt.Errorf("'log' : unknown log format '%s'", v)
			}
			l.Format = v
		case "sample":
			if !strings.Contains(v, ":") {
				return nil, fmt.Errorf("'log sample' expects <ranges>:<sample_size>, got '%s'", v)
			}
			l.Sample = v
		case "profile":
			return nil, fmt.Errorf("'log ... profile' is an HAProxy keyword that Moonbus does not implement (log-profile sections are not supported)")
		}
		rest = rest[2:]
	}
	if len(rest) == 0 {
		return nil, fmt.Errorf("'log' expects a facility")
	}
	if !logFacilities[rest[0]] {
		return nil, fmt.Errorf("'log' : unknown log facility '%s'", rest[0])
	}
	l.Facility = rest[0]
	if len(rest) > 1 {
		if !isLevel(rest[1]) {
			return nil, fmt.Errorf("'log' : unknown optional log level '%s'", rest[1])
		}
		l.Level = rest[1]
	}
	if len(rest) > 2 {
		if !isLevel(rest[2]) {
			return nil, fmt.Errorf("'log' : unknown optional minimum log level '%s'", rest[2])
		}
		l.MinLevel = rest[2]
	}
	if len(rest) > 3 {
		return nil, fmt.Errorf("'log' cannot handle unexpected argument '%s'", rest[3])
	}
	return l, nil
}

// checkLogTarget validates the target of a log line.
func checkLogTarget(t string) error {
	switch {
	case t == "stdout" || t == "stderr" || strings.HasPrefix(t, "/"):
		return nil
	case strings.HasPrefix(t, "ring@"):
		return fmt.Errorf("'log %s' : ring log targets are not supported by Moonbus", t)
	case strings.HasPrefix(t, "backend@"):
		return fmt.Errorf("'log %s' : log backends are not supported by Moonbus", t)
	}
	if err := checkAddr(t, addrLog); err != nil {
		return fmt.Errorf("'log' : %w", err)
	}
	return nil
}

func kwLogFormat(p *parser, px *Proxy, a []string) error {
	v, err := oneFormatArg(a)
	if err != nil {
		return err
	}
	switch a[0] {
	case "log-format":
		px.LogFormat, px.LogFormatPos, px.LogOption = v, p.pos(), ""
	case "log-format-sd":
		px.LogFormatSD = v
	default:
		px.ErrorLogFormat = v
	}
	return nil
}

func kwLogTag(p *parser, px *Proxy, a []string) (err error) {
	px.LogTag, err = oneArg(a)
	return
}

var statsSubs = []string{"admin", "auth", "enable", "hide-version", "http-request", "realm", "refresh", "scope", "show-desc", "show-legends", "show-modules", "show-node", "uri"}

func kwStats(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'stats' expects one of '%s'", strings.Join(statsSubs, "', '"))
	}
	sub := a[1]
	switch sub {
	case "socket", "timeout", "maxconn", "bind-process":
		return fmt.Errorf("'stats %s' is only allowed in 'global' section", sub)
	case "enable", "uri", "refresh", "realm", "auth", "admin", "http-request", "scope",
		"show-legends", "show-modules", "hide-version", "show-node", "show-desc":
	default:
		return fmt.Errorf("'stats' expects one of '%s', got '%s'", strings.Join(statsSubs, "', '"), sub)
	}
	st := px.Stats
	if st == nil {
		st = &StatsPage{Pos: p.pos(), URI: "/haproxy?stats"}
	}
	args := a[1:]
	var err error
	switch sub {
	case "enable", "show-legends", "show-modules", "hide-version":
		err = noArg(args)
		st.ShowLegends = st.ShowLegends || sub == "show-legends"
		st.ShowModules = st.ShowModules || sub == "show-modules"
		st.HideVersion = st.HideVersion || sub == "hide-version"
	case "uri":
		st.URI, err = oneArg(args)
	case "realm":
		st.Realm, err = oneArg(args)
	case "refresh":
		st.Refresh, err = timeArg(args)
	case "scope":
		var s string
		if s, err = oneArg(args); err == nil {
			st.Scopes = append(st.Scopes, s)
		}
	case "auth":
		var s string
		if s, err = oneArg(args); err == nil {
			user, pass, ok := strings.Cut(s, ":")
			if !ok || user == "" {
				return fmt.Errorf("'stats auth' expects <user>:<password> in argument")
			}
			st.Auths = append(st.Auths, StatsAuth{User: user, Password: pass})
		}
	case "admin":
		if len(a) < 4 || (a[2] != "if" && a[2] != "unless") {
			return fmt.Errorf("'stats admin' requires either 'if' or 'unless' followed by a condition")
		}
		st.Admin = append(st.Admin, Line{Pos: p.pos(), Words: clone(a[2:])})
	case "http-request":
		if len(a) < 3 {
			return fmt.Errorf("'stats http-request' expects an action")
		}
		st.HTTPRequest = append(st.HTTPRequest, Line{Pos: p.pos(), Words: clone(a[2:])})
	case "show-node", "show-desc":
		if sub == "show-node" && len(args) > 2 {
			return fmt.Errorf("'stats show-node' cannot handle unexpected argument '%s'", args[2])
		}
		v := strings.Join(args[1:], " ")
		if sub == "show-node" {
			st.ShowNode = &v
		} else {
			st.ShowDesc = &v
		}
	}
	if err != nil {
		return err
	}
	st.Enabled = true
	px.Stats = st
	return nil
}

var httpCheckSubs = map[string]bool{
	"send": true, "expect": true, "disable-on-404": true, "send-state": true,
	"connect": true, "comment": true,
}

var tcpCheckSubs = map[string]bool{
	"connect": true, "send": true, "send-lf": true, "send-binary": true, "send-binary-lf": true,
	"expect": true, "comment": true,
}

func checkRuleSub(kw, sub string, subs map[string]bool) error {
	if subs[sub] || strings.HasPrefix(sub, "set-var(") || strings.HasPrefix(sub, "set-var-fmt(") || strings.HasPrefix(sub, "unset-var(") {
		return nil
	}
	return fmt.Errorf("'%s' only supports '%s', 'set-var', 'set-var-fmt' and 'unset-var', got '%s'", kw, strings.Join(keysOf(subs), "', '"), sub)
}

func kwHTTPCheck(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'http-check' expects a rule")
	}
	if err := checkRuleSub("http-check", a[1], httpCheckSubs); err != nil {
		return err
	}
	px.HTTPCheckRules = append(px.HTTPCheckRules, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func kwTCPCheck(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'tcp-check' expects a rule")
	}
	if err := checkRuleSub("tcp-check", a[1], tcpCheckSubs); err != nil {
		return err
	}
	px.TCPCheckRules = append(px.TCPCheckRules, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func kwOption(p *parser, px *Proxy, a []string) error { return p.option(px, a, "") }
