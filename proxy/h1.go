package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
)

// HTTP/1 message parsing. A message's header block is copied once into
// Msg.buf; the start line and every header are offsets into it, so headers
// can be added or rewritten by appending to buf without invalidating the
// others, and a pooled Msg parses the next message without allocating.

// Parse errors. Each maps to an HTTP status in the engine.
var (
	errTooLarge       = errors.New("header block too large")
	errBadRequestLine = errors.New("bad request line")
	errBadStatusLine  = errors.New("bad status line")
	errBadVersion     = errors.New("unsupported HTTP version")
	errBadHeader      = errors.New("bad header syntax")
	errTooManyHeaders = errors.New("too many headers")
	errBadCL          = errors.New("invalid or conflicting content-length")
	errBadTE          = errors.New("invalid transfer-encoding")
	errNoHost         = errors.New("missing or duplicate host header")
	errBadChunk       = errors.New("invalid chunk")
)

type span struct{ off, n uint32 }

type hfield struct{ name, value span }

// Msg is a parsed HTTP/1 request or response header block.
type Msg struct {
	buf     []byte
	headers []hfield

	// Start line.
	method, uri, proto  span // request
	origMethod, origURI span // as received (logs)
	reason              span // response
	status              int
	isResp              bool
	minor               int // 0 or 1 (HTTP/1.x)

	// Framing, computed at parse time and kept in sync by the engine.
	contentLength int64 // -1 when absent
	chunked       bool
	connClose     bool // "Connection: close" (or HTTP/1.0 without keep-alive)
	connKeepAlive bool
	upgrade       bool // "Connection: upgrade" with an Upgrade header
	clTE          bool // both Content-Length and Transfer-Encoding were present
	expect100     bool
}

func (m *Msg) reset() {
	m.buf = m.buf[:0]
	m.headers = m.headers[:0]
	m.method, m.uri, m.proto, m.reason = span{}, span{}, span{}, span{}
	m.origMethod, m.origURI = span{}, span{}
	m.status, m.minor = 0, 1
	m.contentLength = -1
	m.chunked, m.connClose, m.connKeepAlive, m.upgrade, m.clTE, m.expect100 = false, false, false, false, false, false
}

func (m *Msg) get(s span) []byte { return m.buf[s.off : s.off+s.n] }

// Method, URI and Proto return the request line parts.
func (m *Msg) Method() []byte { return m.get(m.method) }

// URI returns the request target as received or rewritten.
func (m *Msg) URI() []byte { return m.get(m.uri) }

// Proto returns "HTTP/1.1" or "HTTP/1.0".
func (m *Msg) Proto() []byte { return m.get(m.proto) }

// Status returns the response status code.
func (m *Msg) Status() int { return m.status }

// Reason returns the response reason phrase.
func (m *Msg) Reason() []byte { return m.get(m.reason) }

// NumHeaders returns the number of header fields.
func (m *Msg) NumHeaders() int { return len(m.headers) }

// HeaderAt returns the i-th header field.
func (m *Msg) HeaderAt(i int) (name, value []byte) {
	h := m.headers[i]
	return m.get(h.name), m.get(h.value)
}

// Header returns the value of the first field named name (case-insensitive).
func (m *Msg) Header(name string) ([]byte, bool) {
	for _, h := range m.headers {
		if equalFold(m.get(h.name), name) {
			return m.get(h.value), true
		}
	}
	return nil, false
}

// appendBytes stores b in the buffer and returns its span.
func (m *Msg) appendBytes(b []byte) span {
	off := len(m.buf)
	m.buf = append(m.buf, b...)
	return span{uint32(off), uint32(len(b))}
}

func (m *Msg) appendString(s string) span {
	off := len(m.buf)
	m.buf = append(m.buf, s...)
	return span{uint32(off), uint32(len(s))}
}

// AddHeader appends a header field.
func (m *Msg) AddHeader(name, value string) {
	m.headers = append(m.headers, hfield{m.appendString(name), m.appendString(value)})
}

// AddHeaderBytes appends a header field.
func (m *Msg) AddHeaderBytes(name string, value []byte) {
	m.headers = append(m.headers, hfield{m.appendString(name), m.appendBytes(value)})
}

// DelHeader removes every field named name and reports how many.
func (m *Msg) DelHeader(name string) int {
	n := 0
	out := m.headers[:0]
	for _, h := range m.headers {
		if equalFold(m.get(h.name), name) {
			n++
			continue
		}
		out = append(out, h)
	}
	m.headers = out
	return n
}

// SetHeader replaces every field named name by one with value.
func (m *Msg) SetHeader(name, value string) {
	m.DelHeader(name)
	m.AddHeader(name, value)
}

// SetURI replaces the request target.
func (m *Msg) SetURI(uri []byte) { m.uri = m.appendBytes(uri) }

// SetMethod replaces the request method.
func (m *Msg) SetMethod(meth []byte) { m.method = m.appendBytes(meth) }

// SetStatus replaces the response status and reason.
func (m *Msg) SetStatus(code int, reason string) {
	m.status = code
	if reason == "" {
		reason = statusText(code)
	}
	m.reason = m.appendString(reason)
}

// readHeaderBlock copies one header block (start line to the empty line)
// from br into m.buf. The block must fit in br's buffer (tune.bufsize).
func (m *Msg) readHeaderBlock(br *bufio.Reader) error {
	m.reset()
	// Skip empty lines before a request line (RFC 9112 §2.2).
	for {
		b, err := br.Peek(1)
		if err != nil {
			return err
		}
		if b[0] != '\r' && b[0] != '\n' {
			break
		}
		if _, err := br.Discard(1); err != nil {
			return err
		}
	}
	scanned := 0
	for {
		n := br.Buffered()
		if n == 0 {
			n = 1
		}
		b, err := br.Peek(n)
		if end := headerEnd(b, scanned); end > 0 {
			m.buf = append(m.buf, b[:end]...)
			_, _ = br.Discard(end)
			return nil
		}
		if len(b) > 3 {
			scanned = len(b) - 3
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return errTooLarge
			}
			if errors.Is(err, io.EOF) && len(b) > 0 {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if len(b) >= br.Size() {
			return errTooLarge
		}
		// Ask for more than what is buffered.
		if _, err := br.Peek(len(b) + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				return errTooLarge
			}
			if errors.Is(err, io.EOF) {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
}

// headerEnd returns the length of the header block ending with an empty line
// (CRLFCRLF or LFLF), or 0.
func headerEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		if i+1 < len(b) && b[i+1] == '\n' {
			return i + 2
		}
		if i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n' {
			return i + 3
		}
	}
	return 0
}

// nextLine returns the line starting at off (without CRLF/LF) and the offset
// of the following line.
func nextLine(b []byte, off int) (line span, next int, ok bool) {
	i := bytes.IndexByte(b[off:], '\n')
	if i < 0 {
		return span{}, 0, false
	}
	end := off + i
	next = end + 1
	if end > off && b[end-1] == '\r' {
		end--
	}
	return span{uint32(off), uint32(end - off)}, next, true
}

// parseRequest parses the request in m.buf. maxHdr bounds the header count.
func (m *Msg) parseRequest(maxHdr int) error {
	m.isResp = false
	line, next, ok := nextLine(m.buf, 0)
	if !ok {
		return errBadRequestLine
	}
	l := m.get(line)
	sp1 := bytes.IndexByte(l, ' ')
	if sp1 <= 0 {
		return errBadRequestLine
	}
	rest := l[sp1+1:]
	sp2 := bytes.LastIndexByte(rest, ' ')
	if sp2 <= 0 {
		return errBadRequestLine
	}
	meth, uri, proto := l[:sp1], rest[:sp2], rest[sp2+1:]
	for _, c := range meth {
		if !isTokenChar(c) {
			return errBadRequestLine
		}
	}
	for _, c := range uri {
		if c <= ' ' || c == 0x7f {
			return errBadRequestLine
		}
	}
	switch {
	case bytes.Equal(proto, []byte("HTTP/1.1")):
		m.minor = 1
	case bytes.Equal(proto, []byte("HTTP/1.0")):
		m.minor = 0
	case bytes.HasPrefix(proto, []byte("HTTP/")):
		return errBadVersion
	default:
		return errBadRequestLine
	}
	m.method = span{line.off, uint32(sp1)}
	m.uri = span{line.off + uint32(sp1) + 1, uint32(len(uri))}
	m.proto = span{line.off + uint32(sp1) + 1 + uint32(sp2) + 1, uint32(len(proto))}
	m.origMethod, m.origURI = m.method, m.uri
	if err := m.parseHeaders(next, maxHdr); err != nil {
		return err
	}
	return m.computeFraming()
}

// parseResponse parses the response in m.buf.
func (m *Msg) parseResponse(maxHdr int) error {
	m.isResp = true
	line, next, ok := nextLine(m.buf, 0)
	if !ok {
		return errBadStatusLine
	}
	l := m.get(line)
	if len(l) < 12 || !bytes.HasPrefix(l, []byte("HTTP/1.")) || l[8] != ' ' {
		return errBadStatusLine
	}
	switch l[7] {
	case '0':
		m.minor = 0
	case '1':
		m.minor = 1
	default:
		return errBadStatusLine
	}
	code := 0
	for _, c := range l[9:12] {
		if c < '0' || c > '9' {
			return errBadStatusLine
		}
		code = code*10 + int(c-'0')
	}
	if code < 100 || (len(l) > 12 && l[12] != ' ') {
		return errBadStatusLine
	}
	m.status = code
	m.proto = span{line.off, 8}
	if len(l) > 13 {
		m.reason = span{line.off + 13, uint32(len(l) - 13)}
	} else {
		m.reason = span{line.off + uint32(len(l)), 0}
	}
	if err := m.parseHeaders(next, maxHdr); err != nil {
		return err
	}
	return m.computeFraming()
}

func (m *Msg) parseHeaders(off, maxHdr int) error {
	for {
		line, next, ok := nextLine(m.buf, off)
		if !ok {
			return errBadHeader
		}
		if line.n == 0 {
			return nil
		}
		l := m.get(line)
		if l[0] == ' ' || l[0] == '\t' {
			return errBadHeader // obs-fold
		}
		colon := bytes.IndexByte(l, ':')
		if colon <= 0 {
			return errBadHeader
		}
		for _, c := range l[:colon] {
			if !isTokenChar(c) {
				return errBadHeader // includes whitespace before the colon
			}
		}
		vs, ve := colon+1, len(l)
		for vs < ve && (l[vs] == ' ' || l[vs] == '\t') {
			vs++
		}
		for ve > vs && (l[ve-1] == ' ' || l[ve-1] == '\t') {
			ve--
		}
		for _, c := range l[vs:ve] {
			if (c < ' ' && c != '\t') || c == 0x7f {
				return errBadHeader
			}
		}
		if len(m.headers) >= maxHdr {
			return errTooManyHeaders
		}
		m.headers = append(m.headers, hfield{
			name:  span{line.off, uint32(colon)},
			value: span{line.off + uint32(vs), uint32(ve - vs)},
		})
		off = next
	}
}

// computeFraming reads Content-Length, Transfer-Encoding, Connection,
// Upgrade and Expect, and applies RFC 9112's rules against smuggling.
func (m *Msg) computeFraming() error {
	var haveCL, haveTE bool
	hosts := 0
	upgradeHdr := false
	for _, h := range m.headers {
		name := m.get(h.name)
		v := m.get(h.value)
		switch {
		case equalFold(name, "content-length"):
			n, err := parseCLList(v)
			if err != nil {
				return errBadCL
			}
			if haveCL && n != m.contentLength {
				return errBadCL
			}
			haveCL = true
			m.contentLength = n
		case equalFold(name, "transfer-encoding"):
			if m.minor == 0 && !m.isResp {
				return errBadTE
			}
			if !m.chunked && teIsChunked(v) {
				m.chunked = true
			} else if m.chunked || !teValid(v) {
				return errBadTE
			}
			haveTE = true
		case equalFold(name, "connection"):
			forEachToken(v, func(t []byte) {
				switch {
				case equalFold(t, "close"):
					m.connClose = true
				case equalFold(t, "keep-alive"):
					m.connKeepAlive = true
				case equalFold(t, "upgrade"):
					m.upgrade = true
				}
			})
		case equalFold(name, "upgrade"):
			upgradeHdr = true
		case equalFold(name, "host"):
			hosts++
		case equalFold(name, "expect"):
			if equalFold(v, "100-continue") {
				m.expect100 = true
			}
		}
	}
	m.upgrade = m.upgrade && upgradeHdr
	if haveTE {
		if !m.chunked {
			return errBadTE
		}
		if haveCL {
			m.clTE = true
			m.contentLength = -1
			m.DelHeader("content-length")
		}
	}
	if !m.isResp {
		if hosts > 1 || (hosts == 0 && m.minor == 1) {
			return errNoHost
		}
	}
	if m.minor == 0 && !m.connKeepAlive {
		m.connClose = true
	}
	return nil
}

func parseCLList(v []byte) (int64, error) {
	var val int64 = -1
	var err error
	forEachToken(v, func(t []byte) {
		if err != nil {
			return
		}
		if len(t) == 0 || len(t) > 18 {
			err = errBadCL
			return
		}
		var n int64
		for _, c := range t {
			if c < '0' || c > '9' {
				err = errBadCL
				return
			}
			n = n*10 + int64(c-'0')
		}
		if val >= 0 && n != val {
			err = errBadCL
			return
		}
		val = n
	})
	if err == nil && val < 0 {
		err = errBadCL
	}
	return val, err
}

// teIsChunked reports whether the transfer codings end with chunked.
func teIsChunked(v []byte) bool {
	last := []byte(nil)
	forEachToken(v, func(t []byte) { last = t })
	return last != nil && equalFold(last, "chunked")
}

// teValid accepts the codings we can forward (chunked last; we do not decode
// others, so only "chunked" alone is valid for requests we frame).
func teValid(v []byte) bool {
	n := 0
	ok := true
	forEachToken(v, func(t []byte) {
		n++
		if !equalFold(t, "chunked") {
			ok = false
		}
	})
	return ok && n == 1
}

// forEachToken calls f for each comma-separated, trimmed element of v.
func forEachToken(v []byte, f func([]byte)) {
	for len(v) > 0 {
		i := bytes.IndexByte(v, ',')
		var t []byte
		if i < 0 {
			t, v = v, nil
		} else {
			t, v = v[:i], v[i+1:]
		}
		t = bytes.TrimSpace(t)
		if len(t) > 0 {
			f(t)
		}
	}
}

// writeRequestHead serializes the request line and headers.
func (m *Msg) writeRequestHead(w *bufio.Writer) {
	w.Write(m.Method())
	w.WriteByte(' ')
	w.Write(m.URI())
	if m.minor == 0 {
		// Kept as received: an HTTP/1.0 request may lack Host, which a
		// server would refuse in an HTTP/1.1 request.
		w.WriteString(" HTTP/1.0\r\n")
	} else {
		w.WriteString(" HTTP/1.1\r\n")
	}
	m.writeHeaders(w)
}

// writeResponseHead serializes the status line and headers.
func (m *Msg) writeResponseHead(w *bufio.Writer) {
	w.WriteString("HTTP/1.1 ")
	writeStatusCode(w, m.status)
	w.WriteByte(' ')
	w.Write(m.Reason())
	w.WriteString("\r\n")
	m.writeHeaders(w)
}

func (m *Msg) writeHeaders(w *bufio.Writer) {
	for _, h := range m.headers {
		w.Write(m.get(h.name))
		w.WriteString(": ")
		w.Write(m.get(h.value))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

func writeStatusCode(w *bufio.Writer, code int) {
	if code < 100 || code > 999 {
		code = 500
	}
	w.WriteByte(byte('0' + code/100))
	w.WriteByte(byte('0' + code/10%10))
	w.WriteByte(byte('0' + code%10))
}

var tokenTable = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

func isTokenChar(c byte) bool { return tokenTable[c] }

// equalFold compares ASCII case-insensitively without allocating.
func equalFold[T []byte | string](a []byte, b T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == y {
			continue
		}
		if x|0x20 != y|0x20 || (x|0x20) < 'a' || (x|0x20) > 'z' {
			return false
		}
	}
	return true
}
