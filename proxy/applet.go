package proxy

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"time"
)

// Applets: the server side of services (use-service). An HTTP applet reads
// the request body and writes a response to the client; a TCP applet reads
// and writes the client connection. The Lua host builds AppletHTTP and
// AppletTCP on these.

// HTTPApplet serves one HTTP request locally.
type HTTPApplet struct {
	t       *Txn
	body    bodyReader
	status  int
	reason  string
	hdrs    [][2]string
	started bool
	chunked bool // response body sent chunked (no content-length given)
	noBody  bool // HEAD
	clOut   int64
	sent    int64
	err     error
}

// HTTPApplet returns the applet of an HTTP transaction (created on first use).
func (t *Txn) HTTPApplet() *HTTPApplet {
	if t.applet == nil {
		a := &HTTPApplet{t: t, status: 200}
		a.body.init(t)
		a.noBody = equalFold(t.req.Method(), "HEAD")
		t.applet = a
	}
	return t.applet
}

// BodyLength returns the request body length when known (content-length),
// else the bytes already received.
func (a *HTTPApplet) BodyLength() int64 {
	if a.t.req.contentLength >= 0 {
		return a.t.req.contentLength
	}
	return int64(a.t.s.br.Buffered())
}

// Receive reads up to n bytes of the request body (n < 0: all of it). It
// returns an empty slice at the end of the body.
func (a *HTTPApplet) Receive(n int) ([]byte, error) {
	if err := a.Flush(); err != nil { // the client may wait for our answer
		return nil, err
	}
	if n < 0 {
		return a.body.readAll()
	}
	return a.body.read(n)
}

// Getline reads one line of the body, its '\n' included; empty at the end.
func (a *HTTPApplet) Getline() ([]byte, error) {
	if err := a.Flush(); err != nil {
		return nil, err
	}
	return a.body.line()
}

// SetStatus sets the response status (default 200) and reason.
func (a *HTTPApplet) SetStatus(code int, reason string) {
	a.status, a.reason = code, reason
}

// AddHeader appends a response header (duplicates are kept).
func (a *HTTPApplet) AddHeader(name, value string) {
	a.hdrs = append(a.hdrs, [2]string{name, value})
}

// Started reports whether the response head was sent.
func (a *HTTPApplet) Started() bool { return a.started }

// StartResponse writes the response head to the output buffer; headers
// cannot change afterwards. Without a content-length header the body is sent
// chunked. Like Send, it leaves the bytes buffered: they reach the client
// when the buffer fills, on Flush (the Lua host flushes before the service
// blocks, as HAProxy sends when the applet yields) and when the service ends,
// so a small response costs one write.
func (a *HTTPApplet) StartResponse() error {
	if a.started {
		return nil
	}
	a.started = true
	t := a.t
	t.tRespHdr = time.Now()
	t.rsp.reset()
	t.rsp.isResp = true
	t.rsp.minor = 1
	t.rsp.proto = t.rsp.appendString("HTTP/1.1")
	reason := a.reason
	if reason == "" {
		reason = statusText(a.status)
	}
	t.rsp.SetStatus(a.status, reason)
	a.clOut = -1
	for _, h := range a.hdrs {
		if equalFold([]byte(h[0]), "content-length") {
			if n, err := strconv.ParseInt(h[1], 10, 64); err == nil {
				a.clOut = n
			}
		}
		if equalFold([]byte(h[0]), "transfer-encoding") || equalFold([]byte(h[0]), "connection") {
			continue
		}
		t.rsp.AddHeader(h[0], h[1])
	}
	if a.clOut < 0 && !a.noBody && a.status != 204 && a.status != 304 {
		a.chunked = true
		t.rsp.AddHeader("transfer-encoding", "chunked")
	}
	t.status = a.status
	t.rules.httpAfterResponse(t)
	if t.closeCli {
		t.rsp.AddHeader("connection", "close")
	}
	bw := t.s.bw
	n := bw.Buffered()
	t.rsp.writeResponseHead(bw)
	t.bytesOut += int64(bw.Buffered() - n)
	return a.err
}

// Send writes body bytes (starting the response if needed).
func (a *HTTPApplet) Send(b []byte) error {
	if a.err != nil {
		return a.err
	}
	if !a.started {
		if err := a.StartResponse(); err != nil {
			return err
		}
	}
	if a.noBody || len(b) == 0 {
		return nil
	}
	bw := a.t.s.bw
	var err error
	if a.chunked {
		var hex [16]byte
		bw.Write(appendHex(hex[:0], uint64(len(b))))
		bw.WriteString("\r\n")
		bw.Write(b)
		_, err = bw.WriteString("\r\n")
	} else {
		_, err = bw.Write(b)
	}
	a.sent += int64(len(b))
	a.t.bytesOut += int64(len(b))
	return a.flushErr(err)
}

// Fits reports whether Send(n bytes) stays in the output buffer, with no
// write to the client that could block.
func (a *HTTPApplet) Fits(n int) bool {
	return a.started && a.err == nil && a.t.s.bw.Available() >= n+24
}

// Flush sends what the applet left in the output buffer.
func (a *HTTPApplet) Flush() error {
	if a.err != nil {
		return a.err
	}
	if a.t.s.bw.Buffered() == 0 {
		return nil
	}
	return a.flushErr(a.t.s.bw.Flush())
}

func (a *HTTPApplet) flushErr(err error) error {
	if err != nil && a.err == nil {
		a.err = err
		a.t.closeCli = true
		a.t.setTerm('C', 'D')
	}
	return err
}

// finish completes the response after the service returned.
func (a *HTTPApplet) finish() {
	t := a.t
	if !a.started {
		_ = a.StartResponse()
	}
	if a.chunked && a.err == nil {
		t.s.bw.WriteString("0\r\n\r\n")
	}
	_ = a.Flush()
	if a.clOut >= 0 && a.sent != a.clOut && !a.noBody {
		t.closeCli = true // the framing is broken: close
	}
	// Drain an unread request body so the connection stays usable.
	if !t.closeCli {
		if err := a.body.drain(); err != nil {
			t.closeCli = true
		}
	}
	t.tEnd = time.Now()
	t.setTerm('L', '-')
	if t.term[1] == '-' {
		t.term[0] = '-'
	}
}

// bodyReader decodes a request body (content-length or chunked) from the
// client connection.
type bodyReader struct {
	br      *bufio.Reader
	left    int64 // content-length bytes left, or chunk bytes left
	chunked bool
	done    bool
	t       *Txn
	buf     []byte
}

func (r *bodyReader) init(t *Txn) {
	r.t = t
	r.br = t.s.br
	r.chunked = t.req.chunked
	if !r.chunked {
		r.left = max(t.req.contentLength, 0)
		r.done = r.left == 0
	}
	if t.req.expect100 && !r.done {
		_ = writeContinue(t.s.bw)
		t.req.expect100 = false
	}
}

// next makes r.left > 0 (entering the next chunk) or sets done.
func (r *bodyReader) next() error {
	if r.done || r.left > 0 {
		return nil
	}
	if !r.chunked {
		r.done = true
		return nil
	}
	if r.buf != nil { // after a chunk: its CRLF
		l, err := readLine(r.br)
		if err != nil {
			return err
		}
		if len(l) != 0 {
			return errBadChunk
		}
	}
	r.buf = []byte{}
	l, err := readLine(r.br)
	if err != nil {
		return err
	}
	n, err := parseChunkSize(l)
	if err != nil {
		return err
	}
	if n == 0 {
		for {
			l, err := readLine(r.br)
			if err != nil {
				return err
			}
			if len(l) == 0 {
				break
			}
		}
		r.done = true
		return nil
	}
	r.left = n
	return nil
}

func (r *bodyReader) read(n int) ([]byte, error) {
	if err := r.next(); err != nil || r.done {
		return []byte{}, err
	}
	want := int64(n)
	if want > r.left {
		want = r.left
	}
	out := make([]byte, 0, want)
	for int64(len(out)) < want {
		b, err := r.br.Peek(minInt(int(want)-len(out), maxInt(r.br.Buffered(), 1)))
		if len(b) > 0 {
			out = append(out, b...)
			_, _ = r.br.Discard(len(b))
			r.left -= int64(len(b))
			r.t.bytesIn += int64(len(b))
			if r.br.Buffered() == 0 {
				break // return what we have rather than wait
			}
			continue
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return out, err
		}
	}
	return out, nil
}

func (r *bodyReader) readAll() ([]byte, error) {
	var out []byte
	for {
		b, err := r.read(64 << 10)
		out = append(out, b...)
		if err != nil {
			return out, err
		}
		if len(b) == 0 && r.done {
			if out == nil {
				out = []byte{}
			}
			return out, nil
		}
	}
}

func (r *bodyReader) line() ([]byte, error) {
	var out []byte
	for {
		if err := r.next(); err != nil || r.done {
			if out == nil {
				out = []byte{}
			}
			return out, err
		}
		b, err := r.br.Peek(minInt(int(r.left), maxInt(r.br.Buffered(), 1)))
		if len(b) == 0 {
			return out, err
		}
		if i := indexByte(b, '\n'); i >= 0 {
			out = append(out, b[:i+1]...)
			_, _ = r.br.Discard(i + 1)
			r.left -= int64(i + 1)
			r.t.bytesIn += int64(i + 1)
			return out, nil
		}
		out = append(out, b...)
		_, _ = r.br.Discard(len(b))
		r.left -= int64(len(b))
		r.t.bytesIn += int64(len(b))
	}
}

func (r *bodyReader) drain() error {
	for !r.done {
		b, err := r.read(64 << 10)
		if err != nil {
			return err
		}
		if len(b) == 0 && !r.done {
			continue
		}
	}
	return nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// TCPApplet serves a TCP stream locally (tcp-request content use-service).
type TCPApplet struct {
	t *Txn
}

// TCPApplet returns the applet of a TCP transaction.
func (t *Txn) TCPApplet() *TCPApplet { return &TCPApplet{t: t} }

// Receive reads exactly n bytes (n < 0: until the client closes), waiting at
// most timeout (0 = the client timeout). It returns what arrived; an empty
// slice with io.EOF means the client closed.
func (a *TCPApplet) Receive(n int, timeout time.Duration) ([]byte, error) {
	s := a.t.s
	if timeout > 0 {
		s.conn.setReadDeadline(time.Now().Add(timeout))
		defer s.conn.setReadDeadline(time.Time{})
	}
	var out []byte
	for n < 0 || len(out) < n {
		want := 64 << 10
		if n >= 0 {
			want = n - len(out)
		}
		b, err := s.br.Peek(minInt(want, maxInt(s.br.Buffered(), 1)))
		if len(b) > 0 {
			out = append(out, b...)
			_, _ = s.br.Discard(len(b))
			a.t.bytesIn += int64(len(b))
			continue
		}
		if err != nil {
			if out == nil {
				out = []byte{}
			}
			return out, err
		}
	}
	return out, nil
}

// TryReceive returns the bytes available now without waiting; nil when none.
func (a *TCPApplet) TryReceive() ([]byte, error) {
	s := a.t.s
	if s.br.Buffered() == 0 {
		s.conn.setReadDeadline(time.Now().Add(time.Millisecond))
		_, err := s.br.Peek(1)
		s.conn.setReadDeadline(time.Time{})
		if err != nil && !isTimeout(err) {
			return []byte{}, err
		}
	}
	n := s.br.Buffered()
	if n == 0 {
		return nil, nil
	}
	b, _ := s.br.Peek(n)
	out := append([]byte(nil), b...)
	_, _ = s.br.Discard(n)
	a.t.bytesIn += int64(n)
	return out, nil
}

// Getline reads one line, '\n' included (no '\n' at the end of the stream).
func (a *TCPApplet) Getline() ([]byte, error) {
	s := a.t.s
	line, err := s.br.ReadBytes('\n')
	a.t.bytesIn += int64(len(line))
	if line == nil {
		line = []byte{}
	}
	return line, err
}

// Send writes bytes to the client.
func (a *TCPApplet) Send(b []byte) error {
	n, err := a.t.s.conn.Write(b)
	a.t.bytesOut += int64(n)
	return err
}
