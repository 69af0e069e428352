package proxy

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"moonbus/config"
	"moonbus/proxy/sample"
)

// HTTP actions (reference §2.8): compile functions for http-request,
// http-response and http-after-response.

func (p *Proxy) httpReqAction(w []string, pos config.Pos) (actionFunc, error) {
	const where = sample.InHTTPReq
	switch kw := w[0]; {
	case kw == "allow":
		return noArgs(w, func(*Txn) verdict { return verdict{kind: verdictAllow} })
	case kw == "deny", kw == "tarpit":
		def := 403
		kind := verdictDeny
		if kw == "tarpit" {
			def, kind = 500, verdictTarpit
		}
		rs, err := p.parseReply(w[1:], def, where, true)
		if err != nil {
			return nil, err
		}
		return func(t *Txn) verdict { return verdict{kind: kind, status: rs.status, raw: rs.build(t)} }, nil
	case kw == "reject", kw == "silent-drop":
		return noArgs(w, func(*Txn) verdict { return verdict{kind: verdictReject} })
	case kw == "return":
		rs, err := p.parseReply(w[1:], 200, where, false)
		if err != nil {
			return nil, err
		}
		return func(t *Txn) verdict { return verdict{kind: verdictReturn, status: rs.status, raw: rs.build(t)} }, nil
	case kw == "redirect":
		return p.parseRedirect(w[1:], where, false)
	case kw == "auth":
		return p.parseAuth(w[1:])
	case kw == "use-service":
		return p.parseUseService(w[1:], "http")
	case kw == "set-method", kw == "set-path", kw == "set-pathq", kw == "set-query", kw == "set-uri":
		return p.parseSetStartLine(w, where)
	case kw == "replace-path", kw == "replace-pathq", kw == "replace-uri":
		return p.parseReplaceStartLine(w, where)
	case kw == "set-timeout":
		return p.parseSetTimeout(w[1:])
	case kw == "wait-for-body":
		return p.parseWaitForBody(w[1:])
	}
	return p.commonAction(w, pos, where, reqMsg)
}

func (p *Proxy) httpResAction(w []string, pos config.Pos) (actionFunc, error) {
	const where = sample.InHTTPRes
	switch kw := w[0]; kw {
	case "allow":
		return noArgs(w, func(*Txn) verdict { return verdict{kind: verdictAllow} })
	case "deny":
		rs, err := p.parseReply(w[1:], 502, where, true)
		if err != nil {
			return nil, err
		}
		return func(t *Txn) verdict { return verdict{kind: verdictDeny, status: rs.status, raw: rs.build(t)} }, nil
	case "reject", "silent-drop":
		return noArgs(w, func(*Txn) verdict { return verdict{kind: verdictReject} })
	case "return":
		rs, err := p.parseReply(w[1:], 200, where, false)
		if err != nil {
			return nil, err
		}
		return func(t *Txn) verdict { return verdict{kind: verdictReturn, status: rs.status, raw: rs.build(t)} }, nil
	case "redirect":
		return p.parseRedirect(w[1:], where, true)
	case "set-status":
		return p.parseSetStatus(w[1:])
	}
	return p.commonAction(w, pos, where, resMsg)
}

func (p *Proxy) httpAfterAction(w []string, pos config.Pos) (actionFunc, error) {
	const where = sample.InAfterRes
	switch w[0] {
	case "allow":
		return noArgs(w, func(*Txn) verdict { return verdict{kind: verdictAllow} })
	case "set-status":
		return p.parseSetStatus(w[1:])
	}
	return p.commonAction(w, pos, where, resMsg)
}

// msgSel selects the message an action edits.
type msgSel func(t *Txn) *Msg

func reqMsg(t *Txn) *Msg { return &t.req }
func resMsg(t *Txn) *Msg { return &t.rsp }

func noArgs(w []string, f actionFunc) (actionFunc, error) {
	if len(w) > 1 {
		return nil, fmt.Errorf("unexpected argument '%s'", w[1])
	}
	return f, nil
}

// commonAction handles the actions shared by every HTTP rule set.
func (p *Proxy) commonAction(w []string, pos config.Pos, where sample.Where, msg msgSel) (actionFunc, error) {
	kw := w[0]
	switch {
	case kw == "set-header", kw == "add-header":
		if len(w) != 3 {
			return nil, fmt.Errorf("expects exactly 2 arguments")
		}
		name := w[1]
		f, err := p.compileFormat(w[2], where)
		if err != nil {
			return nil, err
		}
		set := kw == "set-header"
		return func(t *Txn) verdict {
			// The value is computed first, then the old header removed.
			v := f.Append(t.rules.reply[:0], t)
			t.rules.reply = v
			m := msg(t)
			if set {
				m.DelHeader(name)
			}
			m.AddHeaderBytes(name, v)
			return verdict{}
		}, nil
	case kw == "del-header":
		return p.parseDelHeader(w[1:], msg)
	case kw == "replace-header", kw == "replace-value":
		return p.parseReplaceHeader(w, where, msg)
	case strings.HasPrefix(kw, "set-var(") || strings.HasPrefix(kw, "set-var-fmt(") || strings.HasPrefix(kw, "unset-var("):
		return p.parseSetVar(w, where)
	case kw == "set-log-level":
		if len(w) != 2 {
			return nil, fmt.Errorf("expects a log level")
		}
		lvl := ParseLevel(w[1])
		if lvl < -1 {
			return nil, fmt.Errorf("unknown log level '%s'", w[1])
		}
		return func(t *Txn) verdict { t.logLevel = lvl; return verdict{} }, nil
	case kw == "capture":
		return p.parseCaptureAction(w[1:], where)
	case strings.HasPrefix(kw, "track-sc"):
		return p.parseTrackSC(w, where)
	case strings.HasPrefix(kw, "sc-"):
		return p.parseSCAction(w, where)
	case kw == "set-map" || strings.HasPrefix(kw, "set-map(") || strings.HasPrefix(kw, "del-map(") ||
		strings.HasPrefix(kw, "add-acl(") || strings.HasPrefix(kw, "del-acl("):
		return p.parseMapAction(w, where)
	case strings.HasPrefix(kw, "lua."):
		return p.parseExtAction(w, facility(where))
	}
	return nil, fmt.Errorf("unknown or unsupported action '%s'", kw)
}

// facility maps a rule set to the Lua facility name.
func facility(w sample.Where) string {
	switch w {
	case sample.InHTTPReq:
		return "http-req"
	case sample.InHTTPRes:
		return "http-res"
	case sample.InAfterRes:
		return "http-after-res"
	case sample.InReqContent:
		return "tcp-req"
	case sample.InResContent:
		return "tcp-res"
	}
	return ""
}

// parseExtAction compiles an extension action (lua.<name> args...).
func (p *Proxy) parseExtAction(w []string, fac string) (actionFunc, error) {
	var def ActionDef
	ok := false
	if ext := p.e.rules.ext; ext != nil {
		def, ok = ext.Actions[w[0]]
	}
	if !ok {
		return nil, fmt.Errorf("unknown action '%s'", w[0])
	}
	allowed := false
	for _, f := range def.Facilities {
		if f == fac {
			allowed = true
		}
	}
	if !allowed {
		return nil, fmt.Errorf("action '%s' is not allowed in this rule set (registered for %s)", w[0], strings.Join(def.Facilities, ", "))
	}
	args := append([]string(nil), w[1:]...)
	if len(args) < def.NbArgs {
		return nil, fmt.Errorf("expect %d arguments", def.NbArgs)
	}
	args = args[:def.NbArgs]
	return func(t *Txn) verdict {
		switch def.Run(t, args) {
		case ActDeny:
			if fac == "http-res" || fac == "tcp-res" {
				return verdict{kind: verdictDeny, status: 502}
			}
			return verdict{kind: verdictDeny, status: 403}
		case ActInvalid:
			if fac == "http-req" {
				return verdict{kind: verdictDeny, status: 400}
			}
			return verdict{kind: verdictDeny, status: 502}
		case ActError:
			return verdict{kind: verdictDeny, status: 500}
		case ActAbort:
			return verdict{kind: verdictReject}
		case ActDone:
			return verdict{kind: verdictDone}
		case ActStop:
			return verdict{kind: verdictAllow}
		}
		if t.service != "" {
			return verdict{kind: verdictService}
		}
		return verdict{}
	}, nil
}

func (p *Proxy) parseDelHeader(w []string, msg msgSel) (actionFunc, error) {
	if len(w) != 1 && len(w) != 3 {
		return nil, fmt.Errorf("expects a header name and an optional '-m <method>'")
	}
	name := w[0]
	method := "str"
	if len(w) == 3 {
		if w[1] != "-m" {
			return nil, fmt.Errorf("unexpected argument '%s'", w[1])
		}
		method = w[2]
	}
	var match func(n []byte) bool
	switch method {
	case "str":
		return func(t *Txn) verdict { msg(t).DelHeader(name); return verdict{} }, nil
	case "beg":
		match = func(n []byte) bool { return len(n) >= len(name) && equalFold(n[:len(name)], name) }
	case "end":
		match = func(n []byte) bool { return len(n) >= len(name) && equalFold(n[len(n)-len(name):], name) }
	case "sub":
		ln := strings.ToLower(name)
		match = func(n []byte) bool { return strings.Contains(strings.ToLower(string(n)), ln) }
	case "reg":
		re, err := regexp.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("invalid regex '%s': %w", name, err)
		}
		match = func(n []byte) bool { return re.Match(n) }
	default:
		return nil, fmt.Errorf("unsupported match method '%s' (expects str, beg, end, sub or reg)", method)
	}
	return func(t *Txn) verdict { msg(t).delHeaderFunc(match); return verdict{} }, nil
}

// delHeaderFunc removes the fields whose name matches.
func (m *Msg) delHeaderFunc(match func(name []byte) bool) {
	out := m.headers[:0]
	for _, h := range m.headers {
		if match(m.get(h.name)) {
			continue
		}
		out = append(out, h)
	}
	m.headers = out
}

// parseReplaceHeader compiles replace-header / replace-value <name> <regex> <fmt>.
func (p *Proxy) parseReplaceHeader(w []string, where sample.Where, msg msgSel) (actionFunc, error) {
	if len(w) != 4 {
		return nil, fmt.Errorf("expects exactly 3 arguments")
	}
	name := w[1]
	re, err := regexp.Compile(w[2])
	if err != nil {
		return nil, fmt.Errorf("invalid regex '%s': %w", w[2], err)
	}
	f, err := p.compileFormat(w[3], where)
	if err != nil {
		return nil, err
	}
	perValue := w[0] == "replace-value"
	return func(t *Txn) verdict {
		m := msg(t)
		repl := f.Append(t.rules.reply[:0], t)
		t.rules.reply = repl
		for i := range m.headers {
			h := &m.headers[i]
			if !equalFold(m.get(h.name), name) {
				continue
			}
			v := m.get(h.value)
			var out []byte
			changed := false
			if perValue {
				parts := bytes.Split(v, []byte(","))
				for j, part := range parts {
					pt := bytes.TrimSpace(part)
					if j > 0 {
						out = append(out, ", "...)
					}
					if sm := re.FindSubmatchIndex(pt); sm != nil {
						out = expandBackrefs(out, repl, pt, sm)
						changed = true
					} else {
						out = append(out, pt...)
					}
				}
			} else if sm := re.FindSubmatchIndex(v); sm != nil {
				out = expandBackrefs(nil, repl, v, sm)
				changed = true
			}
			if changed {
				h.value = m.appendBytes(out)
			}
		}
		return verdict{}
	}, nil
}

// expandBackrefs appends repl with \0..\9 replaced by the submatches of src.
func expandBackrefs(dst, repl, src []byte, sm []int) []byte {
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c == '\\' && i+1 < len(repl) && repl[i+1] >= '0' && repl[i+1] <= '9' {
			n := int(repl[i+1] - '0')
			if 2*n+1 < len(sm) && sm[2*n] >= 0 {
				dst = append(dst, src[sm[2*n]:sm[2*n+1]]...)
			}
			i++
			continue
		}
		dst = append(dst, c)
	}
	return dst
}

// parseSetStartLine compiles set-method/set-path/set-pathq/set-query/set-uri.
func (p *Proxy) parseSetStartLine(w []string, where sample.Where) (actionFunc, error) {
	if len(w) != 2 {
		return nil, fmt.Errorf("expects exactly 1 argument")
	}
	f, err := p.compileFormat(w[1], where)
	if err != nil {
		return nil, err
	}
	kw := w[0]
	return func(t *Txn) verdict {
		v := f.Append(t.rules.reply[:0], t)
		t.rules.reply = v
		switch kw {
		case "set-method":
			t.req.SetMethod(v)
		case "set-uri":
			t.req.SetURI(v)
		case "set-path":
			t.req.SetPath(v)
		case "set-pathq":
			t.req.SetPathQ(v)
		case "set-query":
			t.req.SetQuery(v)
		}
		return verdict{}
	}, nil
}

// parseReplaceStartLine compiles replace-path/replace-pathq/replace-uri <regex> <fmt>.
func (p *Proxy) parseReplaceStartLine(w []string, where sample.Where) (actionFunc, error) {
	if len(w) != 3 {
		return nil, fmt.Errorf("expects exactly 2 arguments")
	}
	re, err := regexp.Compile(w[1])
	if err != nil {
		return nil, fmt.Errorf("invalid regex '%s': %w", w[1], err)
	}
	f, err := p.compileFormat(w[2], where)
	if err != nil {
		return nil, err
	}
	kw := w[0]
	return func(t *Txn) verdict {
		var cur []byte
		switch kw {
		case "replace-path":
			cur = t.req.Path()
		case "replace-pathq":
			cur = t.req.PathQ()
		default:
			cur = t.req.URI()
		}
		sm := re.FindSubmatchIndex(cur)
		if sm == nil {
			return verdict{}
		}
		repl := f.Append(t.rules.reply[:0], t)
		t.rules.reply = repl
		out := expandBackrefs(nil, repl, cur, sm)
		switch kw {
		case "replace-path":
			t.req.SetPath(out)
		case "replace-pathq":
			t.req.SetPathQ(out)
		default:
			t.req.SetURI(out)
		}
		return verdict{}
	}, nil
}

func (p *Proxy) parseSetStatus(w []string) (actionFunc, error) {
	if len(w) != 1 && len(w) != 3 {
		return nil, fmt.Errorf("expects a status code and an optional 'reason <str>'")
	}
	code, err := strconv.Atoi(w[0])
	if err != nil || code < 100 || code > 999 {
		return nil, fmt.Errorf("expects an HTTP status code between 100 and 999")
	}
	reason := ""
	if len(w) == 3 {
		if w[1] != "reason" {
			return nil, fmt.Errorf("unexpected argument '%s'", w[1])
		}
		reason = w[2]
	}
	return func(t *Txn) verdict {
		t.rsp.SetStatus(code, reason)
		t.status = code
		return verdict{}
	}, nil
}

func (p *Proxy) parseUseService(w []string, mode string) (actionFunc, error) {
	if len(w) != 1 {
		return nil, fmt.Errorf("expects a service name")
	}
	name := w[0]
	if ext := p.e.rules.ext; ext != nil {
		if sd, ok := ext.Services[name]; ok {
			if sd.Mode == "tcp" && p.mode == ModeHTTP {
				return nil, errors.New("Lua TCP services cannot be used on HTTP proxies")
			}
			if sd.Mode == "http" && mode == "tcp" && p.mode != ModeHTTP {
				return nil, fmt.Errorf("HTTP service '%s' cannot be used on a TCP proxy", name)
			}
			return func(t *Txn) verdict { t.service = name; return verdict{kind: verdictService} }, nil
		}
	}
	if svc, ok := builtinServices[name]; ok && !svc.internal {
		if p.mode != ModeHTTP {
			return nil, fmt.Errorf("HTTP service '%s' cannot be used on a TCP proxy", name)
		}
		return func(t *Txn) verdict { t.service = name; return verdict{kind: verdictService} }, nil
	}
	return nil, fmt.Errorf("unknown service '%s'", name)
}

func (p *Proxy) parseSetTimeout(w []string) (actionFunc, error) {
	if len(w) != 2 {
		return nil, fmt.Errorf("expects 'server|tunnel|client <time>'")
	}
	d, err := config.ParseTime(w[1])
	if err != nil {
		return nil, err
	}
	which := w[0]
	if which != "server" && which != "tunnel" && which != "client" {
		return nil, fmt.Errorf("unsupported timeout '%s' (expects server, tunnel or client)", which)
	}
	return func(t *Txn) verdict {
		switch which {
		case "client":
			t.s.setClientTimeout(d)
		}
		return verdict{}
	}, nil
}

func (p *Proxy) parseWaitForBody(w []string) (actionFunc, error) {
	if len(w) < 2 || w[0] != "time" {
		return nil, fmt.Errorf("expects 'time <time> [at-least <bytes>]'")
	}
	limit, err := config.ParseTime(w[1])
	if err != nil {
		return nil, err
	}
	var atLeast int64
	switch {
	case len(w) == 4 && w[2] == "at-least":
		n, err := config.ParseSize(w[3])
		if err != nil {
			return nil, fmt.Errorf("at-least: %w", err)
		}
		atLeast = n
	case len(w) != 2:
		return nil, fmt.Errorf("expects 'time <time> [at-least <bytes>]'")
	}
	return func(t *Txn) verdict {
		if t.rules.body != nil {
			return verdict{}
		}
		return t.bufferBody(time.Now().Add(limit), atLeast)
	}, nil
}
