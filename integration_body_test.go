package moonbus

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestBufferRequestBody: option http-buffer-request and wait-for-body make
// the body visible to req.body (content-length and chunked, arriving in
// pieces), truncated at the buffer size, and still forwarded whole; a body
// that does not arrive in time gets 408 and is logged cR.
func TestBufferRequestBody(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "seen=%s got=%d:%s", r.Header.Get("X-Body"), len(b), b)
	}))
	defer backend.Close()
	d := startDaemon(t, `
global
    tune.bufsize 1024
`+httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    log stdout format raw local0
    option httplog
    option http-buffer-request
    timeout http-request 2s
    http-request set-header X-Body %[req.body,length]/%[req.body,bytes(0,12)]
    default_backend be
frontend fe_wait
    bind 127.0.0.1:0
    http-request wait-for-body time 300ms at-least 4 if { path /atleast }
    http-request wait-for-body time 300ms if { path /all }
    http-request return status 200 content-type text/plain lf-string "body=%[req.body]"
backend be
    server s1 `+backend.Listener.Addr().String()+`
`)
	// Content-length, the body sent after a pause.
	c := dialRaw(t, d.addr("fe"))
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello ")
	time.Sleep(50 * time.Millisecond) // the body arrives in two segments
	c.send("world")
	if _, body := c.response("POST"); body != "seen=11/hello world got=11:hello world" {
		t.Fatalf("content-length body: %q", body)
	}
	// Chunked, three pieces across packets; req.body is the decoded data.
	c.send("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
	time.Sleep(50 * time.Millisecond)
	c.send("1;ext=1\r\n \r\n5\r\nworld\r\n")
	time.Sleep(50 * time.Millisecond)
	c.send("0\r\n\r\n")
	if _, body := c.response("POST"); body != "seen=11/hello world got=11:hello world" {
		t.Fatalf("chunked body: %q", body)
	}
	// Larger than the buffer: req.body holds what fits, the server gets all.
	big := strings.Repeat("0123456789", 300)
	c.send(fmt.Sprintf("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
	_, body := c.response("POST")
	var n int
	fmt.Sscanf(body, "seen=%d/", &n)
	if n == 0 || n > 1024 || !strings.HasSuffix(body, fmt.Sprintf("got=%d:%s", len(big), big)) {
		t.Fatalf("big body: req.body length %d, response %.80q", n, body)
	}
	// Expect: 100-continue is answered before waiting for the body.
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	if l, _ := c.br.ReadString('\n'); !strings.HasPrefix(l, "HTTP/1.1 100") {
		t.Fatalf("expected 100 Continue, got %q", l)
	}
	c.br.ReadString('\n')
	c.send("abc")
	if _, body := c.response("POST"); body != "seen=3/abc got=3:abc" {
		t.Fatalf("expect-100 body: %q", body)
	}
	// The body never completes: 408 once timeout http-request expires.
	start := time.Now()
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	if resp, _ := c.response("POST"); resp.StatusCode != 408 {
		t.Fatalf("incomplete body: %d, want 408", resp.StatusCode)
	}
	if el := time.Since(start); el < time.Second {
		t.Fatalf("408 after %v, before timeout http-request", el)
	}
	if l := d.waitLog(" 408 "); !strings.Contains(l, " cR-- ") {
		t.Fatalf("log line: %q", l)
	}

	// wait-for-body: at-least is enough; without it the whole body is awaited
	// until the time limit, then 408.
	w := dialRaw(t, d.addr("fe_wait"))
	w.send("POST /atleast HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabcd")
	if resp, body := w.response("POST"); resp.StatusCode != 200 || body != "body=abcd" {
		t.Fatalf("at-least: %d %q", resp.StatusCode, body)
	}
	w = dialRaw(t, d.addr("fe_wait"))
	w.send("POST /all HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabcd")
	if resp, _ := w.response("POST"); resp.StatusCode != 408 {
		t.Fatalf("wait-for-body expiry: %d, want 408", resp.StatusCode)
	}
	w = dialRaw(t, d.addr("fe_wait"))
	w.send("POST /all HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabcd")
	time.Sleep(50 * time.Millisecond)
	w.send("efghij")
	if resp, body := w.response("POST"); resp.StatusCode != 200 || body != "body=abcdefghij" {
		t.Fatalf("wait-for-body complete: %d %q", resp.StatusCode, body)
	}
}
