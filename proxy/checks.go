package proxy

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/healthcheck"
)

// Health checks: each server with "check" (and/or "agent-check") gets
// checkers on the engine's scheduler; their reports come back through
// checkTarget.ReportCheck and are applied by the server's single writer.

// checkTarget is the healthcheck.Target of one server and check kind.
type checkTarget struct {
	s    *Server
	kind healthcheck.Kind
}

var _ healthcheck.Target = (*checkTarget)(nil)

// CheckAddr returns the server's current address for checks.
func (ct *checkTarget) CheckAddr() string {
	a := ct.s.addr.Load()
	if a.check == "" {
		return a.checkString() // an address stored without it (set server addr)
	}
	return a.check
}

// ReportCheck applies a check report to the server.
func (ct *checkTarget) ReportCheck(r healthcheck.Report) {
	s := ct.s
	if s.Deleted() {
		return
	}
	agent := ct.kind == healthcheck.KindAgent
	res := r.Result
	cs := &CheckStatus{Short: res.Status.Short(), Desc: res.Status.Desc(), Info: res.Info, Duration: res.Duration, At: time.Now(),
		Health: bus.Health{Cur: r.Health.Cur, Rise: r.Health.Rise, Fall: r.Health.Fall}}
	if res.Status.HasCode() {
		cs.Code = res.Code
	}
	if agent {
		s.lastAgent.Store(cs)
	} else {
		s.lastCheck.Store(cs)
	}
	// The bus form, built only when an update or an event needs it (a
	// passing check of an up server needs neither).
	var cr *bus.CheckResult
	mkcr := func() *bus.CheckResult {
		if cr == nil {
			cr = &bus.CheckResult{Agent: agent, Result: res.Class().String(), Duration: res.DurationMS(),
				Reason: bus.CheckReason{Short: cs.Short, Desc: cs.Desc, Code: cs.Code, Info: res.Info},
				Health: cs.Health}
		}
		return cr
	}
	if res.Class() == healthcheck.ResultFailed && r.Changed {
		s.chkFail.Add(1)
	}
	// The agent's admin, weight and maxconn words.
	if agent && r.Agent != nil && !s.agentDisabled.Load() {
		s.applyAgentReply(r.Agent)
	}
	// Mirror the checker's health and apply the edge. A passing check of a
	// fully up server (the common case) changes nothing and costs nothing.
	edge := r.Edge
	s.mu.Lock()
	st := &s.health
	if agent {
		st = &s.agent
	}
	// The checker's health now: a report computed before a forced value
	// ("set server health down" while the probe ran) must not undo it.
	cur := r.Health.Cur
	if ck := ct.checker(); ck != nil {
		cur = ck.Health().Cur
	}
	if cur != r.Health.Cur {
		edge = healthcheck.EdgeNone
	}
	down := s.Op() == Stopped
	needUpdate := st.health != cur ||
		edge == healthcheck.EdgeStopping && !st.stopping ||
		edge == healthcheck.EdgeUp && (st.stopping || down) ||
		edge == healthcheck.EdgeDown && !down
	s.mu.Unlock()
	if needUpdate {
		s.update(change{check: mkcr(), mut: func(s *Server) {
			st := &s.health
			if agent {
				st = &s.agent
			}
			st.health = cur
			switch edge {
			case healthcheck.EdgeStopping:
				st.stopping = true
			case healthcheck.EdgeUp, healthcheck.EdgeDown:
				st.stopping = false
			}
		}})
	}
	if r.Changed {
		if pub := s.px.e.pub; pub != nil {
			pub.PublishBatch(&bus.Event{Type: bus.ServerCheck, Server: s.ref(), Check: mkcr(), Snapshot: s.snapshot()})
		}
		if s.px.conf.LogHealthChecks {
			msg := r.LogLine(s.px.name, s.name, s.backup, s.Admin()&bus.DrainMask != 0 || s.eweight.Load() == 0)
			s.px.e.log.Warn(msg)
			s.px.sendLog(levelNotice, msg)
		}
	}
}

// checker returns the checker of the target's kind.
func (ct *checkTarget) checker() *healthcheck.Checker {
	if ct.kind == healthcheck.KindAgent {
		return ct.s.agentChk
	}
	return ct.s.healthChk
}

// applyAgentReply applies the admin state, weight and maxconn an agent sent.
func (s *Server) applyAgentReply(a *healthcheck.AgentReply) {
	switch a.Admin {
	case "ready":
		if s.Admin()&(bus.FMaint|bus.FDrain) != 0 {
			s.SetAdmin(0, bus.FMaint|bus.FDrain, "")
		}
	case "drain":
		if s.Admin()&bus.FDrain == 0 || s.Admin()&bus.FMaint != 0 {
			s.SetAdmin(bus.FDrain, bus.FMaint, "")
		}
	case "maint":
		if s.Admin()&bus.FMaint == 0 {
			s.SetAdmin(bus.FMaint, bus.FDrain, "")
		}
	}
	if w, ok := a.EffectiveWeight(int(s.iweight)); ok && w != s.UWeight() {
		if !s.px.staticLB() || w == 0 || w == int(s.iweight) {
			s.SetWeight(w)
		}
	}
	if a.HasMaxconn {
		s.SetMaxconn(a.Maxconn)
	}
}

// staticLB reports whether the backend's algorithm takes only 0% or 100%
// weights at run time.
func (p *Proxy) staticLB() bool {
	if p.conf == nil || p.conf.Balance == nil {
		return false
	}
	switch p.conf.Balance.Algo {
	case "static-rr":
		return true
	case "source", "uri", "url_param", "hdr", "hash", "rdp-cookie":
		return !p.hashConsistent()
	}
	return false
}

// passiveObserver feeds real traffic results to the health checker.
type passiveObserver struct{ c *healthcheck.Checker }

func (o passiveObserver) ObserveL4(ok bool)    { o.c.Observe(ok) }
func (o passiveObserver) ObserveL7(status int) { o.c.ObserveHTTP(status) }

// buildChecks creates the checkers of every server of the engine.
func (e *Engine) buildChecks() error {
	e.checks = healthcheck.NewScheduler(healthcheck.SchedulerOptions{
		SpreadChecks: e.conf.Global.SpreadChecks,
		Logf:         func(f string, a ...any) { e.log.Warn(fmt.Sprintf(f, a...)) },
	})
	for _, p := range e.proxies {
		if !p.isBE || p.conf.Disabled {
			continue // a disabled proxy sends no checks
		}
		if err := p.buildCheckRules(); err != nil {
			return err
		}
		for _, s := range p.Servers() {
			if err := s.attachChecks(); err != nil {
				return &config.Error{Pos: s.pos, Msg: fmt.Sprintf("'server %s' : %v", s.name, err)}
			}
		}
	}
	return nil
}

// buildCheckRules compiles the backend's check program once.
func (p *Proxy) buildCheckRules() error {
	c := p.conf
	need := false
	for _, s := range p.Servers() {
		if s.conf.Check {
			need = true
		}
	}
	if !need && c.CheckKind == "" {
		return nil
	}
	words := func(ls []config.Line) [][]string {
		out := make([][]string, len(ls))
		for i, l := range ls {
			out[i] = l.Words
		}
		return out
	}
	rules, err := healthcheck.ParseRules(c.CheckKind, c.CheckArgs, words(c.HTTPCheckRules), words(c.TCPCheckRules))
	if err != nil {
		var re *healthcheck.RuleError
		pos := c.Pos
		if errors.As(err, &re) && re.Line >= 0 {
			if c.CheckKind == "httpchk" && re.Line < len(c.HTTPCheckRules) {
				pos = c.HTTPCheckRules[re.Line].Pos
			} else if re.Line < len(c.TCPCheckRules) {
				pos = c.TCPCheckRules[re.Line].Pos
			}
		}
		return &config.Error{Pos: pos, Msg: fmt.Sprintf("%s: %v", p, err)}
	}
	p.checkRules = rules
	return nil
}

// attachChecks adds the server's checkers to the scheduler (dynamic servers
// get them configured but paused until "enable health"/"enable agent").
func (s *Server) attachChecks() error {
	p, e := s.px, s.px.e
	c := s.conf
	init, err := healthcheck.ParseInitState(c.InitState)
	if err != nil {
		return err
	}
	if c.Check {
		spec := &healthcheck.Spec{Rules: p.checkRules, Addr: c.Addr, Port: c.Port, SNI: c.CheckSNI,
			Inter: c.Inter, ConnectTimeout: p.timeouts.Connect, CheckTimeout: p.timeouts.Check}
		if c.CheckALPN != "" {
			spec.ALPN = splitComma(c.CheckALPN)
		}
		if c.CheckSSL || (c.SSL && c.Addr == "" && c.Port == 0) {
			spec.SSL = true
			spec.TLS = s.tlsConf
		}
		if c.CheckSendProxy {
			spec.SendProxy = 1
		}
		obs, err := healthcheck.ParseObserve(c.Observe)
		if err != nil {
			return err
		}
		onErr, err := healthcheck.ParseOnError(c.OnError)
		if err != nil {
			return err
		}
		ck, err := e.checks.Add(&checkTarget{s: s, kind: healthcheck.KindHealth}, healthcheck.Config{
			Name: p.name + "/" + s.name, Kind: healthcheck.KindHealth, Probe: spec,
			Rise: c.Rise, Fall: c.Fall, Inter: c.Inter, FastInter: c.FastInter, DownInter: c.DownInter,
			InitState: init, Observe: obs, OnError: onErr, ErrorLimit: c.ErrorLimit,
		})
		if err != nil {
			return err
		}
		s.healthChk = ck
		if s.inheritedHealth {
			ck.SetHealth(s.health.health)
		}
		if obs != healthcheck.ObserveNone {
			s.SetObserver(passiveObserver{c: ck})
		}
		if s.dynamic || s.Admin()&bus.MaintMask != 0 || c.Disabled || !s.health.enabled {
			ck.Pause()
		}
	}
	if c.AgentCheck {
		if c.AgentPort == 0 && !strings.Contains(c.AgentAddr, ":") {
			return errors.New("'agent-check' needs an 'agent-port'")
		}
		ck, err := e.checks.Add(&checkTarget{s: s, kind: healthcheck.KindAgent}, healthcheck.Config{
			Name: p.name + "/" + s.name + " agent", Kind: healthcheck.KindAgent,
			Probe: &healthcheck.AgentSpec{Addr: c.AgentAddr, Port: c.AgentPort, Send: c.AgentSend, Inter: c.AgentInter,
				ConnectTimeout: p.timeouts.Connect, CheckTimeout: p.timeouts.Check},
			Rise: 1, Fall: 1, Inter: c.AgentInter,
		})
		if err != nil {
			return err
		}
		s.agentChk = ck
		if s.inheritedHealth {
			ck.SetHealth(s.agent.health)
		}
		if s.dynamic || !s.agent.enabled {
			ck.Pause()
		}
	}
	return nil
}

// syncCheckers makes the checkers follow a state change made outside them:
// entering maintenance pauses the health check with health 0, leaving it
// resumes at rise ("start OK but check immediately"); enable/disable
// health|agent resume or pause; a forced health ("set server health") is
// pushed to the checker.
func (s *Server) syncCheckers(old, now checkSnapshot, fromCheck bool) {
	if ck := s.healthChk; ck != nil {
		switch {
		case !now.healthEnabled:
			if old.healthEnabled {
				ck.Pause()
			}
		case now.maint && !old.maint:
			ck.Pause()
			ck.SetHealth(0)
		case !now.maint && (old.maint || !old.healthEnabled):
			if old.maint {
				ck.SetHealth(s.conf.Rise)
			}
			ck.Resume()
		}
	}
	if ck := s.agentChk; ck != nil {
		switch {
		case !now.agentEnabled && old.agentEnabled:
			ck.Pause()
		case now.agentEnabled && !old.agentEnabled:
			ck.Resume()
		}
	}
}

// pushForcedHealth gives the checkers a health value forced outside them
// ("set server health|agent", maintenance). Called with s.mu held, so a
// check report waiting for the lock sees it (lock order: s.mu, then the
// checker's own lock; reports take s.mu without holding the checker's).
func (s *Server) pushForcedHealth(old, now checkSnapshot) {
	if ck := s.healthChk; ck != nil && now.health != old.health {
		ck.SetHealth(now.health)
	}
	if ck := s.agentChk; ck != nil && now.agentHealth != old.agentHealth {
		ck.SetHealth(now.agentHealth)
	}
}

// checkSnapshot is what syncCheckers compares.
type checkSnapshot struct {
	maint                       bool
	healthEnabled, agentEnabled bool
	health, agentHealth         int
}

// checkSnapshotNow reads it; called with s.mu held or from the writer.
func (s *Server) checkSnapshotNow() checkSnapshot {
	return checkSnapshot{
		maint:         s.Admin()&bus.MaintMask != 0,
		healthEnabled: s.health.enabled, agentEnabled: s.agent.enabled,
		health: s.health.health, agentHealth: s.agent.health,
	}
}

// HealthChecker returns the server's health checker (nil without "check").
func (s *Server) HealthChecker() *healthcheck.Checker { return s.healthChk }

// AgentChecker returns the server's agent checker (nil without "agent-check").
func (s *Server) AgentChecker() *healthcheck.Checker { return s.agentChk }

// LastCheckStatus returns the last health check result (nil before any).
func (s *Server) LastCheckStatus() *CheckStatus { return s.lastCheck.Load() }

// LastAgentStatus returns the last agent check result (nil before any).
func (s *Server) LastAgentStatus() *CheckStatus { return s.lastAgent.Load() }
