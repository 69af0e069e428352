package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"strings"
	"testing"
)

func parseReq(raw string) (*Msg, error) {
	m := &Msg{}
	br := bufio.NewReaderSize(strings.NewReader(raw), 4096)
	if err := m.readHeaderBlock(br); err != nil {
		return m, err
	}
	return m, m.parseRequest(101)
}

func TestParseRequestValid(t *testing.T) {
	m, err := parseReq("GET /a?b=c HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 5\r\n\r\nhello")
	if err != nil {
		t.Fatal(err)
	}
	if string(m.Method()) != "GET" || string(m.URI()) != "/a?b=c" || m.minor != 1 || m.contentLength != 5 {
		t.Fatalf("bad parse: %q %q %d %d", m.Method(), m.URI(), m.minor, m.contentLength)
	}
	if m.NumHeaders() != 4 {
		t.Fatalf("headers: %d", m.NumHeaders())
	}
	m.AddHeader("X-New", "v")
	m.SetURI([]byte("/z"))
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	m.writeRequestHead(bw)
	bw.Flush()
	want := "GET /z HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 5\r\nX-New: v\r\n\r\n"
	if out.String() != want {
		t.Fatalf("serialized:\n%q\nwant\n%q", out.String(), want)
	}
}

func TestParseRequestRejects(t *testing.T) {
	cases := []struct {
		name, raw string
		want      error
	}{
		{"conflicting content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", errBadCL},
		{"content-length list mismatch", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5, 6\r\n\r\n", errBadCL},
		{"negative content-length", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", errBadCL},
		{"content-length with sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", errBadCL},
		{"unknown transfer-encoding", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", errBadTE},
		{"chunked not last", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", errBadTE},
		{"double chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", errBadTE},
		{"TE on HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", errBadTE},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", errBadHeader},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  continued\r\n\r\n", errBadHeader},
		{"ctl in value", "GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01b\r\n\r\n", errBadHeader},
		{"bad header name", "GET / HTTP/1.1\r\nHost: x\r\nX(A): 1\r\n\r\n", errBadHeader},
		{"no host 1.1", "GET / HTTP/1.1\r\nX: 1\r\n\r\n", errNoHost},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", errNoHost},
		{"space in uri", "GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequestLine},
		{"ctl in uri", "GET /a\x7fb HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequestLine},
		{"double space", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequestLine},
		{"bad method", "G(T / HTTP/1.1\r\nHost: x\r\n\r\n", errBadRequestLine},
		{"http/2 preface", "PRI * HTTP/2.0\r\n\r\n", errBadVersion},
		{"http/0.9", "GET /\r\n\r\n", errBadRequestLine},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseReq(c.raw)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestParseRequestCLandTE(t *testing.T) {
	m, err := parseReq("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n")
	if err != nil {
		t.Fatal(err)
	}
	if !m.chunked || !m.clTE || m.contentLength != -1 {
		t.Fatalf("framing: chunked=%v clTE=%v cl=%d", m.chunked, m.clTE, m.contentLength)
	}
	if _, ok := m.Header("content-length"); ok {
		t.Fatal("content-length must be removed when transfer-encoding is present")
	}
}

func TestHeaderTooLarge(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 5000) + "\r\n\r\n"
	_, err := parseReq(raw)
	if !errors.Is(err, errTooLarge) {
		t.Fatalf("got %v", err)
	}
}

func TestTooManyHeaders(t *testing.T) {
	raw := "GET / HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X: 1\r\n", 101) + "\r\n"
	m := &Msg{}
	br := bufio.NewReaderSize(strings.NewReader(raw), 8192)
	if err := m.readHeaderBlock(br); err != nil {
		t.Fatal(err)
	}
	if err := m.parseRequest(101); !errors.Is(err, errTooManyHeaders) {
		t.Fatalf("got %v", err)
	}
}

func TestCopyChunked(t *testing.T) {
	in := "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: v\r\n\r\nNEXT"
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	br := bufio.NewReader(strings.NewReader(in))
	n, err := copyChunked(bw, br, 101)
	if err != nil {
		t.Fatal(err)
	}
	bw.Flush()
	if n != 11 {
		t.Fatalf("payload %d", n)
	}
	want := "5\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: v\r\n\r\n"
	if out.String() != want {
		t.Fatalf("got %q", out.String())
	}
	rest, _ := br.Peek(4)
	if string(rest) != "NEXT" {
		t.Fatalf("overread: %q", rest)
	}
}

func TestCopyChunkedRejects(t *testing.T) {
	for _, in := range []string{
		"zz\r\nhello\r\n0\r\n\r\n",
		"5\r\nhelloX\r\n0\r\n\r\n",
		"fffffffffffffffff\r\n",
		"-5\r\nhello\r\n",
		"5 junk\r\nhello\r\n",
		"0\r\nbad trailer\r\n\r\n",
	} {
		var out bytes.Buffer
		_, err := copyChunked(bufio.NewWriter(&out), bufio.NewReader(strings.NewReader(in)), 101)
		if !errors.Is(err, errBadChunk) {
			t.Errorf("%q: got %v", in, err)
		}
	}
}

func TestParseResponse(t *testing.T) {
	m := &Msg{}
	br := bufio.NewReader(strings.NewReader("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"))
	if err := m.readHeaderBlock(br); err != nil {
		t.Fatal(err)
	}
	if err := m.parseResponse(101); err != nil {
		t.Fatal(err)
	}
	if m.status != 503 || string(m.Reason()) != "Service Unavailable" || !m.connClose || m.contentLength != 3 {
		t.Fatalf("%d %q %v %d", m.status, m.Reason(), m.connClose, m.contentLength)
	}
}
