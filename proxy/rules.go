package proxy

import (
	"fmt"
	"strings"

	"moonbus/config"
	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// The rules engine: http-request/http-response/http-after-response and
// tcp-request/tcp-response rule sets, use_backend and use-server, compiled at
// load time against the instance's sample registry and evaluated at
// HAProxy's points (reference §2.8).

// verdictKind is the outcome of a rule set.
type verdictKind int

const (
	verdictContinue verdictKind = iota
	verdictAllow
	verdictDeny   // answer with an error status (or a custom deny response)
	verdictReturn // answer with a local response (return, redirect, auth)
	verdictReject // close without a response
	verdictTarpit
	verdictService
	verdictDone      // processing ended (a Lua action answered itself)
	verdictError     // the request failed (body wait expired, client gone); status 0: no response
	verdictNoBackend // no backend for the request: 503
)

// verdict is what a rule set decided.
type verdict struct {
	kind   verdictKind
	status int
	raw    []byte // full response for deny/return/redirect; nil = default error page
}

func (v verdict) final() bool { return v.kind != verdictContinue && v.kind != verdictAllow }

// blocks reports whether applying the verdict may wait (tarpit, a service).
func (v verdict) blocks() bool { return v.kind == verdictTarpit || v.kind == verdictService }

// actionFunc runs one action; it returns the verdict (continue for
// non-final actions).
type actionFunc func(t *Txn) verdict

// rule is one compiled rule line.
type rule struct {
	pos   config.Pos
	cond  *sample.Cond
	run   actionFunc
	block bool // the action may wait while it runs (see actionBlocks)
}

// ruleSet is an ordered list of rules.
type ruleSet []rule

// eval runs the rules until a final verdict (or allow, which stops the set).
func (rs ruleSet) eval(t *Txn) verdict {
	for i := range rs {
		r := &rs[i]
		if r.cond != nil && !r.cond.Eval(t) {
			continue
		}
		v := r.run(t)
		if v.kind != verdictContinue {
			return v
		}
	}
	return verdict{}
}

// useBackendRule is one use_backend line.
type useBackendRule struct {
	pos  config.Pos
	cond *sample.Cond
	be   *Proxy         // constant name
	name *sample.Format // "%[...]" name resolved per request
}

// useServerRule is one use-server line.
type useServerRule struct {
	cond *sample.Cond
	srv  *Server
}

// proxyRules are a proxy's compiled rules.
type proxyRules struct {
	acls        *sample.ACLSet
	tcpConn     ruleSet
	tcpSess     ruleSet
	tcpContent  ruleSet
	inspectDly  int64 // ms
	tcpResponse ruleSet
	httpReq     ruleSet
	httpRes     ruleSet
	httpAfter   ruleSet
	useBackend  []useBackendRule
	useServer   []useServerRule
	table       *stick.Table
	captures    []captureSlot // request captures (capture request header + http-request capture)
	resCaptures []captureSlot
	bufferReq   bool
	// mayBlock is set when evaluating the proxy's rules may wait (an action
	// that blocks, tcp-request content inspection): the fast path leaves
	// such transactions to a goroutine.
	mayBlock bool
}

// captureSlot is one declared capture.
type captureSlot struct {
	hdr string // "capture request header <name>"
	len int
}

// txnRules is the per-transaction state of the rules engine.
type txnRules struct {
	txnVars sample.VarStore
	reqVars sample.VarStore
	resVars sample.VarStore
	scratch []byte
	dir     sample.Direction
	sc      [3]stick.Ref
	force   *Server
	capReq  [][]byte
	capRes  [][]byte
	reply   []byte // buffer for responses built at run time
	body    []byte // buffered request body (option http-buffer-request)
	priv    any    // Lua txn:set_priv
	tmp     sample.Sample
	resLen  int // server data available to tcp-response rules
}

func (r *txnRules) reset() {
	r.txnVars.Reset()
	r.reqVars.Reset()
	r.resVars.Reset()
	r.scratch = r.scratch[:0]
	r.dir = sample.DirRequest
	for i := range r.sc {
		if r.sc[i].Valid() {
			r.sc[i].Count(stick.EvConnStop)
			r.sc[i].Release()
		}
	}
	r.force = nil
	for i := range r.capReq {
		r.capReq[i] = r.capReq[i][:0]
	}
	for i := range r.capRes {
		r.capRes[i] = r.capRes[i][:0]
	}
	r.reply = r.reply[:0]
	r.body = nil
	r.priv = nil
	r.resLen = 0
}

// sessionRules is the per-connection state of the rules engine.
type sessionRules struct {
	vars sample.VarStore
	sc   [3]stick.Ref
}

func (r *sessionRules) release() {
	for i := range r.sc {
		if r.sc[i].Valid() {
			r.sc[i].Count(stick.EvConnStop)
			r.sc[i].Release()
		}
	}
}

// engineRules is the per-engine state of the rules engine.
type engineRules struct {
	reg      *sample.Registry
	maps     *sample.Maps
	procVars *sample.VarStore
	tables   map[string]*stick.Table
	aliases  sample.AliasResolver
	ext      *Extensions
}

// Registry returns the instance's sample registry (Lua adds its fetches and
// converters to it before the rules are compiled).
func (e *Engine) Registry() *sample.Registry { return e.rules.reg }

// ProcVars returns the proc-scope variable store.
func (e *Engine) ProcVars() *sample.VarStore { return e.rules.procVars }

// Maps returns the instance's map and pattern files.
func (e *Engine) Maps() *sample.Maps { return e.rules.maps }

// Table returns the stick table declared in the named proxy, or nil.
func (e *Engine) Table(name string) *stick.Table { return e.rules.tables[name] }

// StickTable returns the proxy's stick table, or nil.
func (p *Proxy) StickTable() *stick.Table { return p.rules.table }

// buildRegistry prepares the sample registry, maps, proc variables and
// stick tables of the instance.
func (e *Engine) buildRegistry(ext *Extensions) error {
	e.rules.ext = ext
	e.rules.reg = sample.NewRegistry()
	e.rules.maps = sample.NewMaps()
	e.rules.procVars = sample.NewVarStore(true)
	e.rules.tables = map[string]*stick.Table{}
	registerStreamFetches(e.rules.reg)
	if err := sample.RegisterStickFetches(e.rules.reg, fetchSrc); err != nil {
		return err
	}
	e.rules.aliases = func(name string) (sample.AliasFunc, bool) {
		fn, ok := aliases[name]
		if !ok {
			return nil, false
		}
		return func(s sample.Stream, out *sample.Sample) bool {
			t, ok := s.(*Txn)
			if !ok {
				return false
			}
			sc := s.Scratch()
			start := len(*sc)
			*sc = fn(*sc, t)
			if len(*sc) == start {
				out.Reset() // nothing at all (e.g. %hr without captures), not "-"
				return true
			}
			out.SetStr((*sc)[start:])
			return true
		}, true
	}
	if ext != nil && ext.Samples != nil {
		if err := ext.Samples(e.rules.reg); err != nil {
			return err
		}
	}
	for _, pc := range e.conf.Proxies {
		if pc.StickTable == nil {
			continue
		}
		st := pc.StickTable
		t, err := stick.New(pc.Name, stick.Spec{Type: st.Type, Len: st.Len, Size: st.Size, Expire: st.Expire, NoPurge: st.NoPurge, Store: storeItems(st.Store)})
		if err != nil {
			return &config.Error{Pos: st.Pos, Msg: fmt.Sprintf("stick-table: %v", err)}
		}
		e.rules.tables[pc.Name] = t
	}
	return nil
}

func storeItems(l []config.StoreItem) []stick.StoreItem {
	out := make([]stick.StoreItem, 0, len(l))
	for _, s := range l {
		out = append(out, stick.StoreItem{Name: s.Name, Period: s.Period, Count: s.Count})
	}
	return out
}

// compileCtx returns the compile context of a proxy for a rule set.
func (p *Proxy) compileCtx(w sample.Where) sample.CompileCtx {
	e := p.e
	return sample.CompileCtx{
		Where:        w,
		Maps:         e.rules.maps,
		Tables:       func(name string) *stick.Table { return e.rules.tables[name] },
		DefaultTable: p.rules.table,
	}
}

// formatCtx returns the log-format compile context.
func (p *Proxy) formatCtx(w sample.Where, merge bool) sample.FormatCtx {
	return sample.FormatCtx{CompileCtx: p.compileCtx(w), Aliases: p.e.rules.aliases, MergeSpaces: merge}
}

// compileFormat compiles a log-format argument of a rule.
func (p *Proxy) compileFormat(s string, w sample.Where) (*sample.Format, error) {
	return sample.CompileFormat(s, p.e.rules.reg, p.formatCtx(w, false))
}

// compileCond compiles the "if|unless ..." tail of a rule (nil when absent).
func (p *Proxy) compileCond(words []string, w sample.Where) (*sample.Cond, error) {
	if len(words) == 0 {
		return nil, nil
	}
	return sample.CompileCond(words, p.rules.acls, p.e.rules.reg, p.compileCtx(w))
}

// compileRules compiles every rule line of a proxy.
func (p *Proxy) compileRules() error {
	c := p.conf
	p.rules.table = p.e.rules.tables[p.name]
	p.rules.bufferReq = c.HTTPBufferRequest
	p.rules.acls = sample.NewACLSet(p.e.rules.reg, p.compileCtx(0))
	for _, l := range c.ACLs {
		if err := p.rules.acls.Add(l.Words); err != nil {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("error detected while parsing ACL '%s' : %v", first(l.Words), err)}
		}
	}
	if err := p.compileCaptures(); err != nil {
		return err
	}
	if err := p.compileStats(); err != nil {
		return err
	}
	var err error
	comp := func(lines []config.Line, kw string, w sample.Where, build actionBuilder) ruleSet {
		if err != nil {
			return nil
		}
		var rs ruleSet
		for _, l := range lines {
			r, e := p.compileRule(l, kw, w, build)
			if e != nil {
				err = e
				return nil
			}
			rs = append(rs, r)
		}
		return rs
	}
	p.rules.tcpConn = comp(c.TCPRequestConnection, "tcp-request connection", sample.InConn, p.tcpAction(sample.InConn))
	p.rules.tcpSess = comp(c.TCPRequestSession, "tcp-request session", sample.InSess, p.tcpAction(sample.InSess))
	p.rules.tcpContent = comp(c.TCPRequestContent, "tcp-request content", sample.InReqContent, p.tcpAction(sample.InReqContent))
	p.rules.tcpResponse = comp(c.TCPResponseContent, "tcp-response content", sample.InResContent, p.tcpAction(sample.InResContent))
	p.rules.httpReq = comp(c.HTTPRequest, "http-request", sample.InHTTPReq, p.httpReqAction)
	if err == nil {
		// "redirect" lines run after the http-request rules.
		for _, l := range c.Redirects {
			r, e := p.compileRule(config.Line{Pos: l.Pos, Words: append([]string{"redirect"}, l.Words...)}, "redirect", sample.InHTTPReq, p.httpReqAction)
			if e != nil {
				err = e
				break
			}
			p.rules.httpReq = append(p.rules.httpReq, r)
		}
	}
	p.rules.httpRes = comp(c.HTTPResponse, "http-response", sample.InHTTPRes, p.httpResAction)
	p.rules.httpAfter = comp(c.HTTPAfterResponse, "http-after-response", sample.InAfterRes, p.httpAfterAction)
	if err != nil {
		return err
	}
	for _, l := range c.UseBackends {
		u, err := p.compileUseBackend(l)
		if err != nil {
			return err
		}
		p.rules.useBackend = append(p.rules.useBackend, u)
	}
	for _, l := range c.UseServers {
		head, cond := sample.SplitCond(l.Words)
		if len(head) != 1 || len(cond) == 0 {
			return &config.Error{Pos: l.Pos, Msg: "'use-server' expects a server name and a condition"}
		}
		s := p.Server(head[0])
		if s == nil {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("unable to find server '%s' referenced in a 'use-server' rule", head[0])}
		}
		cd, err := p.compileCond(cond, sample.InHTTPReq)
		if err != nil {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'use-server %s' : %v", head[0], err)}
		}
		p.rules.useServer = append(p.rules.useServer, useServerRule{cond: cd, srv: s})
		s.referenced = true
	}
	p.rules.mayBlock = p.rulesMayBlock()
	if c.LogFormat != "" && p.isFE {
		f, err := sample.CompileFormat(c.LogFormat, p.e.rules.reg, p.formatCtx(sample.InLog, true))
		if err != nil {
			pos := c.LogFormatPos
			if pos.Line == 0 {
				pos = c.Pos
			}
			return &config.Error{Pos: pos, Msg: fmt.Sprintf("failed to parse log-format : %v", err)}
		}
		p.logFormat = f
	}
	return nil
}

func first(w []string) string {
	if len(w) == 0 {
		return ""
	}
	return w[0]
}

// actionBuilder compiles the action part (words before if/unless) of a rule.
type actionBuilder func(words []string, pos config.Pos) (actionFunc, error)

func (p *Proxy) compileRule(l config.Line, kw string, w sample.Where, build actionBuilder) (rule, error) {
	head, cond := sample.SplitCond(l.Words)
	if len(head) == 0 {
		return rule{}, &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' expects an action", kw)}
	}
	act, err := build(head, l.Pos)
	if err != nil {
		return rule{}, &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s %s' : %v", kw, head[0], err)}
	}
	cd, err := p.compileCond(cond, w)
	if err != nil {
		return rule{}, &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s %s' : error detected while parsing condition : %v", kw, head[0], err)}
	}
	return rule{pos: l.Pos, cond: cd, run: act, block: actionBlocks(head[0])}, nil
}

func (p *Proxy) compileUseBackend(l config.Line) (useBackendRule, error) {
	head, cond := sample.SplitCond(l.Words)
	if len(head) != 1 {
		return useBackendRule{}, &config.Error{Pos: l.Pos, Msg: "'use_backend' expects a backend name and an optional condition"}
	}
	u := useBackendRule{pos: l.Pos}
	name := head[0]
	if strings.Contains(name, "%[") || strings.Contains(name, "%") && !strings.Contains(name, "%%") {
		f, err := p.compileFormat(name, sample.InHTTPReq)
		if err != nil {
			return u, &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'use_backend %s' : %v", name, err)}
		}
		u.name = f
	} else {
		be := p.e.byName[name]
		if be == nil || !be.isBE {
			return u, &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("unable to find required use_backend: '%s'.", name)}
		}
		u.be = be
	}
	cd, err := p.compileCond(cond, sample.InHTTPReq)
	if err != nil {
		return u, &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'use_backend %s' : %v", name, err)}
	}
	u.cond = cd
	return u, nil
}

// switchBackend evaluates use_backend rules: the first matching rule wins,
// even when its backend is down; a dynamic name that names no backend falls
// back to the default backend.
func (r *txnRules) switchBackend(t *Txn) *Proxy {
	for i := range t.fe.rules.useBackend {
		u := &t.fe.rules.useBackend[i]
		if u.cond != nil && !u.cond.Eval(t) {
			continue
		}
		if u.be != nil {
			if u.be.disabled.Load() {
				continue
			}
			return u.be
		}
		r.scratch = r.scratch[:0]
		buf := u.name.Append(r.reply[:0], t)
		r.reply = buf
		if be := t.s.e.byName[string(buf)]; be != nil && be.isBE && !be.disabled.Load() {
			return be
		}
		return nil
	}
	return nil
}

// forcedServer evaluates use-server rules of the backend.
func (r *txnRules) forcedServer(t *Txn) *Server {
	if r.force != nil {
		return r.force
	}
	if t.be == nil {
		return nil
	}
	for i := range t.be.rules.useServer {
		u := &t.be.rules.useServer[i]
		if u.cond.Eval(t) && !u.srv.Deleted() && u.srv.isUp() {
			return u.srv
		}
	}
	return nil
}
