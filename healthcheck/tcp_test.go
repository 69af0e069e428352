package healthcheck

import (
	"bufio"
	"context"
	"crypto/tls"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestConnectCheck(t *testing.T) {
	ctx := ctxT(t)
	acceptClose := listen(t, nil)
	t.Run("L4OK", func(t *testing.T) {
		r := (&Spec{Inter: time.Second}).Run(ctx, acceptClose)
		wantResult(t, r, StatusL4OK, 0, "")
	})
	t.Run("L4CON refused", func(t *testing.T) {
		r := (&Spec{Inter: time.Second}).Run(ctx, closedPort(t))
		wantResult(t, r, StatusL4CON, 0, "Connection refused")
		if got := r.Reason(); !strings.HasPrefix(got, `, reason: Layer4 connection problem, info: "Connection refused", check duration: `) {
			t.Errorf("reason %q", got)
		}
	})
	t.Run("L4TOUT bounded by inter", func(t *testing.T) {
		start := time.Now()
		r := (&Spec{Inter: 150 * time.Millisecond}).Run(ctx, blackhole(t))
		wantResult(t, r, StatusL4TOUT, 0, "")
		if el := time.Since(start); el < 140*time.Millisecond || el > 3*time.Second {
			t.Errorf("took %v", el)
		}
	})
	t.Run("L4TOUT bounded by timeout connect when timeout check is set", func(t *testing.T) {
		start := time.Now()
		r := (&Spec{Inter: 10 * time.Second, ConnectTimeout: 100 * time.Millisecond, CheckTimeout: time.Second}).Run(ctx, blackhole(t))
		wantResult(t, r, StatusL4TOUT, 0, "")
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("took %v: timeout connect not applied", el)
		}
	})
	t.Run("port and addr override the server address", func(t *testing.T) {
		_, port, _ := net.SplitHostPort(acceptClose)
		p, _ := strconv.Atoi(port)
		r := (&Spec{Inter: time.Second, Port: p}).Run(ctx, closedPort(t))
		wantResult(t, r, StatusL4OK, 0, "")
		r = (&Spec{Inter: time.Second, Addr: "127.0.0.1", Port: p}).Run(ctx, "192.0.2.1:80")
		wantResult(t, r, StatusL4OK, 0, "")
		r = (&Spec{Inter: time.Second, Addr: acceptClose}).Run(ctx, "192.0.2.1")
		wantResult(t, r, StatusL4OK, 0, "")
	})
	t.Run("no port is a socket error", func(t *testing.T) {
		r := (&Spec{Inter: time.Second}).Run(ctx, "127.0.0.1")
		if r.Status != StatusSockErr {
			t.Fatalf("got %s", r.Status)
		}
	})
}

func TestConnectCheckSSL(t *testing.T) {
	ctx := ctxT(t)
	srvCfg := selfSigned(t)
	srvCfg.NextProtos = []string{"h2", "http/1.1"}
	gotSNI := make(chan string, 4)
	srvCfg.GetConfigForClient = func(h *tls.ClientHelloInfo) (*tls.Config, error) {
		gotSNI <- h.ServerName
		return nil, nil
	}
	tlsAddr := listen(t, func(c net.Conn) {
		tc := tls.Server(c, srvCfg)
		_ = tc.Handshake()
	})
	t.Run("L6OK with SNI", func(t *testing.T) {
		r := (&Spec{Inter: time.Second, SSL: true, SNI: "check.test", ALPN: []string{"h2"}}).Run(ctx, tlsAddr)
		wantResult(t, r, StatusL6OK, 0, "")
		if sni := <-gotSNI; sni != "check.test" {
			t.Errorf("SNI %q", sni)
		}
	})
	t.Run("L6RSP on a plain server", func(t *testing.T) {
		plain := listen(t, func(c net.Conn) { io.WriteString(c, "HTTP/1.0 400 Bad Request\r\n\r\n") })
		r := (&Spec{Inter: time.Second, SSL: true}).Run(ctx, plain)
		if r.Status != StatusL6RSP || !strings.HasPrefix(r.Info, "SSL handshake failure") {
			t.Fatalf("got %s %q", r.Status, r.Info)
		}
	})
	t.Run("L6TOUT when the handshake never completes", func(t *testing.T) {
		r := (&Spec{Inter: 200 * time.Millisecond, SSL: true}).Run(ctx, silent(t))
		wantResult(t, r, StatusL6TOUT, 0, "")
	})
	t.Run("verification with the server's TLS settings", func(t *testing.T) {
		r := (&Spec{Inter: time.Second, SSL: true, TLS: &tls.Config{}}).Run(ctx, tlsAddr)
		if r.Status != StatusL6RSP {
			t.Fatalf("unverifiable certificate accepted: %s", r.Status)
		}
		<-gotSNI
	})
}

func TestConnectCheckSendProxy(t *testing.T) {
	ctx := ctxT(t)
	lines := make(chan string, 1)
	addr := listen(t, func(c net.Conn) {
		l, _ := bufio.NewReader(c).ReadString('\n')
		lines <- l
	})
	r := (&Spec{Inter: time.Second, SendProxy: 1}).Run(ctx, addr)
	wantResult(t, r, StatusL4OK, 0, "")
	l := <-lines
	if !strings.HasPrefix(l, "PROXY TCP4 127.0.0.1 127.0.0.1 ") || !strings.HasSuffix(l, "\r\n") {
		t.Fatalf("PROXY line %q", l)
	}
	v2 := proxyHeader(2, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 1), Port: 1234}, &net.TCPAddr{IP: net.IPv4(10, 0, 0, 2), Port: 80})
	if len(v2) != 16+12 || v2[12] != 0x21 || v2[13] != 0x11 || v2[26] != 0 || v2[27] != 80 {
		t.Fatalf("v2 header % x", v2)
	}
}

func TestConnectCheckCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan Result, 1)
	addr := blackhole(t)
	go func() { done <- (&Spec{Inter: 30 * time.Second}).Run(ctx, addr) }()
	cancel()
	select {
	case r := <-done:
		if r.Status.Class() != ResultFailed {
			t.Fatalf("got %s", r.Status)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("probe did not stop on cancel")
	}
}

func openFDs(t *testing.T) int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

func TestConnectCheckNoFDLeak(t *testing.T) {
	ctx := ctxT(t)
	ok, refused, hole := listen(t, nil), closedPort(t), blackhole(t)
	spec := &Spec{Inter: 20 * time.Millisecond}
	before := openFDs(t)
	for i := 0; i < 200; i++ {
		spec.Run(ctx, ok)
		spec.Run(ctx, refused)
		if i%20 == 0 {
			spec.Run(ctx, hole)
		}
	}
	waitFor(t, 10*time.Second, "descriptors to settle", func() bool { return openFDs(t) <= before+2 })
}

func TestConnectCheckIPv6(t *testing.T) {
	ln, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback")
	}
	addr := serve(t, ln, nil)
	r := (&Spec{Inter: time.Second}).Run(ctxT(t), addr)
	wantResult(t, r, StatusL4OK, 0, "")
}
