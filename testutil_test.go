package moonbus

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/config"
	"moonbus/proxy"
)

// syncBuf is a goroutine-safe buffer capturing a daemon's output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testDaemon is a daemon started from a config string.
type testDaemon struct {
	*Daemon
	t   *testing.T
	out *syncBuf
}

// startDaemon parses cfgText, starts a daemon and stops it at the end of the test.
func startDaemon(t *testing.T, cfgText string) *testDaemon {
	t.Helper()
	return startDaemonWith(t, cfgText, Options{Instance: "test"}, true)
}

// startDaemonWith is startDaemon with daemon options (Debug, Instance); the
// output streams and the logger (debug-level messages when debugLog) are the
// test's.
func startDaemonWith(t *testing.T, cfgText string, opts Options, debugLog bool) *testDaemon {
	t.Helper()
	cfg, err := config.Parse("test.cfg", []byte(cfgText), config.Options{})
	if err != nil {
		t.Fatalf("config: %v\n%s", err, cfgText)
	}
	out := &syncBuf{}
	opts.Stdout, opts.Stderr = out, out
	opts.Logger = slog.New(proxy.NewMessageHandler(out, debugLog))
	d, err := New(cfg, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
		if t.Failed() {
			t.Logf("daemon output:\n%s", out.String())
		}
	})
	return &testDaemon{Daemon: d, t: t, out: out}
}

// addr returns the address of a frontend's n-th listener.
func (d *testDaemon) addr(fe string, n ...int) string {
	i := 0
	if len(n) > 0 {
		i = n[0]
	}
	a := d.Engine().ListenerAddr(fe, i)
	if a == nil {
		d.t.Fatalf("no listener %d on %s", i, fe)
	}
	return a.String()
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLog waits until the daemon output contains s and returns the line.
func (d *testDaemon) waitLog(s string) string {
	d.t.Helper()
	var line string
	waitFor(d.t, "log containing "+s, func() bool {
		for _, l := range strings.Split(d.out.String(), "\n") {
			if strings.Contains(l, s) {
				line = l
				return true
			}
		}
		return false
	})
	return line
}

// rawConn is a client connection speaking raw HTTP/1.1.
type rawConn struct {
	net.Conn
	br *bufio.Reader
	t  *testing.T
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{Conn: c, br: bufio.NewReader(c), t: t}
}

func (c *rawConn) send(s string) {
	c.t.Helper()
	if _, err := io.WriteString(c.Conn, s); err != nil {
		c.t.Fatal(err)
	}
}

// response reads one response and its whole body.
func (c *rawConn) response(method string) (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		c.t.Fatalf("reading response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("reading body: %v", err)
	}
	return resp, string(b)
}

// get sends a simple GET on a new connection and returns status and body.
func get(t *testing.T, addr, path string, hdrs ...string) (*http.Response, string) {
	t.Helper()
	c := dialRaw(t, addr)
	defer c.Close()
	c.send(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: test\r\n%sConnection: close\r\n\r\n", path, strings.Join(hdrs, "")))
	return c.response("GET")
}

// expectClosed asserts the server closes the connection.
func (c *rawConn) expectClosed() {
	c.t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("connection still open, read %q", b)
	}
}

func configParse(text string) (*config.Config, error) {
	return config.Parse("test.cfg", []byte(text), config.Options{})
}
