package proxy

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

// FuzzParseRequest feeds arbitrary bytes to the request parser. Whatever it
// accepts must be well formed (token method, no control bytes in the URI or
// in header names and values, unambiguous framing) and must survive being
// serialized and parsed again unchanged: what the proxy forwards is read by
// the server exactly as the proxy read it.
func FuzzParseRequest(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"POST /x?y=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 3, 3\r\n\r\n",
		"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
		"\r\nGET / HTTP/1.1\nHost: a\n\n",
		"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nX : a\r\n\r\n",
		"PUT / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nExpect: 100-continue\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var m Msg
		br := bufio.NewReaderSize(bytes.NewReader(data), 4096)
		if m.readHeaderBlock(br) != nil || m.parseRequest(100) != nil {
			return
		}
		checkWellFormed(t, &m)
		if _, hasCL := m.Header("content-length"); m.chunked && (hasCL || m.contentLength >= 0) {
			t.Fatalf("accepted request with both framings: %q", data)
		}
		var out bytes.Buffer
		w := bufio.NewWriter(&out)
		m.writeRequestHead(w)
		w.Flush()
		var m2 Msg
		if err := m2.readHeaderBlock(bufio.NewReaderSize(bytes.NewReader(out.Bytes()), 8192)); err != nil {
			t.Fatalf("re-read %q: %v", out.Bytes(), err)
		}
		if err := m2.parseRequest(100); err != nil {
			t.Fatalf("re-parse %q: %v", out.Bytes(), err)
		}
		if !bytes.Equal(m.Method(), m2.Method()) || !bytes.Equal(m.URI(), m2.URI()) || m.NumHeaders() != m2.NumHeaders() {
			t.Fatalf("round trip changed the request line or header count:\n%q\n%q", data, out.Bytes())
		}
		for i := 0; i < m.NumHeaders(); i++ {
			n1, v1 := m.HeaderAt(i)
			n2, v2 := m2.HeaderAt(i)
			if !bytes.Equal(n1, n2) || !bytes.Equal(v1, v2) {
				t.Fatalf("header %d: %q: %q became %q: %q", i, n1, v1, n2, v2)
			}
		}
		if m.contentLength != m2.contentLength || m.chunked != m2.chunked {
			t.Fatalf("framing changed: cl %d chunked %v -> cl %d chunked %v", m.contentLength, m.chunked, m2.contentLength, m2.chunked)
		}
	})
}

func checkWellFormed(t *testing.T, m *Msg) {
	t.Helper()
	if len(m.Method()) == 0 || len(m.URI()) == 0 {
		t.Fatalf("empty method or URI: %q %q", m.Method(), m.URI())
	}
	for _, c := range m.Method() {
		if !isTokenChar(c) {
			t.Fatalf("method %q", m.Method())
		}
	}
	for _, c := range m.URI() {
		if c <= ' ' || c == 0x7f {
			t.Fatalf("URI %q", m.URI())
		}
	}
	for i := 0; i < m.NumHeaders(); i++ {
		n, v := m.HeaderAt(i)
		if len(n) == 0 {
			t.Fatal("empty header name")
		}
		for _, c := range n {
			if !isTokenChar(c) {
				t.Fatalf("header name %q", n)
			}
		}
		if strings.ContainsAny(string(v), "\r\n\x00") {
			t.Fatalf("header %q value %q", n, v)
		}
	}
}
