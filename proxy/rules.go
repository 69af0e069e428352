package proxy

import (
	"fmt"
	"strings"

	"moonbus/config"
)

// This file holds the seam between the engine and the rules engine
// (http-request/http-response/tcp-request rules, use_backend, use-server,
// services). The engine calls these hooks at HAProxy's evaluation points.

// verdictKind is the outcome of a rule set.
type verdictKind int

const (
	verdictContinue verdictKind = iota
	verdictAllow
	verdictDeny   // answer with an error status
	verdictReturn // answer with a local response (return, redirect)
	verdictReject // close without a response
	verdictTarpit
	verdictService
)

// verdict is what a rule set decided.
type verdict struct {
	kind   verdictKind
	status int
	raw    []byte // full response for deny/return/redirect, nil = default error page
}

func (v verdict) final() bool { return v.kind != verdictContinue && v.kind != verdictAllow }

// useBackendRule is one use_backend line.
type useBackendRule struct {
	pos  config.Pos
	name string
	be   *Proxy
}

// proxyRules are a proxy's compiled rules.
type proxyRules struct {
	useBackend []useBackendRule
}

// txnRules is the per-transaction state of the rules engine.
type txnRules struct{}

func (r *txnRules) reset() {}

// sessionRules is the per-connection state of the rules engine.
type sessionRules struct{}

// engineRules is the per-engine state of the rules engine (registry, maps,
// stick tables).
type engineRules struct{}

func (e *Engine) buildRegistry() error { return nil }

// compileRules compiles the rule lines of a proxy.
func (p *Proxy) compileRules() error {
	c := p.conf
	for _, l := range c.UseBackends {
		if len(l.Words) == 0 {
			return &config.Error{Pos: l.Pos, Msg: "'use_backend' expects a backend name"}
		}
		if len(l.Words) > 1 || strings.Contains(l.Words[0], "%[") {
			return &config.Error{Pos: l.Pos, Msg: "'use_backend' with a condition or a log-format name needs the rules engine, not built yet"}
		}
		be := p.e.byName[l.Words[0]]
		if be == nil || !be.isBE {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("unable to find required use_backend: '%s'", l.Words[0])}
		}
		p.rules.useBackend = append(p.rules.useBackend, useBackendRule{pos: l.Pos, name: l.Words[0], be: be})
	}
	for _, set := range []struct {
		kw    string
		lines []config.Line
	}{
		{"http-request", c.HTTPRequest}, {"http-response", c.HTTPResponse}, {"http-after-response", c.HTTPAfterResponse},
		{"tcp-request connection", c.TCPRequestConnection}, {"tcp-request session", c.TCPRequestSession},
		{"tcp-request content", c.TCPRequestContent}, {"tcp-response content", c.TCPResponseContent},
		{"use-server", c.UseServers}, {"acl", c.ACLs}, {"redirect", c.Redirects},
	} {
		if len(set.lines) > 0 {
			l := set.lines[0]
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' rules need the rules engine, not built yet", set.kw)}
		}
	}
	return nil
}

func (r *sessionRules) acceptConnection(s *session) bool { return true }

func (r *txnRules) httpRequest(t *Txn, p *Proxy) verdict { return verdict{} }

func (r *txnRules) httpResponse(t *Txn) verdict { return verdict{} }

func (r *txnRules) httpAfterResponse(t *Txn) {}

func (r *txnRules) tcpContent(t *Txn, p *Proxy) verdict { return verdict{} }

func (r *txnRules) forcedServer(t *Txn) *Server { return nil }

func (r *txnRules) switchBackend(t *Txn) *Proxy {
	for _, u := range t.fe.rules.useBackend {
		return u.be
	}
	return nil
}

// applyVerdict answers the client for a final request verdict.
func (t *Txn) applyVerdict(v verdict) {
	switch v.kind {
	case verdictDeny:
		t.setTerm('P', 'R')
		t.fe.Counters.Dreq.Add(1)
		if v.raw != nil {
			t.status = v.status
			t.closeCli = true
			t.writeRaw(v.raw)
			return
		}
		t.sendError(v.status)
	case verdictReturn:
		t.setTerm('L', 'R')
		t.status = v.status
		t.writeRaw(v.raw)
	case verdictReject:
		t.setTerm('P', 'R')
		t.closeCli = true
	}
}

// applyResponseVerdict answers the client for a final response verdict.
func (t *Txn) applyResponseVerdict(v verdict) {
	t.setTerm('P', 'H')
	if t.be != nil {
		t.be.BeCounters.Dresp.Add(1)
	}
	t.sendError(502)
}

// applyTCPVerdict ends a TCP session for a final tcp-request verdict.
func (t *Txn) applyTCPVerdict(v verdict) { t.setTerm('P', 'R') }

// runService runs the applet chosen by use-service.
func (t *Txn) runService() {
	t.setTerm('P', 'R')
	t.sendError(500)
}

// appendCaptures appends the captured request or response headers (%hr,
// %hs); braces are added when brace is set. Nothing is appended without
// "capture" declarations.
func (r *txnRules) appendCaptures(b []byte, t *Txn, resp, brace bool) []byte { return b }
