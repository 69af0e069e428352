package proxy

import (
	"bytes"
	"crypto/subtle"
	"fmt"
	"strconv"
	"strings"
	"time"

	"moonbus/config"
	"moonbus/proxy/sample"
)

// The HAProxy statistics page of an HTTP proxy ("stats enable", "stats uri"
// and the other "stats" keywords). A request whose path starts with the
// configured prefix is served by the page like an implicit use-service, once
// the proxy's http-request rules let it through. After the prefix, ";csv"
// selects the "show stat" CSV, ";up" hides servers that are down,
// ";norefresh" disables the refresh, ";st=<code>" shows the result of an
// admin action and ";scope=<text>" keeps the proxies whose name contains the
// text. A POST carries the admin form (statspage_admin.go); the HTML is
// written in statspage_html.go.

// Admin causes of the stats page (srv_adm_st_chg_cause).
const (
	CauseStatsDisable = "'disable' on stats page"
	CauseStatsStop    = "'stop' on stats page"
)

// statsServiceName is the service name the stats page logs in place of a
// server (%s), as HAProxy does.
const statsServiceName = "<STATS>"

// defaultStatsRealm is HAProxy's realm when "stats auth" is given without
// "stats realm".
const defaultStatsRealm = "HAProxy Statistics"

func init() {
	builtinServices[statsServiceName] = builtinService{logName: statsServiceName, run: serveStats, internal: true}
}

// statsPage is the compiled "stats" configuration of a proxy.
type statsPage struct {
	px       *Proxy
	conf     *config.StatsPage
	uri      []byte
	refresh  int64          // seconds, 0: no refresh
	rules    ruleSet        // "stats http-request" rules, then the "stats auth" check
	admin    []*sample.Cond // "stats admin if|unless <cond>"
	scope    map[string]bool
	node     string // shown after the pid with "stats show-node"
	desc     string // shown with "stats show-desc"
	auth401  []byte
	hasScope bool
}

// compileStats prepares the stats page of the proxy, when configured.
func (p *Proxy) compileStats() error {
	c := p.conf.Stats
	if c == nil || !c.Enabled {
		return nil
	}
	if p.mode != ModeHTTP {
		p.e.log.Warn(fmt.Sprintf("config : parsing [%s] : 'stats' statement ignored for %s as it requires HTTP mode", c.Pos, p))
		return nil
	}
	sp := &statsPage{px: p, conf: c, uri: []byte(c.URI), refresh: int64(c.Refresh / time.Second)}
	if c.Refresh > 0 && sp.refresh == 0 {
		sp.refresh = 1
	}
	for _, l := range c.HTTPRequest {
		r, err := p.compileRule(l, "stats http-request", sample.InHTTPReq, p.statsRuleAction)
		if err != nil {
			return err
		}
		sp.rules = append(sp.rules, r)
	}
	if len(c.Auths) > 0 {
		realm := c.Realm
		if realm == "" {
			realm = defaultStatsRealm
		}
		sp.auth401 = buildResponse(nil, 401, "text/html", [][2]string{
			{"www-authenticate", "Basic realm=\"" + strings.ReplaceAll(realm, "\"", "'") + "\""},
			{"cache-control", "no-cache"},
		}, []byte(errorBodies[401]))
		sp.rules = append(sp.rules, rule{pos: c.Pos, run: sp.checkAuth})
	}
	for _, l := range c.Admin {
		cd, err := p.compileCond(l.Words, sample.InHTTPReq)
		if err != nil {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'stats admin' : error detected while parsing condition : %v", err)}
		}
		sp.admin = append(sp.admin, cd)
	}
	if len(c.Scopes) > 0 {
		sp.hasScope = true
		sp.scope = map[string]bool{}
		for _, s := range c.Scopes {
			if s == "." {
				s = p.name
			}
			sp.scope[s] = true
		}
	}
	g := &p.e.conf.Global
	if c.ShowNode != nil {
		sp.node = *c.ShowNode
		if sp.node == "" {
			sp.node = g.Node
		}
		if sp.node == "" {
			sp.node = p.e.hostname()
		}
	}
	if c.ShowDesc != nil {
		sp.desc = *c.ShowDesc
		if sp.desc == "" {
			sp.desc = g.Description
		}
	}
	p.stats = sp
	return nil
}

// statsRuleAction compiles a "stats http-request" action: allow, deny or
// auth, as HAProxy accepts there.
func (p *Proxy) statsRuleAction(w []string, pos config.Pos) (actionFunc, error) {
	switch w[0] {
	case "allow", "deny", "auth":
		return p.httpReqAction(w, pos)
	}
	return nil, fmt.Errorf("'%s' is not supported here: expects 'allow', 'deny' or 'auth'", w[0])
}

// checkAuth is the rule "stats auth" adds: 401 unless the request carries
// one of the configured user:password pairs.
func (sp *statsPage) checkAuth(t *Txn) verdict {
	if h, ok := t.req.Header("authorization"); ok {
		if user, pass, ok := basicAuth(h); ok {
			for _, a := range sp.conf.Auths {
				u := subtle.ConstantTimeCompare([]byte(user), []byte(a.User))
				pw := subtle.ConstantTimeCompare([]byte(pass), []byte(a.Password))
				if u&pw == 1 {
					return verdict{}
				}
			}
		}
	}
	return verdict{kind: verdictReturn, status: 401, raw: sp.auth401}
}

// match reports whether the request is for the stats page: its path (with
// the query) starts with the configured prefix.
func (sp *statsPage) match(t *Txn) bool {
	return bytes.HasPrefix(t.req.PathQ(), sp.uri)
}

// wantProxy applies "stats scope".
func (sp *statsPage) wantProxy(p *Proxy) bool { return !sp.hasScope || sp.scope[p.name] }

// isAdmin evaluates "stats admin" for the request.
func (sp *statsPage) isAdmin(t *Txn) bool {
	for _, c := range sp.admin {
		if c.Eval(t) {
			return true
		}
	}
	return false
}

// statsRequest holds the options read after the page's prefix.
type statsRequest struct {
	csv       bool
	up        bool
	norefresh bool
	status    string // ";st=" code
	filter    string // ";scope=" text
}

func parseStatsRequest(rest []byte) statsRequest {
	var r statsRequest
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, ';')
		if i < 0 {
			break
		}
		rest = rest[i+1:]
		tok := rest
		if j := bytes.IndexAny(tok, ";&?#"); j >= 0 {
			tok = tok[:j]
		}
		switch {
		case string(tok) == "csv":
			r.csv = true
		case string(tok) == "up":
			r.up = true
		case string(tok) == "norefresh":
			r.norefresh = true
		case bytes.HasPrefix(tok, []byte("st=")):
			r.status = string(tok[3:])
		case bytes.HasPrefix(tok, []byte("scope=")):
			// Proxy name characters only: the text goes back into
			// links and the redirect's Location.
			f := tok[6:]
			for i, c := range f {
				if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':') {
					f = f[:i]
					break
				}
			}
			r.filter = string(f[:min(len(f), 64)])
		}
	}
	return r
}

// flags renders the options that survive a redirect or a link.
func (r *statsRequest) flags() string {
	s := ""
	if r.up {
		s += ";up"
	}
	if r.norefresh {
		s += ";norefresh"
	}
	if r.filter != "" {
		s += ";scope=" + r.filter
	}
	return s
}

// filterProxy is the selection of proxies shown: "stats scope" and the
// ";scope=" text (case-insensitive substring).
func (sp *statsPage) filterProxy(r *statsRequest) func(p *Proxy) bool {
	if !sp.hasScope && r.filter == "" {
		return nil
	}
	low := strings.ToLower(r.filter)
	return func(p *Proxy) bool {
		return sp.wantProxy(p) && (low == "" || strings.Contains(strings.ToLower(p.name), low))
	}
}

// serveStats is the stats page service.
func serveStats(t *Txn) {
	p := t.fe
	if t.be != nil && t.be.stats != nil {
		p = t.be
	}
	sp := p.stats
	t.fe.Counters.Intercepted.Add(1)
	t.tQueued, t.tConnect, t.connected = 0, 0, true
	if v := sp.rules.eval(t); v.final() {
		if v.status == 401 && v.raw != nil {
			// Authentication required: not a denied request.
			t.setTerm('P', 'R')
			t.countStatus(401)
			t.closeCli = true
			t.writeLocal(v.raw)
			return
		}
		t.applyVerdict(v)
		return
	}
	var req statsRequest
	if pq := t.req.PathQ(); bytes.HasPrefix(pq, sp.uri) {
		req = parseStatsRequest(pq[len(sp.uri):])
	}
	a := t.HTTPApplet()
	switch {
	case equalFold(t.req.Method(), "POST"):
		sp.servePost(t, a, &req)
	case req.csv:
		sp.serveCSV(t, a, &req)
	default:
		sp.serveHTML(t, a, &req)
	}
	a.finish()
}

// serveCSV answers with the "show stat" CSV of the proxies in scope.
func (sp *statsPage) serveCSV(t *Txn, a *HTTPApplet, r *statsRequest) {
	f := AllStats()
	f.Up = r.up
	f.Proxy = sp.filterProxy(r)
	body := sp.px.e.AppendStatCSV(nil, &f, time.Now())
	a.SetStatus(200, "")
	a.AddHeader("content-type", "text/plain")
	a.AddHeader("cache-control", "no-cache")
	a.AddHeader("content-length", strconv.Itoa(len(body)))
	_ = a.Send(body)
}

// sendChunks sends b to the client in pieces once it grows past 32 kB,
// keeping the buffer small; it returns the emptied buffer.
func sendChunks(a *HTTPApplet, b []byte, final bool) ([]byte, error) {
	if len(b) == 0 || (!final && len(b) < 32<<10) {
		return b, nil
	}
	err := a.Send(b)
	return b[:0], err
}
