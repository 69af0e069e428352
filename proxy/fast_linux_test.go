package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"moonbus/config"
)

// fastBackend is an HTTP server for the fast-path tests. /slow waits until
// the test ends or the client goes; /big sends n bytes (?n=), counting what
// it managed to write.
type fastBackend struct {
	url     string
	written atomic.Int64
	release chan struct{}
	cont    chan struct{} // /pause goes on
}

func newFastBackend(t *testing.T) *fastBackend {
	fb := &fastBackend{release: make(chan struct{}), cont: make(chan struct{}, 1)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello "+r.URL.Path)
	})
	mux.HandleFunc("/post", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "got %d", n)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "part%d;", i)
			w.(http.Flusher).Flush()
		}
	})
	mux.HandleFunc("/bigchunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		sum := 0
		for i := 0; i < 300; i++ {
			b := bytes.Repeat([]byte{byte('a' + i%26)}, 1000+i)
			w.Write(b)
			sum += len(b)
			if i%7 == 0 {
				w.(http.Flusher).Flush()
			}
		}
		w.Header().Set("X-Sum", strconv.Itoa(sum))
	})
	mux.HandleFunc("/pause", func(w http.ResponseWriter, r *http.Request) {
		// 8 MB, then nothing until the client confirms it got all of it.
		w.Header().Set("Content-Length", strconv.Itoa(16<<20))
		part := bytes.Repeat([]byte("p"), 8<<20)
		w.Write(part)
		w.(http.Flusher).Flush()
		select {
		case <-fb.cont:
		case <-r.Context().Done():
			return
		}
		w.Write(part)
	})
	mux.HandleFunc("/hold", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-fb.cont:
		case <-r.Context().Done():
		}
		io.WriteString(w, "held")
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		c, brw, _ := w.(http.Hijacker).Hijack()
		defer c.Close()
		brw.WriteString("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end")
		brw.Flush()
	})
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		c, brw, _ := w.(http.Hijacker).Hijack()
		defer c.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		_, _ = io.Copy(c, brw)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-fb.release:
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		w.Header().Set("Content-Length", strconv.Itoa(n))
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 4096)
		for left := n; left > 0; {
			b := chunk
			if left < len(b) {
				b = b[:left]
			}
			m, err := w.Write(b)
			fb.written.Add(int64(m))
			left -= m
			if err != nil {
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(fb.release) })
	fb.url = strings.TrimPrefix(srv.URL, "http://")
	return fb
}

// fastEngine starts an engine with the fast path on and returns the
// frontend's address.
func fastEngine(t *testing.T, cfg *config.Config) (*Engine, *syncBuf, string) {
	t.Helper()
	cfg.Global.Tune.Fastpath = "on"
	e, out := testEngine(t, cfg)
	if e.fast == nil {
		t.Fatal("the fast path is off")
	}
	return e, out, e.ListenerAddr("fe", 0).String()
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func dialFE(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// get sends a GET on c and returns the status and body.
func fastGet(t *testing.T, c net.Conn, br *bufio.Reader, path string) (int, string) {
	t.Helper()
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n", path)
	return readFastResp(t, br)
}

func readFastResp(t *testing.T, br *bufio.Reader) (int, string) {
	t.Helper()
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the body: %v", err)
	}
	return resp.StatusCode, string(b)
}

func TestFastKeepAliveAndPipelining(t *testing.T) {
	fb := newFastBackend(t)
	e, out, addr := fastEngine(t, httpProxyConfig(fb.url))
	c, br := dialFE(t, addr)
	for i := 0; i < 200; i++ {
		if st, body := fastGet(t, c, br, fmt.Sprintf("/k%d", i)); st != 200 || body != fmt.Sprintf("hello /k%d", i) {
			t.Fatalf("request %d: %d %q", i, st, body)
		}
	}
	// Pipelined: ten requests in one write, the last one's head split.
	var req bytes.Buffer
	for i := 0; i < 10; i++ {
		fmt.Fprintf(&req, "GET /p%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
	}
	c.Write(req.Bytes())
	c.Write([]byte("GET /p10 HTTP/1.1\r\nHo"))
	time.Sleep(20 * time.Millisecond) // let the partial head arrive alone
	c.Write([]byte("st: a\r\n\r\n"))
	for i := 0; i <= 10; i++ {
		if st, body := readFastResp(t, br); st != 200 || body != fmt.Sprintf("hello /p%d", i) {
			t.Fatalf("pipelined %d: %d %q", i, st, body)
		}
	}
	waitUntil(t, "the log of the last request", func() bool { return strings.Contains(out.String(), `"GET /p10 HTTP/1.1"`) })
	if n := e.fast.served.Load(); n != 1 {
		t.Fatalf("loop-served connections: %d", n)
	}
	if n := e.fast.fallbacks.Load(); n != 0 {
		t.Fatalf("fallbacks: %d", n)
	}
	if got := e.Proxy("fe").Counters.ReqTot.Load(); got != 211 {
		t.Fatalf("frontend requests: %d", got)
	}
}

func TestFastFallbackMidConnection(t *testing.T) {
	fb := newFastBackend(t)
	e, _, addr := fastEngine(t, httpProxyConfig(fb.url))
	cases := []struct {
		name string
		run  func(t *testing.T, c net.Conn, br *bufio.Reader) bool // false: the connection is done
	}{
		{"body", func(t *testing.T, c net.Conn, br *bufio.Reader) bool {
			body := bytes.Repeat([]byte("x"), 100000)
			fmt.Fprintf(c, "POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", len(body))
			c.Write(body)
			if st, got := readFastResp(t, br); st != 200 || got != "got 100000" {
				t.Fatalf("POST: %d %q", st, got)
			}
			return true
		}},
		{"expect", func(t *testing.T, c net.Conn, br *bufio.Reader) bool {
			fmt.Fprintf(c, "POST /post HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n")
			line, err := br.ReadString('\n')
			if err != nil || !strings.Contains(line, "100") {
				t.Fatalf("interim response %q %v", line, err)
			}
			br.ReadString('\n')
			c.Write([]byte("hello"))
			if st, got := readFastResp(t, br); st != 200 || got != "got 5" {
				t.Fatalf("POST: %d %q", st, got)
			}
			return true
		}},
		{"upgrade", func(t *testing.T, c net.Conn, br *bufio.Reader) bool {
			fmt.Fprintf(c, "GET /upgrade HTTP/1.1\r\nHost: a\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != 101 {
				t.Fatalf("upgrade: %v %v", resp, err)
			}
			c.Write([]byte("ping"))
			b := make([]byte, 4)
			if _, err := io.ReadFull(br, b); err != nil || string(b) != "ping" {
				t.Fatalf("tunnel echo %q %v", b, err)
			}
			return false
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, br := dialFE(t, addr)
			for j := 0; j < 3; j++ {
				if st, body := fastGet(t, c, br, "/before"); st != 200 || body != "hello /before" {
					t.Fatalf("before: %d %q", st, body)
				}
			}
			if tc.run(t, c, br) {
				for j := 0; j < 3; j++ {
					if st, body := fastGet(t, c, br, "/after"); st != 200 || body != "hello /after" {
						t.Fatalf("after: %d %q", st, body)
					}
				}
			}
			if n := e.fast.fallbacks.Load(); n != int64(i+1) {
				t.Fatalf("fallbacks: %d", n)
			}
		})
	}
}

func TestFastChunkedAndCloseDelimited(t *testing.T) {
	fb := newFastBackend(t)
	e, out, addr := fastEngine(t, httpProxyConfig(fb.url))
	c, br := dialFE(t, addr)
	if st, body := fastGet(t, c, br, "/chunked"); st != 200 || body != "part0;part1;part2;" {
		t.Fatalf("chunked: %d %q", st, body)
	}
	fmt.Fprintf(c, "GET /bigchunked HTTP/1.1\r\nHost: a\r\n\r\n")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || len(b) != 300*1000+299*300/2 || b[len(b)-1] != byte('a'+299%26) {
		t.Fatalf("big chunked body: %d bytes, %v", len(b), err)
	}
	if got := resp.Trailer.Get("X-Sum"); got != strconv.Itoa(len(b)) {
		t.Fatalf("trailer X-Sum %q", got)
	}
	if st, body := fastGet(t, c, br, "/x"); st != 200 || body != "hello /x" {
		t.Fatalf("after chunked: %d %q", st, body)
	}
	if n := e.fast.fallbacks.Load(); n != 0 {
		t.Fatalf("chunked responses fell back %d times", n)
	}
	c2, br2 := dialFE(t, addr)
	// The server closes right after its response: the loop must see the
	// end well before timeout server.
	c2.SetReadDeadline(time.Now().Add(2 * time.Second))
	if st, body := fastGet(t, c2, br2, "/close"); st != 200 || body != "until the end" {
		t.Fatalf("close-delimited: %d %q", st, body)
	}
	c2.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br2.ReadByte(); err != io.EOF {
		t.Fatalf("the connection stays open after a close-delimited response: %v", err)
	}
	waitUntil(t, "the close-delimited log", func() bool { return strings.Contains(out.String(), `"GET /close HTTP/1.1"`) })
}

func TestFastTimeouts(t *testing.T) {
	fb := newFastBackend(t)
	cfg := httpProxyConfig(fb.url)
	cfg.Proxies[1].Timeouts.Server = 300 * time.Millisecond
	cfg.Proxies[0].Timeouts.HTTPRequest = 300 * time.Millisecond
	cfg.Proxies[0].Timeouts.HTTPKeepAlive = 300 * time.Millisecond
	_, out, addr := fastEngine(t, cfg)

	// timeout server: 504, sH.
	c, br := dialFE(t, addr)
	start := time.Now()
	if st, _ := fastGet(t, c, br, "/slow"); st != 504 {
		t.Fatalf("slow server: %d", st)
	}
	if d := time.Since(start); d < 250*time.Millisecond || d > 3*time.Second {
		t.Fatalf("504 after %v", d)
	}
	waitUntil(t, "the 504 log", func() bool {
		return strings.Contains(out.String(), " 504 ") && strings.Contains(out.String(), " sH-- ")
	})

	// timeout http-request on a partial head: 408, cR.
	c2, br2 := dialFE(t, addr)
	c2.Write([]byte("GET /partial HTTP/1.1\r\n"))
	if st, _ := readFastResp(t, br2); st != 408 {
		t.Fatalf("partial head: %d", st)
	}
	waitUntil(t, "the 408 log", func() bool {
		return strings.Contains(out.String(), " 408 ") && strings.Contains(out.String(), " cR-- ")
	})

	// timeout http-keep-alive: an idle connection is closed.
	c3, br3 := dialFE(t, addr)
	if st, _ := fastGet(t, c3, br3, "/ka"); st != 200 {
		t.Fatalf("keep-alive request: %d", st)
	}
	c3.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := br3.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v", err)
	}
}

func TestFastShutdownSessions(t *testing.T) {
	fb := newFastBackend(t)
	e, out, addr := fastEngine(t, httpProxyConfig(fb.url))
	srv := e.Proxy("be").Servers()[0]
	c, br := dialFE(t, addr)
	if st, _ := fastGet(t, c, br, "/warm"); st != 200 {
		t.Fatalf("warm-up: %d", st)
	}
	fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	waitUntil(t, "the stream on the server", func() bool { return srv.NumStreams() == 1 })
	if n := srv.ShutdownSessions(); n != 1 {
		t.Fatalf("killed %d streams", n)
	}
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if b, err := io.ReadAll(br); err != nil || len(b) != 0 {
		t.Fatalf("killed stream: %q %v", b, err)
	}
	waitUntil(t, "the killed stream's log", func() bool { return strings.Contains(out.String(), " KH-- ") })
	if e.fast.fallbacks.Load() != 0 {
		t.Fatal("the stream was not served by the loop")
	}
}

func TestFastSlowReaderBackPressure(t *testing.T) {
	fb := newFastBackend(t)
	_, _, addr := fastEngine(t, httpProxyConfig(fb.url))
	const size = 48 << 20
	c, br := dialFE(t, addr)
	fmt.Fprintf(c, "GET /big?n=%d HTTP/1.1\r\nHost: a\r\n\r\n", size)
	// Without reading, the backend must stall well before the end.
	var last int64 = -1
	waitUntil(t, "the backend to stall", func() bool {
		n := fb.written.Load()
		stable := n == last && n > 0
		last = n
		time.Sleep(100 * time.Millisecond)
		return stable
	})
	if n := fb.written.Load(); n >= size {
		t.Fatalf("the backend wrote everything (%d) to a client that reads nothing", n)
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil || n != size {
		t.Fatalf("body: %d bytes, %v", n, err)
	}
	if st, body := fastGet(t, c, br, "/after"); st != 200 || body != "hello /after" {
		t.Fatalf("after: %d %q", st, body)
	}
}

func TestFastStreamPausesAfterSlowClient(t *testing.T) {
	fb := newFastBackend(t)
	_, _, addr := fastEngine(t, httpProxyConfig(fb.url))
	// A small receive window (set before connecting) makes the proxy hold
	// back part of the body.
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 16<<10)
		})
	}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	fmt.Fprintf(c, "GET /pause HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(200 * time.Millisecond) // the proxy holds back what we do not read
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Everything the server sent before pausing must arrive while it
	// pauses, even what the proxy had to hold back.
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	if n, err := io.CopyN(io.Discard, resp.Body, 8<<20); err != nil {
		t.Fatalf("first half: %d bytes, %v", n, err)
	}
	fb.cont <- struct{}{}
	if n, err := io.Copy(io.Discard, resp.Body); err != nil || n != 8<<20 {
		t.Fatalf("second half: %d bytes, %v", n, err)
	}
}

func TestFastStop(t *testing.T) {
	fb := newFastBackend(t)
	cfg := httpProxyConfig(fb.url)
	cfg.Global.Tune.Fastpath = "on"
	cfg.Global.Tune.Bufsize = 16384
	e, err := New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	addr := e.ListenerAddr("fe", 0).String()
	idle, ibr := dialFE(t, addr)
	if st, _ := fastGet(t, idle, ibr, "/idle"); st != 200 {
		t.Fatal(st)
	}
	busy, _ := dialFE(t, addr)
	fmt.Fprintf(busy, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
	waitUntil(t, "the slow request", func() bool { return e.Proxy("be").Servers()[0].NumStreams() == 1 })
	// Graceful first (the idle connection closes), then hard.
	done := make(chan error, 1)
	go func() { done <- e.Stop(ctxTimeout(300 * time.Millisecond)) }()
	idle.SetReadDeadline(time.Now().Add(3 * time.Second))
	if _, err := ibr.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection at stop: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Stop did not have to force the slow request")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Stop hangs")
	}
}

// trickle yields one byte per Read and "would block" between them.
type trickle struct {
	b     []byte
	block bool
}

func (r *trickle) Read(p []byte) (int, error) {
	if r.block = !r.block; r.block {
		return 0, errWouldBlock
	}
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

func TestChunkRelayResumes(t *testing.T) {
	in := "5;ext=1\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n"
	var want bytes.Buffer
	ww := bufio.NewWriter(&want)
	wn, err := copyChunked(ww, bufio.NewReader(strings.NewReader(in)), 101)
	if err != nil {
		t.Fatal(err)
	}
	ww.Flush()
	var got bytes.Buffer
	bw := bufio.NewWriter(&got)
	br := bufio.NewReaderSize(&trickle{b: []byte(in)}, 16)
	var c chunkRelay
	var total int64
	for i := 0; ; i++ {
		if i > 10*len(in) {
			t.Fatal("the relay makes no progress")
		}
		n, done, err := c.relay(bw, br, 101, 7)
		total += n
		if done {
			break
		}
		if err != nil && !errors.Is(err, errWouldBlock) {
			t.Fatalf("relay: %v", err)
		}
	}
	bw.Flush()
	if got.String() != want.String() || total != wn || wn != 31 {
		t.Fatalf("resumed relay %q (%d bytes), want %q (%d)", got.String(), total, want.String(), wn)
	}
}

func TestFastQueueFallsBack(t *testing.T) {
	fb := newFastBackend(t)
	cfg := httpProxyConfig(fb.url)
	cfg.Proxies[1].Servers[0].Params.Maxconn = 1
	cfg.Proxies[1].Timeouts.Queue = 5 * time.Second
	e, out, addr := fastEngine(t, cfg)
	srv := e.Proxy("be").Servers()[0]
	slow, sbr := dialFE(t, addr)
	fmt.Fprintf(slow, "GET /hold HTTP/1.1\r\nHost: a\r\n\r\n")
	waitUntil(t, "the slow request to hold the only slot", func() bool { return srv.NumStreams() == 1 })
	c, br := dialFE(t, addr)
	done := make(chan string, 1)
	go func() {
		fmt.Fprintf(c, "GET /queued HTTP/1.1\r\nHost: a\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			done <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		done <- string(b)
	}()
	waitUntil(t, "the request to fall back into the queue", func() bool { return e.fast.fallbacks.Load() == 1 })
	fb.cont <- struct{}{} // the held request ends, its slot goes to the queued one
	if st, body := readFastResp(t, sbr); st != 200 || body != "held" {
		t.Fatalf("held request: %d %q", st, body)
	}
	select {
	case got := <-done:
		if got != "hello /queued" {
			t.Fatalf("queued request: %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the queued request was not served")
	}
	waitUntil(t, "the queued request's log", func() bool { return strings.Contains(out.String(), `"GET /queued HTTP/1.1"`) })
}
