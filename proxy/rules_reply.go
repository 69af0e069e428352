package proxy

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"strconv"

	"moonbus/config"
	"moonbus/proxy/sample"
)

// replySpec is a compiled deny/tarpit/return response.
type replySpec struct {
	status      int
	errorPage   bool   // use the error page of status (errorfile or built-in)
	raw         []byte // constant complete response
	contentType string
	body        []byte
	bodyFmt     *sample.Format
	hdrs        []replyHdr
}

type replyHdr struct {
	name string
	fmt  *sample.Format
}

// parseReply parses "[status|deny_status <code>] [content-type <t>]
// [string <s>|lf-string <fmt>|file <f>|lf-file <f>|errorfile <f>|
// errorfiles <name>|default-errorfiles] [hdr <name> <fmt>]*".
func (p *Proxy) parseReply(w []string, def int, where sample.Where, errorDefault bool) (*replySpec, error) {
	rs := &replySpec{status: def, errorPage: errorDefault}
	payload := false
	for i := 0; i < len(w); i++ {
		arg := func() (string, error) {
			if i+1 >= len(w) {
				return "", fmt.Errorf("'%s' expects an argument", w[i])
			}
			i++
			return w[i], nil
		}
		switch kw := w[i]; kw {
		case "status", "deny_status":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 200 || n > 599 {
				return nil, fmt.Errorf("status code '%s' out of range (200..599)", v)
			}
			rs.status = n
		case "content-type":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			rs.contentType = v
		case "string", "lf-string", "file", "lf-file":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			if payload {
				return nil, fmt.Errorf("only one payload allowed")
			}
			payload = true
			rs.errorPage = false
			text := []byte(v)
			if kw == "file" || kw == "lf-file" {
				b, err := os.ReadFile(v)
				if err != nil {
					return nil, fmt.Errorf("failed to read file '%s': %w", v, err)
				}
				text = b
			}
			if kw == "lf-string" || kw == "lf-file" {
				f, err := p.compileFormat(string(text), where)
				if err != nil {
					return nil, err
				}
				rs.bodyFmt = f
			} else {
				rs.body = text
			}
		case "errorfile":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			b, err := os.ReadFile(v)
			if err != nil {
				return nil, fmt.Errorf("failed to read errorfile '%s': %w", v, err)
			}
			payload, rs.errorPage, rs.raw = true, false, b
		case "errorfiles":
			v, err := arg()
			if err != nil {
				return nil, err
			}
			raw, err := p.errorFromSection(v, rs.status)
			if err != nil {
				return nil, err
			}
			payload, rs.errorPage, rs.raw = true, false, raw
		case "default-errorfiles":
			payload, rs.errorPage = true, true
		case "hdr":
			if i+2 >= len(w) {
				return nil, fmt.Errorf("'hdr' expects a name and a value")
			}
			f, err := p.compileFormat(w[i+2], where)
			if err != nil {
				return nil, err
			}
			rs.hdrs = append(rs.hdrs, replyHdr{name: w[i+1], fmt: f})
			i += 2
		default:
			return nil, fmt.Errorf("unexpected argument '%s'", kw)
		}
	}
	if rs.contentType != "" && !payload {
		return nil, fmt.Errorf("'content-type' needs a payload")
	}
	if !rs.errorPage && rs.raw == nil && rs.bodyFmt == nil && len(rs.hdrs) == 0 {
		rs.raw = buildResponse(nil, rs.status, rs.contentType, nil, rs.body)
	}
	return rs, nil
}

func (p *Proxy) errorFromSection(name string, status int) ([]byte, error) {
	for _, h := range p.e.conf.HTTPErrors {
		if h.Name != name {
			continue
		}
		f, ok := h.Files[status]
		if !ok {
			return defaultErrorResponse(status), nil
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("failed to read errorfile '%s': %w", f, err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown http-errors section '%s'", name)
}

// build returns the raw response for t (nil = the error page of status).
func (rs *replySpec) build(t *Txn) []byte {
	if rs.errorPage {
		return nil
	}
	if rs.raw != nil {
		return rs.raw
	}
	buf := t.rules.reply[:0]
	var body []byte
	if rs.bodyFmt != nil {
		mark := len(buf)
		buf = rs.bodyFmt.Append(buf, t)
		body = buf[mark:]
	} else {
		body = rs.body
	}
	// Build the head after the body in the same buffer; copy at the end.
	out := buildResponseHdrs(nil, rs.status, rs.contentType, t, rs.hdrs, body)
	t.rules.reply = buf
	return out
}

// buildResponse renders a complete response with a constant body.
func buildResponse(dst []byte, status int, ctype string, hdrs [][2]string, body []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\n"...)
	if ctype != "" {
		dst = append(dst, "content-type: "...)
		dst = append(dst, ctype...)
		dst = append(dst, "\r\n"...)
	}
	for _, h := range hdrs {
		dst = append(dst, h[0]...)
		dst = append(dst, ": "...)
		dst = append(dst, h[1]...)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "content-length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

func buildResponseHdrs(dst []byte, status int, ctype string, t *Txn, hdrs []replyHdr, body []byte) []byte {
	dst = append(dst, "HTTP/1.1 "...)
	dst = strconv.AppendInt(dst, int64(status), 10)
	dst = append(dst, ' ')
	dst = append(dst, statusText(status)...)
	dst = append(dst, "\r\n"...)
	if ctype != "" {
		dst = append(dst, "content-type: "...)
		dst = append(dst, ctype...)
		dst = append(dst, "\r\n"...)
	}
	for _, h := range hdrs {
		dst = append(dst, h.name...)
		dst = append(dst, ": "...)
		dst = h.fmt.Append(dst, t)
		dst = append(dst, "\r\n"...)
	}
	dst = append(dst, "content-length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\n\r\n"...)
	return append(dst, body...)
}

// redirectSpec is a compiled redirect.
type redirectSpec struct {
	kind        string // location, prefix, scheme
	target      *sample.Format
	code        int
	dropQuery   bool
	appendSlash bool
	ignoreEmpty bool
	keepQuery   bool
	setCookie   string
	clearCookie string
}

// parseRedirect compiles "redirect location|prefix|scheme <x> [code N] [opts]".
func (p *Proxy) parseRedirect(w []string, where sample.Where, response bool) (actionFunc, error) {
	if len(w) < 2 {
		return nil, fmt.Errorf("expects 'location', 'prefix' or 'scheme' and a target")
	}
	rd := &redirectSpec{kind: w[0], code: 302}
	switch rd.kind {
	case "location":
	case "prefix", "scheme":
		if response {
			return nil, fmt.Errorf("only 'location' is allowed in http-response")
		}
	default:
		return nil, fmt.Errorf("expects 'location', 'prefix' or 'scheme', not '%s'", w[0])
	}
	f, err := p.compileFormat(w[1], where)
	if err != nil {
		return nil, err
	}
	rd.target = f
	for i := 2; i < len(w); i++ {
		switch w[i] {
		case "code":
			if i+1 >= len(w) {
				return nil, fmt.Errorf("'code' expects a status")
			}
			n, err := strconv.Atoi(w[i+1])
			if err != nil || (n != 301 && n != 302 && n != 303 && n != 307 && n != 308) {
				return nil, fmt.Errorf("unsupported HTTP code '%s' (expects 301, 302, 303, 307 or 308)", w[i+1])
			}
			rd.code = n
			i++
		case "drop-query":
			rd.dropQuery = true
		case "append-slash":
			rd.appendSlash = true
		case "ignore-empty":
			rd.ignoreEmpty = true
		case "keep-query":
			rd.keepQuery = true
		case "set-cookie", "set-cookie-fmt":
			if i+1 >= len(w) {
				return nil, fmt.Errorf("'%s' expects an argument", w[i])
			}
			rd.setCookie = w[i+1]
			i++
		case "clear-cookie":
			if i+1 >= len(w) {
				return nil, fmt.Errorf("'clear-cookie' expects an argument")
			}
			rd.clearCookie = w[i+1]
			i++
		default:
			return nil, fmt.Errorf("unexpected keyword '%s'", w[i])
		}
	}
	return func(t *Txn) verdict {
		buf := t.rules.reply[:0]
		buf = rd.target.Append(buf, t)
		if len(buf) == 0 && rd.ignoreEmpty {
			t.rules.reply = buf
			return verdict{}
		}
		uri := t.req.URI()
		path, query := splitQuery(uri)
		switch rd.kind {
		case "prefix":
			if len(buf) == 1 && buf[0] == '/' {
				buf = buf[:0] // "prefix /" gives a relative location
			}
			buf = append(buf, path...)
		case "scheme":
			buf = append(buf, "://"...)
			if h, ok := t.req.Header("host"); ok {
				buf = append(buf, h...)
			}
			buf = append(buf, path...)
		}
		if rd.kind != "location" {
			if rd.appendSlash && (len(buf) == 0 || buf[len(buf)-1] != '/') {
				buf = append(buf, '/')
			}
			if !rd.dropQuery && len(query) > 0 {
				buf = append(buf, query...)
			}
		} else if rd.keepQuery && len(query) > 0 && !bytes.ContainsRune(buf, '?') {
			buf = append(buf, query...)
		}
		t.rules.reply = buf
		var h [][2]string
		h = append(h, [2]string{"location", string(buf)})
		if rd.setCookie != "" {
			h = append(h, [2]string{"set-cookie", rd.setCookie + "; path=/"})
		}
		if rd.clearCookie != "" {
			h = append(h, [2]string{"set-cookie", rd.clearCookie + "; path=/; Max-Age=0; Expires=Thu, 01-Jan-1970 00:00:01 GMT"})
		}
		h = append(h, [2]string{"cache-control", "no-cache"})
		return verdict{kind: verdictReturn, status: rd.code, raw: buildResponse(nil, rd.code, "", h, nil)}
	}, nil
}

// splitQuery splits a URI at its first '?' (the query keeps the '?').
func splitQuery(uri []byte) (path, query []byte) {
	if i := bytes.IndexByte(uri, '?'); i >= 0 {
		return uri[:i], uri[i:]
	}
	return uri, nil
}

// parseAuth compiles "auth [realm <realm>]": a 401 asking for credentials.
func (p *Proxy) parseAuth(w []string) (actionFunc, error) {
	realm := p.name
	if len(w) == 2 && w[0] == "realm" {
		realm = w[1]
	} else if len(w) != 0 {
		return nil, fmt.Errorf("expects an optional 'realm <realm>'")
	}
	body := errorBodies[401]
	raw := buildResponse(nil, 401, "text/html", [][2]string{{"www-authenticate", "Basic realm=\"" + realm + "\""}, {"cache-control", "no-cache"}}, []byte(body))
	return func(t *Txn) verdict { return verdict{kind: verdictDeny, status: 401, raw: raw} }, nil
}

// basicAuth extracts user and password from an Authorization header.
func basicAuth(h []byte) (user, pass string, ok bool) {
	const pfx = "basic "
	if len(h) < len(pfx) || !equalFold(h[:len(pfx)], pfx) {
		return "", "", false
	}
	dec, err := base64.StdEncoding.DecodeString(string(bytes.TrimSpace(h[len(pfx):])))
	if err != nil {
		return "", "", false
	}
	u, pw, found := bytes.Cut(dec, []byte(":"))
	if !found {
		return "", "", false
	}
	return string(u), string(pw), true
}

// checkUserlist reports whether user/pass are valid in a userlist (and the
// user is in one of groups when given).
func checkUserlist(ul *config.Userlist, user, pass string, groups []string) bool {
	for _, u := range ul.Users {
		if u.Name != user {
			continue
		}
		if !checkPassword(u, pass) {
			return false
		}
		if len(groups) == 0 {
			return true
		}
		for _, g := range groups {
			for _, ug := range u.Groups {
				if ug == g {
					return true
				}
			}
			for _, gr := range ul.Groups {
				if gr.Name != g {
					continue
				}
				for _, m := range gr.Users {
					if m == user {
						return true
					}
				}
			}
		}
		return false
	}
	return false
}
