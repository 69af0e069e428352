package healthcheck

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// listen starts a TCP listener on 127.0.0.1:0 that runs handle for every
// connection (and closes it afterwards). Everything stops at test cleanup.
func listen(t testing.TB, handle func(net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serve(t, ln, handle)
}

func serve(t testing.TB, ln net.Listener, handle func(net.Conn)) string {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]struct{}{}
	done := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				if handle != nil {
					handle(c)
				}
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// silent returns a listener that accepts and never answers.
func silent(t testing.TB) string {
	return listen(t, func(c net.Conn) {
		buf := make([]byte, 1024)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
		}
	})
}

// closedPort returns an address with nothing listening: a socket bound to
// the port but never listening, kept open so that nobody else takes the port.
func closedPort(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
}

// selfSigned returns a TLS server config with a fresh certificate for
// 127.0.0.1 and "check.test".
func selfSigned(t testing.TB) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "check.test"},
		DNSNames:     []string{"check.test"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// waitFor polls cond until it is true or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return ctx
}

// wantResult checks status, code and info of a result.
func wantResult(t testing.TB, r Result, st Status, code int, info string) {
	t.Helper()
	if r.Status != st || (st.HasCode() && r.Code != code) || r.Info != info {
		t.Fatalf("got %s code=%d info=%q, want %s code=%d info=%q", r.Status, r.Code, r.Info, st, code, info)
	}
	if r.Duration < 0 {
		t.Fatalf("duration %v", r.Duration)
	}
}

// queueFull returns a listener whose accept queue is full, so that a
// connect to it stays in progress (its SYNs are dropped), and a function
// that frees the queue: the next SYN retransmission then connects.
func queueFull(t testing.TB) (addr string, free func(), closeLn func()) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	closeLn = func() {
		if !closed {
			closed = true
			syscall.Close(fd)
		}
	}
	t.Cleanup(closeLn)
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	filler, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { filler.Close() })
	free = func() {
		nfd, _, err := syscall.Accept(fd)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Close(nfd)
	}
	return addr, free, closeLn
}

// blackhole returns an address where TCP connects hang: a listener with a
// zero backlog that never accepts, its queue already filled.
func blackhole(t testing.TB) string {
	t.Helper()
	addr, _, _ := queueFull(t)
	return addr
}

// runSpec runs spec once against addr with Spec.Run (the blocking probe,
// which it returns) and, when the check loop can run it itself (plain
// connect, or a program without TLS or PROXY header), once more through a
// Scheduler, and fails the test if the two results differ.
func runSpec(t testing.TB, ctx context.Context, spec *Spec, addr string) Result {
	t.Helper()
	r := spec.Run(ctx, addr)
	if !spec.quick() && !spec.nbCapable() {
		return r
	}
	s := NewScheduler(SchedulerOptions{})
	defer s.Stop()
	rec := newRec(t, addr)
	if _, err := s.Add(rec, Config{Probe: spec, Inter: time.Hour}); err != nil {
		t.Fatal(err)
	}
	s.Start(ctx)
	waitFor(t, 30*time.Second, "the check on the loop", func() bool { return rec.count() > 0 })
	l := rec.all()[0].Result
	if l.Status != r.Status || l.Code != r.Code || l.Info != r.Info {
		t.Errorf("on the check loop: %s code=%d info=%q; blocking: %s code=%d info=%q", l.Status, l.Code, l.Info, r.Status, r.Code, r.Info)
	}
	return r
}
