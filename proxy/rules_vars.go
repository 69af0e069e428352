package proxy

import (
	"fmt"
	"strconv"
	"strings"

	"moonbus/config"
	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// Variables, captures, stick counters, map edits and TCP actions.

// innerArg returns what is between "kw(" and the final ")".
func innerArg(word, kw string) (string, bool) {
	if !strings.HasPrefix(word, kw+"(") || !strings.HasSuffix(word, ")") {
		return "", false
	}
	return word[len(kw)+1 : len(word)-1], true
}

// parseSetVar compiles set-var(<var>[,cond...]) <expr>, set-var-fmt(...) <fmt>
// and unset-var(<var>).
func (p *Proxy) parseSetVar(w []string, where sample.Where) (actionFunc, error) {
	names := p.e.rules.reg.Vars()
	kw := w[0]
	if arg, ok := innerArg(kw, "unset-var"); ok {
		if len(w) != 1 {
			return nil, fmt.Errorf("unexpected argument '%s'", w[1])
		}
		ref, err := names.Resolve(arg)
		if err != nil {
			return nil, err
		}
		if err := checkVarScope(ref, where); err != nil {
			return nil, err
		}
		return func(t *Txn) verdict { sample.UnsetVar(t, ref); return verdict{} }, nil
	}
	isFmt := strings.HasPrefix(kw, "set-var-fmt(")
	base := "set-var"
	if isFmt {
		base = "set-var-fmt"
	}
	arg, ok := innerArg(kw, base)
	if !ok {
		return nil, fmt.Errorf("invalid variable syntax in '%s'", kw)
	}
	ref, conds, err := sample.ParseSetVar(arg, names)
	if err != nil {
		return nil, err
	}
	if err := checkVarScope(ref, where); err != nil {
		return nil, err
	}
	if len(w) != 2 {
		return nil, fmt.Errorf("expects exactly one %s", map[bool]string{true: "log-format string", false: "sample expression"}[isFmt])
	}
	if isFmt {
		f, err := p.compileFormat(w[1], where)
		if err != nil {
			return nil, err
		}
		return func(t *Txn) verdict {
			b := f.Append(t.rules.reply[:0], t)
			t.rules.reply = b
			smp := &t.rules.tmp
			smp.Reset()
			smp.SetStr(b)
			sample.SetVarIf(t, ref, conds, smp)
			return verdict{}
		}, nil
	}
	ex, err := sample.Compile(w[1], p.e.rules.reg, p.compileCtx(where))
	if err != nil {
		return nil, err
	}
	return func(t *Txn) verdict {
		smp := &t.rules.tmp
		smp.Reset()
		if ex.Eval(t, smp) {
			sample.SetVarIf(t, ref, conds, smp)
		}
		return verdict{}
	}, nil
}

// checkVarScope refuses scopes a rule set cannot have.
func checkVarScope(ref sample.VarRef, where sample.Where) error {
	if where == sample.InConn || where == sample.InSess {
		if ref.Scope != sample.ScopeProc && ref.Scope != sample.ScopeSess {
			return fmt.Errorf("only the 'proc' and 'sess' scopes are available here, not '%s'", ref.Scope)
		}
	}
	if ref.Scope.ReadOnly() {
		return fmt.Errorf("scope '%s' is read-only", ref.Scope)
	}
	return nil
}

// compileCaptures declares the "capture request/response header" slots.
func (p *Proxy) compileCaptures() error {
	for _, l := range p.conf.Captures {
		w := l.Words
		if len(w) != 5 || w[1] != "header" || w[3] != "len" {
			if len(w) >= 2 && w[0] == "cookie" {
				continue // cookie captures: %CC/%CS stay "-"
			}
			return &config.Error{Pos: l.Pos, Msg: "'capture' expects 'request|response header <name> len <n>'"}
		}
		n, err := strconv.Atoi(w[4])
		if err != nil || n <= 0 {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'capture' : invalid length '%s'", w[4])}
		}
		slot := captureSlot{hdr: w[2], len: n}
		switch w[0] {
		case "request":
			p.rules.captures = append(p.rules.captures, slot)
		case "response":
			p.rules.resCaptures = append(p.rules.resCaptures, slot)
		default:
			return &config.Error{Pos: l.Pos, Msg: "'capture' expects 'request' or 'response'"}
		}
	}
	return nil
}

// parseCaptureAction compiles "capture <expr> len <n>" / "capture <expr> id <n>".
func (p *Proxy) parseCaptureAction(w []string, where sample.Where) (actionFunc, error) {
	if len(w) != 3 || (w[1] != "len" && w[1] != "id") {
		return nil, fmt.Errorf("expects '<expr> len <n>' or '<expr> id <n>'")
	}
	ex, err := sample.Compile(w[0], p.e.rules.reg, p.compileCtx(where))
	if err != nil {
		return nil, err
	}
	n, err := strconv.Atoi(w[2])
	if err != nil || n < 0 {
		return nil, fmt.Errorf("invalid number '%s'", w[2])
	}
	resp := where != sample.InHTTPReq && where != sample.InReqContent
	slot := n
	maxLen := 0
	if w[1] == "len" {
		list := &p.rules.captures
		if resp {
			list = &p.rules.resCaptures
		}
		slot = len(*list)
		*list = append(*list, captureSlot{len: n})
		maxLen = n
	}
	return func(t *Txn) verdict {
		smp := &t.rules.tmp
		smp.Reset()
		if !ex.Eval(t, smp) || !smp.Cast(sample.Str, t.Scratch()) {
			return verdict{}
		}
		caps := t.captures(resp)
		if slot >= len(*caps) {
			return verdict{}
		}
		v := smp.Str
		limit := maxLen
		if limit == 0 {
			limit = t.captureLen(resp, slot)
		}
		if limit > 0 && len(v) > limit {
			v = v[:limit]
		}
		(*caps)[slot] = append((*caps)[slot][:0], v...)
		return verdict{}
	}, nil
}

// captures returns the capture buffers of the transaction, sized to the
// frontend's declarations.
func (t *Txn) captures(resp bool) *[][]byte {
	decl, dst := t.fe.rules.captures, &t.rules.capReq
	if resp {
		decl, dst = t.fe.rules.resCaptures, &t.rules.capRes
	}
	for len(*dst) < len(decl) {
		*dst = append(*dst, nil)
	}
	return dst
}

func (t *Txn) captureLen(resp bool, slot int) int {
	decl := t.fe.rules.captures
	if resp {
		decl = t.fe.rules.resCaptures
	}
	if slot < len(decl) {
		return decl[slot].len
	}
	return 0
}

// captureHeaders fills the "capture request/response header" slots.
func (t *Txn) captureHeaders(resp bool) {
	decl := t.fe.rules.captures
	m := &t.req
	if resp {
		decl, m = t.fe.rules.resCaptures, &t.rsp
	}
	if len(decl) == 0 {
		return
	}
	caps := t.captures(resp)
	for i, d := range decl {
		if d.hdr == "" {
			continue
		}
		if v, ok := m.Header(d.hdr); ok {
			if len(v) > d.len {
				v = v[:d.len]
			}
			(*caps)[i] = append((*caps)[i][:0], v...)
		}
	}
}

// appendCaptures appends the captured request or response headers (%hr,
// %hs): "{a|b}" with braces, "a b" for the %hrl/%hsl forms. Nothing is
// appended without capture declarations.
func (r *txnRules) appendCaptures(b []byte, t *Txn, resp, brace bool) []byte {
	decl := t.fe.rules.captures
	caps := r.capReq
	if resp {
		decl, caps = t.fe.rules.resCaptures, r.capRes
	}
	if len(decl) == 0 {
		return b
	}
	if brace {
		b = append(b, '{')
	}
	for i := range decl {
		if i > 0 {
			if brace {
				b = append(b, '|')
			} else {
				b = append(b, ' ')
			}
		}
		if i < len(caps) {
			b = append(b, caps[i]...)
		}
	}
	if brace {
		b = append(b, '}')
	}
	return b
}

// parseTrackSC compiles "track-sc<n> <key> [table <t>]".
func (p *Proxy) parseTrackSC(w []string, where sample.Where) (actionFunc, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(w[0], "track-sc"))
	if err != nil || n < 0 || n > 2 {
		return nil, fmt.Errorf("unknown action '%s' (stick counters are 0, 1 and 2)", w[0])
	}
	if len(w) != 2 && !(len(w) == 4 && w[2] == "table") {
		return nil, fmt.Errorf("expects a key expression and an optional 'table <name>'")
	}
	tbl := p.rules.table
	if len(w) == 4 {
		tbl = p.e.rules.tables[w[3]]
		if tbl == nil {
			return nil, fmt.Errorf("unable to find stick-table '%s'", w[3])
		}
	}
	if tbl == nil {
		return nil, fmt.Errorf("no table to track in proxy '%s' (declare a stick-table or use 'table <name>')", p.name)
	}
	ex, err := sample.Compile(w[1], p.e.rules.reg, p.compileCtx(where))
	if err != nil {
		return nil, err
	}
	session := where == sample.InConn || where == sample.InSess
	httpReq := where == sample.InHTTPReq
	return func(t *Txn) verdict {
		slots := &t.rules.sc
		if session {
			slots = &t.s.rules.sc
		}
		if slots[n].Valid() || (!session && t.s.rules.sc[n].Valid()) {
			return verdict{} // only the first track-scN takes effect
		}
		smp := &t.rules.tmp
		smp.Reset()
		if !ex.Eval(t, smp) {
			return verdict{}
		}
		key, ok := sample.TableKey(t, tbl, smp)
		if !ok {
			return verdict{}
		}
		ref, err := tbl.Track(key)
		if err != nil {
			return verdict{}
		}
		ev := stick.EvConnStart
		if session {
			ev |= stick.EvSess
		}
		if httpReq {
			ev |= stick.EvHTTPReq
		}
		ref.Count(ev)
		slots[n] = ref
		return verdict{}
	}, nil
}

// parseSCAction compiles sc-inc-gpc0(<sc>), sc-inc-gpc1(<sc>),
// sc-inc-gpc(<idx>,<sc>), sc-set-gpt0(<sc>) <value>, sc-set-gpt(<idx>,<sc>) <value>.
func (p *Proxy) parseSCAction(w []string, where sample.Where) (actionFunc, error) {
	kw := w[0]
	open := strings.IndexByte(kw, '(')
	if open < 0 || !strings.HasSuffix(kw, ")") {
		return nil, fmt.Errorf("unknown action '%s'", kw)
	}
	name, args := kw[:open], strings.Split(kw[open+1:len(kw)-1], ",")
	atoi := func(s string) (int, error) { return strconv.Atoi(strings.TrimSpace(s)) }
	var idx, sc int
	var err error
	switch name {
	case "sc-inc-gpc0", "sc-inc-gpc1", "sc-clr-gpc0", "sc-clr-gpc1", "sc-set-gpt0":
		if len(args) != 1 {
			return nil, fmt.Errorf("expects a stick counter number")
		}
		sc, err = atoi(args[0])
	case "sc-inc-gpc", "sc-clr-gpc", "sc-set-gpt":
		if len(args) != 2 {
			return nil, fmt.Errorf("expects an index and a stick counter number")
		}
		if idx, err = atoi(args[0]); err == nil {
			sc, err = atoi(args[1])
		}
	default:
		return nil, fmt.Errorf("unknown action '%s'", kw)
	}
	if err != nil || sc < 0 || sc > 2 {
		return nil, fmt.Errorf("invalid stick counter in '%s'", kw)
	}
	var val *sample.Expr
	if strings.HasPrefix(name, "sc-set-") {
		if len(w) != 2 {
			return nil, fmt.Errorf("expects a value")
		}
		expr := w[1]
		if _, e := strconv.ParseInt(expr, 10, 64); e == nil {
			expr = "int(" + expr + ")"
		}
		val, err = sample.Compile(expr, p.e.rules.reg, p.compileCtx(where))
		if err != nil {
			return nil, err
		}
	} else if len(w) != 1 {
		return nil, fmt.Errorf("unexpected argument '%s'", w[1])
	}
	return func(t *Txn) verdict {
		ref := t.StickCounter(sc)
		if ref == nil {
			return verdict{}
		}
		switch name {
		case "sc-inc-gpc0":
			ref.T.IncGPC(ref.E, stick.GPC0, stick.GPC0Rate, 0)
		case "sc-inc-gpc1":
			ref.T.IncGPC(ref.E, stick.GPC1, stick.GPC1Rate, 0)
		case "sc-inc-gpc":
			ref.T.IncGPC(ref.E, stick.GPC, stick.GPCRate, idx)
		case "sc-clr-gpc0":
			ref.T.ClearGPC(ref.E, stick.GPC0, 0)
		case "sc-clr-gpc1":
			ref.T.ClearGPC(ref.E, stick.GPC1, 0)
		case "sc-clr-gpc":
			ref.T.ClearGPC(ref.E, stick.GPC, idx)
		case "sc-set-gpt0", "sc-set-gpt":
			smp := &t.rules.tmp
			smp.Reset()
			if val.Eval(t, smp) && smp.Cast(sample.SInt, t.Scratch()) {
				dt := stick.GPT0
				if name == "sc-set-gpt" {
					dt = stick.GPT
				}
				ref.T.Set(ref.E, dt, idx, smp.Int)
			}
		}
		return verdict{}
	}, nil
}

// parseMapAction compiles set-map(<file>) <key> <value>, del-map(<file>) <key>,
// add-acl(<file>) <key>, del-acl(<file>) <key> (keys and values are log-format).
func (p *Proxy) parseMapAction(w []string, where sample.Where) (actionFunc, error) {
	kw := w[0]
	open := strings.IndexByte(kw, '(')
	if open < 0 || !strings.HasSuffix(kw, ")") {
		return nil, fmt.Errorf("expects '%s(<file>)'", kw)
	}
	op, file := kw[:open], kw[open+1:len(kw)-1]
	want := 2
	if op == "set-map" {
		want = 3
	}
	if len(w) != want {
		return nil, fmt.Errorf("expects %d arguments", want-1)
	}
	ref, err := p.e.rules.maps.Ref(file, op == "set-map" || op == "del-map")
	if err != nil {
		return nil, err
	}
	kf, err := p.compileFormat(w[1], where)
	if err != nil {
		return nil, err
	}
	var vf *sample.Format
	if want == 3 {
		if vf, err = p.compileFormat(w[2], where); err != nil {
			return nil, err
		}
	}
	return func(t *Txn) verdict {
		k := string(kf.Append(nil, t))
		switch op {
		case "set-map":
			v := string(vf.Append(nil, t))
			if ok, _ := ref.Set(k, v); !ok {
				_ = ref.Add(k, v)
			}
		case "add-acl":
			_ = ref.Add(k, "")
		default:
			ref.Del(k)
		}
		return verdict{}
	}, nil
}

// tcpAction returns the action compiler of a tcp-request/tcp-response rule set.
func (p *Proxy) tcpAction(where sample.Where) actionBuilder {
	return func(w []string, pos config.Pos) (actionFunc, error) {
		switch kw := w[0]; {
		case kw == "accept":
			return noArgs(w, func(*Txn) verdict { return verdict{kind: verdictAllow} })
		case kw == "reject", kw == "silent-drop", kw == "close":
			return noArgs(w, func(*Txn) verdict { return verdict{kind: verdictReject} })
		case kw == "expect-proxy", kw == "expect-netscaler-cip":
			return nil, fmt.Errorf("'%s' is an HAProxy action that Moonbus does not implement (use 'accept-proxy' on the bind line)", kw)
		case kw == "use-service" && where == sample.InReqContent:
			return p.parseUseService(w[1:], "tcp")
		case strings.HasPrefix(kw, "set-var(") || strings.HasPrefix(kw, "set-var-fmt(") || strings.HasPrefix(kw, "unset-var("):
			return p.parseSetVar(w, where)
		case strings.HasPrefix(kw, "track-sc"):
			if where == sample.InResContent {
				return nil, fmt.Errorf("'%s' is not allowed in tcp-response rules", kw)
			}
			return p.parseTrackSC(w, where)
		case strings.HasPrefix(kw, "sc-"):
			return p.parseSCAction(w, where)
		case kw == "capture" && where == sample.InReqContent:
			return p.parseCaptureAction(w[1:], where)
		case kw == "set-log-level" && (where == sample.InReqContent || where == sample.InResContent):
			return p.commonAction(w, pos, where, reqMsg)
		case strings.HasPrefix(kw, "lua.") && (where == sample.InReqContent || where == sample.InResContent):
			return p.parseExtAction(w, facility(where))
		}
		return nil, fmt.Errorf("unknown or unsupported action '%s'", w[0])
	}
}
