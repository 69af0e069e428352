package proxy

import (
	"os"
	"strings"

	"moonbus/config"
)

// The fast path serves plain-TCP HTTP/1.1 frontends from a few event loops
// (one locked OS thread each, with its own epoll set) instead of a goroutine
// per connection; see fast_linux.go. This file holds what is decided
// independently of the platform: whether the fast path is on and which
// rules keep a transaction off it.

// fastpathEnv overrides the default of tune.moonbus.fastpath when set ("0"
// or "1"); the test suite runs in both modes with it.
const fastpathEnv = "MOONBUS_FASTPATH"

// fastpathDefault is the mode when neither the configuration nor the
// environment says.
const fastpathDefault = true

// fastpathEnabled resolves tune.moonbus.fastpath: the configuration wins,
// then MOONBUS_FASTPATH, then the default.
func fastpathEnabled(conf string) bool {
	switch conf {
	case "on":
		return true
	case "off":
		return false
	}
	switch os.Getenv(fastpathEnv) {
	case "1", "on":
		return true
	case "0", "off":
		return false
	}
	return fastpathDefault
}

// actionBlocks reports whether a rule action may wait while it runs: a Lua
// action may yield (sleep, sockets, queues) and wait-for-body reads the
// client. Verdicts that wait (tarpit, use-service) are handled when they
// are applied.
func actionBlocks(kw string) bool {
	return strings.HasPrefix(kw, "lua.") || kw == "wait-for-body"
}

// rulesMayBlock computes proxyRules.mayBlock once the rules are compiled.
func (p *Proxy) rulesMayBlock() bool {
	r := &p.rules
	for _, rs := range []ruleSet{r.tcpConn, r.tcpSess, r.tcpContent, r.tcpResponse, r.httpReq, r.httpRes, r.httpAfter} {
		for i := range rs {
			if rs[i].block {
				return true
			}
		}
	}
	// tcp-request content rules in an HTTP proxy wait for data up to the
	// inspect delay.
	if len(r.tcpContent) > 0 && p.conf.TCPRequestInspectDelay > 0 {
		return true
	}
	return p.usesLuaSamples()
}

// usesLuaSamples reports whether a rule, condition or log format of the
// proxy may call a Lua sample fetch or converter: those run Lua code that
// may spin until its execution timeout, which an event loop must not do.
func (p *Proxy) usesLuaSamples() bool {
	c := p.conf
	for _, f := range []string{c.LogFormat, c.UniqueIDFormat, c.LogFormatSD, c.ErrorLogFormat} {
		if strings.Contains(f, "lua.") {
			return true
		}
	}
	for _, ls := range [][]config.Line{c.ACLs, c.HTTPRequest, c.HTTPResponse, c.HTTPAfterResponse,
		c.TCPRequestConnection, c.TCPRequestSession, c.TCPRequestContent, c.TCPResponseContent,
		c.UseBackends, c.UseServers, c.Redirects, c.Captures} {
		for _, l := range ls {
			for _, w := range l.Words {
				if strings.Contains(w, "lua.") {
					return true
				}
			}
		}
	}
	return false
}

// fastBlocked reports whether the transaction must leave the fast path
// before p's rules run: they may block, or they buffer a request body.
func (t *Txn) fastBlocked(p *Proxy) bool {
	return p.rules.mayBlock || (p.rules.bufferReq && t.hasReqBody())
}

// fastListeners reports whether a listener may hand connections to the
// fast path: a plain (no TLS, no PROXY protocol) HTTP one.
func fastListeners(ls []*listener) bool {
	for _, l := range ls {
		if l.fe.mode == ModeHTTP && l.tlsConf == nil && !l.conf.AcceptProxy {
			return true
		}
	}
	return false
}
