package moonbus

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the TCP connections a backend accepts.
type connCounter struct{ n atomic.Int32 }

func countingServer(t *testing.T, h http.Handler) (*httptest.Server, *connCounter) {
	cc := &connCounter{}
	s := httptest.NewUnstartedServer(h)
	s.Config.ConnState = func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			cc.n.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, cc
}

func hostOf(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

const httpDefaults = `
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
`

func TestKeepAliveAndServerConnReuse(t *testing.T) {
	var mu sync.Mutex
	var conns []string
	srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns = append(conns, r.Header.Get("Connection"))
		mu.Unlock()
		io.WriteString(w, "ok "+r.URL.Path)
	}))
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	c := dialRaw(t, d.addr("fe"))
	for i := 0; i < 5; i++ {
		c.send(fmt.Sprintf("GET /r%d HTTP/1.1\r\nHost: x\r\n\r\n", i))
		resp, body := c.response("GET")
		if resp.StatusCode != 200 || body != fmt.Sprintf("ok /r%d", i) || resp.Close {
			t.Fatalf("request %d: %d %q close=%v", i, resp.StatusCode, body, resp.Close)
		}
	}
	if n := cc.n.Load(); n != 1 {
		t.Fatalf("backend saw %d connections for 5 keep-alive requests, want 1 (pooled reuse)", n)
	}
	// A second client reuses the idle server connection too.
	resp, _ := get(t, d.addr("fe"), "/again")
	if resp.StatusCode != 200 || cc.n.Load() != 1 {
		t.Fatalf("status %d, backend connections %d", resp.StatusCode, cc.n.Load())
	}
}

func TestConnectionModes(t *testing.T) {
	for _, tc := range []struct {
		opt          string
		wantSrvClose bool
		wantCliClose bool
	}{
		{"option http-keep-alive", false, false},
		{"option http-server-close", true, false},
		{"option httpclose", true, true},
	} {
		t.Run(tc.opt, func(t *testing.T) {
			var gotClose atomic.Bool
			srv, cc := countingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Close {
					gotClose.Store(true)
				}
				io.WriteString(w, "x")
			}))
			d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    `+tc.opt+`
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
			c := dialRaw(t, d.addr("fe"))
			c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, _ := c.response("GET")
			if resp.Close != tc.wantCliClose {
				t.Fatalf("client close = %v, want %v", resp.Close, tc.wantCliClose)
			}
			if tc.wantCliClose {
				c.expectClosed()
			} else {
				c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
				c.response("GET")
			}
			if gotClose.Load() != tc.wantSrvClose {
				t.Fatalf("server saw Connection: close = %v, want %v", gotClose.Load(), tc.wantSrvClose)
			}
			if tc.wantSrvClose && !tc.wantCliClose && cc.n.Load() != 2 {
				t.Fatalf("server-close: backend connections %d, want 2", cc.n.Load())
			}
		})
	}
}

func TestForwardFor(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s|%s", strings.Join(r.Header.Values("X-Forwarded-For"), ","), r.Header.Get("X-Client"))
	}))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    option forwardfor
    default_backend be
frontend fe_ifnone
    bind 127.0.0.1:0
    option forwardfor if-none header X-Client
    default_backend be
frontend fe_except
    bind 127.0.0.1:0
    option forwardfor except 127.0.0.0/8
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	if _, body := get(t, d.addr("fe"), "/"); body != "127.0.0.1|" {
		t.Fatalf("forwardfor: %q", body)
	}
	if _, body := get(t, d.addr("fe"), "/", "X-Forwarded-For: 10.0.0.1\r\n"); body != "10.0.0.1,127.0.0.1|" {
		t.Fatalf("forwardfor appends: %q", body)
	}
	if _, body := get(t, d.addr("fe_ifnone"), "/", "X-Client: 9.9.9.9\r\n"); body != "|9.9.9.9" {
		t.Fatalf("if-none with header present: %q", body)
	}
	if _, body := get(t, d.addr("fe_ifnone"), "/"); body != "|127.0.0.1" {
		t.Fatalf("if-none without header: %q", body)
	}
	if _, body := get(t, d.addr("fe_except"), "/"); body != "|" {
		t.Fatalf("except: %q", body)
	}
}

// TestBodiesStreamed proves request and response bodies are streamed, not
// buffered: the backend answers with a first part and waits for the client to
// have received it through the proxy before sending the rest; the upload is a
// large chunked body echoed back.
func TestBodiesStreamed(t *testing.T) {
	gate := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			io.WriteString(w, "first-part\n")
			w.(http.Flusher).Flush()
			select {
			case <-gate:
			case <-time.After(5 * time.Second):
			}
			io.WriteString(w, "second-part\n")
		case "/echo":
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "got %d bytes, te=%v cl=%d", n, r.TransferEncoding, r.ContentLength)
		}
	}))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	c := dialRaw(t, d.addr("fe"))
	c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "first-part\n" {
		t.Fatalf("first part: %q %v", line, err)
	}
	close(gate) // only now may the backend finish
	rest, _ := io.ReadAll(br)
	if string(rest) != "second-part\n" {
		t.Fatalf("rest %q", rest)
	}

	// 8 MiB chunked upload, and a content-length upload.
	const size = 8 << 20
	c2 := dialRaw(t, d.addr("fe"))
	c2.send("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	chunk := strings.Repeat("z", 64<<10)
	for sent := 0; sent < size; sent += len(chunk) {
		c2.send(fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk))
	}
	c2.send("0\r\n\r\n")
	_, body := c2.response("POST")
	if body != fmt.Sprintf("got %d bytes, te=[chunked] cl=-1", size) {
		t.Fatalf("chunked upload: %q", body)
	}
	c2.send(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", 5, "hello"))
	_, body = c2.response("POST")
	if body != "got 5 bytes, te=[] cl=5" {
		t.Fatalf("content-length upload: %q", body)
	}
}

func TestExpectContinue(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "body=%s", b)
	}))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	c := dialRaw(t, d.addr("fe"))
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
	// The client must get "100 Continue" before sending the body.
	line, err := c.br.ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("interim response: %q %v", line, err)
	}
	if l, _ := c.br.ReadString('\n'); l != "\r\n" {
		t.Fatalf("after 100: %q", l)
	}
	c.send("data")
	_, body := c.response("POST")
	if body != "body=data" {
		t.Fatalf("body %q", body)
	}
}

func TestWebSocketUpgrade(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "websocket" {
			http.Error(w, "no upgrade", 400)
			return
		}
		key := r.Header.Get("Sec-WebSocket-Key")
		h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
		conn, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", base64.StdEncoding.EncodeToString(h[:]))
		brw.Flush()
		// Echo raw bytes (the test speaks a trivial framing).
		buf := make([]byte, 1024)
		for {
			n, err := brw.Read(buf)
			if err != nil {
				return
			}
			conn.Write([]byte("echo:" + string(buf[:n])))
		}
	}))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    timeout tunnel 10s
    server s1 `+hostOf(srv)+`
`)
	c := dialRaw(t, d.addr("fe"))
	c.send("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("upgrade: %d %v", resp.StatusCode, resp.Header)
	}
	for _, msg := range []string{"ping1", "ping2"} {
		c.send(msg)
		buf := make([]byte, 64)
		n, err := c.br.Read(buf)
		if err != nil || string(buf[:n]) != "echo:"+msg {
			t.Fatalf("tunnel echo: %q %v", buf[:n], err)
		}
	}
}

func TestErrorStatusesAndErrorfile(t *testing.T) {
	garbage, _ := net.Listen("tcp", "127.0.0.1:0")
	defer garbage.Close()
	go func() {
		for {
			c, err := garbage.Accept()
			if err != nil {
				return
			}
			go func() {
				bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("THIS IS NOT HTTP\r\n\r\n"))
				c.Close()
			}()
		}
	}()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	dir := t.TempDir()
	ef := filepath.Join(dir, "503.http")
	os.WriteFile(ef, []byte("HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: 11\r\n\r\ncustom page"), 0o644)
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be_garbage
frontend fe_dead
    bind 127.0.0.1:0
    default_backend be_dead
frontend fe_custom
    bind 127.0.0.1:0
    errorfile 503 `+ef+`
    default_backend be_dead
frontend fe_nobackend
    bind 127.0.0.1:0
backend be_garbage
    server s1 `+garbage.Addr().String()+`
backend be_dead
    retries 1
    server s1 `+deadAddr+`
`)
	resp, body := get(t, d.addr("fe"), "/")
	if resp.StatusCode != 502 || !strings.Contains(body, "502 Bad Gateway") {
		t.Fatalf("invalid server response: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, d.addr("fe_dead"), "/")
	if resp.StatusCode != 503 || body != "<html><body><h1>503 Service Unavailable</h1>\nNo server is available to handle this request.\n</body></html>\n" {
		t.Fatalf("dead server: %d %q", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("Content-Type") != "text/html" {
		t.Fatalf("error headers: %v", resp.Header)
	}
	resp, body = get(t, d.addr("fe_custom"), "/")
	if resp.StatusCode != 503 || body != "custom page" {
		t.Fatalf("errorfile: %d %q", resp.StatusCode, body)
	}
	resp, _ = get(t, d.addr("fe_nobackend"), "/")
	if resp.StatusCode != 503 {
		t.Fatalf("frontend without backend: %d", resp.StatusCode)
	}
}

// TestSmuggling sends ambiguous and malformed requests: each gets a 400 and
// none reaches the backend; CL+TE reaches it as chunked only.
func TestSmuggling(t *testing.T) {
	var hits atomic.Int32
	var lastTE, lastCL atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		lastTE.Store(fmt.Sprint(r.TransferEncoding))
		lastCL.Store(r.Header.Get("Content-Length"))
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s", b)
	}))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	bad := map[string]string{
		"conflicting CL":   "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"bad chunk size":   "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
		"bad header":       "GET / HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n",
		"bad uri":          "GET /a\x01b HTTP/1.1\r\nHost: x\r\n\r\n",
		"obs fold":         "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n",
		"unknown TE":       "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
		"header too large": "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 20000) + "\r\n\r\n",
	}
	for name, raw := range bad {
		t.Run(name, func(t *testing.T) {
			before := hits.Load()
			c := dialRaw(t, d.addr("fe"))
			c.send(raw)
			resp, _ := c.response("POST")
			if resp.StatusCode != 400 {
				t.Fatalf("status %d, want 400", resp.StatusCode)
			}
			c.expectClosed()
			if name != "bad chunk size" && hits.Load() != before {
				t.Fatal("malformed request reached the backend")
			}
		})
	}
	// CL + TE: treated as chunked, forwarded without Content-Length, then closed.
	c := dialRaw(t, d.addr("fe"))
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
	resp, body := c.response("POST")
	if resp.StatusCode != 200 || body != "abc" || lastTE.Load() != "[chunked]" || lastCL.Load() != "" {
		t.Fatalf("CL+TE: %d %q te=%v cl=%v", resp.StatusCode, body, lastTE.Load(), lastCL.Load())
	}
	c.expectClosed()
}

// TestHTTP10Client: an HTTP/1.0 request (no Host, keep-alive asked) is
// forwarded as HTTP/1.0 with keep-alive toward the server, answered with
// "Connection: keep-alive", and both connections are reused.
func TestHTTP10Client(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Proto+" "+r.RemoteAddr+" host="+r.Host)
		mu.Unlock()
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	c := dialRaw(t, d.addr("fe"))
	for i := 0; i < 2; i++ {
		c.send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
		resp, body := c.response("GET")
		if resp.StatusCode != 200 || body != "ok" || resp.Header.Get("Connection") != "keep-alive" {
			t.Fatalf("request %d: %d %q connection=%q", i, resp.StatusCode, body, resp.Header.Get("Connection"))
		}
	}
	mu.Lock()
	got := append([]string(nil), seen...)
	mu.Unlock()
	if len(got) != 2 || !strings.HasPrefix(got[0], "HTTP/1.0 ") || got[0] != got[1] {
		t.Fatalf("server saw %q (want HTTP/1.0 twice on one connection)", got)
	}
	// Without keep-alive the client connection closes after the response.
	c = dialRaw(t, d.addr("fe"))
	c.send("GET / HTTP/1.0\r\n\r\n")
	if resp, _ := c.response("GET"); resp.StatusCode != 200 {
		t.Fatalf("plain HTTP/1.0: %d", resp.StatusCode)
	}
	c.expectClosed()
}
