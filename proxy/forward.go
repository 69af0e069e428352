package proxy

import (
	"errors"
	"io"
	"net"
	"time"
)

// effConnMode combines the frontend and backend options: close beats
// server-close beats keep-alive.
func (t *Txn) effConnMode() connMode {
	m := t.fe.connMode
	if t.be != nil && t.be.connMode > m {
		m = t.be.connMode
	}
	return m
}

// hasReqBody reports whether the request carries a body.
func (t *Txn) hasReqBody() bool { return t.req.chunked || t.req.contentLength > 0 }

// prepareRequest rewrites hop-by-hop headers before the request leaves.
func (t *Txn) prepareRequest() {
	r := &t.req
	r.DelHeader("connection")
	r.DelHeader("proxy-connection")
	r.DelHeader("keep-alive")
	if r.upgrade {
		r.AddHeader("Connection", "upgrade")
	} else {
		r.DelHeader("upgrade")
		if t.effConnMode() != connKeepAlive {
			r.AddHeader("Connection", "close")
		} else if r.minor == 0 {
			r.AddHeader("Connection", "keep-alive") // HTTP/1.0 closes by default
		}
	}
	if r.expect100 && t.hasReqBody() {
		// We answer "100 Continue" ourselves right before streaming the
		// body, so the server never waits for a client that waits for it.
		r.DelHeader("expect")
	}
	t.addForwardedFor()
}

// addForwardedFor implements option forwardfor.
func (t *Txn) addForwardedFor() {
	ff := t.fe.fwdFor
	name := "X-Forwarded-For"
	ifNone := false
	if t.be != nil && t.be.fwdFor != nil {
		if t.be.fwdFor.Header != "" {
			name = t.be.fwdFor.Header
		}
		ifNone = t.be.fwdFor.IfNone
		if ff == nil {
			ff = t.be.fwdFor
		} else {
			ifNone = ifNone && ff.IfNone
		}
	} else if ff != nil {
		if ff.Header != "" {
			name = ff.Header
		}
		ifNone = ff.IfNone
	}
	if ff == nil {
		return
	}
	src := t.s.src.Addr()
	if ff.Except != "" && matchExcept(ff.Except, src) {
		return
	}
	if ifNone {
		if _, ok := t.req.Header(name); ok {
			return
		}
	}
	var buf [64]byte
	t.req.AddHeaderBytes(name, src.AppendTo(buf[:0]))
}

// forward sends the request to a server of t.be and relays the response.
func (t *Txn) forward() {
	t.prepareRequest()
	t.forwardFrom(fwdState{key: t.lbKey()})
}

// fwdState is the progress of a forward across connection attempts, so that
// a transaction started on an event loop can go on in a goroutine.
type fwdState struct {
	key lbKey
	// srv is a server whose slot is already held: the first attempt uses it.
	srv *Server
	// q, when set, is the queue the first attempt waits in (every server
	// was full), for qSrv (nil: the backend queue).
	q    *waitQueue
	qSrv *Server
	// avoid and retrySrv steer retries and the redispatch.
	avoid, retrySrv *Server
	failures        int
}

// forwardFrom runs forward's connection attempts from fs.
func (t *Txn) forwardFrom(fs fwdState) {
	be := t.be
	e := t.s.e
	for {
		srv := fs.srv
		fs.srv = nil
		if srv == nil {
			var waited time.Duration
			var err error
			if fs.q == nil {
				srv, err = t.pickServer(&fs)
			}
			if srv == nil && err == nil {
				srv, waited, err = be.wait(e.ctx, fs.q, fs.qSrv)
				fs.q, fs.qSrv = nil, nil
			}
			t.addQueued(waited)
			if err != nil {
				t.noServer(err)
				return
			}
		}
		t.useServer(srv)
		sc, err := t.connect(srv)
		if err != nil {
			if t.connectFailed(srv, err, &fs) {
				continue
			}
			return
		}
		if !t.attempt(srv, sc) {
			return
		}
	}
}

// pickServer takes a server slot for the next attempt without waiting. When
// every usable server is full it returns neither a server nor an error and
// leaves in fs the queue to wait in.
func (t *Txn) pickServer(fs *fwdState) (*Server, error) {
	force := t.forcedServer()
	if force == nil {
		force = fs.retrySrv
	}
	srv, q, qSrv, err := t.be.pick(fs.key, force, fs.avoid)
	if srv == nil && err == nil {
		fs.q, fs.qSrv = q, qSrv
	}
	return srv, err
}

// attempt runs the exchange on a connected server connection. It reports
// whether the request must be replayed on a fresh connection (a reused idle
// connection was closed by the server before any response byte).
func (t *Txn) attempt(srv *Server, sc *srvConn) (retry bool) {
	srv.observeL4(true)
	t.slotHeld = true
	retry = t.exchange(srv, sc)
	t.releaseSlot()
	if retry {
		t.rsp.reset()
		t.status = 0
	}
	return retry
}

// addQueued accounts time spent in a queue (%Tw); zero marks it reached.
func (t *Txn) addQueued(waited time.Duration) {
	if t.tQueued < 0 {
		t.tQueued = 0
	}
	t.tQueued += waited
}

// noServer answers 503 when no server slot could be had.
func (t *Txn) noServer(err error) {
	switch {
	case errors.Is(err, errQueueTimeout):
		t.setTerm('s', 'Q')
	default:
		t.setTerm('S', 'C')
	}
	t.tConnect = -1
	t.sendError(503)
}

// useServer accounts the server picked for an attempt (its slot is held).
func (t *Txn) useServer(srv *Server) {
	t.srv = srv
	srv.Counters.Lbtot.Add(1)
	t.be.BeCounters.Lbtot.Add(1)
	srv.Counters.addSession(t.tHdr)
}

// connectFailed accounts a failed connection attempt on srv and gives its
// slot back. It reports whether to try again (fs tells where); otherwise
// the 503 was sent.
func (t *Txn) connectFailed(srv *Server, err error, fs *fwdState) bool {
	be := t.be
	srv.Counters.endSession()
	srv.release()
	srv.Counters.Econ.Add(1)
	be.BeCounters.Econ.Add(1)
	srv.observeL4(false)
	fs.failures++
	if fs.failures > be.retries {
		if isTimeout(err) {
			t.setTerm('s', 'C')
		} else {
			t.setTerm('S', 'C')
		}
		t.sendError(503)
		return false
	}
	t.retries++
	srv.Counters.Wretr.Add(1)
	be.BeCounters.Wretr.Add(1)
	// Retries stay on the same server; with option redispatch the last one
	// goes to another server.
	fs.retrySrv = srv
	if be.redispatch && fs.failures == be.retries {
		fs.avoid, fs.retrySrv = srv, nil
		t.redisp = true
		srv.Counters.Wredis.Add(1)
		be.BeCounters.Wredis.Add(1)
	}
	return true
}

// forcedServer returns the server required by use-server rules, if any.
func (t *Txn) forcedServer() *Server { return t.rules.forcedServer(t) }

// connect returns a pooled connection or dials a new one.
func (t *Txn) connect(srv *Server) (*srvConn, error) {
	sni := srv.sniFor(t)
	if c := t.reuseConn(srv, sni, nil); c != nil {
		return c, nil
	}
	return t.dialConn(srv, sni)
}

// reuseConn returns an idle keep-alive connection to srv, or nil; pref, if
// set, tells which idle connections to prefer.
func (t *Txn) reuseConn(srv *Server, sni string, pref func(*srvConn) bool) *srvConn {
	if t.effConnMode() != connKeepAlive || t.req.upgrade {
		return nil
	}
	c := srv.idleConn(sni, pref)
	if c == nil {
		return nil
	}
	srv.Counters.Reuse.Add(1)
	t.be.BeCounters.Reuse.Add(1)
	if t.tConnect < 0 {
		t.tConnect = 0
	}
	t.connected = true
	return c
}

// dialConn opens a new connection to srv (it may block up to timeout
// connect).
func (t *Txn) dialConn(srv *Server, sni string) (*srvConn, error) {
	e := t.s.e
	start := time.Now()
	c, err := srv.dial(e.ctx, int(t.s.dst.Port()), t.be.timeoutConnect(), e.bufsize, sni)
	if t.tConnect < 0 {
		t.tConnect = 0
	}
	t.tConnect += time.Since(start)
	if err != nil {
		return nil, err
	}
	srv.Counters.Connect.Add(1)
	t.be.BeCounters.Connect.Add(1)
	t.connected = true
	return c, nil
}

// exchange sends the request on sc and relays the response. It returns true
// when the request must be replayed on a fresh connection (a reused idle
// connection was closed by the server before any response byte).
func (t *Txn) exchange(srv *Server, sc *srvConn) (retry bool) {
	s := t.s
	be := t.be
	t.attachServer(srv, sc)
	defer t.detachServer(false)

	// Request head.
	t.req.writeRequestHead(sc.bw)
	hasBody := t.hasReqBody()
	if !hasBody {
		if err := sc.bw.Flush(); err != nil {
			if sc.reused {
				return true
			}
			t.serverFailed(err, false)
			return false
		}
	} else {
		if t.req.expect100 {
			if err := writeContinue(s.bw); err != nil {
				t.setTerm('C', 'D')
				t.closeCli = true
				return false
			}
		}
		var n int64
		var err error
		if t.req.chunked {
			n, err = copyChunked(sc.bw, s.br, s.e.maxHdr)
		} else {
			n, err = copyN(sc.bw, s.br, t.req.contentLength)
		}
		t.bytesIn += n
		if err == nil {
			err = dstErr(sc.bw.Flush())
		}
		if err != nil {
			t.closeCli = true
			if isSrcErr(err) {
				// Client-side failure while streaming the body.
				if errors.Is(err, errBadChunk) {
					t.setTerm('P', 'D')
					be.BeCounters.Eresp.Add(0)
					t.fe.Counters.Ereq.Add(1)
					t.sendError(400)
				} else if isTimeout(err) {
					t.setTerm('c', 'D')
					t.fe.Counters.CliAbrt.Add(1)
				} else {
					t.setTerm('C', 'D')
					srv.Counters.CliAbrt.Add(1)
					be.BeCounters.CliAbrt.Add(1)
				}
				return false
			}
			// The server stopped reading: it may still have answered.
		}
	}

	// Response head, skipping interim responses.
	for {
		err := t.rsp.readHeaderBlock(sc.br)
		if err == nil {
			err = t.rsp.parseResponse(s.e.maxHdr)
		}
		if err != nil {
			if sc.reused && len(t.rsp.buf) == 0 && !hasBody && !isTimeout(err) && t.st.killed.Load() == 0 {
				return true
			}
			t.serverFailed(err, true)
			return false
		}
		if t.rsp.status >= 200 || t.rsp.status == 101 {
			break
		}
		// 1xx interim: forward it (a 100 is swallowed when we sent ours).
		if !(t.rsp.status == 100 && t.req.expect100) {
			t.rsp.writeResponseHead(s.bw)
			_ = s.bw.Flush()
		}
	}
	if !t.responseHead(srv, time.Now()) {
		return false
	}

	if t.rsp.status == 101 && t.req.upgrade {
		t.tunnelUpgrade(sc)
		return false
	}

	noBody, closeDelimited := t.startResponse()
	t.relayBody(sc, noBody, closeDelimited)
	return false
}

// attachServer makes sc the transaction's server connection, registered
// as a stream of srv (shutdown sessions, on-marked-down).
func (t *Txn) attachServer(srv *Server, sc *srvConn) {
	t.sc = sc
	t.st.client = t.s.raw
	t.st.srv = srv
	t.st.server.Store(sc)
	srv.addStream(&t.st)
	sc.tc.setTimeouts(t.be.timeouts.Server, t.be.timeouts.Server)
}

// detachServer gives the server connection back (to the pool when
// reusable) and the server slot to the next queued request. It runs as soon
// as the response is read, before the last bytes are flushed to the client,
// so a client's next request finds the connection idle.
func (t *Txn) detachServer(reusable bool) {
	sc := t.sc
	if sc == nil {
		return
	}
	t.sc = nil
	sc.srv.removeStream(&t.st)
	if reusable && t.st.killed.Load() == 0 {
		// The deadlines stay: nobody reads an idle connection, and the next
		// Read or Write renews a stale one before it waits, so parking costs
		// no timer updates.
		sc.srv.pool.put(sc)
	} else {
		sc.close()
	}
	t.releaseSlot()
}

// relayBody relays the response body to the client and completes the
// transaction's exchange.
func (t *Txn) relayBody(sc *srvConn, noBody, closeDelimited bool) {
	s := t.s
	sc.tc.setTimeouts(t.be.timeouts.Server, t.be.timeouts.Server)
	var n int64
	var err error
	switch {
	case noBody:
		err = dstErr(s.bw.Flush())
	case t.rsp.chunked:
		n, err = copyChunked(s.bw, sc.br, s.e.maxHdr)
	case t.rsp.contentLength >= 0:
		n, err = copyN(s.bw, sc.br, t.rsp.contentLength)
	default:
		n, err = copyUntilEOF(s.bw, sc.br)
	}
	t.bytesOut += n
	if err == nil {
		t.detachServer(t.reusable(closeDelimited))
		err = dstErr(s.bw.Flush())
	}
	if err != nil {
		t.bodyFailed(err)
		return
	}
	t.tEnd = time.Now()
}

// responseHead handles a final response head just parsed: timers, status,
// passive health, captures and the http-response rules. It returns false
// when a rule answered instead (the answer is written).
func (t *Txn) responseHead(srv *Server, now time.Time) bool {
	t.tRespHdr = now
	t.status = t.rsp.status
	srv.observeL7(t.status)
	t.captureHeaders(true)
	if v := t.rules.httpResponse(t); v.final() {
		t.applyResponseVerdict(v)
		return false
	}
	return true
}

// startResponse decides the framing of the response towards the client,
// runs the http-after-response rules and writes the head to the client
// buffer.
func (t *Txn) startResponse() (noBody, closeDelimited bool) {
	noBody = t.rsp.status == 204 || t.rsp.status == 304 || equalFold(t.req.Method(), "HEAD")
	closeDelimited = !noBody && !t.rsp.chunked && t.rsp.contentLength < 0
	if closeDelimited {
		t.closeCli = true
	}
	if t.s.e.stopping.Load() {
		t.closeCli = true
	}
	t.rules.httpAfterResponse(t)
	t.prepareResponse()
	bw := t.s.bw
	hdrLen := bw.Buffered()
	t.rsp.writeResponseHead(bw)
	t.bytesOut += int64(bw.Buffered() - hdrLen)
	return noBody, closeDelimited
}

// reusable reports whether the server connection may serve another request
// once this response is complete.
func (t *Txn) reusable(closeDelimited bool) bool {
	return !closeDelimited && !t.rsp.connClose && t.effConnMode() == connKeepAlive && !t.s.e.stopping.Load()
}

// bodyFailed maps a failure while relaying the response body (a side
// error: the server's or the client's) to the termination state.
func (t *Txn) bodyFailed(err error) {
	srv, be := t.srv, t.be
	t.closeCli = true
	if code := t.st.killed.Load(); code != 0 {
		t.setTerm(byte(code), 'D')
		return
	}
	if isSrcErr(err) {
		if isTimeout(err) {
			t.setTerm('s', 'D')
		} else {
			t.setTerm('S', 'D')
		}
		srv.Counters.SrvAbrt.Add(1)
		be.BeCounters.SrvAbrt.Add(1)
	} else {
		if isTimeout(err) {
			t.setTerm('c', 'D')
		} else {
			t.setTerm('C', 'D')
		}
		srv.Counters.CliAbrt.Add(1)
		be.BeCounters.CliAbrt.Add(1)
	}
}

// releaseSlot gives the server slot back once.
func (t *Txn) releaseSlot() {
	if !t.slotHeld {
		return
	}
	t.slotHeld = false
	t.srv.Counters.endSession()
	t.srv.release()
}

// serverFailed maps a server-side failure before the response headers to
// HAProxy's status and termination state.
func (t *Txn) serverFailed(err error, reading bool) {
	srv, be := t.srv, t.be
	t.closeCli = true
	if code := t.st.killed.Load(); code != 0 {
		t.setTerm(byte(code), 'H')
		t.status = -1
		return
	}
	srv.Counters.Eresp.Add(1)
	be.BeCounters.Eresp.Add(1)
	switch {
	case isTimeout(err):
		t.setTerm('s', 'H')
		srv.observeL4(false)
		t.sendError(504)
	case errors.Is(err, errTooLarge), errors.Is(err, errBadStatusLine), errors.Is(err, errBadHeader),
		errors.Is(err, errBadCL), errors.Is(err, errBadTE), errors.Is(err, errTooManyHeaders):
		t.setTerm('P', 'H')
		srv.observeL7(502)
		t.sendError(502)
	default:
		t.setTerm('S', 'H')
		srv.observeL4(false)
		t.sendError(502)
	}
}

// prepareResponse rewrites hop-by-hop headers of the response.
func (t *Txn) prepareResponse() {
	r := &t.rsp
	r.DelHeader("connection")
	r.DelHeader("proxy-connection")
	r.DelHeader("keep-alive")
	if t.closeCli {
		r.AddHeader("connection", "close")
	} else if t.req.minor == 0 {
		r.AddHeader("connection", "keep-alive")
	}
}

// tunnelUpgrade relays a 101 Switching Protocols and then both directions.
func (t *Txn) tunnelUpgrade(sc *srvConn) {
	s := t.s
	t.rsp.DelHeader("connection")
	t.rsp.AddHeader("connection", "upgrade")
	t.rsp.writeResponseHead(s.bw)
	if err := s.bw.Flush(); err != nil {
		t.setTerm('C', 'D')
		t.closeCli = true
		return
	}
	t.closeCli = true
	to := t.be.timeouts.Tunnel
	if to == 0 {
		to = t.be.timeouts.Server
	}
	s.conn.setTimeouts(0, 0)
	sc.tc.setTimeouts(0, 0)
	res := runTunnel(s.conn.Conn, s.br, sc.tc.Conn, sc.br, to, t.fe.timeouts.ClientFin, t.be.timeouts.ServerFin)
	t.bytesIn += res.up
	t.bytesOut += res.down
	t.tEnd = time.Now()
	if code := t.st.killed.Load(); code != 0 {
		t.setTerm(byte(code), 'D')
	} else if res.timeout {
		t.setTerm('c', 'D')
	} else if res.err != nil && !errors.Is(res.err, io.EOF) && !errors.Is(res.err, net.ErrClosed) {
		t.setTerm('C', 'D')
	}
}
