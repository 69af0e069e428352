package proxy

import (
	"bufio"
	"crypto/tls"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// session is one client connection.
type session struct {
	e      *Engine
	fe     *Proxy
	l      *listener
	raw    net.Conn
	conn   *timedConn
	br     *bufio.Reader
	bw     *bufio.Writer
	src    netip.AddrPort
	dst    netip.AddrPort
	tls    *tls.ConnectionState
	accept time.Time
	nreq   int
	idle   atomic.Bool // waiting for the next request (graceful stop may close it)
	rules  sessionRules
	// fc is the event-loop side of the connection while the fast path
	// serves it (conn, br and raw are nil then).
	fc fastConn
	// cliTimeout is timeout client as set-timeout leaves it, for the fast
	// path (the goroutine path keeps it in conn).
	cliTimeout time.Duration
}

// fastConn is what the request path needs from a client connection served
// by an event loop (fast path).
type fastConn interface {
	// buffered returns the request bytes received and not parsed yet.
	buffered() int
	// wakeKill tells the loop that a stream of the connection was killed.
	wakeKill()
}

// setClientTimeout changes timeout client for the rest of the transaction
// (http-request set-timeout client).
func (s *session) setClientTimeout(d time.Duration) {
	if s.conn != nil {
		s.conn.rto, s.conn.wto = d, d
		return
	}
	s.cliTimeout = d
}

// Src returns the client address.
func (s *session) Src() netip.AddrPort { return s.src }

// stream is a client session registered on the server it uses, so that
// "shutdown sessions server" and on-marked-down can kill it.
type stream struct {
	client net.Conn
	server atomic.Pointer[srvConn]
	killed atomic.Uint32 // termination code ('D', 'U', 'K')
	srv    *Server
	fast   fastConn // the client connection's event loop (fast path), nil otherwise
}

// kill aborts the stream. It is called with the server's mu held, so the
// transaction cannot detach (removeStream) and be recycled meanwhile; the
// past deadline keeps a TLS close from blocking on its close_notify.
func (st *stream) kill(code byte) {
	if !st.killed.CompareAndSwap(0, uint32(code)) {
		return
	}
	past := time.Unix(1, 0)
	if c := st.server.Load(); c != nil {
		_ = c.tc.Conn.SetDeadline(past)
		c.close()
	}
	if st.client != nil {
		_ = st.client.SetDeadline(past)
		_ = st.client.Close()
	}
	if st.fast != nil {
		st.fast.wakeKill()
	}
}

func (s *Server) addStream(st *stream) {
	s.mu.Lock()
	s.streams[st] = struct{}{}
	s.mu.Unlock()
}

func (s *Server) removeStream(st *stream) {
	s.mu.Lock()
	delete(s.streams, st)
	s.mu.Unlock()
}

// shutdownStreams kills every stream using the server with a termination code.
func (s *Server) shutdownStreams(code byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for st := range s.streams {
		st.kill(code)
	}
	return len(s.streams)
}

// ShutdownSessions implements "shutdown sessions server b/s".
func (s *Server) ShutdownSessions() int { return s.shutdownStreams('K') }

// NumStreams returns the streams currently attached to the server.
func (s *Server) NumStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// Txn is one HTTP transaction (request and response) or one TCP stream. It
// is pooled: nothing in it may be kept after the transaction ends.
type Txn struct {
	s   *session
	fe  *Proxy
	be  *Proxy
	srv *Server
	sc  *srvConn
	st  stream

	req Msg
	rsp Msg

	status int
	// Timers. Zero times mean "not reached".
	tAccept       time.Time // connection accepted
	tReq          time.Time // first byte of the request
	tHdr          time.Time // request headers complete
	tQueued       time.Duration
	tConnect      time.Duration
	connected     bool
	tRespHdr      time.Time // response headers received
	tEnd          time.Time
	bytesIn       int64 // %U
	bytesOut      int64 // %B
	term          [2]byte
	retries       int
	redisp        bool
	service       string // "<lua.name>", "<STATS>", "<PROMEX>"; "" when a server is used
	logLevel      int
	noLog         bool
	closeCli      bool // close the client connection after this transaction
	badReq        bool
	slotHeld      bool
	srvConnsAtLog int

	rules  txnRules
	applet *HTTPApplet
}

var txnPool = sync.Pool{New: func() any { return &Txn{} }}

func getTxn(s *session) *Txn {
	t := txnPool.Get().(*Txn)
	t.s = s
	t.fe = s.fe
	t.be = nil
	t.srv = nil
	t.sc = nil
	t.st = stream{}
	t.req.reset()
	t.rsp.reset()
	t.status = 0
	t.tAccept = s.accept
	t.tReq, t.tHdr, t.tRespHdr, t.tEnd = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	t.tQueued, t.tConnect, t.connected = -1, -1, false
	t.bytesIn, t.bytesOut = 0, 0
	t.term = [2]byte{'-', '-'}
	t.retries, t.redisp = 0, false
	t.service = ""
	t.logLevel = levelInfo
	t.noLog, t.closeCli, t.badReq, t.slotHeld = false, false, false, false
	t.rules.reset()
	t.applet = nil
	return t
}

func putTxn(t *Txn) {
	t.rules.reset()
	t.s, t.fe, t.be, t.srv, t.sc = nil, nil, nil, nil, nil
	t.st = stream{}
	if cap(t.req.buf) > 64<<10 {
		t.req.buf = nil
	}
	if cap(t.rsp.buf) > 64<<10 {
		t.rsp.buf = nil
	}
	txnPool.Put(t)
}

// setTerm sets the termination state once (the first cause wins).
func (t *Txn) setTerm(cause, state byte) {
	if t.term[0] == '-' {
		t.term[0] = cause
	}
	if t.term[1] == '-' {
		t.term[1] = state
	}
}

// Frontend returns the frontend of the transaction.
func (t *Txn) Frontend() *Proxy { return t.fe }

// Backend returns the backend, nil before switching.
func (t *Txn) Backend() *Proxy { return t.be }

// Server returns the server, nil before one is chosen.
func (t *Txn) Server() *Server { return t.srv }

// Req returns the request message.
func (t *Txn) Req() *Msg { return &t.req }

// Resp returns the response message.
func (t *Txn) Resp() *Msg { return &t.rsp }

// Src returns the client address.
func (t *Txn) Src() netip.AddrPort { return t.s.src }

// Dst returns the address the client connected to.
func (t *Txn) Dst() netip.AddrPort { return t.s.dst }

// TLS returns the client TLS state, nil for clear connections.
func (t *Txn) TLS() *tls.ConnectionState { return t.s.tls }

// IsHTTP reports whether the transaction is HTTP.
func (t *Txn) IsHTTP() bool { return t.fe.mode == ModeHTTP }

// ms converts a duration to log milliseconds.
func ms(d time.Duration) int64 { return int64(d / time.Millisecond) }

// timers returns TR, Tw, Tc, Tr, Ta in ms (-1 when not reached).
func (t *Txn) timers() (tr, tw, tc, trsp, ta int64) {
	tr, tw, tc, trsp, ta = -1, -1, -1, -1, -1
	if !t.tReq.IsZero() && !t.tHdr.IsZero() {
		tr = ms(t.tHdr.Sub(t.tReq))
	}
	if t.tQueued >= 0 {
		tw = ms(t.tQueued)
	}
	if t.tConnect >= 0 {
		tc = ms(t.tConnect)
	}
	if !t.tRespHdr.IsZero() && t.connected {
		base := t.tHdr
		if base.IsZero() {
			base = t.tReq
		}
		trsp = ms(t.tRespHdr.Sub(base)) - maxI64(tw, 0) - maxI64(tc, 0)
		if trsp < 0 {
			trsp = 0
		}
	}
	if !t.tEnd.IsZero() {
		start := t.tReq
		if start.IsZero() {
			start = t.tAccept
		}
		ta = ms(t.tEnd.Sub(start))
	}
	return
}

func maxI64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
