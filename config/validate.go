package config

import (
	"strings"
)

// resolve fills what depends on the whole configuration: proxy and server
// IDs, and the log-format fallback of HTTP log options in TCP proxies.
func (p *parser) resolve() {
	p.assignProxyIDs()
	for _, px := range p.cfg.Proxies {
		p.assignServerIDs(px)
		if px.IsFrontend() && px.Mode == "tcp" && (strings.HasPrefix(px.LogOption, "httplog") || px.LogOption == "httpslog") {
			p.warnAt(px.LogFormatPos, "'option %s' not usable with %s '%s' (needs 'mode http'). Falling back to 'option tcplog'.", px.LogOption, px.Kind, px.Name)
			px.LogFormat, px.LogOption = TCPLogFormat, "tcplog"
		}
	}
}

// assignProxyIDs checks explicit proxy ids and numbers the others in file
// order with the lowest free ids, starting at 1.
func (p *parser) assignProxyIDs() {
	used := map[int]*Proxy{}
	for _, px := range p.cfg.Proxies {
		if px.ID == 0 {
			continue
		}
		if other, dup := used[px.ID]; dup {
			p.errorAt(px.Pos, "%s '%s' has the same id %d as %s '%s' declared at %s", px.Kind, px.Name, px.ID, other.Kind, other.Name, other.Pos)
			continue
		}
		used[px.ID] = px
	}
	next := 1
	for _, px := range p.cfg.Proxies {
		if px.ID != 0 {
			continue
		}
		for used[next] != nil {
			next++
		}
		px.ID = next
		used[next] = px
	}
}

// assignServerIDs does the same for the servers of a backend.
func (p *parser) assignServerIDs(px *Proxy) {
	used := map[int]*Server{}
	for _, s := range px.Servers {
		if s.Params.ID == 0 {
			continue
		}
		if other, dup := used[s.Params.ID]; dup {
			p.errorAt(s.Pos, "%s '%s' : server '%s' id %d conflicts with server '%s' declared at %s", px.Kind, px.Name, s.Name, s.Params.ID, other.Name, other.Pos)
			continue
		}
		used[s.Params.ID] = s
	}
	next := 1
	for _, s := range px.Servers {
		if s.Params.ID != 0 {
			continue
		}
		for used[next] != nil {
			next++
		}
		s.Params.ID = next
		used[next] = s
	}
}

// validate checks references between sections and emits HAProxy's
// whole-configuration warnings.
func (p *parser) validate() {
	cfg := p.cfg
	byName := map[string]*Proxy{}
	for _, px := range cfg.Proxies {
		if _, dup := byName[px.Name]; !dup {
			byName[px.Name] = px
		}
	}
	sectionNames := func(kind string) map[string]bool {
		m := map[string]bool{}
		for k := range p.sections {
			if name, ok := strings.CutPrefix(k, kind+" "); ok {
				m[name] = true
			}
		}
		return m
	}
	mailers, httpErrors, resolvers := sectionNames("mailers"), sectionNames("http-errors"), sectionNames("resolvers")

	for _, px := range cfg.Proxies {
		if px.IsFrontend() {
			if px.DefaultBackend != "" {
				p.checkBackendRef(px, byName, px.DefaultBackend, px.DefaultBackendPos, "default_backend")
			}
			for _, l := range px.UseBackends {
				p.checkBackendRef(px, byName, l.Words[0], l.Pos, "use_backend")
			}
			if len(px.Binds) == 0 && !px.Disabled {
				p.warnAt(px.Pos, "%s '%s' has no 'bind' directive. Please declare it as a backend if this was intended.", px.Kind, px.Name)
			}
		}
		if px.IsBackend() {
			p.checkServers(px, byName, resolvers)
		}
		if ea := px.EmailAlert; ea.Mailers != "" || ea.From != "" || ea.To != "" || ea.MyHostname != "" {
			if ea.Mailers != "" && !mailers[ea.Mailers] {
				p.errorAt(ea.MailersPos, "'email-alert mailers' : %s '%s' references unknown mailers section '%s'", px.Kind, px.Name, ea.Mailers)
			}
			if ea.Mailers == "" || ea.From == "" || ea.To == "" {
				p.warnAt(px.Pos, "'email-alert' will be ignored for %s '%s' (the presence of any of 'email-alert from', 'email-alert level', 'email-alert mailers', 'email-alert myhostname', or 'email-alert to' requires each of 'email-alert from', 'email-alert mailers' and 'email-alert to' to be present).", px.Kind, px.Name)
			}
		}
		for _, l := range px.ErrorFilesRefs {
			if !httpErrors[l.Words[0]] {
				p.errorAt(l.Pos, "unable to find http-errors section '%s' referenced by 'errorfiles' in %s '%s'", l.Words[0], px.Kind, px.Name)
			}
		}
		if st := px.StickTable; st != nil && st.Peers != "" {
			p.errorAt(st.Pos, "stick-table of %s '%s' : 'peers %s' : peers sections are not supported by Moonbus", px.Kind, px.Name, st.Peers)
		}
		p.proxyWarnings(px)
	}
	for _, w := range cfg.Webhooks {
		for _, b := range w.Backends {
			if be := byName[b]; be == nil || !be.IsBackend() {
				p.errorAt(w.Pos, "webhook '%s' : unable to find backend '%s'", w.Name, b)
			}
		}
	}
	for _, ul := range cfg.Userlists {
		p.checkUserlist(ul)
	}
}

// checkBackendRef checks a default_backend or use_backend target. Names
// holding "%[" are log-formats resolved at run time.
func (p *parser) checkBackendRef(px *Proxy, byName map[string]*Proxy, name string, pos Pos, kw string) {
	if strings.Contains(name, "%[") {
		return
	}
	be := byName[name]
	if be == nil || !be.IsBackend() {
		p.errorAt(pos, "%s '%s' : unable to find required %s: '%s'", px.Kind, px.Name, kw, name)
		return
	}
	if px.Mode == "http" && be.Mode != "http" {
		p.errorAt(pos, "%s '%s' : unable to use proxy '%s' with wrong mode, required: %s, has: %s", px.Kind, px.Name, name, px.Mode, be.Mode)
	}
}

func (p *parser) checkServers(px *Proxy, byName map[string]*Proxy, resolvers map[string]bool) {
	for _, l := range px.UseServers {
		if strings.Contains(l.Words[0], "%[") {
			continue
		}
		if findServer(px, l.Words[0]) == nil {
			p.errorAt(l.Pos, "%s '%s' : unable to find server '%s' referenced in a 'use-server' rule", px.Kind, px.Name, l.Words[0])
		}
	}
	for _, s := range px.Servers {
		if s.Params.Observe == "layer7" && px.Mode != "http" {
			p.errorAt(s.Pos, "'server %s/%s' : 'layer7' can only be used in http proxies", px.Name, s.Name)
		}
		if r := s.Params.Resolvers; r != "" && r != "default" && !resolvers[r] {
			p.errorAt(s.Pos, "%s '%s' : server '%s' : unable to find required resolvers section '%s'", px.Kind, px.Name, s.Name, r)
		}
		if s.Params.Track != "" {
			p.checkTrack(px, s, byName)
		}
	}
}

func findServer(px *Proxy, name string) *Server {
	for _, s := range px.Servers {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// checkTrack follows a "track [<be>/]<srv>" chain: every link must exist,
// the chain must not loop, and its last server must have checks.
func (p *parser) checkTrack(px *Proxy, s *Server, byName map[string]*Proxy) {
	seen := map[*Server]bool{s: true}
	curPx, cur := px, s
	for cur.Params.Track != "" {
		ref := cur.Params.Track
		bePx, srvName := curPx, ref
		if b, n, ok := strings.Cut(ref, "/"); ok {
			bePx, srvName = byName[b], n
			if bePx == nil || !bePx.IsBackend() {
				p.errorAt(s.Pos, "%s '%s' : server '%s' : unable to find required proxy '%s' for tracking", px.Kind, px.Name, s.Name, b)
				return
			}
		}
		next := findServer(bePx, srvName)
		if next == nil {
			p.errorAt(s.Pos, "%s '%s' : server '%s' : unable to find required server '%s' for tracking", px.Kind, px.Name, s.Name, ref)
			return
		}
		if seen[next] {
			p.errorAt(s.Pos, "%s '%s' : server '%s' : loop in the tracking chain at '%s/%s'", px.Kind, px.Name, s.Name, bePx.Name, next.Name)
			return
		}
		seen[next] = true
		curPx, cur = bePx, next
	}
	if cur != s && !cur.Params.Check && !cur.Params.AgentCheck {
		p.errorAt(s.Pos, "%s '%s' : server '%s' : unable to use %s/%s for tracking as it does not have any check nor agent enabled", px.Kind, px.Name, s.Name, curPx.Name, cur.Name)
	}
}

// proxyWarnings emits HAProxy's per-proxy startup warnings.
func (p *parser) proxyWarnings(px *Proxy) {
	if px.Disabled {
		return
	}
	var missing []string
	if px.IsFrontend() && px.Timeouts.Client == 0 {
		missing = append(missing, "'client'")
	}
	if px.IsBackend() && px.Timeouts.Connect == 0 {
		missing = append(missing, "'connect'")
	}
	if px.IsBackend() && px.Timeouts.Server == 0 {
		missing = append(missing, "'server'")
	}
	if len(missing) > 0 {
		p.warnAt(px.Pos, "missing timeouts for %s '%s'. While not properly invalid, you will certainly encounter various problems with such a configuration. To fix this, please ensure that all following timeouts are set to a non-zero value: %s.", px.Kind, px.Name, strings.Join(missing, ", "))
	}
	if px.Mode != "http" {
		for _, r := range []struct {
			kw    string
			lines []Line
		}{{"http-request", px.HTTPRequest}, {"http-response", px.HTTPResponse}, {"http-after-response", px.HTTPAfterResponse}} {
			if len(r.lines) > 0 {
				p.warnAt(r.lines[0].Pos, "'%s' rules ignored for %s '%s' as they require HTTP mode.", r.kw, px.Kind, px.Name)
			}
		}
	}
}

func (p *parser) checkUserlist(ul *Userlist) {
	groups := map[string]bool{}
	users := map[string]bool{}
	for _, g := range ul.Groups {
		groups[g.Name] = true
	}
	for _, u := range ul.Users {
		users[u.Name] = true
		for _, g := range u.Groups {
			if !groups[g] {
				p.errorAt(ul.Pos, "userlist '%s' : no such group '%s' specified in user '%s'", ul.Name, g, u.Name)
			}
		}
	}
	for _, g := range ul.Groups {
		for _, u := range g.Users {
			if !users[u] {
				p.errorAt(ul.Pos, "userlist '%s' : no such user '%s' specified in group '%s'", ul.Name, u, g.Name)
			}
		}
	}
}
