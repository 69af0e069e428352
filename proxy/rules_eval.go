package proxy

import (
	"bufio"
	"bytes"
	"time"

	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// Extensions are the request-path hooks other packages (the Lua host) add to
// an engine: sample fetches and converters, actions and services.
type Extensions struct {
	// Samples registers extra fetches and converters ("lua.<name>") before
	// any rule is compiled.
	Samples func(reg *sample.Registry) error
	// Actions are the extra rule actions, keyed by their keyword
	// ("lua.<name>").
	Actions map[string]ActionDef
	// Services are the extra services for use-service, keyed by name
	// ("lua.<name>").
	Services map[string]ServiceDef
}

// ActionResult is what an extension action returns (HAProxy's act.* codes).
type ActionResult int

// Action results, numbered as HAProxy's act table.
const (
	ActContinue ActionResult = 0
	ActStop     ActionResult = 1
	ActYield    ActionResult = 2
	ActError    ActionResult = 3
	ActDone     ActionResult = 4
	ActDeny     ActionResult = 5
	ActAbort    ActionResult = 6
	ActInvalid  ActionResult = 7
)

// ActionDef defines an extension action.
type ActionDef struct {
	// Facilities lists where it may be used: "http-req", "http-res",
	// "http-after-res", "tcp-req", "tcp-res".
	Facilities []string
	// NbArgs is the exact number of words the rule takes after the keyword.
	NbArgs int
	// Run executes the action with the rule's words.
	Run func(t *Txn, args []string) ActionResult
}

// ServiceDef defines an extension service (an applet answering requests).
type ServiceDef struct {
	// Mode is "http" or "tcp".
	Mode string
	// Run serves the transaction.
	Run func(t *Txn)
}

// acceptConnection runs tcp-request connection then session rules.
func (r *sessionRules) acceptConnection(s *session) bool {
	fe := s.fe
	if len(fe.rules.tcpConn) == 0 && len(fe.rules.tcpSess) == 0 {
		return true
	}
	t := getTxn(s)
	defer putTxn(t)
	for _, rs := range []ruleSet{fe.rules.tcpConn, fe.rules.tcpSess} {
		v := rs.eval(t)
		switch v.kind {
		case verdictReject:
			fe.Counters.DCon.Add(1)
			return false
		case verdictAllow:
			continue
		}
	}
	return true
}

// tcpContent runs tcp-request content rules of p, waiting up to
// inspect-delay for request data the rules may need.
func (r *txnRules) tcpContent(t *Txn, p *Proxy) verdict {
	rs := p.rules.tcpContent
	if len(rs) == 0 {
		return verdict{}
	}
	if d := p.conf.TCPRequestInspectDelay; d > 0 && t.s.br != nil {
		t.s.conn.setReadDeadline(time.Now().Add(d))
		_, _ = t.s.br.Peek(1)
		t.s.conn.setReadDeadline(time.Time{})
	}
	v := rs.eval(t)
	if v.kind == verdictAllow {
		return verdict{}
	}
	return v
}

// httpRequest runs p's http-request rules (and buffers the body first when
// option http-buffer-request is set).
func (r *txnRules) httpRequest(t *Txn, p *Proxy) verdict {
	r.dir = sample.DirRequest
	if p.rules.bufferReq && r.body == nil {
		var deadline time.Time
		if hr := t.fe.timeouts.HTTPRequest; hr > 0 {
			deadline = t.tReq.Add(hr)
		}
		if v := t.bufferBody(deadline, 0); v.final() {
			return v
		}
	}
	if len(p.rules.tcpContent) > 0 && p.mode == ModeHTTP {
		if v := r.tcpContent(t, p); v.final() {
			return v
		}
	}
	v := p.rules.httpReq.eval(t)
	if v.kind == verdictAllow {
		v = verdict{}
	}
	if !v.final() && p.stats != nil && t.service == "" && p.stats.match(t) {
		// The stats page: an implicit use-service once the rules let the
		// request through.
		t.service = statsServiceName
		return verdict{kind: verdictService}
	}
	return v
}

// httpResponse runs the backend's then the frontend's http-response rules.
func (r *txnRules) httpResponse(t *Txn) verdict {
	r.dir = sample.DirResponse
	for _, p := range t.respProxies() {
		v := p.rules.httpRes.eval(t)
		if v.kind == verdictAllow {
			break
		}
		if v.final() {
			return v
		}
	}
	t.countHTTP()
	return verdict{}
}

// respProxies lists the proxies whose response rules apply, backend first.
func (t *Txn) respProxies() []*Proxy {
	if t.be != nil && t.be != t.fe {
		return []*Proxy{t.be, t.fe}
	}
	return []*Proxy{t.fe}
}

// httpAfterResponse runs http-after-response rules (also on responses Moonbus
// generates itself).
func (r *txnRules) httpAfterResponse(t *Txn) {
	r.dir = sample.DirResponse
	for _, p := range t.respProxies() {
		if v := p.rules.httpAfter.eval(t); v.kind == verdictAllow {
			return
		}
	}
}

// countHTTP updates the tracked entries' HTTP counters for the response.
func (t *Txn) countHTTP() {
	var ev stick.Event
	switch {
	case t.status >= 400 && t.status < 500:
		ev = stick.EvHTTPErr
	case t.status >= 500:
		ev = stick.EvHTTPFail
	default:
		return
	}
	for i := 0; i < 3; i++ {
		if ref := t.StickCounter(i); ref != nil {
			ref.Count(ev)
		}
	}
}

// applyVerdict answers the client for a final request verdict.
func (t *Txn) applyVerdict(v verdict) {
	switch v.kind {
	case verdictDeny:
		t.setTerm('P', 'R')
		t.fe.Counters.Dreq.Add(1)
		t.countStatus(v.status)
		if v.raw != nil {
			t.status = v.status
			t.closeCli = true
			t.writeLocal(v.raw)
			return
		}
		t.sendError(v.status)
	case verdictError:
		t.fe.Counters.Ereq.Add(1)
		if v.status == 0 {
			t.closeCli = true
			return
		}
		t.countStatus(v.status)
		t.sendError(v.status)
	case verdictTarpit:
		t.setTerm('P', 'T')
		t.fe.Counters.Dreq.Add(1)
		d := t.fe.timeouts.Tarpit
		if d == 0 && t.be != nil {
			d = t.be.timeouts.Tarpit
		}
		if d == 0 {
			d = t.fe.timeouts.Connect
			if t.be != nil && d == 0 {
				d = t.be.timeouts.Connect
			}
		}
		if d > 0 {
			select {
			case <-time.After(d):
			case <-t.s.e.ctx.Done():
			}
		}
		t.countStatus(v.status)
		if v.raw != nil {
			t.status = v.status
			t.closeCli = true
			t.writeLocal(v.raw)
			return
		}
		t.sendError(v.status)
	case verdictReturn:
		t.setTerm('L', 'R')
		t.status = v.status
		t.countStatus(v.status)
		t.fe.Counters.Intercepted.Add(1)
		t.writeLocal(v.raw)
	case verdictReject:
		t.setTerm('P', 'R')
		t.fe.Counters.Dreq.Add(1)
		t.closeCli = true
		t.noLog = t.noLog || false
	case verdictDone:
		t.setTerm('L', 'R')
	case verdictService:
		t.runService()
	case verdictNoBackend:
		t.setTerm('P', 'R')
		t.sendError(503)
	}
}

// countStatus feeds the tracked entries for a locally generated status.
func (t *Txn) countStatus(code int) {
	t.status = code
	t.countHTTP()
}

// writeLocal sends a response generated by Moonbus (return, redirect, deny
// with a payload) after the http-after-response rules.
func (t *Txn) writeLocal(raw []byte) {
	if len(t.fe.rules.httpAfter) == 0 && (t.be == nil || len(t.be.rules.httpAfter) == 0) {
		t.writeRaw(raw)
		return
	}
	// Parse our own response so after-response rules can edit it.
	br := bufio.NewReaderSize(bytesReader(raw), len(raw)+16)
	t.rsp.reset()
	if err := t.rsp.readHeaderBlock(br); err != nil || t.rsp.parseResponse(t.s.e.maxHdr) != nil {
		t.writeRaw(raw)
		return
	}
	body := raw[len(t.rsp.buf):]
	t.rules.httpAfterResponse(t)
	t.status = t.rsp.status
	if t.closeCli {
		t.rsp.DelHeader("connection")
		t.rsp.AddHeader("connection", "close")
	}
	bw := t.s.bw
	n := bw.Buffered()
	t.rsp.writeResponseHead(bw)
	bw.Write(body)
	t.bytesOut += int64(bw.Buffered() - n)
	_ = bw.Flush()
}

// applyResponseVerdict answers the client for a final response verdict.
func (t *Txn) applyResponseVerdict(v verdict) {
	t.setTerm('P', 'H')
	if t.be != nil {
		t.be.BeCounters.Dresp.Add(1)
	}
	t.fe.Counters.Dresp.Add(1)
	switch v.kind {
	case verdictDone:
		// The action answered itself (Lua txn:done(reply)); the server's
		// response is dropped with its connection.
		t.setTerm('L', 'H')
	case verdictReturn:
		t.setTerm('L', 'H')
		t.status = v.status
		t.writeLocal(v.raw)
	case verdictDeny:
		if v.raw != nil {
			t.status = v.status
			t.closeCli = true
			t.writeLocal(v.raw)
			return
		}
		t.sendError(v.status)
	case verdictReject:
		t.closeCli = true
	default:
		t.sendError(502)
	}
}

// applyTCPVerdict ends a TCP session for a final tcp-request verdict.
func (t *Txn) applyTCPVerdict(v verdict) {
	t.setTerm('P', 'R')
	if v.kind == verdictService {
		t.runService()
	}
}

// runService runs the applet chosen by use-service.
func (t *Txn) runService() {
	name := t.service
	if ext := t.s.e.rules.ext; ext != nil {
		if sd, ok := ext.Services[name]; ok {
			t.service = "<" + name + ">"
			t.fe.Counters.Intercepted.Add(1)
			// An applet has no queue, no connect and answers at once:
			// its log timers are 0 (Tw/Tc/Tr), as HAProxy prints them.
			t.tQueued, t.tConnect, t.connected = 0, 0, true
			sd.Run(t)
			if t.IsHTTP() {
				t.HTTPApplet().finish()
			} else {
				t.tEnd = time.Now()
			}
			return
		}
	}
	if svc, ok := builtinServices[name]; ok {
		t.service = svc.logName
		svc.run(t)
		return
	}
	t.setTerm('P', 'R')
	t.sendError(500)
}

// builtinService is a service implemented in Go (prometheus-exporter...).
type builtinService struct {
	logName  string
	run      func(t *Txn)
	internal bool // not usable with use-service (the stats page)
}

// builtinServices holds the built-in services, filled by their files' init.
var builtinServices = map[string]builtinService{}

// bufferBody waits until the request body is in the client buffer (option
// http-buffer-request, wait-for-body) so that req.body can see it; the body
// is still forwarded from the buffer afterwards. The wait ends with the whole
// body, atLeast bytes of it (when > 0), or a full buffer, whichever comes
// first. Past deadline (zero: only timeout client applies) the request is
// answered 408; a client that goes away ends it without a response.
func (t *Txn) bufferBody(deadline time.Time, atLeast int64) verdict {
	r := &t.req
	t.rules.body = []byte{}
	if !r.chunked && r.contentLength <= 0 {
		return verdict{}
	}
	if r.expect100 {
		// The client waits for "100 Continue" before sending the body.
		if writeContinue(t.s.bw) != nil {
			return verdict{}
		}
		r.expect100 = false
		r.DelHeader("expect")
	}
	br := t.s.br
	if !deadline.IsZero() {
		t.s.conn.setReadDeadline(deadline)
		defer t.s.conn.setTimeouts(t.fe.timeouts.Client, t.fe.timeouts.Client)
	}
	for {
		raw, _ := br.Peek(br.Buffered())
		var done bool
		if r.chunked {
			var bad bool
			t.rules.body, done, bad = decodeChunks(t.rules.body[:0], raw)
			done = done || bad // a malformed body is reported by the forwarding
		} else {
			if int64(len(raw)) >= r.contentLength {
				raw = raw[:r.contentLength]
				done = true
			}
			t.rules.body = raw
		}
		if done || (atLeast > 0 && int64(len(t.rules.body)) >= atLeast) || len(raw) >= br.Size() {
			if !r.chunked {
				// A copy: the buffer is reused once the body is forwarded
				// and req.body may still be read at log time.
				t.rules.body = append([]byte(nil), t.rules.body...)
			}
			return verdict{}
		}
		if _, err := br.Peek(len(raw) + 1); err != nil { // wait for more
			if isTimeout(err) {
				t.setTerm('c', 'R')
				return verdict{kind: verdictError, status: 408}
			}
			t.setTerm('C', 'R')
			return verdict{kind: verdictError}
		}
	}
}

// decodeChunks appends to dst the data of the chunked body at the start of
// raw. done reports that the last chunk was seen; bad a framing error.
func decodeChunks(dst, raw []byte) (out []byte, done, bad bool) {
	for {
		nl := bytes.IndexByte(raw, '\n')
		if nl < 0 {
			return dst, false, false
		}
		line := raw[:nl]
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
		}
		size, err := parseChunkSize(line)
		if err != nil {
			return dst, false, true
		}
		raw = raw[nl+1:]
		if size == 0 {
			return dst, true, false
		}
		if int64(len(raw)) < size+2 {
			if int64(len(raw)) > size {
				raw = raw[:size]
			}
			return append(dst, raw...), false, false
		}
		dst = append(dst, raw[:size]...)
		if raw[size] == '\r' && raw[size+1] == '\n' {
			raw = raw[size+2:]
		} else if raw[size] == '\n' {
			raw = raw[size+1:]
		} else {
			return dst, false, true
		}
	}
}

// bytesReader returns an io.Reader over b.
func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
