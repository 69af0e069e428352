package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// timedConn applies inactivity timeouts: every Read and Write pushes the
// corresponding deadline forward, which is HAProxy's meaning of
// "timeout client/server" (inactivity, not total time).
//
// Moving a deadline costs a runtime timer update, so it is only moved when
// the one in place would expire within 3/4 of the timeout: an inactivity
// timeout then fires between 3/4 and all of the configured time after the
// last activity, never early and never more than the timeout late.
type timedConn struct {
	net.Conn
	fast     *fastIO      // recvfrom/sendto path for plain TCP (nil otherwise)
	clock    *coarseClock // for long timeouts (nil: time.Now)
	rto, wto time.Duration
	rdl, wdl time.Time // deadlines in place (zero: none)
	rabs     bool      // rdl is an absolute deadline Read must not move
	// nb, while an event loop serves the connection, makes Read and Write
	// non-blocking (see nbIO): deadlines are the loop's then.
	nb *nbIO
}

func (c *timedConn) Read(b []byte) (int, error) {
	if c.nb != nil {
		return c.nb.read(b)
	}
	if c.rto > 0 && !c.rabs {
		now := c.clock.nowFor(c.rto)
		if c.rdl.IsZero() || c.rdl.Sub(now) < c.rto*3/4 {
			c.rdl = now.Add(c.rto)
			_ = c.Conn.SetReadDeadline(c.rdl)
		}
	}
	if c.fast != nil {
		return c.fast.read(b)
	}
	return c.Conn.Read(b)
}

func (c *timedConn) Write(b []byte) (int, error) {
	if c.nb != nil {
		return c.nb.write(b)
	}
	if c.wto > 0 {
		now := c.clock.nowFor(c.wto)
		if c.wdl.IsZero() || c.wdl.Sub(now) < c.wto*3/4 {
			c.wdl = now.Add(c.wto)
			_ = c.Conn.SetWriteDeadline(c.wdl)
		}
	}
	if c.fast != nil {
		return c.fast.write(b)
	}
	return c.Conn.Write(b)
}

// newTimedConn wraps a connection, with the fast I/O path when it is a
// plain TCP connection.
func newTimedConn(c net.Conn, clock *coarseClock) *timedConn {
	return &timedConn{Conn: c, fast: newFastIO(c), clock: clock}
}

// setTimeouts sets both inactivity timeouts (0 = none). A deadline in
// place is kept while it is compatible with the new timeout (the next Read
// or Write moves it), and cleared when the timeout is removed.
func (c *timedConn) setTimeouts(r, w time.Duration) {
	if c.rabs || r != c.rto {
		c.rto, c.rabs = r, false
		if !c.rdl.IsZero() && (r == 0 || c.rdl.Sub(time.Now()) > r) {
			c.rdl = time.Time{}
			_ = c.Conn.SetReadDeadline(c.rdl)
		}
	}
	if w != c.wto {
		c.wto = w
		if !c.wdl.IsZero() && (w == 0 || c.wdl.Sub(time.Now()) > w) {
			c.wdl = time.Time{}
			_ = c.Conn.SetWriteDeadline(c.wdl)
		}
	}
}

// setReadDeadline sets an absolute read deadline (timeout http-request,
// keep-alive wait) that reads do not move; the zero time removes it.
func (c *timedConn) setReadDeadline(t time.Time) {
	c.rabs = !t.IsZero()
	if t.Equal(c.rdl) {
		return
	}
	c.rdl = t
	_ = c.Conn.SetReadDeadline(t)
}

// setReadDeadlineCoarse is setReadDeadline when precision within slack does
// not matter (a keep-alive wait): a deadline already in place between
// t-slack and t is kept.
func (c *timedConn) setReadDeadlineCoarse(t time.Time, slack time.Duration) {
	if !c.rdl.IsZero() && !c.rdl.After(t) && t.Sub(c.rdl) <= slack {
		c.rabs = true
		return
	}
	c.setReadDeadline(t)
}

// srvConn is a connection to a server, reusable across requests.
type srvConn struct {
	tc        *timedConn
	br        *bufio.Reader
	bw        *bufio.Writer
	srv       *Server
	reused    bool
	idleSince time.Time
	sni       string // the SNI sent when the server's sni expression is not constant
	nb        *nbIO  // event-loop I/O state, kept across uses (nil until a loop uses it)
}

func (c *srvConn) close() { _ = c.tc.Conn.Close() }

// connPool keeps idle keep-alive connections of one server.
type connPool struct {
	mu   sync.Mutex
	idle []*srvConn
}

const maxIdlePerServer = 512

// get returns the most recently used idle connection, or nil.
func (p *connPool) get() *srvConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	c := p.idle[n-1]
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	c.reused = true
	return c
}

// prefScan bounds how far get looks for a preferred connection.
const prefScan = 32

// getPref is get, preferring among the most recent idle connections one
// that pref accepts (the event loop that already watches its socket).
func (p *connPool) getPref(pref func(*srvConn) bool) *srvConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(p.idle)
	if n == 0 {
		return nil
	}
	i := n - 1
	for j := n - 1; j >= 0 && j >= n-prefScan; j-- {
		if pref(p.idle[j]) {
			i = j
			break
		}
	}
	c := p.idle[i]
	copy(p.idle[i:], p.idle[i+1:])
	p.idle[n-1] = nil
	p.idle = p.idle[:n-1]
	c.reused = true
	return c
}

// getSNI returns the most recently parked idle connection that was opened
// with the given SNI, so that a request never travels on a TLS session
// negotiated for another name.
func (p *connPool) getSNI(sni string) *srvConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i := len(p.idle) - 1; i >= 0; i-- {
		c := p.idle[i]
		if c.sni != sni {
			continue
		}
		copy(p.idle[i:], p.idle[i+1:])
		p.idle[len(p.idle)-1] = nil
		p.idle = p.idle[:len(p.idle)-1]
		c.reused = true
		return c
	}
	return nil
}

// put parks a connection for reuse.
func (p *connPool) put(c *srvConn) {
	c.idleSince = c.srv.px.e.clock.nowFor(time.Hour) // purge works in seconds
	p.mu.Lock()
	if len(p.idle) >= maxIdlePerServer {
		p.mu.Unlock()
		c.close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// purge closes connections idle for longer than maxIdle (all when maxIdle is 0).
func (p *connPool) purge(maxIdle time.Duration) {
	now := time.Now()
	p.mu.Lock()
	keep := p.idle[:0]
	var drop []*srvConn
	for _, c := range p.idle {
		if maxIdle > 0 && now.Sub(c.idleSince) < maxIdle {
			keep = append(keep, c)
		} else {
			drop = append(drop, c)
		}
	}
	for i := len(keep); i < len(p.idle); i++ {
		p.idle[i] = nil
	}
	p.idle = keep
	p.mu.Unlock()
	for _, c := range drop {
		c.close()
	}
}

// numIdle returns the idle connection count.
func (p *connPool) numIdle() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.idle)
}

// dial opens a new connection to s for a client whose destination port is
// dstPort, honouring timeout connect. sni, when not empty, overrides the
// server name of the TLS handshake (the server's sni expression).
func (s *Server) dial(ctx context.Context, dstPort int, connectTimeout time.Duration, bufsize int, sni string) (*srvConn, error) {
	network, address := s.dialAddr(dstPort)
	d := net.Dialer{Timeout: connectTimeout}
	if connectTimeout == 0 {
		d.Timeout = 0
	}
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		return nil, err
	}
	if s.tlsConf != nil {
		conf := s.tlsConf
		if sni != "" && sni != conf.ServerName {
			conf = conf.Clone()
			conf.ServerName = sni
		}
		tc := tls.Client(conn, conf)
		hctx := ctx
		if connectTimeout > 0 {
			var cancel context.CancelFunc
			hctx, cancel = context.WithTimeout(ctx, connectTimeout)
			defer cancel()
		}
		if err := tc.HandshakeContext(hctx); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("SSL handshake failure: %w", err)
		}
		conn = tc
	}
	t := newTimedConn(conn, s.px.e.clock)
	return &srvConn{tc: t, br: bufio.NewReaderSize(t, bufsize), bw: bufio.NewWriterSize(t, bufsize), srv: s, sni: sni}, nil
}

// serverTLS builds the client TLS configuration of a server line. A
// constant sni expression (str(name)) becomes the configured ServerName; any
// other expression is evaluated per connection (see Server.sniFor).
func serverTLS(ssl bool, verify, caFile, sni, alpn string) (*tls.Config, error) {
	if !ssl {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	switch verify {
	case "none":
		c.InsecureSkipVerify = true
	case "", "required":
		if caFile != "" {
			pem, err := os.ReadFile(caFile)
			if err != nil {
				return nil, fmt.Errorf("unable to load ca-file '%s': %w", caFile, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("no certificate found in ca-file '%s'", caFile)
			}
			c.RootCAs = pool
		} else if verify == "" {
			// HAProxy verifies by default only when a CA is given
			// (ssl-server-verify defaults to required, but without a CA the
			// config check fails); we keep the common blog behaviour:
			// no ca-file and no verify keyword means no verification.
			c.InsecureSkipVerify = true
		}
	default:
		return nil, fmt.Errorf("unknown verify method '%s' (expects 'none' or 'required')", verify)
	}
	if sni != "" {
		if name, ok := constSNI(sni); ok {
			c.ServerName = name
		}
	}
	if alpn != "" {
		c.NextProtos = splitComma(alpn)
	}
	return c, nil
}

// constSNI extracts a constant from an "sni" expression such as str(name).
func constSNI(expr string) (string, bool) {
	if len(expr) > 5 && expr[:4] == "str(" && expr[len(expr)-1] == ')' {
		return expr[4 : len(expr)-1], true
	}
	return "", false
}

func splitComma(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == ',' {
			if i > start {
				out = append(out, s[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// eofErr is returned by reads at the end of the stream.
var eofErr = io.EOF
