package healthcheck

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
)

// httpRequest is one "http-check send" (merged with "option httpchk").
type httpRequest struct {
	meth, uri, ver string
	hdrs           [][2]string
	body           string
}

// ParseHTTPCheck compiles "option httpchk [<method>] [<uri>] [<version>]
// [<host>]" (optionArgs: the words after "option httpchk") with the backend's
// "http-check" lines (the words after "http-check"). Supported directives:
// connect (as for tcp-check), send [meth M] [uri U] [ver V] [hdr N V]*
// [body S] [comment C], expect [min-recv N] [comment C] [ok-status S]
// [error-status S] [tout-status S] [on-success TEXT] [on-error TEXT] [!]
// status|rstatus|string|rstring <pattern>, disable-on-404 and comment.
// Defaults: "OPTIONS / HTTP/1.0", and "expect status 200-399" after the
// last send when no expect follows it. The request gets Content-Length with a
// body and "Connection: close" unless a Connection header is configured.
func ParseHTTPCheck(optionArgs []string, lines [][]string) (*Rules, error) {
	def, err := parseHTTPChkOption(optionArgs)
	if err != nil {
		return nil, err
	}
	rules := &Rules{proto: protoHTTP}
	type item struct {
		st   *step
		req  *httpRequest
		line int
	}
	var items []item
	var pendingComment string
	hasConnect := false
	for _, w := range lines {
		if len(w) > 0 && w[0] == "connect" {
			hasConnect = true
		}
	}
	firstReal := true
	for i, w := range lines {
		if len(w) == 0 {
			continue
		}
		var it item
		it.line = i
		switch w[0] {
		case "comment":
			if len(w) < 2 {
				return nil, ruleErr(i, "'http-check comment' expects a string as argument")
			}
			pendingComment = strings.Join(w[1:], " ")
			continue
		case "disable-on-404":
			rules.disable404 = true
			continue
		case "connect":
			st, err := parseConnect("http-check", i, w[1:])
			if err != nil {
				return nil, err
			}
			it.st = st
		case "send":
			req, comment, err := parseHTTPSend(i, w[1:])
			if err != nil {
				return nil, err
			}
			it.req = req
			it.st = &step{kind: stepSend, comment: comment}
		case "expect":
			st, err := parseExpect("http-check", i, w[1:], true)
			if err != nil {
				return nil, err
			}
			it.st = st
		case "send-state", "set-var", "unset-var", "set-var-fmt":
			return nil, ruleErr(i, "'http-check %s' is not supported by Moonbus", w[0])
		default:
			return nil, ruleErr(i, "'http-check' : unknown directive '%s' (expects 'comment', 'connect', 'send', 'expect' or 'disable-on-404')", w[0])
		}
		if hasConnect && firstReal && it.st.kind != stepConnect {
			return nil, ruleErr(i, "'http-check %s' : first step MUST also be a 'connect', optionally preceded by a 'comment', when there is a 'connect' step in the http-check ruleset", w[0])
		}
		firstReal = false
		if it.st.comment == "" {
			it.st.comment = pendingComment
		}
		pendingComment = ""
		items = append(items, it)
	}

	// Assemble: implicit send before an expect that has none, implicit expect
	// after a send that has none.
	var out []item
	sends := 0
	needExpect := false
	implicitExpect := func() item {
		st := &step{kind: stepExpect, match: matchHTTPStatus, codes: [][2]int{{200, 399}}, minRecv: -1}
		return item{st: st}
	}
	for _, it := range items {
		switch it.st.kind {
		case stepSend:
			if needExpect {
				out = append(out, implicitExpect())
			}
			sends++
			out = append(out, it)
			needExpect = true
		case stepExpect:
			if sends == 0 {
				sends++
				out = append(out, item{st: &step{kind: stepSend}, req: &httpRequest{}})
			}
			out = append(out, it)
			needExpect = false
		default:
			if needExpect {
				out = append(out, implicitExpect())
				needExpect = false
			}
			out = append(out, it)
		}
	}
	if sends == 0 {
		out = append(out, item{st: &step{kind: stepSend}, req: &httpRequest{}})
		needExpect = true
	}
	if needExpect {
		out = append(out, implicitExpect())
	}
	// Build the request bytes; the first request inherits the option's extra
	// headers, the last one gets "Connection: close".
	seen := 0
	for _, it := range out {
		if it.st.kind != stepSend {
			continue
		}
		seen++
		req := mergeRequest(def, it.req, seen == 1)
		it.st.data = req.bytes(seen == sends)
		it.st.httpHead = strings.EqualFold(req.meth, "HEAD")
	}
	for _, it := range out {
		rules.steps = append(rules.steps, it.st)
	}
	finishSteps(rules)
	return rules, nil
}

// parseHTTPChkOption parses the words after "option httpchk".
func parseHTTPChkOption(args []string) (httpRequest, error) {
	req := httpRequest{meth: "OPTIONS", uri: "/", ver: "HTTP/1.0"}
	switch len(args) {
	case 0:
	case 1:
		req.uri = args[0]
	case 2, 3, 4:
		req.meth, req.uri = args[0], args[1]
		if len(args) >= 3 {
			// Old configs smuggle headers into the version:
			// "HTTP/1.1\r\nHost:\ www.example.com".
			ver := strings.ReplaceAll(args[2], `\r\n`, "\r\n")
			ver = strings.ReplaceAll(ver, `\ `, " ")
			parts := strings.Split(ver, "\r\n")
			req.ver = parts[0]
			for _, h := range parts[1:] {
				if h == "" {
					continue
				}
				name, val, ok := strings.Cut(h, ":")
				if !ok || name == "" {
					return req, ruleErr(-1, "'option httpchk' : invalid header '%s' in the version argument", h)
				}
				req.hdrs = append(req.hdrs, [2]string{name, strings.TrimSpace(val)})
			}
		}
		if len(args) == 4 {
			if strings.ContainsAny(args[3], " \r\n") {
				return req, ruleErr(-1, "'option httpchk' : invalid host '%s'", args[3])
			}
			req.hdrs = append(req.hdrs, [2]string{"Host", args[3]})
		}
		if strings.ContainsAny(req.meth+req.uri+req.ver, " \t\r\n") {
			return req, ruleErr(-1, "'option httpchk' : invalid request line '%s %s %s'", req.meth, req.uri, req.ver)
		}
	default:
		return req, ruleErr(-1, "'option httpchk' : too many arguments (expects [<method>] [<uri>] [<version>] [<host>])")
	}
	if req.ver == "" {
		req.ver = "HTTP/1.0"
	}
	return req, nil
}

func parseHTTPSend(line int, w []string) (*httpRequest, string, error) {
	req := &httpRequest{}
	comment := ""
	for i := 0; i < len(w); i++ {
		kw := w[i]
		switch kw {
		case "meth", "uri", "ver", "body", "comment", "hdr":
		case "uri-lf", "body-lf":
			return nil, "", ruleErr(line, "'http-check send' : '%s' is not supported by Moonbus", kw)
		default:
			return nil, "", ruleErr(line, "'http-check send' : unknown keyword '%s' (expects 'meth', 'uri', 'ver', 'hdr', 'body' or 'comment')", kw)
		}
		if i+1 >= len(w) {
			return nil, "", ruleErr(line, "'http-check send' : '%s' expects an argument", kw)
		}
		v := w[i+1]
		i++
		switch kw {
		case "meth", "uri", "ver":
			if v == "" || strings.ContainsAny(v, " \t\r\n") {
				return nil, "", ruleErr(line, "'http-check send' : invalid %s '%s'", kw, v)
			}
			switch kw {
			case "meth":
				req.meth = v
			case "uri":
				req.uri = v
			default:
				req.ver = v
			}
		case "body":
			req.body = v
		case "comment":
			comment = v
		case "hdr":
			if i+1 >= len(w) {
				return nil, "", ruleErr(line, "'http-check send' : 'hdr' expects <name> and <value> as arguments")
			}
			val := w[i+1]
			i++
			if v == "" || strings.ContainsAny(v, " :\t\r\n") {
				return nil, "", ruleErr(line, "'http-check send' : invalid header name '%s'", v)
			}
			if strings.ContainsAny(val, "\r\n") {
				return nil, "", ruleErr(line, "'http-check send' : invalid value for header '%s'", v)
			}
			if strings.Contains(val, "%[") {
				return nil, "", ruleErr(line, "'http-check send' : log-format header values are not supported by Moonbus ('%s')", val)
			}
			req.hdrs = append(req.hdrs, [2]string{v, val})
		}
	}
	return req, comment, nil
}

// mergeRequest fills what a send rule leaves out from the option.
func mergeRequest(def httpRequest, r *httpRequest, first bool) httpRequest {
	out := *r
	if out.meth == "" {
		out.meth = def.meth
	}
	if out.uri == "" {
		out.uri = def.uri
	}
	if out.ver == "" {
		out.ver = def.ver
	}
	if first && len(def.hdrs) > 0 {
		out.hdrs = append(append([][2]string(nil), def.hdrs...), r.hdrs...)
	}
	return out
}

func (r httpRequest) bytes(connClose bool) []byte {
	var b strings.Builder
	b.WriteString(r.meth)
	b.WriteByte(' ')
	b.WriteString(r.uri)
	b.WriteByte(' ')
	b.WriteString(r.ver)
	b.WriteString("\r\n")
	hasConn, hasCL := false, false
	for _, h := range r.hdrs {
		hasConn = hasConn || strings.EqualFold(h[0], "Connection")
		hasCL = hasCL || strings.EqualFold(h[0], "Content-Length")
		b.WriteString(h[0])
		b.WriteString(": ")
		b.WriteString(h[1])
		b.WriteString("\r\n")
	}
	if r.body != "" && !hasCL {
		b.WriteString("Content-Length: ")
		b.WriteString(strconv.Itoa(len(r.body)))
		b.WriteString("\r\n")
	}
	if connClose && !hasConn {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(r.body)
	return []byte(b.String())
}

// httpResp is a parsed HTTP response; its slices alias the read buffer.
type httpResp struct {
	status   int
	reason   []byte
	body     []byte
	complete bool
}

var errHTTPParse = errors.New("invalid HTTP response")

// parseHTTPResponse parses the first final (non-1xx) response in buf. eof
// means no more data will come. It returns ok=false with a nil error when more
// data is needed.
func parseHTTPResponse(buf []byte, eof, head bool) (resp httpResp, ok bool, err error) {
	p := buf
	for {
		line, rest, found := cutLine(p)
		if !found {
			if eof || len(buf) >= bufSize {
				return resp, false, errHTTPParse
			}
			return resp, false, nil
		}
		if !bytes.HasPrefix(line, []byte("HTTP/")) {
			return resp, false, errHTTPParse
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 || len(line) < sp+4 {
			return resp, false, errHTTPParse
		}
		sc := line[sp+1:]
		code := 0
		for _, c := range sc[:3] {
			if c < '0' || c > '9' {
				return resp, false, errHTTPParse
			}
			code = code*10 + int(c-'0')
		}
		if code < 100 || (len(sc) > 3 && sc[3] != ' ') {
			return resp, false, errHTTPParse
		}
		var reason []byte
		if len(sc) > 4 {
			reason = bytes.TrimSpace(sc[4:])
		}
		cl, chunked := -1, false
		p = rest
		for {
			h, rest, found := cutLine(p)
			if !found {
				if eof || len(buf) >= bufSize {
					return resp, false, errHTTPParse
				}
				return resp, false, nil
			}
			p = rest
			if len(h) == 0 {
				break
			}
			colon := bytes.IndexByte(h, ':')
			if colon <= 0 {
				return resp, false, errHTTPParse
			}
			name, val := h[:colon], bytes.TrimSpace(h[colon+1:])
			switch {
			case bytes.EqualFold(name, []byte("Content-Length")):
				n, err := strconv.Atoi(string(val))
				if err != nil || n < 0 {
					return resp, false, errHTTPParse
				}
				cl = n
			case bytes.EqualFold(name, []byte("Transfer-Encoding")):
				chunked = bytes.Contains(bytes.ToLower(val), []byte("chunked"))
			}
		}
		if code >= 100 && code < 200 && code != 101 {
			continue // interim response
		}
		resp.status, resp.reason = code, reason
		switch {
		case head || code == 204 || code == 304 || code < 200:
			resp.complete = true
		case chunked:
			resp.body, resp.complete = dechunk(p)
		case cl >= 0:
			if len(p) >= cl {
				resp.body, resp.complete = p[:cl], true
			} else {
				resp.body = p
			}
		default:
			resp.body, resp.complete = p, eof
		}
		return resp, true, nil
	}
}

// cutLine splits at the first LF, dropping a CR before it.
func cutLine(p []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(p, '\n')
	if i < 0 {
		return nil, p, false
	}
	line = p[:i]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, p[i+1:], true
}

// dechunk decodes a chunked body as far as it goes.
func dechunk(p []byte) (body []byte, complete bool) {
	for {
		line, rest, ok := cutLine(p)
		if !ok {
			return body, false
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 31)
		if err != nil {
			return body, false
		}
		if size == 0 {
			return body, true
		}
		if uint64(len(rest)) < size {
			return append(body, rest...), false
		}
		body = append(body, rest[:size]...)
		p = rest[size:]
		if _, r2, ok := cutLine(p); ok {
			p = r2
		} else {
			return body, false
		}
	}
}

// evalHTTP evaluates an http-check expect rule on the response read so far.
func (r *runner) evalHTTP(st *step, last bool) (evalRet, Result) {
	head := false
	for _, s := range r.rules.steps {
		if s.kind == stepSend && s.index < st.index {
			head = s.httpHead
		}
	}
	resp, ok, err := parseHTTPResponse(r.buf(), last, head)
	if err != nil {
		return evalStop, r.expectError(st, false, "")
	}
	if !ok {
		return evalWait, Result{}
	}
	r.code = resp.status
	if r.rules.disable404 && r.serverUp && resp.status == 404 {
		return evalContinue, Result{}
	}
	last = last || resp.complete
	var match bool
	var desc string
	errSt := st.errStatus
	switch st.match {
	case matchHTTPStatus:
		for _, c := range st.codes {
			if resp.status >= c[0] && resp.status <= c[1] {
				match = true
				break
			}
		}
		if errSt == StatusUnknown {
			errSt = StatusL7STS
		}
		desc = string(resp.reason)
	case matchHTTPRStatus:
		match = st.re.MatchString(strconv.Itoa(resp.status))
		if errSt == StatusUnknown {
			errSt = StatusL7STS
		}
		desc = string(resp.reason)
	case matchHTTPBody, matchHTTPRBody:
		if len(resp.body) == 0 {
			if !last {
				return evalWait, Result{}
			}
			e := *st
			if e.errStatus == StatusUnknown {
				e.errStatus = StatusL7RSP
			}
			return evalStop, r.expectError(&e, false, "HTTP content check could not find a response body")
		}
		if !last && ((st.match == matchHTTPBody && len(resp.body) < len(st.pattern)) ||
			(st.minRecv > 0 && len(resp.body) < st.minRecv)) {
			return evalWait, Result{}
		}
		if st.match == matchHTTPBody {
			match = bytes.Contains(resp.body, st.pattern)
		} else {
			match = st.re.Match(resp.body)
		}
		if !match && !last && st.minRecv < 0 {
			return evalWait, Result{}
		}
		if errSt == StatusUnknown {
			errSt = StatusL7RSP
		}
		if st.inverse {
			desc = "HTTP check matched unwanted content"
		} else {
			desc = "HTTP content check did not match"
		}
	}
	if match != st.inverse {
		return evalContinue, Result{}
	}
	e := *st
	e.errStatus = errSt
	return evalStop, r.expectError(&e, match, desc)
}
