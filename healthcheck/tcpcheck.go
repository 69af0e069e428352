package healthcheck

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// bufSize is HAProxy's tune.bufsize default: checks read at most this much.
const bufSize = 16384

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// proto tells which family of rules a Rules value holds; it selects the info
// texts HAProxy uses (only pure tcp-check rulesets get the generic "TCPCHK ..."
// and "(tcp-check)" texts).
type proto uint8

const (
	protoTCPCheck proto = iota
	protoHTTP
	protoSMTP
	protoRedis
	protoPgSQL
	protoSSLHello
)

// Rules is a compiled check program: the steps HAProxy builds from
// "option httpchk" + "http-check" lines, "option tcp-check" + "tcp-check"
// lines, or a protocol option. It is immutable and can be shared by all the
// servers of a backend.
type Rules struct {
	proto      proto
	steps      []*step
	disable404 bool
}

// Disable404 reports whether "http-check disable-on-404" is set.
func (r *Rules) Disable404() bool { return r != nil && r.disable404 }

// plainConnect reports whether the rules are a single implicit connect.
func (r *Rules) plainConnect() bool {
	return len(r.steps) == 1 && r.steps[0].kind == stepConnect && r.steps[0].implicit && !r.steps[0].ssl
}

type stepKind uint8

const (
	stepConnect stepKind = iota
	stepSend
	stepExpect
)

type matchKind uint8

const (
	matchString matchKind = iota
	matchRString
	matchBinary
	matchRBinary
	matchHTTPStatus
	matchHTTPRStatus
	matchHTTPBody
	matchHTTPRBody
	matchCustom
)

// evalRet is the outcome of evaluating an expect step on the data read so far.
type evalRet uint8

const (
	evalContinue evalRet = iota
	evalWait
	evalStop
)

type step struct {
	kind     stepKind
	index    int  // rule index; the step id in messages is index+1 (0 for an implicit connect)
	implicit bool // implicit first connect
	comment  string

	// connect
	port      int
	addr      string
	ssl       bool
	sni       string
	alpn      []string
	linger    bool
	isDefault bool // "default": reuse the server's check-ssl/sni/alpn/send-proxy
	sendProxy bool

	// send
	data     []byte
	httpHead bool // the HTTP request is a HEAD (no response body)

	// expect
	match      matchKind
	pattern    []byte
	re         *regexp.Regexp
	codes      [][2]int
	inverse    bool
	minRecv    int // -1 when unset
	okStatus   Status
	errStatus  Status
	toutStatus Status
	onSuccess  string
	onError    string
	// Protocol hooks (never set from user rules).
	successInfo func(buf []byte) string
	errorInfo   func(buf []byte) string
	codeOf      func(buf []byte) int
	custom      func(r *runner, st *step, last bool) (evalRet, Result)
}

func (st *step) id() int {
	if st.implicit {
		return 0
	}
	return st.index + 1
}

// runner executes one check: a small state machine over the steps, on a
// blocking connection with deadlines, or (nb, on the check loop) on a
// non-blocking socket: an I/O that would block then sets wait and makes run
// return, and run called again resumes at the same step (pc, phase).
type runner struct {
	ctx       context.Context
	spec      *Spec
	rules     *Rules
	addr      string
	start     time.Time
	serverUp  bool
	conn      net.Conn
	tcp       *net.TCPConn
	linger    bool
	tls       bool
	dl        time.Time
	bufp      *[]byte
	n         int
	eof       bool
	code      int
	cur       *step
	stopWatch func() bool

	nb      bool               // non-blocking mode (check loop)
	nbs     nbSock             // nb mode: the socket and its address
	pool    *sockPool          // nb mode: where a reset socket goes (nil: closed)
	pc      int                // the step run resumes at
	phase   uint8              // progress within that step (nb mode)
	sent    int                // bytes of the current send step written (nb mode)
	wait    waitKind           // nb mode: what the suspended run waits for
	waitDL  time.Time          // nb mode: until when
	nbAfter time.Duration      // nb mode: the connect step's after-connect timeout
	unwatch func(fd int) error // nb mode: takes a socket out of the loop's poller
}

// waitKind is what a suspended non-blocking run waits for.
type waitKind uint8

const (
	waitNone waitKind = iota
	waitingConnect
	waitingWrite
	waitingRead
)

func (r *runner) close() {
	r.closeConn()
	if r.bufp != nil {
		bufPool.Put(r.bufp)
		r.bufp = nil
	}
}

func (r *runner) closeConn() {
	if r.nb {
		r.nbClose()
		return
	}
	if r.stopWatch != nil {
		r.stopWatch()
		r.stopWatch = nil
	}
	if r.conn == nil {
		return
	}
	if r.linger {
		_ = r.conn.Close()
	} else {
		if r.tcp != nil {
			_ = r.tcp.SetLinger(0)
		}
		_ = r.conn.Close()
	}
	r.conn, r.tcp = nil, nil
}

func (r *runner) buf() []byte {
	if r.bufp == nil {
		r.bufp = bufPool.Get().(*[]byte)
	}
	return (*r.bufp)[:r.n]
}

func (r *runner) result(st Status, info string) Result {
	return Result{Status: st, Code: r.code, Info: info, Duration: time.Since(r.start)}
}

// stepText is the " at step N of tcp-check (...)" suffix HAProxy adds to
// connection error texts of pure tcp-check rulesets.
func (r *runner) stepText() string {
	if r.rules.proto != protoTCPCheck {
		return ""
	}
	st := r.cur
	if st == nil || st.id() == 0 {
		return " at initial connection step of tcp-check"
	}
	s := " at step " + strconv.Itoa(st.id()) + " of tcp-check"
	switch st.kind {
	case stepConnect:
		if st.port > 0 {
			s += " (connect port " + strconv.Itoa(st.port) + ")"
		} else {
			s += " (connect)"
		}
	case stepSend:
		s += " (send)"
	case stepExpect:
		switch st.match {
		case matchString:
			s += " (expect string '" + string(st.pattern) + "')"
		case matchBinary:
			s += " (expect binary '" + strings.ToUpper(hex.EncodeToString(st.pattern)) + "')"
		case matchRString:
			s += " (expect regex)"
		case matchRBinary:
			s += " (expect binary regex)"
		case matchCustom:
			s += " (expect custom function)"
		}
	}
	if st.comment != "" {
		s += " comment: '" + st.comment + "'"
	}
	return s
}

// errText joins an error text and the step text, trimming the leading space
// HAProxy leaves when there is no errno text.
func errText(e, stepText string) string {
	return strings.TrimSpace(e + stepText)
}

func (r *runner) run() Result {
	r.wait = waitNone
	for ; r.pc < len(r.rules.steps); r.pc++ {
		st := r.rules.steps[r.pc]
		if r.phase == 0 {
			r.cur = st
			r.code = 0
		}
		switch st.kind {
		case stepConnect:
			if res, ok := r.connect(st); !ok {
				return res
			}
		case stepSend:
			if res, ok := r.send(st); !ok {
				return res
			}
		case stepExpect:
			if res, ok := r.expect(st); !ok {
				return res
			}
		}
		r.phase = 0
	}
	var last *step
	if n := len(r.rules.steps); n > 0 {
		last = r.rules.steps[n-1]
	}
	return r.final(last)
}

// suspend makes a non-blocking run wait for w until dl.
func (r *runner) suspend(w waitKind, dl time.Time) (Result, bool) {
	r.wait, r.waitDL = w, dl
	return Result{}, false
}

// timedOut is the result of a suspended run whose deadline passed: what
// the blocking run gets from the same timeout.
func (r *runner) timedOut() Result {
	if r.wait == waitingConnect {
		s, info := connectStatus(os.ErrDeadlineExceeded)
		return r.result(s, errText(info, r.stepText()))
	}
	return r.ioError(os.ErrDeadlineExceeded)
}

// connected reports whether the runner has a connection.
func (r *runner) connected() bool {
	if r.nb {
		return r.nbs.fd >= 0
	}
	return r.conn != nil
}

// final computes the status of a check whose steps all succeeded.
func (r *runner) final(last *step) Result {
	if last == nil {
		return r.result(StatusL4OK, "")
	}
	switch last.kind {
	case stepExpect:
		if r.rules.disable404 && r.serverUp && r.code == 404 {
			return r.result(StatusL7OKC, "")
		}
		st := last.okStatus
		if st == StatusUnknown {
			st = StatusL7OK
		}
		info := last.onSuccess
		if info == "" && last.successInfo != nil {
			info = last.successInfo(r.buf())
		}
		if info == "" && r.rules.proto == protoTCPCheck {
			info = "(tcp-check)"
		}
		if last.codeOf != nil {
			r.code = last.codeOf(r.buf())
		}
		return r.result(st, info)
	case stepConnect:
		info := "(tcp-check)"
		if last.implicit {
			info = ""
		}
		if r.tls {
			return r.result(StatusL6OK, info)
		}
		return r.result(StatusL4OK, info)
	}
	return r.result(StatusL7OK, "(tcp-check)")
}

func (r *runner) connect(st *step) (Result, bool) {
	if r.nb && r.phase > 0 {
		return r.nbConnectDone(st)
	}
	r.closeConn()
	r.n, r.eof, r.tls = 0, false, false
	addr := r.addr
	if st.addr != "" || st.port > 0 {
		host, port, _ := net.SplitHostPort(r.addr)
		if st.addr != "" {
			if h, p, err := net.SplitHostPort(st.addr); err == nil {
				host = h
				if st.port == 0 && p != "" {
					port = p
				}
			} else {
				host = st.addr
			}
		}
		if st.port > 0 {
			port = strconv.Itoa(st.port)
		}
		addr = net.JoinHostPort(host, port)
	}
	if portMissing(addr) {
		return r.result(StatusSockErr, errText(errNoPort.Error(), r.stepText())), false
	}
	now := time.Now()
	connDL, afterConnect := checkDeadlines(r.start, r.spec.Inter, r.spec.ConnectTimeout, r.spec.CheckTimeout)
	if !r.dl.IsZero() {
		// a later connect: bounded by the current check deadline
		connDL = r.dl
		if r.spec.CheckTimeout > 0 && r.spec.ConnectTimeout > 0 && now.Add(r.spec.ConnectTimeout).Before(connDL) {
			connDL = now.Add(r.spec.ConnectTimeout)
		}
	}
	if r.nb {
		return r.nbConnect(st, addr, connDL, afterConnect)
	}
	c, err := dial(r.ctx, addr, connDL)
	if err != nil {
		s, info := connectStatus(err)
		return r.result(s, errText(info, r.stepText())), false
	}
	r.tcp, r.conn, r.linger = c, c, st.linger
	ctx := r.ctx
	r.stopWatch = context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	if afterConnect > 0 {
		r.dl = time.Now().Add(afterConnect)
	} else {
		r.dl = connDL
	}
	useSSL, sni, alpn, sp := st.ssl, st.sni, st.alpn, 0
	if st.sendProxy {
		sp = 1
	}
	if st.isDefault {
		useSSL = useSSL || r.spec.SSL
		if sni == "" {
			sni = r.spec.SNI
		}
		if len(alpn) == 0 {
			alpn = r.spec.ALPN
		}
		if sp == 0 {
			sp = r.spec.SendProxy
		}
	}
	if sp > 0 {
		_ = c.SetWriteDeadline(r.dl)
		if _, err := c.Write(proxyHeader(sp, c.LocalAddr(), c.RemoteAddr())); err != nil {
			return r.ioError(err), false
		}
	}
	if useSSL {
		tc := tlsClient(c, r.spec.TLS, sni, alpn)
		if s, info := tlsHandshake(r.ctx, tc, r.dl); s != StatusL6OK {
			return r.result(s, errText(info, r.stepText())), false
		}
		r.conn, r.tls = tc, true
	}
	return Result{}, true
}

// ioError reports an I/O error on an established connection: a timeout is
// the current expect's tout-status (L7TOUT by default), anything else SOCKERR.
func (r *runner) ioError(err error) Result {
	if isTimeout(err) {
		st := StatusL7TOUT
		if r.cur != nil && r.cur.kind == stepExpect && r.cur.toutStatus != StatusUnknown {
			st = r.cur.toutStatus
		}
		return r.result(st, errText("", r.stepText()))
	}
	return r.result(StatusSockErr, errText(errnoText(err), r.stepText()))
}

func (r *runner) send(st *step) (Result, bool) {
	if !r.connected() {
		return r.result(StatusSockErr, errText("not connected", r.stepText())), false
	}
	if r.nb {
		return r.nbSend(st)
	}
	// A new request: what was read for the previous one is dropped.
	r.n, r.eof = 0, false
	_ = r.conn.SetWriteDeadline(r.dl)
	if _, err := r.conn.Write(st.data); err != nil {
		return r.ioError(err), false
	}
	return Result{}, true
}

// fill reads more data. It returns false with a result when the check ends
// (timeout, or an error with nothing read yet).
func (r *runner) fill() (Result, bool) {
	buf := r.buf()
	if r.eof || len(buf) == cap(buf) {
		return Result{}, true
	}
	if r.nb {
		return r.nbFill(buf)
	}
	_ = r.conn.SetReadDeadline(r.dl)
	n, err := r.conn.Read(buf[len(buf):cap(buf)])
	r.n += n
	if err != nil {
		if errors.Is(err, io.EOF) {
			r.eof = true
			return Result{}, true
		}
		if isTimeout(err) || r.n == 0 {
			return r.ioError(err), false
		}
		// An error after some data (often an RST after the last chunk):
		// let the expect rule judge what was received.
		r.eof = true
	}
	return Result{}, true
}

func (r *runner) lastRead() bool {
	return r.eof || r.n >= bufSize
}

func (r *runner) expect(st *step) (Result, bool) {
	if !r.connected() {
		return r.result(StatusSockErr, errText("not connected", r.stepText())), false
	}
	for {
		if r.n == 0 && !r.eof {
			if res, ok := r.fill(); !ok {
				return res, false
			}
			continue
		}
		if r.n == 0 && r.eof {
			msg := "TCPCHK got an empty response at step " + strconv.Itoa(st.id())
			if st.comment != "" {
				msg += " comment: '" + st.comment + "'"
			}
			s := st.errStatus
			if s == StatusUnknown {
				s = StatusL7RSP
			}
			return r.result(s, msg), false
		}
		var ret evalRet
		var res Result
		switch {
		case st.custom != nil:
			ret, res = st.custom(r, st, r.lastRead())
		case st.match >= matchHTTPStatus:
			ret, res = r.evalHTTP(st, r.lastRead())
		default:
			ret, res = r.evalTCP(st, r.lastRead())
		}
		switch ret {
		case evalContinue:
			return Result{}, true
		case evalStop:
			return res, false
		}
		if r.lastRead() {
			// nothing more will come: evaluate as final
			return r.expectFinal(st)
		}
		if res, ok := r.fill(); !ok {
			return res, false
		}
	}
}

// expectFinal re-evaluates a rule that still wanted data once nothing more
// can be read.
func (r *runner) expectFinal(st *step) (Result, bool) {
	var ret evalRet
	var res Result
	switch {
	case st.custom != nil:
		ret, res = st.custom(r, st, true)
	case st.match >= matchHTTPStatus:
		ret, res = r.evalHTTP(st, true)
	default:
		ret, res = r.evalTCP(st, true)
	}
	if ret == evalContinue {
		return Result{}, true
	}
	if ret == evalStop {
		return res, false
	}
	return r.result(StatusL7RSP, "incomplete response"), false
}

// evalTCP evaluates a string/rstring/binary/rbinary expect rule.
func (r *runner) evalTCP(st *step, last bool) (evalRet, Result) {
	buf := r.buf()
	if !last {
		if (st.match == matchString || st.match == matchBinary) && len(buf) < len(st.pattern) {
			return evalWait, Result{}
		}
		if st.minRecv > 0 && len(buf) < st.minRecv {
			return evalWait, Result{}
		}
	}
	var match bool
	switch st.match {
	case matchString, matchBinary:
		match = bytes.Contains(buf, st.pattern)
	case matchRString:
		match = st.re.Match(buf)
	case matchRBinary:
		match = st.re.MatchString(strings.ToUpper(hex.EncodeToString(buf)))
	}
	if !match && !last && st.minRecv < 0 {
		return evalWait, Result{}
	}
	if match != st.inverse {
		return evalContinue, Result{}
	}
	return evalStop, r.expectError(st, match, "")
}

// expectError builds the result of a failed expect rule (HAProxy's
// tcpcheck_expect_onerror_message).
func (r *runner) expectError(st *step, matched bool, desc string) Result {
	s := st.errStatus
	if s == StatusUnknown {
		s = StatusL7RSP
	}
	info := desc
	switch {
	case st.onError != "":
		info = st.onError
	case st.errorInfo != nil:
		info = st.errorInfo(r.buf())
	case info == "" && r.rules.proto == protoTCPCheck:
		if matched {
			info = "TCPCHK matched unwanted content"
		} else {
			info = "TCPCHK did not match content"
		}
		id := strconv.Itoa(st.id())
		switch st.match {
		case matchString:
			info += " '" + string(st.pattern) + "' at step " + id
		case matchBinary:
			info += " (binary) at step " + id
		case matchRString:
			info += " (regex) at step " + id
		case matchRBinary:
			info += " (binary regex) at step " + id
		default:
			info += " (custom function) at step " + id
		}
	}
	if st.comment != "" {
		info += " comment: " + st.comment
	}
	if st.codeOf != nil {
		r.code = st.codeOf(r.buf())
	}
	return r.result(s, strings.TrimSpace(info))
}
