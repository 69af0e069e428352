package proxy

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/netip"
	"time"
)

// serveConn runs one accepted client connection to its end.
func (e *Engine) serveConn(l *listener, c net.Conn) {
	fe := l.fe
	now := time.Now()
	e.CurrConns.Add(1)
	e.CumConns.Add(1)
	fe.feConns.Add(1)
	fe.Counters.addConn(now)
	l.Counters.addConn(now)
	s := &session{e: e, fe: fe, l: l, raw: c, accept: now}
	defer func() {
		s.rules.release()
		e.CurrConns.Add(-1)
		fe.feConns.Add(-1)
		_ = c.Close()
	}()
	s.src = addrPortOf(c.RemoteAddr())
	s.dst = addrPortOf(c.LocalAddr())
	if l.conf.AcceptProxy {
		br := bufio.NewReaderSize(c, 256)
		_ = c.SetReadDeadline(now.Add(e.clientTimeout(fe, true)))
		src, dst, err := readProxyHeader(br)
		_ = c.SetReadDeadline(time.Time{})
		if err != nil {
			e.log.Debug("PROXY protocol error from " + s.src.String() + ": " + err.Error())
			return
		}
		if src.IsValid() {
			s.src, s.dst = src, dst
		}
		c = &prefixConn{Conn: c, r: br}
	}
	if l.tlsConf != nil {
		tc := tls.Server(c, l.tlsConf)
		if to := e.clientTimeout(fe, true); to > 0 {
			_ = c.SetDeadline(now.Add(to))
		}
		if err := tc.Handshake(); err != nil {
			e.log.Debug("SSL handshake failure from " + s.src.String() + ": " + err.Error())
			return
		}
		_ = c.SetDeadline(time.Time{})
		st := tc.ConnectionState()
		s.tls = &st
		c = tc
	}
	s.conn = newTimedConn(c, e.clock)
	fe.Counters.addSession(now)
	l.Counters.addSession(now)
	defer fe.Counters.endSession()
	defer l.Counters.endSession()
	if !s.rules.acceptConnection(s) {
		return
	}
	if fe.mode == ModeHTTP {
		s.br = bufio.NewReaderSize(s.conn, e.bufsize)
		s.bw = bufio.NewWriterSize(s.conn, e.bufsize)
		e.connMu.Lock()
		e.conns[s.raw] = s
		e.connMu.Unlock()
		if e.fast != nil && s.tls == nil && s.conn.fast != nil {
			// The fast path serves the connection from an event loop; a
			// transaction it cannot finish comes back here to go on.
			if resume := e.fast.serve(s); resume == nil || !resume() {
				return
			}
		}
		s.serveHTTP()
		return
	}
	s.serveTCP()
}

// clientTimeout is the time allowed for a request's headers (or the TLS
// handshake): timeout http-request, else timeout client.
func (e *Engine) clientTimeout(fe *Proxy, first bool) time.Duration {
	if fe.timeouts.HTTPRequest > 0 {
		return fe.timeouts.HTTPRequest
	}
	return fe.timeouts.Client
}

// keepAliveTimeout is the idle time allowed between two requests.
func (fe *Proxy) keepAliveTimeout() time.Duration {
	if fe.timeouts.HTTPKeepAlive > 0 {
		return fe.timeouts.HTTPKeepAlive
	}
	if fe.timeouts.HTTPRequest > 0 {
		return fe.timeouts.HTTPRequest
	}
	return fe.timeouts.Client
}

func addrPortOf(a net.Addr) netip.AddrPort {
	switch v := a.(type) {
	case *net.TCPAddr:
		ap := v.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return netip.AddrPort{}
}

// serveHTTP is the client-side HTTP/1.1 loop.
func (s *session) serveHTTP() {
	for {
		t := getTxn(s)
		if !s.endTxn(t, s.readAndHandle(t)) {
			return
		}
	}
}

// endTxn accounts, logs and recycles a transaction; it reports whether the
// client connection goes on (after cont, the transaction's own answer).
func (s *session) endTxn(t *Txn, cont bool) bool {
	t.finish()
	putTxn(t)
	if !cont || s.e.stopping.Load() {
		_ = s.bw.Flush()
		return false
	}
	return true
}

// readAndHandle reads one request and processes it; it reports whether the
// client connection may carry another request.
func (s *session) readAndHandle(t *Txn) bool {
	e := s.e
	fe := s.fe
	// Wait for the first byte: the keep-alive timeout (or http-request/client
	// for the first request), as an absolute deadline.
	idle := fe.keepAliveTimeout()
	if s.nreq == 0 {
		idle = e.clientTimeout(fe, true)
	}
	if wto := fe.timeouts.Client; s.conn.wto != wto {
		s.conn.setTimeouts(s.conn.rto, wto)
	}
	if s.br.Buffered() == 0 {
		if idle > 0 {
			s.conn.setReadDeadlineCoarse(e.clock.nowFor(idle).Add(idle), idle/4)
		} else {
			s.conn.setReadDeadline(time.Time{})
		}
	}
	s.idle.Store(true)
	if e.stopping.Load() && s.br.Buffered() == 0 {
		t.noLog = true
		return false
	}
	_, err := s.br.Peek(1)
	s.idle.Store(false)
	if err != nil {
		t.noLog = true
		if s.nreq == 0 && isTimeout(err) && !e.stopping.Load() {
			// timeout http-request expired without a request: 408.
			t.noRequest()
		}
		return false
	}
	t.tReq = time.Now()
	if hr := e.clientTimeout(fe, false); hr > 0 {
		// The headers must be complete within timeout http-request; no
		// deadline is needed when they already are in the buffer.
		if b, _ := s.br.Peek(s.br.Buffered()); headerEnd(b, 0) == 0 {
			s.conn.setReadDeadline(t.tReq.Add(hr))
		}
	}
	if !t.readRequest() {
		return false
	}
	t.handle()
	return !t.closeCli
}

// readRequest reads and parses the request head from the client buffer. On
// failure the answer is written and it returns false.
func (t *Txn) readRequest() bool {
	s := t.s
	err := t.req.readHeaderBlock(s.br)
	if err == nil {
		err = t.req.parseRequest(s.e.maxHdr)
	}
	t.tHdr = time.Now()
	t.bytesIn = int64(len(t.req.buf))
	if err != nil {
		t.requestFailed(err)
		return false
	}
	t.requestParsed()
	s.conn.setTimeouts(t.fe.timeouts.Client, t.fe.timeouts.Client)
	return true
}

// noRequest answers 408 when timeout http-request expires before a
// connection's first request.
func (t *Txn) noRequest() {
	t.noLog = t.fe.dontLogNull
	t.tReq = time.Now()
	t.setTerm('c', 'R')
	t.badReq = true
	t.sendError(408)
}

// requestFailed answers a request head that could not be read or parsed.
func (t *Txn) requestFailed(err error) {
	t.badReq = true
	t.fe.Counters.Ereq.Add(1)
	switch {
	case isTimeout(err):
		t.setTerm('c', 'R')
		t.sendError(408)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		t.setTerm('C', 'R')
		t.status = 400
		t.closeCli = true
	case errors.Is(err, errBadVersion):
		t.setTerm('P', 'R')
		t.sendError(505)
	default:
		t.setTerm('P', 'R')
		t.sendError(400)
	}
}

// requestParsed accounts a request whose head was parsed.
func (t *Txn) requestParsed() {
	t.s.nreq++
	t.captureHeaders(false)
	t.s.e.CumReq.Add(1)
	t.fe.Counters.addRequest(t.tHdr)
}

// handle runs a parsed request through the rules and to a server.
func (t *Txn) handle() {
	be, v := t.route()
	if be == nil {
		t.applyVerdict(v)
		return
	}
	t.serveBackend(be)
}

// route runs the frontend's rules and selects the backend. Without a
// backend it returns the final verdict to apply instead.
func (t *Txn) route() (*Proxy, verdict) {
	fe := t.fe
	if t.req.connClose || fe.connMode == connClose {
		t.closeCli = true
	}
	if t.req.clTE {
		// RFC 9112 §6.1: Transfer-Encoding overrides Content-Length and the
		// connection must close after the response.
		t.closeCli = true
	}
	if v := t.rules.httpRequest(t, fe); v.final() {
		return nil, v
	}
	be := t.selectBackend()
	if be == nil {
		return nil, verdict{kind: verdictNoBackend}
	}
	return be, verdict{}
}

// serveBackend runs the backend's rules, then the service or the forward.
func (t *Txn) serveBackend(be *Proxy) {
	t.enterBackend(be)
	defer be.BeCounters.endSession()
	if v := t.backendRules(); v.final() {
		t.applyVerdict(v)
		return
	}
	if t.service != "" {
		t.runService()
		return
	}
	t.forward()
}

// enterBackend makes be the transaction's backend (a backend session until
// the transaction leaves it).
func (t *Txn) enterBackend(be *Proxy) {
	t.be = be
	be.BeCounters.addSession(t.tHdr)
}

// backendRules runs the backend's http-request rules (a listen section's
// ran as the frontend's).
func (t *Txn) backendRules() verdict {
	if t.be == t.fe {
		return verdict{}
	}
	return t.rules.httpRequest(t, t.be)
}

// selectBackend applies use_backend rules, then default_backend; a listen
// section falls back to itself.
func (t *Txn) selectBackend() *Proxy {
	if be := t.rules.switchBackend(t); be != nil {
		return be
	}
	if t.fe.defaultBE != nil {
		return t.fe.defaultBE
	}
	if t.fe.isBE {
		return t.fe
	}
	return nil
}

// finish accounts and logs the transaction.
func (t *Txn) finish() {
	if t.tEnd.IsZero() {
		t.tEnd = time.Now()
	}
	fe := t.fe
	if t.status > 0 {
		fe.Counters.addStatus(t.status)
	}
	fe.Counters.Bin.Add(t.bytesIn)
	fe.Counters.Bout.Add(t.bytesOut)
	if be := t.be; be != nil {
		be.BeCounters.Bin.Add(t.bytesIn)
		be.BeCounters.Bout.Add(t.bytesOut)
		if t.status > 0 {
			be.BeCounters.addStatus(t.status)
		}
		_, tw, tc, tr, ta := t.timers()
		be.BeCounters.addTimes(tw, tc, tr, ta)
		if s := t.srv; s != nil {
			s.Counters.Bin.Add(t.bytesIn)
			s.Counters.Bout.Add(t.bytesOut)
			if t.status > 0 {
				s.Counters.addStatus(t.status)
			}
			s.Counters.addTimes(tw, tc, tr, ta)
		}
	}
	if t.noLog || t.logLevel < 0 {
		return
	}
	t.emitLog()
}
