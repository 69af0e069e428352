package proxy

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// fconn is a client connection served by an event loop. Its transaction
// runs the goroutine path's steps (route, rules, pick, exchange pieces,
// finish) as far as none of them can wait; whatever may wait goes back to
// the connection's goroutine with the step it is at (fallback), and the
// connection stays there for the rest of its life.

// Connection states.
const (
	fsIdle  = iota // waiting for a request head
	fsDial         // a goroutine is connecting to the server
	fsReq          // the request is going to the server
	fsRsp          // waiting for the response head
	fsBody         // relaying the response body
	fsDrain        // the transaction is over, its output goes to the client
	fsDone         // closed or handed back to the goroutine
)

// fastBodyBudget bounds the response bytes moved per step and, with the
// client's pending output, what a slow client makes the loop hold.
const fastBodyBudget = 64 << 10

type fconn struct {
	l   *evLoop
	s   *session
	cio *nbIO // the client's
	sio *nbIO // the server connection's, while one is attached
	t   *Txn
	be  *Proxy // backend entered (its session ends with the transaction)
	fs  fwdState

	state      uint8
	waitSrv    bool // the pending wait is on the server side
	relayed    bool // the response body was relayed (a client failure aborts it)
	aborting   bool // hard stop while connecting
	noBody     bool
	closeDelim bool
	chunked    bool
	chunk      chunkRelay
	eof        bool  // a close-delimited or chunked body ended
	remaining  int64 // body bytes left (content-length)
	idleSince  int64 // loop clock: start of the wait for a request
	reqAt      int64 // loop clock: first byte of the request

	deadline, hkey int64 // timerHeap
	hidx           int

	// resume takes the connection back to its goroutine: nil when it is
	// closed, else the rest of the transaction to run there.
	resume chan func() bool
}

func (fc *fconn) buffered() int { return fc.s.br.Buffered() }

func (fc *fconn) wakeKill() { fc.l.post(loopMsg{kind: msgKill, fc: fc}) }

// run advances the connection until it waits.
func (fc *fconn) run() {
	for {
		var again bool
		switch fc.state {
		case fsIdle:
			again = fc.idle()
		case fsReq:
			again = fc.sendReq()
		case fsRsp:
			again = fc.recvHead()
		case fsBody:
			again = fc.relay()
		case fsDrain:
			again = fc.drainOut()
		}
		if !again {
			return
		}
	}
}

// waitFor arms the inactivity timeout d (0: none) of the side waited on.
func (fc *fconn) waitFor(srvSide bool, d time.Duration) {
	fc.waitSrv = srvSide
	if d > 0 {
		fc.l.timers.set(fc, fc.l.now+int64(d))
	} else {
		fc.l.timers.clear(fc)
	}
}

// waitUntil arms an absolute client deadline from a loop-clock start.
func (fc *fconn) waitUntil(from int64, d time.Duration) {
	fc.waitSrv = false
	if d > 0 {
		fc.l.timers.set(fc, from+int64(d))
	} else {
		fc.l.timers.clear(fc)
	}
}

// headReady reads what the socket has into br and reports whether the
// header block can be read without waiting: it is complete, too large, or
// the socket failed (readHeaderBlock then says how).
func headReady(br *bufio.Reader) bool {
	for {
		n := br.Buffered()
		b, _ := br.Peek(n)
		i := 0
		for i < n && (b[i] == '\r' || b[i] == '\n') {
			i++
		}
		if (i < n && headerEnd(b, i) > 0) || n >= br.Size() {
			return true
		}
		if _, err := br.Peek(n + 1); err != nil {
			return !errors.Is(err, errWouldBlock)
		}
	}
}

// idle waits for and reads a request head (readAndHandle's first half).
func (fc *fconn) idle() bool {
	s := fc.s
	e, fe, br := s.e, s.fe, s.br
	if fc.t == nil {
		if br.Buffered() == 0 {
			if e.stopping.Load() {
				fc.close()
				return false
			}
			if _, err := br.Peek(1); err != nil {
				if !errors.Is(err, errWouldBlock) {
					fc.close()
					return false
				}
				idle := fe.keepAliveTimeout()
				if s.nreq == 0 {
					idle = e.clientTimeout(fe, true)
				}
				fc.waitUntil(fc.idleSince, idle)
				return false
			}
		}
		fc.t = getTxn(s)
		fc.t.tReq = time.Now()
		fc.reqAt = fc.l.now
	}
	if !headReady(br) {
		fc.waitUntil(fc.reqAt, e.clientTimeout(fe, false))
		return false
	}
	fc.l.timers.clear(fc)
	if !fc.t.readRequest() {
		return fc.endTxn(true)
	}
	return fc.handle()
}

// handle runs the request through the rules to a server (Txn.handle and
// serveBackend), falling back where a step may wait.
func (fc *fconn) handle() bool {
	t := fc.t
	if t.fastBlocked(t.fe) || t.hasReqBody() || t.req.upgrade || t.req.expect100 {
		return fc.fallback(func(t *Txn) { t.handle() })
	}
	be, v := t.route()
	if be == nil {
		return fc.verdict(v)
	}
	if t.fastBlocked(be) {
		return fc.fallback(func(t *Txn) { t.serveBackend(be) })
	}
	t.enterBackend(be)
	fc.be = be
	if v := t.backendRules(); v.final() {
		return fc.verdict(v)
	}
	if t.service != "" {
		return fc.fallback((*Txn).runService)
	}
	t.prepareRequest()
	fc.fs = fwdState{key: t.lbKey()}
	return fc.pick()
}

// verdict applies a final request verdict.
func (fc *fconn) verdict(v verdict) bool {
	if v.blocks() {
		return fc.fallback(func(t *Txn) { t.applyVerdict(v) })
	}
	fc.t.applyVerdict(v)
	return fc.endTxn(true)
}

// pick takes a server slot and a connection (forwardFrom's first half).
func (fc *fconn) pick() bool {
	t := fc.t
	srv, err := t.pickServer(&fc.fs)
	if err != nil {
		t.addQueued(0)
		t.noServer(err)
		return fc.endTxn(true)
	}
	if srv == nil {
		fs := fc.fs
		return fc.fallback(func(t *Txn) { t.forwardFrom(fs) })
	}
	t.addQueued(0)
	t.useServer(srv)
	sni := srv.sniFor(t)
	if sc := t.reuseConn(srv, sni, fc.l.mine); sc != nil {
		return fc.connected(srv, sc)
	}
	fc.state = fsDial
	fc.l.timers.clear(fc)
	fc.l.dial(fc, srv, sni)
	return false
}

// dialed goes on once a connection attempt ended.
func (fc *fconn) dialed(sc *srvConn, err error) {
	t := fc.t
	if fc.aborting {
		if sc != nil {
			sc.close()
		}
		t.slotHeld = true
		t.releaseSlot()
		fc.state = fsIdle
		fc.abort()
		return
	}
	var again bool
	switch {
	case err == nil:
		again = fc.connected(t.srv, sc)
	case t.connectFailed(t.srv, err, &fc.fs):
		again = fc.pick()
	default:
		again = fc.endTxn(true)
	}
	if again {
		fc.run()
	}
}

// connected sends the request on sc.
func (fc *fconn) connected(srv *Server, sc *srvConn) bool {
	t := fc.t
	if sc.nb == nil && sc.tc.fast != nil {
		sc.nb = newNBIO(sc.tc.fast)
	}
	if sc.nb == nil || fc.l.register(sc.nb, fc) != nil {
		// TLS or a unix socket: the goroutine path talks to the server.
		fs := fc.fs
		return fc.fallback(func(t *Txn) {
			if t.attempt(srv, sc) {
				t.forwardFrom(fs)
			}
		})
	}
	srv.observeL4(true)
	t.slotHeld = true
	t.st.fast = fc
	sc.nb.pend = sc.nb.pend[:0]
	sc.tc.nb = sc.nb
	fc.sio = sc.nb
	t.attachServer(srv, sc)
	t.req.writeRequestHead(sc.bw)
	if err := sc.bw.Flush(); err != nil {
		return fc.reqFailed(err)
	}
	fc.state = fsReq
	return true
}

// sendReq waits until the request is out.
func (fc *fconn) sendReq() bool {
	if err := fc.sio.flush(); err != nil {
		return fc.reqFailed(err)
	}
	if len(fc.sio.pend) > 0 {
		fc.waitFor(true, fc.t.sc.tc.wto)
		return false
	}
	fc.state = fsRsp
	return true
}

// reqFailed handles a failure to send the request (exchange).
func (fc *fconn) reqFailed(err error) bool {
	if fc.t.sc.reused {
		return fc.retry()
	}
	fc.t.serverFailed(err, false)
	fc.dropServer(false)
	return fc.endTxn(true)
}

// retry replays the request on another connection: a reused one died.
func (fc *fconn) retry() bool {
	t := fc.t
	fc.dropServer(false)
	t.releaseSlot()
	t.rsp.reset()
	t.status = 0
	return fc.pick()
}

// dropServer detaches the server connection (to the pool when reusable).
func (fc *fconn) dropServer(reusable bool) {
	t := fc.t
	if sc := t.sc; sc != nil && sc.tc.nb != nil {
		sc.tc.nb = nil
		fc.l.unroute(sc.nb, fc)
	}
	fc.sio = nil
	t.detachServer(reusable)
}

// recvHead reads the response head (exchange's second part).
func (fc *fconn) recvHead() bool {
	t, s := fc.t, fc.s
	sc := t.sc
	for {
		if !headReady(sc.br) {
			fc.waitFor(true, sc.tc.rto)
			return false
		}
		err := t.rsp.readHeaderBlock(sc.br)
		if err == nil {
			err = t.rsp.parseResponse(s.e.maxHdr)
		}
		if err != nil {
			if sc.reused && len(t.rsp.buf) == 0 && !isTimeout(err) && t.st.killed.Load() == 0 {
				return fc.retry()
			}
			return fc.headFailed(err, true)
		}
		if t.rsp.status >= 200 || t.rsp.status == 101 {
			break
		}
		if !(t.rsp.status == 100 && t.req.expect100) {
			t.rsp.writeResponseHead(s.bw)
			_ = s.bw.Flush()
		}
	}
	fc.l.timers.clear(fc)
	if !t.responseHead(t.srv, time.Now()) {
		fc.dropServer(false)
		return fc.endTxn(true)
	}
	fc.noBody, fc.closeDelim = t.startResponse()
	fc.chunked = t.rsp.chunked && !fc.noBody
	fc.chunk = chunkRelay{}
	fc.remaining = t.rsp.contentLength
	if fc.noBody || fc.chunked || fc.remaining < 0 {
		fc.remaining = 0
	}
	fc.eof = false
	fc.state = fsBody
	return true
}

// headFailed answers a server failure before the response head.
func (fc *fconn) headFailed(err error, drain bool) bool {
	fc.t.serverFailed(err, true)
	fc.dropServer(false)
	return fc.endTxn(drain)
}

// relay moves the response body with back-pressure (relayBody).
func (fc *fconn) relay() bool {
	t, s, cio := fc.t, fc.s, fc.cio
	sc := t.sc
	for (fc.closeDelim && !fc.eof) || (fc.chunked && !fc.eof) || fc.remaining > 0 {
		if len(cio.pend) > 0 {
			// What the client did not take yet goes first (the client may
			// have become writable while the server had nothing).
			if err := cio.flush(); err != nil {
				return fc.bodyFailed(dstErr(err), true)
			}
			if len(cio.pend) >= fastBodyBudget {
				fc.waitFor(false, s.conn.wto)
				return false
			}
		}
		var n int64
		var err error
		if fc.chunked {
			n, fc.eof, err = fc.chunk.relay(s.bw, sc.br, s.e.maxHdr, fastBodyBudget)
		} else {
			want := int64(fastBodyBudget)
			if !fc.closeDelim && fc.remaining < want {
				want = fc.remaining
			}
			n, err = copyN(s.bw, sc.br, want)
			if !fc.closeDelim {
				fc.remaining -= n
			}
		}
		t.bytesOut += n
		switch {
		case err == nil:
		case errors.Is(err, errWouldBlock):
			fc.waitFor(true, sc.tc.rto)
			return false
		case fc.closeDelim && !fc.chunked && isSrcErr(err) && errors.Is(err, io.ErrUnexpectedEOF):
			fc.eof = true
		default:
			return fc.bodyFailed(err, !isSrcErr(err))
		}
	}
	fc.l.timers.clear(fc)
	fc.dropServer(t.reusable(fc.closeDelim))
	fc.relayed = true
	return fc.endTxn(true)
}

// bodyFailed ends a response relay that failed on one side.
func (fc *fconn) bodyFailed(err error, cliSide bool) bool {
	fc.t.bodyFailed(err)
	fc.dropServer(false)
	return fc.endTxn(!cliSide)
}

// endTxn flushes the transaction's output; drain false skips waiting for
// the client (it failed) and closes.
func (fc *fconn) endTxn(drain bool) bool {
	if !drain {
		fc.t.closeCli = true
		return fc.complete()
	}
	if err := fc.s.bw.Flush(); err != nil {
		fc.clientFailed(err)
		return fc.complete()
	}
	fc.state = fsDrain
	return true
}

// drainOut waits until the client took the transaction's output.
func (fc *fconn) drainOut() bool {
	if err := fc.cio.flush(); err != nil {
		fc.clientFailed(err)
		return fc.complete()
	}
	if len(fc.cio.pend) > 0 {
		fc.waitFor(false, fc.s.conn.wto)
		return false
	}
	return fc.complete()
}

// clientFailed notes that writing to the client failed.
func (fc *fconn) clientFailed(err error) {
	t := fc.t
	t.closeCli = true
	if fc.relayed {
		t.bodyFailed(dstErr(err))
	}
}

// complete accounts, logs and recycles the transaction, then waits for the
// next request or closes.
func (fc *fconn) complete() bool {
	t, s := fc.t, fc.s
	fc.l.timers.clear(fc)
	if fc.be != nil {
		fc.be.BeCounters.endSession()
		fc.be = nil
	}
	t.releaseSlot()
	fc.t, fc.relayed = nil, false
	if !s.endTxn(t, !t.closeCli) {
		fc.close()
		return false
	}
	fc.state = fsIdle
	fc.idleSince = fc.l.now
	return true
}

// timedOut handles an expired deadline.
func (fc *fconn) timedOut() {
	t := fc.t
	var again bool
	switch fc.state {
	case fsIdle:
		if t == nil {
			s := fc.s
			if s.nreq > 0 || s.e.stopping.Load() {
				fc.close()
				return
			}
			fc.t = getTxn(s)
			fc.t.noRequest()
		} else {
			t.tHdr = time.Now()
			t.requestFailed(os.ErrDeadlineExceeded)
		}
		again = fc.endTxn(true)
	case fsReq, fsRsp:
		again = fc.headFailed(os.ErrDeadlineExceeded, true)
	case fsBody:
		if fc.waitSrv {
			again = fc.bodyFailed(srcErr(os.ErrDeadlineExceeded), false)
		} else {
			again = fc.bodyFailed(dstErr(os.ErrDeadlineExceeded), true)
		}
	case fsDrain:
		fc.clientFailed(os.ErrDeadlineExceeded)
		again = fc.complete()
	}
	if again {
		fc.run()
	}
}

// killed ends a transaction whose stream was killed (shutdown sessions,
// on-marked-down): the kill closed both connections.
func (fc *fconn) killed() {
	t := fc.t
	if t == nil || t.st.killed.Load() == 0 {
		return
	}
	switch fc.state {
	case fsReq, fsRsp:
		fc.headFailed(net.ErrClosed, false)
	case fsBody:
		fc.bodyFailed(srcErr(net.ErrClosed), true)
	}
}

// abort closes the connection at once (hard stop).
func (fc *fconn) abort() {
	if fc.state == fsDial {
		fc.aborting = true
		return
	}
	t := fc.t
	if t == nil {
		fc.close()
		return
	}
	if t.sc != nil {
		t.setTerm('C', 'D')
		fc.dropServer(false)
	}
	fc.endTxn(false)
}

// release takes the connection off the loop.
func (fc *fconn) release() {
	l := fc.l
	l.timers.remove(fc)
	l.deregister(fc.cio, fc)
	delete(l.conns, fc)
	fc.state = fsDone
	fc.s.conn.nb = nil
	fc.s.fc = nil
}

// close ends the connection: its goroutine returns and closes it. The
// session's stick counters stop here already (conn_cur drops as soon as
// the loop sees the end, not when the goroutine gets to run).
func (fc *fconn) close() {
	fc.s.rules.release()
	fc.release()
	fc.resume <- nil
}

// fallback hands the connection back to its goroutine, which runs step on
// the transaction and goes on with the goroutine path.
func (fc *fconn) fallback(step func(t *Txn)) bool {
	t, s, be, cio, sio := fc.t, fc.s, fc.be, fc.cio, fc.sio
	sc := t.sc
	if sio != nil {
		sc.tc.nb = nil
		fc.l.unroute(sio, fc)
	}
	fc.sio, fc.t, fc.be = nil, nil, nil
	fc.release()
	fc.l.f.fallbacks.Add(1)
	fc.resume <- func() bool {
		cio.drain(s.conn)
		if sio != nil {
			sio.drain(sc.tc)
		}
		step(t)
		if be != nil {
			be.BeCounters.endSession()
		}
		return s.endTxn(t, !t.closeCli)
	}
	return false
}
