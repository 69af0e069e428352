package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"moonbus/proxy/sample"
	"net"
	"net/netip"
	"strconv"
	"time"
)

// serveTCP relays a mode tcp session to a server of the backend.
func (s *session) serveTCP() {
	e := s.e
	t := getTxn(s)
	defer func() {
		if t.tEnd.IsZero() {
			t.tEnd = time.Now()
		}
		t.finishTCP()
		putTxn(t)
	}()
	t.tReq = s.accept
	s.br = bufio.NewReaderSize(s.conn, e.bufsize)
	if v := t.rules.tcpContent(t, s.fe); v.final() {
		t.applyTCPVerdict(v)
		return
	}
	be := t.selectBackend()
	if be == nil {
		t.setTerm('P', 'R')
		return
	}
	t.be = be
	be.BeCounters.addSession(time.Now())
	defer be.BeCounters.endSession()
	if be != s.fe {
		if v := t.rules.tcpContent(t, be); v.final() {
			t.applyTCPVerdict(v)
			return
		}
	}
	if t.service != "" {
		t.runService()
		return
	}
	var avoid, retrySrv *Server
	failures := 0
	for {
		force := t.forcedServer()
		if force == nil {
			force = retrySrv
		}
		srv, waited, err := be.acquire(e.ctx, t.lbKey(), force, avoid)
		if t.tQueued < 0 {
			t.tQueued = 0
		}
		t.tQueued += waited
		if err != nil {
			if errors.Is(err, errQueueTimeout) {
				t.setTerm('s', 'Q')
			} else {
				t.setTerm('S', 'C')
			}
			return
		}
		t.srv = srv
		srv.Counters.Lbtot.Add(1)
		be.BeCounters.Lbtot.Add(1)
		start := time.Now()
		sc, err := srv.dial(e.ctx, int(s.dst.Port()), be.timeoutConnect(), 512, srv.sniFor(t))
		if t.tConnect < 0 {
			t.tConnect = 0
		}
		t.tConnect += time.Since(start)
		if err != nil {
			srv.release()
			srv.Counters.Econ.Add(1)
			be.BeCounters.Econ.Add(1)
			srv.observeL4(false)
			failures++
			if failures > be.retries {
				if isTimeout(err) {
					t.setTerm('s', 'C')
				} else {
					t.setTerm('S', 'C')
				}
				return
			}
			t.retries++
			srv.Counters.Wretr.Add(1)
			be.BeCounters.Wretr.Add(1)
			retrySrv = srv
			if be.redispatch && failures == be.retries {
				avoid, retrySrv, t.redisp = srv, nil, true
				srv.Counters.Wredis.Add(1)
				be.BeCounters.Wredis.Add(1)
			}
			continue
		}
		srv.observeL4(true)
		t.connected = true
		srv.Counters.addSession(time.Now())
		srv.Counters.Connect.Add(1)
		be.BeCounters.Connect.Add(1)
		t.st.client = s.raw
		t.st.srv = srv
		t.st.server.Store(sc)
		srv.addStream(&t.st)
		var sbr *bufio.Reader
		var gate func() bool
		if len(be.rules.tcpResponse) > 0 {
			sbr = sc.br
			gate = func() bool { return t.tcpResponse(be, sc).kind != verdictReject }
		}
		idle := s.fe.timeouts.Client
		if be.timeouts.Server > idle {
			idle = be.timeouts.Server
		}
		if be.timeouts.Tunnel > 0 {
			idle = be.timeouts.Tunnel
		}
		s.conn.setTimeouts(0, 0)
		sc.tc.setTimeouts(0, 0)
		res := runTunnelGated(s.conn.Conn, s.br, sc.tc.Conn, sbr, idle, s.fe.timeouts.ClientFin, be.timeouts.ServerFin, gate)
		srv.removeStream(&t.st)
		srv.Counters.endSession()
		srv.release()
		t.bytesIn, t.bytesOut = res.up, res.down
		t.tEnd = time.Now()
		switch code := t.st.killed.Load(); {
		case errors.Is(res.err, errGateRejected):
			t.setTerm('P', 'D')
		case code != 0:
			t.setTerm(byte(code), 'D')
		case res.timeout:
			t.setTerm('c', 'D')
		case res.err != nil && !errors.Is(res.err, io.EOF) && !errors.Is(res.err, net.ErrClosed):
			t.setTerm('C', 'D')
		}
		return
	}
}

// tcpResponse runs tcp-response content rules on the first server data,
// waiting up to tcp-response inspect-delay for it.
func (t *Txn) tcpResponse(be *Proxy, sc *srvConn) verdict {
	t.rules.dir = sample.DirResponse
	if d := be.conf.TCPResponseInspectDelay; d > 0 {
		sc.tc.setReadDeadline(time.Now().Add(d))
		_, _ = sc.br.Peek(1)
		sc.tc.setReadDeadline(time.Time{})
	}
	t.rules.resLen = sc.br.Buffered()
	return be.rules.tcpResponse.eval(t)
}

// finishTCP accounts and logs a TCP session.
func (t *Txn) finishTCP() {
	fe := t.fe
	fe.Counters.Bin.Add(t.bytesIn)
	fe.Counters.Bout.Add(t.bytesOut)
	if be := t.be; be != nil {
		be.BeCounters.Bin.Add(t.bytesIn)
		be.BeCounters.Bout.Add(t.bytesOut)
		if s := t.srv; s != nil {
			s.Counters.Bin.Add(t.bytesIn)
			s.Counters.Bout.Add(t.bytesOut)
		}
	}
	if t.noLog || t.logLevel < 0 {
		return
	}
	if fe.dontLogNull && t.bytesIn == 0 && t.bytesOut == 0 && t.term[0] == '-' {
		return
	}
	t.emitLog()
}

// prefixConn is a connection whose first bytes come from a reader (what
// was read while parsing a PROXY header).
type prefixConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(b)
		}
		c.r = nil
	}
	return c.Conn.Read(b)
}

// CloseWrite half-closes the underlying TCP connection.
func (c *prefixConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

var proxyV2Sig = []byte("\r\n\r\n\x00\r\nQUIT\n")

// readProxyHeader parses a PROXY protocol v1 or v2 header (accept-proxy).
func readProxyHeader(br *bufio.Reader) (src, dst netip.AddrPort, err error) {
	head, err := br.Peek(12)
	if err != nil {
		return src, dst, fmt.Errorf("reading PROXY header: %w", err)
	}
	if bytes.Equal(head, proxyV2Sig) {
		h, err := br.Peek(16)
		if err != nil {
			return src, dst, fmt.Errorf("reading PROXY v2 header: %w", err)
		}
		if h[12]>>4 != 2 {
			return src, dst, errors.New("bad PROXY v2 version")
		}
		n := int(h[14])<<8 | int(h[15])
		full, err := br.Peek(16 + n)
		if err != nil {
			return src, dst, fmt.Errorf("reading PROXY v2 addresses: %w", err)
		}
		body := full[16:]
		cmd := h[12] & 0xf
		fam := h[13] >> 4
		if cmd == 1 {
			switch fam {
			case 1:
				if len(body) >= 12 {
					s4, _ := netip.AddrFromSlice(body[0:4])
					d4, _ := netip.AddrFromSlice(body[4:8])
					src = netip.AddrPortFrom(s4, uint16(body[8])<<8|uint16(body[9]))
					dst = netip.AddrPortFrom(d4, uint16(body[10])<<8|uint16(body[11]))
				}
			case 2:
				if len(body) >= 36 {
					s6, _ := netip.AddrFromSlice(body[0:16])
					d6, _ := netip.AddrFromSlice(body[16:32])
					src = netip.AddrPortFrom(s6.Unmap(), uint16(body[32])<<8|uint16(body[33]))
					dst = netip.AddrPortFrom(d6.Unmap(), uint16(body[34])<<8|uint16(body[35]))
				}
			}
		}
		_, _ = br.Discard(16 + n)
		return src, dst, nil
	}
	line, err := br.ReadSlice('\n')
	if err != nil {
		return src, dst, fmt.Errorf("reading PROXY v1 header: %w", err)
	}
	f := bytes.Fields(bytes.TrimRight(line, "\r\n"))
	if len(f) < 2 || string(f[0]) != "PROXY" {
		return src, dst, errors.New("missing PROXY header")
	}
	if string(f[1]) == "UNKNOWN" {
		return src, dst, nil
	}
	if len(f) != 6 {
		return src, dst, errors.New("malformed PROXY v1 header")
	}
	sa, err1 := netip.ParseAddr(string(f[2]))
	da, err2 := netip.ParseAddr(string(f[3]))
	sp, err3 := strconv.Atoi(string(f[4]))
	dp, err4 := strconv.Atoi(string(f[5]))
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil {
		return src, dst, errors.New("malformed PROXY v1 addresses")
	}
	return netip.AddrPortFrom(sa, uint16(sp)), netip.AddrPortFrom(da, uint16(dp)), nil
}
