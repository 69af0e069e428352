package proxy

import (
	"net/url"
	"strconv"
	"strings"

	"moonbus/bus"
)

// The stats page's admin form. A POST to the page carries "b=#<backend id>"
// (or the backend's name), "action=<action>" and one "s=<server>" per
// checked server, in any order. The change goes through the same server
// methods as the runtime API, so the bus events and the log lines follow;
// the answer is a 303 redirect back to the page with ";st=<code>": DONE
// (every server changed), PART (some names unknown), NONE (no server),
// ERRP (bad parameters), EXCD (form too large), DENY (no "stats admin"
// for this request).

// statsAction applies one admin action to a server; it reports whether the
// action applied (HAProxy counts only those).
type statsAction func(s *Server) bool

var statsActionFuncs = map[string]statsAction{
	"ready": func(s *Server) bool { s.SetAdmin(0, bus.FMaint|bus.FDrain, ""); return true },
	"drain": func(s *Server) bool { s.SetAdmin(bus.FDrain, bus.FMaint, CauseStatsStop); return true },
	"maint": func(s *Server) bool { s.SetAdmin(bus.FMaint, bus.FDrain, CauseStatsDisable); return true },
	"dhlth": func(s *Server) bool {
		if !s.HealthInfo().Configured {
			return false
		}
		s.DisableHealth(CauseStatsWeb)
		return true
	},
	"ehlth": func(s *Server) bool { return s.EnableHealth(CauseStatsWeb) == nil },
	"hrunn": func(s *Server) bool { return s.SetHealthState("up", CauseStatsWeb) == nil },
	"hnolb": func(s *Server) bool { return s.SetHealthState("stopping", CauseStatsWeb) == nil },
	"hdown": func(s *Server) bool { return s.SetHealthState("down", CauseStatsWeb) == nil },
	"dagent": func(s *Server) bool {
		if !s.AgentInfo().Configured {
			return false
		}
		s.DisableAgent(CauseStatsWeb)
		return true
	},
	"eagent": func(s *Server) bool { return s.EnableAgent(CauseStatsWeb) == nil },
	"arunn":  func(s *Server) bool { return s.SetAgentState(true, CauseStatsWeb) == nil },
	"adown":  func(s *Server) bool { return s.SetAgentState(false, CauseStatsWeb) == nil },
	"shutdown": func(s *Server) bool {
		if s.px.disabled.Load() || s.px.stopped.Load() {
			return false
		}
		s.ShutdownSessions()
		return true
	},
	// The actions of older pages.
	"disable": func(s *Server) bool {
		if s.Admin()&bus.FMaint != 0 {
			return false
		}
		s.SetAdmin(bus.FMaint, 0, CauseStatsDisable)
		return true
	},
	"enable": func(s *Server) bool {
		if s.Admin()&bus.FMaint == 0 {
			return false
		}
		s.SetAdmin(0, bus.FMaint, "")
		return true
	},
	"stop": func(s *Server) bool {
		if s.Admin()&bus.FDrain != 0 {
			return false
		}
		s.SetAdmin(bus.FDrain, 0, CauseStatsStop)
		return true
	},
	"start": func(s *Server) bool {
		if s.Admin()&bus.FDrain == 0 {
			return false
		}
		s.SetAdmin(0, bus.FDrain, "")
		return true
	},
}

// servePost applies an admin form and redirects back to the page.
func (sp *statsPage) servePost(t *Txn, a *HTTPApplet, r *statsRequest) {
	code := sp.applyForm(t, a)
	loc := string(sp.uri) + r.flags() + ";st=" + code
	a.SetStatus(303, "")
	a.AddHeader("cache-control", "no-cache")
	a.AddHeader("content-type", "text/plain")
	a.AddHeader("location", loc)
	a.AddHeader("content-length", "0")
}

// applyForm reads and applies the form; it returns the result code.
func (sp *statsPage) applyForm(t *Txn, a *HTTPApplet) string {
	if !sp.isAdmin(t) {
		return "DENY"
	}
	limit := sp.px.e.bufsize
	if n := t.req.contentLength; n > int64(limit) {
		return "EXCD"
	}
	var body []byte
	for len(body) <= limit {
		b, err := a.Receive(limit + 1 - len(body))
		if err != nil {
			t.closeCli = true
			return "UNKN"
		}
		if len(b) == 0 {
			break
		}
		body = append(body, b...)
	}
	if len(body) > limit {
		t.closeCli = true // the rest of the body is not read
		return "EXCD"
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return "ERRP"
	}
	act, ok := statsActionFuncs[form.Get("action")]
	if !ok {
		return "ERRP"
	}
	be := sp.findBackend(form.Get("b"))
	if be == nil {
		return "ERRP"
	}
	total, altered := 0, 0
	for _, name := range form["s"] {
		s := be.Server(name)
		if s == nil || s.Deleted() {
			total++ // unknown: reported as a partial result
			continue
		}
		if act(s) {
			total++
			altered++
		}
	}
	switch {
	case total == 0:
		return "NONE"
	case altered == total:
		return "DONE"
	}
	return "PART"
}

// findBackend resolves the form's "b": "#<id>" or a name, within the page's
// scope.
func (sp *statsPage) findBackend(b string) *Proxy {
	e := sp.px.e
	var p *Proxy
	if id, ok := strings.CutPrefix(b, "#"); ok {
		n, err := strconv.Atoi(id)
		if err != nil {
			return nil
		}
		for _, x := range e.proxies {
			if x.uuid == n {
				p = x
				break
			}
		}
	} else {
		p = e.byName[b]
	}
	if p == nil || !p.isBE || !sp.wantProxy(p) {
		return nil
	}
	return p
}
