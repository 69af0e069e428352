package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// Built-in defaults of the global section.
const (
	defaultStatsTimeout  = 10 * time.Second
	defaultStatsMaxconn  = 10
	defaultBufsize       = 16384
	defaultMaxrewrite    = 1024
	defaultHTTPMaxHdr    = 101
	defaultStickCounters = 3
)

// newGlobal returns the global section before any keyword: documented
// defaults are filled in, so a consumer can use every field as is.
func newGlobal() Global {
	return Global{
		StatsTimeout: defaultStatsTimeout,
		StatsMaxconn: defaultStatsMaxconn,
		Lua: Lua{
			SessionTimeout: 4 * time.Second,
			ServiceTimeout: 4 * time.Second,
			BurstTimeout:   time.Second,
			LogLoggers:     "on",
			LogStderr:      "auto",
			OpenLibs:       "all",
		},
		Tune: Tune{
			Bufsize:       defaultBufsize,
			Maxrewrite:    defaultMaxrewrite,
			HTTPMaxHdr:    defaultHTTPMaxHdr,
			StickCounters: defaultStickCounters,
		},
		HTTPClient: HTTPClient{
			ResolversPrefer: "ipv6",
			ResolversID:     "default",
			Retries:         3,
			TimeoutConnect:  5 * time.Second,
		},
	}
}

// globalHandler handles one global keyword; args[0] is the keyword.
type globalHandler func(p *parser, g *Global, args []string) error

var globalKeywords map[string]globalHandler

func init() {
	globalKeywords = map[string]globalHandler{
		"maxconn": func(p *parser, g *Global, a []string) (err error) {
			g.Maxconn, err = intArg(a, 0, math.MaxInt32)
			return
		},
		"pidfile": func(p *parser, g *Global, a []string) (err error) {
			g.Pidfile, err = oneArg(a)
			return
		},
		"node": func(p *parser, g *Global, a []string) error {
			n, err := oneArg(a)
			if err != nil {
				return err
			}
			if n == "" || strings.Trim(n, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_") != "" {
				return fmt.Errorf("'node' requires valid node name - non-empty string with digits(0-9), letters(A-Z, a-z), dot(.), hyphen(-) or underscode(_)")
			}
			g.Node = n
			return nil
		},
		"description": func(p *parser, g *Global, a []string) error {
			if len(a) < 2 {
				return fmt.Errorf("'%s' expects a string argument", a[0])
			}
			g.Description = strings.Join(a[1:], " ")
			return nil
		},
		"hard-stop-after": func(p *parser, g *Global, a []string) (err error) {
			g.HardStopAfter, err = timeArg(a)
			return
		},
		"log": func(p *parser, g *Global, a []string) error {
			if len(a) == 2 && a[1] == "global" {
				return fmt.Errorf("'log global' is only allowed in proxies")
			}
			l, err := parseLog(p.pos(), a)
			if err == nil {
				g.Logs = append(g.Logs, l)
			}
			return err
		},
		"log-send-hostname": func(p *parser, g *Global, a []string) error {
			if len(a) > 2 {
				return fmt.Errorf("'%s' cannot handle unexpected argument '%s'", a[0], a[2])
			}
			h := ""
			if len(a) == 2 {
				h = a[1]
			}
			g.LogSendHostname = &h
			return nil
		},
		"log-tag": func(p *parser, g *Global, a []string) (err error) {
			g.LogTag, err = oneArg(a)
			return
		},
		"stats": (*parser).globalStats,
		"spread-checks": func(p *parser, g *Global, a []string) (err error) {
			g.SpreadChecks, err = intArg(a, 0, 50)
			return
		},
		"max-spread-checks": func(p *parser, g *Global, a []string) (err error) {
			g.MaxSpreadChecks, err = timeArg(a)
			return
		},
		"zero-warning": func(p *parser, g *Global, a []string) error {
			g.ZeroWarning, g.ZeroWarningPos = true, p.pos()
			return noArg(a)
		},
		"set-var":             (*parser).globalSetVar,
		"set-var-fmt":         (*parser).globalSetVar,
		"setenv":              (*parser).envKeyword,
		"presetenv":           (*parser).envKeyword,
		"resetenv":            (*parser).envKeyword,
		"unsetenv":            (*parser).envKeyword,
		"lua-load":            (*parser).luaLoad,
		"lua-load-per-thread": (*parser).luaLoad,
		"lua-prepend-path": func(p *parser, g *Global, a []string) error {
			if len(a) < 2 || len(a) > 3 {
				return fmt.Errorf("'%s' expects a path and an optional type ('path' or 'cpath')", a[0])
			}
			kind := "path"
			if len(a) == 3 {
				if a[2] != "path" && a[2] != "cpath" {
					return fmt.Errorf("'%s': unknown type '%s', expects 'path' or 'cpath'", a[0], a[2])
				}
				kind = a[2]
			}
			p.luaLines = true
			g.Lua.PrependPaths = append(g.Lua.PrependPaths, LuaPath{Pos: p.pos(), Path: a[1], Kind: kind})
			return nil
		},
		"ca-base": func(p *parser, g *Global, a []string) (err error) {
			g.CABase, err = oneArg(a)
			return
		},
		"crt-base": func(p *parser, g *Global, a []string) (err error) {
			g.CRTBase, err = oneArg(a)
			return
		},
		"ssl-server-verify": func(p *parser, g *Global, a []string) (err error) {
			g.SSLServerVerify, err = choiceArg(a, "none", "required")
			return
		},
		"event-log": func(p *parser, g *Global, a []string) (err error) {
			g.EventLog, err = choiceArg(a, "stdout", "stderr", "global")
			return
		},
		"default-path": func(p *parser, g *Global, a []string) error {
			if len(a) == 2 && a[1] == "current" {
				return nil
			}
			return fmt.Errorf("'default-path' other than 'current' is an HAProxy keyword that Moonbus does not implement (relative paths are relative to the working directory)")
		},
	}
	for k, h := range tuneKeywords {
		globalKeywords[k] = h
	}
	for k, h := range httpclientKeywords {
		globalKeywords[k] = h
	}
}

// globalKeyword handles one line of the global section.
func (p *parser) globalKeyword(words []string) {
	kw := words[0]
	g := &p.cfg.Global
	if strings.HasPrefix(kw, "set-var(") || strings.HasPrefix(kw, "set-var-fmt(") {
		p.report(p.globalSetVar(g, words))
		return
	}
	if h, ok := globalKeywords[kw]; ok {
		p.report(h(p, g, words))
		return
	}
	switch {
	case isIgnoredGlobal(kw):
		if kw == "nbthread" {
			// nbthread sets how many CPUs run Go code (GOMAXPROCS).
			n, err := intArg(words, 1, 4096)
			if err != nil {
				p.report(err)
			} else {
				g.Nbthread = n
			}
			return
		}
		p.warnf("'%s' has no effect in Moonbus, ignored", kw)
	case isUnimplementedGlobal(kw):
		p.errorf("'%s' is an HAProxy keyword that Moonbus does not implement", kw)
	case strings.HasPrefix(kw, "tune."):
		if knownTune(kw) {
			if g.Tune.Other == nil {
				g.Tune.Other = map[string]string{}
			}
			g.Tune.Other[kw] = strings.Join(words[1:], " ")
			return
		}
		p.warnf("'%s' is not a tuning keyword known to Moonbus, ignored", kw)
	default:
		known := keysOf(globalKeywords)
		for k := range ignoredGlobal {
			known = append(known, k)
		}
		p.unknownKeyword(kw, known)
	}
}

// report records err, if any, as a fatal error at the current line.
func (p *parser) report(err error) {
	if err != nil {
		p.errorf("%s", err.Error())
	}
}

func (p *parser) globalStats(g *Global, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'stats' expects 'socket', 'maxconn' or 'timeout' in 'global' section")
	}
	switch a[1] {
	case "socket":
		if len(a) < 3 {
			return fmt.Errorf("'stats socket' expects an address or a path")
		}
		b, err := p.parseBind(a[2:], true)
		if err != nil {
			return fmt.Errorf("'stats socket %s' %w", a[2], err)
		}
		g.StatsSockets = append(g.StatsSockets, b)
	case "timeout":
		d, err := timeArg(a[1:])
		if err != nil {
			return err
		}
		if d == 0 {
			return fmt.Errorf("'stats timeout' expects a positive value")
		}
		g.StatsTimeout = d
	case "maxconn":
		n, err := intArg(a[1:], 1, math.MaxInt32)
		if err != nil {
			return err
		}
		g.StatsMaxconn = n
	case "bind-process":
		p.warnf("'stats bind-process' has no effect in Moonbus, ignored")
	default:
		return fmt.Errorf("'stats' only supports 'socket', 'maxconn' and 'timeout' in 'global' section, got '%s'", a[1])
	}
	return nil
}

// globalSetVar handles "set-var proc.x <expr>" and "set-var-fmt proc.x <fmt>"
// (and the "set-var(proc.x) <expr>" spelling).
func (p *parser) globalSetVar(g *Global, a []string) error {
	kw, name, rest := a[0], "", a[1:]
	if open := strings.IndexByte(kw, '('); open >= 0 {
		if !strings.HasSuffix(kw, ")") {
			return fmt.Errorf("'%s': missing closing ')'", kw)
		}
		kw, name = kw[:open], kw[open+1:len(kw)-1]
	} else {
		if len(rest) == 0 {
			return fmt.Errorf("'%s' expects a variable name and an expression", kw)
		}
		name, rest = rest[0], rest[1:]
	}
	if !strings.HasPrefix(name, "proc.") || len(name) == len("proc.") {
		return fmt.Errorf("'%s': only the 'proc' scope is supported in the 'global' section, got '%s'", kw, name)
	}
	if len(rest) == 0 {
		return fmt.Errorf("'%s %s' expects an expression", kw, name)
	}
	words := append([]string{kw, name}, rest...)
	g.SetVars = append(g.SetVars, Line{Pos: p.pos(), Words: words})
	return nil
}

// envKeyword handles setenv, presetenv, resetenv and unsetenv. The changes
// apply to the parser's environment copy from the next line on.
func (p *parser) envKeyword(_ *Global, a []string) error {
	switch a[0] {
	case "setenv", "presetenv":
		if len(a) != 3 {
			return fmt.Errorf("'%s' expects a name and a value", a[0])
		}
		if _, set := p.env[a[1]]; a[0] == "setenv" || !set {
			p.env[a[1]] = a[2]
		}
	case "resetenv":
		keep := map[string]bool{}
		for _, k := range a[1:] {
			keep[k] = true
		}
		for k := range p.env {
			if !keep[k] {
				delete(p.env, k)
			}
		}
	case "unsetenv":
		if len(a) < 2 {
			return fmt.Errorf("'unsetenv' expects at least one variable name")
		}
		for _, k := range a[1:] {
			delete(p.env, k)
		}
	}
	return nil
}

func (p *parser) luaLoad(g *Global, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'%s' expects a file name as parameter", a[0])
	}
	p.luaLines, p.luaLoadSeen = true, true
	g.Lua.Loads = append(g.Lua.Loads, LuaLoad{Pos: p.pos(), File: a[1], Args: a[2:], PerThread: a[0] == "lua-load-per-thread"})
	return nil
}

var tuneKeywords = map[string]globalHandler{
	"tune.bufsize": func(p *parser, g *Global, a []string) error {
		if err := exactArgs(a, 1); err != nil {
			return err
		}
		n, err := ParseSize(a[1])
		if err != nil || n < 1024 || n > math.MaxInt32 {
			return fmt.Errorf("'%s' expects a size between 1024 and 2147483647, got '%s'", a[0], a[1])
		}
		g.Tune.Bufsize = int(n)
		return nil
	},
	"tune.moonbus.fastpath": func(p *parser, g *Global, a []string) (err error) {
		g.Tune.Fastpath, err = choiceArg(a, "on", "off")
		return
	},
	"tune.maxrewrite": func(p *parser, g *Global, a []string) (err error) {
		g.Tune.Maxrewrite, err = intArg(a, 0, math.MaxInt32)
		return
	},
	"tune.http.maxhdr": func(p *parser, g *Global, a []string) (err error) {
		g.Tune.HTTPMaxHdr, err = intArg(a, 1, 32767)
		return
	},
	"tune.stick-counters": func(p *parser, g *Global, a []string) (err error) {
		g.Tune.StickCounters, err = intArg(a, 0, 1024)
		return
	},
	"tune.lua.forced-yield": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.ForcedYield, err = intArg(a, 1, math.MaxInt32)
		return
	},
	"tune.lua.maxmem": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.MaxMemMB, err = intArg(a, 0, math.MaxInt32)
		return
	},
	"tune.lua.session-timeout": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.SessionTimeout, err = timeArg(a)
		return
	},
	"tune.lua.task-timeout": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.TaskTimeout, err = timeArg(a)
		return
	},
	"tune.lua.service-timeout": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.ServiceTimeout, err = timeArg(a)
		return
	},
	"tune.lua.burst-timeout": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.BurstTimeout, err = timeArg(a)
		g.Lua.BurstTimeoutSet = err == nil
		return
	},
	"tune.lua.log.loggers": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.LogLoggers, err = choiceArg(a, "on", "off")
		return
	},
	"tune.lua.log.stderr": func(p *parser, g *Global, a []string) (err error) {
		g.Lua.LogStderr, err = choiceArg(a, "on", "auto", "off")
		return
	},
	"tune.lua.bool-sample-conversion": func(p *parser, g *Global, a []string) (err error) {
		if p.luaLoadSeen {
			return fmt.Errorf("'%s' must be set before any 'lua-load' or 'lua-load-per-thread' line", a[0])
		}
		g.Lua.BoolSampleConversion, err = choiceArg(a, "normal", "pre-3.1-bug")
		return
	},
	"tune.lua.openlibs": func(p *parser, g *Global, a []string) error {
		if p.luaLines {
			return fmt.Errorf("'%s' must be set before any 'lua-load', 'lua-load-per-thread' or 'lua-prepend-path' line", a[0])
		}
		if err := exactArgs(a, 1); err != nil {
			return err
		}
		if a[1] != "all" && a[1] != "none" {
			for _, lib := range strings.Split(a[1], ",") {
				switch lib {
				case "table", "io", "os", "string", "math", "utf8", "package", "debug":
				default:
					return fmt.Errorf("'%s': unknown library '%s' (expects 'all', 'none' or a comma-separated list of table, io, os, string, math, utf8, package, debug)", a[0], lib)
				}
			}
		}
		g.Lua.OpenLibs = a[1]
		return nil
	},
}

var httpclientKeywords = map[string]globalHandler{
	"httpclient.resolvers.prefer": func(p *parser, g *Global, a []string) (err error) {
		g.HTTPClient.ResolversPrefer, err = choiceArg(a, "ipv4", "ipv6")
		return
	},
	"httpclient.resolvers.id": func(p *parser, g *Global, a []string) (err error) {
		g.HTTPClient.ResolversID, err = oneArg(a)
		return
	},
	"httpclient.resolvers.disabled": func(p *parser, g *Global, a []string) error {
		v, err := choiceArg(a, "on", "off")
		g.HTTPClient.ResolversDisabled = v == "on"
		return err
	},
	"httpclient.retries": func(p *parser, g *Global, a []string) (err error) {
		g.HTTPClient.Retries, err = intArg(a, 0, math.MaxInt32)
		return
	},
	"httpclient.timeout.connect": func(p *parser, g *Global, a []string) (err error) {
		g.HTTPClient.TimeoutConnect, err = timeArg(a)
		return
	},
	"httpclient.ssl.verify": func(p *parser, g *Global, a []string) (err error) {
		g.HTTPClient.SSLVerify, err = choiceArg(a, "none", "required")
		return
	},
	"httpclient.ssl.ca-file": func(p *parser, g *Global, a []string) (err error) {
		g.HTTPClient.SSLCAFile, err = oneArg(a)
		return
	},
}

// knownTunePrefixes and knownTune list HAProxy tuning keywords accepted into
// Tune.Other without a warning.
var knownTunePrefixes = []string{
	"tune.h1.", "tune.h2.", "tune.quic.", "tune.vars.", "tune.rcvbuf.", "tune.sndbuf.",
	"tune.zlib.", "tune.comp.", "tune.buffers.", "tune.pool-", "tune.http.", "tune.listener.",
	"tune.notsent-lowat.", "tune.idle-pool.", "tune.memory.", "tune.glitches.", "tune.events.",
	"tune.ring.", "tune.applet.", "tune.pattern.", "tune.peers.", "tune.sched.", "tune.fd.",
	"tune.epoll.", "tune.defaults.",
}

var knownTuneNames = map[string]bool{
	"tune.maxaccept": true, "tune.maxpollevents": true, "tune.pipesize": true,
	"tune.recv_enough": true, "tune.runqueue-depth": true, "tune.idletimer": true,
	"tune.max-checks-per-thread": true, "tune.max-rules-at-once": true,
	"tune.disable-fast-forward": true, "tune.disable-zero-copy-forwarding": true,
	"tune.fail-alloc": true, "tune.takeover-other-tg-connections": true,
	"tune.bufsize.small": true, "tune.renice.runtime": true, "tune.renice.startup": true,
}

func knownTune(kw string) bool {
	if knownTuneNames[kw] {
		return true
	}
	for _, pfx := range knownTunePrefixes {
		if strings.HasPrefix(kw, pfx) {
			return len(kw) > len(pfx)
		}
	}
	return false
}

// Argument helpers. args[0] is always the keyword.

func exactArgs(a []string, n int) error {
	if len(a)-1 < n {
		if n == 1 {
			return fmt.Errorf("'%s' expects an argument", a[0])
		}
		return fmt.Errorf("'%s' expects %d arguments", a[0], n)
	}
	if len(a)-1 > n {
		return fmt.Errorf("'%s' cannot handle unexpected argument '%s'", a[0], a[n+1])
	}
	return nil
}

func noArg(a []string) error { return exactArgs(a, 0) }

func oneArg(a []string) (string, error) {
	if err := exactArgs(a, 1); err != nil {
		return "", err
	}
	return a[1], nil
}

func intArg(a []string, min, max int) (int, error) {
	if err := exactArgs(a, 1); err != nil {
		return 0, err
	}
	return parseInt(a[0], a[1], min, max)
}

func timeArg(a []string) (time.Duration, error) {
	if err := exactArgs(a, 1); err != nil {
		return 0, err
	}
	return parseTimer(a[0], a[1])
}

func choiceArg(a []string, choices ...string) (string, error) {
	if err := exactArgs(a, 1); err != nil {
		return "", err
	}
	for _, c := range choices {
		if a[1] == c {
			return c, nil
		}
	}
	return "", fmt.Errorf("'%s' expects '%s', got '%s'", a[0], strings.Join(choices, "', '"), a[1])
}
