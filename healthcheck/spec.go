package healthcheck

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Prober runs one check against a server. The returned AgentReply is non-nil
// only for agent checks that read a reply line. Implementations must honour
// ctx cancellation and return within their configured timeouts.
type Prober interface {
	Probe(ctx context.Context, t ProbeTarget) (Result, *AgentReply)
}

// ProbeTarget is what a probe needs to know about the server.
type ProbeTarget struct {
	// Addr is the server's current "host:port" (the port may be empty or 0
	// when the server line has none); the prober applies its own check
	// address and port overrides.
	Addr string
	// Up tells that the server is not DOWN: a 404 with
	// "http-check disable-on-404" is a conditional pass only then.
	Up bool
}

// Spec is one server's active health check: the backend's check program
// (Rules, shared between the backend's servers) plus the server's check
// parameters. A zero Spec with only Inter set is a plain TCP connect check
// on the server's address.
type Spec struct {
	// Rules is the compiled check program (ParseRules); nil means a plain
	// TCP connect check ("check" without any check option).
	Rules *Rules
	// Addr is the "addr" server keyword: check this IP (or host, or
	// "ip:port") instead of the server's address.
	Addr string
	// Port is the "port" server keyword: check this port instead of the
	// server's.
	Port int
	// SSL is "check-ssl" (or "ssl" reused for checks): run TLS over the
	// check connection.
	SSL bool
	// SNI is "check-sni": the TLS server name to send.
	SNI string
	// ALPN is "check-alpn": the protocols to offer.
	ALPN []string
	// TLS holds the base TLS settings (verification, CA, client cert) built
	// from the server line. Nil means no certificate verification, like a
	// server line with "verify none".
	TLS *tls.Config
	// SendProxy is "check-send-proxy": 1 sends a PROXY protocol v1 header,
	// 2 a v2 header, before anything else on the check connection.
	SendProxy int
	// Inter is the "inter" server keyword (default 2s). Without
	// CheckTimeout it bounds the whole check.
	Inter time.Duration
	// ConnectTimeout is "timeout connect"; it applies to checks only when
	// CheckTimeout is also set (then the connect timeout is
	// min(ConnectTimeout, Inter)).
	ConnectTimeout time.Duration
	// CheckTimeout is "timeout check": once connected, the check must
	// finish within this time.
	CheckTimeout time.Duration
}

// Probe runs the check; it implements Prober.
func (s *Spec) Probe(ctx context.Context, t ProbeTarget) (Result, *AgentReply) {
	return s.run(ctx, t.Addr, t.Up), nil
}

// Run runs the check once against the server at serverAddr ("host:port"),
// taken to be UP, and returns its result.
func (s *Spec) Run(ctx context.Context, serverAddr string) Result {
	return s.run(ctx, serverAddr, true)
}

func (s *Spec) run(ctx context.Context, serverAddr string, up bool) Result {
	start := time.Now()
	addr, err := checkAddr(serverAddr, s.Addr, s.Port)
	if err != nil {
		return Result{Status: StatusSockErr, Info: err.Error(), Duration: time.Since(start)}
	}
	if s.Rules == nil || s.Rules.plainConnect() {
		return s.runConnect(ctx, addr, start)
	}
	r := &runner{ctx: ctx, spec: s, rules: s.Rules, addr: addr, start: start, serverUp: up}
	res := r.run()
	r.close()
	return res
}

// quickState is how a check started on the check loop went.
type quickState uint8

const (
	quickNo      quickState = iota // not a plain connect to an IP: run Probe on a goroutine
	quickDone                      // finished at once: the result is in the attempt
	quickPending                   // connecting: wait for the attempt's socket
)

// quick reports whether the check is a plain TCP connect check, which the
// check loop runs itself.
func (s *Spec) quick() bool {
	return (s.Rules == nil || s.Rules.plainConnect()) && !s.SSL && s.SendProxy == 0
}

// startConnect starts a quick check of the server at serverAddr into a
// without blocking. With quickDone, a.res holds the result (its duration
// included).
func (s *Spec) startConnect(serverAddr string, a *connAttempt, pool *sockPool) quickState {
	a.start = time.Now()
	a.fd = -1
	addr, err := checkAddr(serverAddr, s.Addr, s.Port)
	if err == nil && portMissing(addr) {
		err = errNoPort
	}
	if err != nil {
		a.res = Result{Status: StatusSockErr, Info: err.Error(), Duration: time.Since(a.start)}
		return quickDone
	}
	a.deadline, _ = checkDeadlines(a.start, s.Inter, s.ConnectTimeout, s.CheckTimeout)
	st := a.begin(addr, pool)
	if st == quickDone {
		a.res.Duration = time.Since(a.start)
	}
	return st
}

// timeouts returns the connect deadline of a check started at start, and
// the deadline that applies once connected (zero: keep the connect one).
func checkDeadlines(start time.Time, inter, connect, check time.Duration) (connDL time.Time, afterConnect time.Duration) {
	if inter <= 0 {
		inter = DefaultInter
	}
	connDL = start.Add(inter)
	if check > 0 && connect > 0 && connect < inter {
		connDL = start.Add(connect)
	}
	return connDL, check
}

// checkAddr combines the server's address with the check addr/port keywords.
func checkAddr(serverAddr, addr string, port int) (string, error) {
	host, sport := serverAddr, ""
	if h, p, err := net.SplitHostPort(serverAddr); err == nil {
		host, sport = h, p
	}
	if addr != "" {
		if h, p, err := net.SplitHostPort(addr); err == nil {
			host = h
			if p != "" && p != "0" {
				sport = p
			}
		} else {
			host = strings.Trim(addr, "[]")
		}
	}
	if port > 0 {
		sport = strconv.Itoa(port)
	}
	if host == "" {
		return "", errors.New("no address to check")
	}
	if sport == "" {
		sport = "0" // a connect step may still provide one
	}
	if port <= 0 && addr == "" && sport != "0" {
		return serverAddr, nil
	}
	return net.JoinHostPort(host, sport), nil
}

// errNoPort is reported (SOCKERR) when neither the server, the check nor
// the connect rule gives a port.
var errNoPort = errors.New("no port available for the check")

func portMissing(addr string) bool { return strings.HasSuffix(addr, ":0") }

// dialer returns the dialer used by checks: no keep-alive probes (checks are
// short) and a deadline.
func dial(ctx context.Context, addr string, deadline time.Time) (*net.TCPConn, error) {
	d := net.Dialer{Deadline: deadline, KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		_ = c.Close()
		return nil, errors.New("not a TCP connection")
	}
	return tc, nil
}

// closeReset closes a check connection with an RST (SO_LINGER 0), as HAProxy
// does unless "linger" is set, so that checks leave no TIME_WAIT behind.
func closeReset(c *net.TCPConn) {
	_ = c.SetLinger(0)
	_ = c.Close()
}

// connectStatus classifies a dial error: L4TOUT on timeout, L4CON otherwise,
// with the errno text as info (strerror wording, as HAProxy logs it).
func connectStatus(err error) (Status, string) {
	if isTimeout(err) {
		return StatusL4TOUT, ""
	}
	return StatusL4CON, errnoText(err)
}

func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errnoText returns the C strerror() text for the errno inside err, or the
// error text with its first letter capitalised.
func errnoText(err error) string {
	var en syscall.Errno
	if errors.As(err, &en) {
		switch en {
		case syscall.ECONNREFUSED:
			return "Connection refused"
		case syscall.ECONNRESET:
			return "Connection reset by peer"
		case syscall.ENETUNREACH:
			return "Network is unreachable"
		case syscall.EHOSTUNREACH:
			return "No route to host"
		case syscall.ETIMEDOUT:
			return "Connection timed out"
		case syscall.EPIPE:
			return "Broken pipe"
		case syscall.EADDRNOTAVAIL:
			return "Cannot assign requested address"
		case syscall.EMFILE:
			return "Too many open files"
		}
		return capitalize(en.Error())
	}
	if errors.Is(err, context.Canceled) {
		return "check aborted"
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		return capitalize(oe.Err.Error())
	}
	return capitalize(err.Error())
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}

// tlsClient wraps c in a TLS client using base (may be nil), sni and alpn.
func tlsClient(c net.Conn, base *tls.Config, sni string, alpn []string) *tls.Conn {
	var cfg *tls.Config
	if base != nil {
		cfg = base.Clone()
	} else {
		cfg = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // "verify none" is the default for checks without a CA
	}
	if sni != "" {
		cfg.ServerName = sni
	}
	if cfg.ServerName == "" && !cfg.InsecureSkipVerify {
		if h, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
			cfg.ServerName = h
		}
	}
	if len(alpn) > 0 {
		cfg.NextProtos = alpn
	}
	return tls.Client(c, cfg)
}

// proxyHeader builds a PROXY protocol header (v1 or v2) describing the check
// connection itself, as HAProxy sends for check-send-proxy.
func proxyHeader(version int, local, remote net.Addr) []byte {
	la, _ := local.(*net.TCPAddr)
	ra, _ := remote.(*net.TCPAddr)
	if version == 2 {
		h := []byte("\r\n\r\n\x00\r\nQUIT\n")
		if la == nil || ra == nil {
			return append(h, 0x20, 0x00, 0, 0) // LOCAL command
		}
		if l4, r4 := la.IP.To4(), ra.IP.To4(); l4 != nil && r4 != nil {
			h = append(h, 0x21, 0x11, 0, 12)
			h = append(h, l4...)
			h = append(h, r4...)
		} else {
			h = append(h, 0x21, 0x21, 0, 36)
			h = append(h, la.IP.To16()...)
			h = append(h, ra.IP.To16()...)
		}
		return append(h, byte(la.Port>>8), byte(la.Port), byte(ra.Port>>8), byte(ra.Port))
	}
	if la == nil || ra == nil {
		return []byte("PROXY UNKNOWN\r\n")
	}
	fam := "TCP4"
	if la.IP.To4() == nil || ra.IP.To4() == nil {
		fam = "TCP6"
	}
	return []byte("PROXY " + fam + " " + la.IP.String() + " " + ra.IP.String() + " " +
		strconv.Itoa(la.Port) + " " + strconv.Itoa(ra.Port) + "\r\n")
}

// runConnect is the plain connect check: L4OK, or L6OK after a TLS handshake
// with check-ssl.
func (s *Spec) runConnect(ctx context.Context, addr string, start time.Time) Result {
	if portMissing(addr) {
		return Result{Status: StatusSockErr, Info: errNoPort.Error(), Duration: time.Since(start)}
	}
	connDL, afterConnect := checkDeadlines(start, s.Inter, s.ConnectTimeout, s.CheckTimeout)
	if !s.SSL && s.SendProxy == 0 {
		if st, info, ok := fastConnect(ctx, addr, connDL); ok {
			return Result{Status: st, Info: info, Duration: time.Since(start)}
		}
	}
	c, err := dial(ctx, addr, connDL)
	if err != nil {
		st, info := connectStatus(err)
		return Result{Status: st, Info: info, Duration: time.Since(start)}
	}
	defer closeReset(c)
	if s.SendProxy > 0 {
		_ = c.SetWriteDeadline(connDL)
		if _, err := c.Write(proxyHeader(s.SendProxy, c.LocalAddr(), c.RemoteAddr())); err != nil {
			return Result{Status: StatusSockErr, Info: errnoText(err), Duration: time.Since(start)}
		}
	}
	if !s.SSL {
		return Result{Status: StatusL4OK, Duration: time.Since(start)}
	}
	dl := connDL
	if afterConnect > 0 {
		dl = time.Now().Add(afterConnect)
	}
	tc := tlsClient(c, s.TLS, s.SNI, s.ALPN)
	if st, info := tlsHandshake(ctx, tc, dl); st != StatusL6OK {
		return Result{Status: st, Info: info, Duration: time.Since(start)}
	}
	return Result{Status: StatusL6OK, Duration: time.Since(start)}
}

// tlsHandshake runs the handshake before dl: L6OK, L6TOUT or L6RSP.
func tlsHandshake(ctx context.Context, tc *tls.Conn, dl time.Time) (Status, string) {
	_ = tc.SetDeadline(dl)
	err := tc.HandshakeContext(ctx)
	_ = tc.SetDeadline(time.Time{})
	switch {
	case err == nil:
		return StatusL6OK, ""
	case isTimeout(err):
		return StatusL6TOUT, ""
	case errors.Is(err, io.EOF):
		return StatusL6RSP, "SSL handshake failure (connection closed)"
	}
	return StatusL6RSP, "SSL handshake failure: " + err.Error()
}
