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
		t.bufferBody()
	}
	if len(p.rules.tcpContent) > 0 && p.mode == ModeHTTP {
		if v := r.tcpContent(t, p); v.final() {
			return v
		}
	}
	v := p.rules.httpReq.eval(t)
	if v.kind == verdictAllow {
		return verdict{}
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
	logName string
	run     func(t *Txn)
}

// builtinServices holds the built-in services, filled by their files' init.
var builtinServices = map[string]builtinService{}

// bufferBody reads a request body of known length into the client buffer
// (option http-buffer-request) so req.body can see it; the body is still
// forwarded from the buffer afterwards.
func (t *Txn) bufferBody() {
	r := &t.req
	if r.contentLength <= 0 || r.contentLength > int64(t.s.br.Size()) {
		t.rules.body = []byte{}
		return
	}
	if r.expect100 {
		// The client waits for "100 Continue" before sending the body.
		if writeContinue(t.s.bw) != nil {
			t.rules.body = []byte{}
			return
		}
		r.expect100 = false
		r.DelHeader("expect")
	}
	b, err := t.s.br.Peek(int(r.contentLength))
	if err != nil {
		t.rules.body = []byte{}
		return
	}
	t.rules.body = b
}

// bytesReader returns an io.Reader over b.
func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
