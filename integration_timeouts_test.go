package moonbus

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// blackhole returns the address of a listening socket whose accept queue is
// full, so that new connections hang in SYN_SENT until timeout connect.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Skip("raw socket unavailable:", err)
	}
	sa := &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}
	if err := syscall.Bind(fd, sa); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	got, _ := syscall.Getsockname(fd)
	port := got.(*syscall.SockaddrInet4).Port
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	// Fill the accept queue: a backlog of 0 holds one connection; keep
	// dialing until a connect hangs.
	for i := 0; i < 8; i++ {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("could not fill the accept queue")
	return ""
}

func TestTimeoutConnect(t *testing.T) {
	bh := blackhole(t)
	d := startDaemon(t, `
defaults
    mode http
    timeout connect 300ms
    timeout client 5s
    timeout server 5s
    retries 0
frontend fe
    bind 127.0.0.1:0
    log stdout format raw local0
    option httplog
    default_backend be
backend be
    server s1 `+bh+`
`)
	start := time.Now()
	resp, _ := get(t, d.addr("fe"), "/")
	if resp.StatusCode != 503 {
		t.Fatalf("status %d, want 503", resp.StatusCode)
	}
	if el := time.Since(start); el < 250*time.Millisecond {
		t.Fatalf("answered after %v, before timeout connect", el)
	}
	line := d.waitLog(`"GET / HTTP/1.1"`)
	if !strings.Contains(line, " 503 ") || !strings.Contains(line, " sC-- ") {
		t.Fatalf("log line: %s", line)
	}
}

func TestTimeoutServerAndClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(800 * time.Millisecond)
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	d := startDaemon(t, `
defaults
    mode http
    timeout connect 2s
    timeout client 300ms
    timeout server 300ms
    timeout http-request 300ms
    timeout http-keep-alive 200ms
frontend fe
    bind 127.0.0.1:0
    log stdout format raw local0
    option httplog
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	t.Run("server timeout gives 504", func(t *testing.T) {
		resp, body := get(t, d.addr("fe"), "/slow")
		if resp.StatusCode != 504 || !strings.Contains(body, "504 Gateway Time-out") {
			t.Fatalf("%d %q", resp.StatusCode, body)
		}
		line := d.waitLog(`"GET /slow HTTP/1.1"`)
		if !strings.Contains(line, " sH-- ") {
			t.Fatalf("log line: %s", line)
		}
	})
	t.Run("http-request timeout gives 408", func(t *testing.T) {
		c := dialRaw(t, d.addr("fe"))
		c.send("GET /partial HTTP/1.1\r\nHost: x\r\n")
		resp, _ := c.response("GET")
		if resp.StatusCode != 408 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		c.expectClosed()
		line := d.waitLog(" 408 ")
		if !strings.Contains(line, " cR-- ") {
			t.Fatalf("log line: %s", line)
		}
	})
	t.Run("keep-alive timeout closes quietly", func(t *testing.T) {
		c := dialRaw(t, d.addr("fe"))
		c.send("GET /ka HTTP/1.1\r\nHost: x\r\n\r\n")
		c.response("GET")
		start := time.Now()
		c.expectClosed()
		if el := time.Since(start); el > 2*time.Second {
			t.Fatalf("idle connection kept %v", el)
		}
	})
	t.Run("client timeout during body", func(t *testing.T) {
		c := dialRaw(t, d.addr("fe"))
		c.send("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nonly-part")
		c.expectClosed()
		line := d.waitLog(`"POST /upload HTTP/1.1"`)
		if !strings.Contains(line, " cD-- ") {
			t.Fatalf("log line: %s", line)
		}
	})
}

func TestMaxconnQueueAndQueueTimeout(t *testing.T) {
	var cur, peak atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		defer cur.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		if r.URL.Path == "/hold" {
			<-release
		} else {
			time.Sleep(20 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	d := startDaemon(t, `
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    timeout queue 300ms
frontend fe
    bind 127.0.0.1:0
    log stdout format raw local0
    option httplog
    default_backend be
backend be
    server s1 `+hostOf(srv)+` maxconn 1
`)
	// Queueing: 6 concurrent requests, the server sees at most one at a time.
	var wg sync.WaitGroup
	var ok atomic.Int32
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", d.addr("fe"))
			if err != nil {
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "GET /q HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
			b, _ := io.ReadAll(c)
			if strings.HasPrefix(string(b), "HTTP/1.1 200") {
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 6 || peak.Load() != 1 {
		t.Fatalf("ok=%d peak=%d, want 6 and 1", ok.Load(), peak.Load())
	}
	// Queue timeout: one request holds the only slot, the next waits and
	// gets 503 after timeout queue.
	holdDone := make(chan struct{})
	go func() {
		defer close(holdDone)
		c, err := net.Dial("tcp", d.addr("fe"))
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		io.ReadAll(c)
	}()
	waitFor(t, "slot held", func() bool { return cur.Load() == 1 })
	resp, _ := get(t, d.addr("fe"), "/waits")
	close(release)
	<-holdDone
	if resp.StatusCode != 503 {
		t.Fatalf("queued request: %d, want 503", resp.StatusCode)
	}
	line := d.waitLog(`"GET /waits HTTP/1.1"`)
	if !strings.Contains(line, " sQ-- ") {
		t.Fatalf("log line: %s", line)
	}
}

func TestFrontendMaxconn(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    maxconn 1
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	c1 := dialRaw(t, d.addr("fe"))
	c1.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c1.response("GET")
	// c1 holds the only slot: c2 is connected by the kernel but not served.
	c2 := dialRaw(t, d.addr("fe"))
	c2.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c2.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c2.br.ReadByte(); err == nil {
		t.Fatal("second connection served while maxconn 1 is used")
	}
	c1.Close()
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, _ := c2.response("GET")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestRetriesAndRedispatch(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "live") }))
	defer srv.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    log stdout format raw local0
    option httplog
    default_backend be
backend be
    balance roundrobin
    retries 2
    option redispatch
    server dead `+deadAddr+`
    server live `+hostOf(srv)+`
`)
	for i := 0; i < 4; i++ {
		resp, body := get(t, d.addr("fe"), fmt.Sprintf("/r%d", i))
		if resp.StatusCode != 200 || body != "live" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
	// The requests that went to the dead server were retried then redispatched.
	out := d.out.String()
	if !strings.Contains(out, "/+2 ") {
		t.Fatalf("no redispatched log line (+2 retries):\n%s", out)
	}
	st := d.Engine().Proxy("be").Server("dead")
	if st.Counters.Econ.Load() == 0 || st.Counters.Wredis.Load() == 0 {
		t.Fatalf("econ=%d wredis=%d", st.Counters.Econ.Load(), st.Counters.Wredis.Load())
	}
}

// TestPooledConnOutlivesServerTimeout: a server connection parked in the
// pool for longer than timeout server keeps working when reused (its stale
// deadline is renewed before the request is sent).
func TestPooledConnOutlivesServerTimeout(t *testing.T) {
	var mu sync.Mutex
	conns := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr]++
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	d := startDaemon(t, `
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 200ms
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    http-reuse always
    server s1 `+hostOf(srv)+`
`)
	for i := 0; i < 3; i++ {
		if resp, body := get(t, d.addr("fe"), "/"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		time.Sleep(400 * time.Millisecond) // idle in the pool past timeout server
	}
	mu.Lock()
	defer mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("server connections: %v (want one, reused)", conns)
	}
}
