package healthcheck

import (
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// words splits config lines the simple way (tests only).
func words(lines ...string) [][]string {
	var out [][]string
	for _, l := range lines {
		out = append(out, strings.Fields(l))
	}
	return out
}

type seenReq struct {
	Method, URI, Proto, Host string
	Header                   http.Header
	Body                     string
	Close                    bool
}

// httpBackend is an httptest server whose status, body and handler can be
// changed; it records the requests it gets.
type httpBackend struct {
	*httptest.Server
	mu     sync.Mutex
	status int
	body   string
	reqs   []seenReq
}

func newHTTPBackend(t *testing.T, tlsOn bool) *httpBackend {
	b := &httpBackend{status: 200, body: "ok"}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.reqs = append(b.reqs, seenReq{r.Method, r.RequestURI, r.Proto, r.Host, r.Header.Clone(), string(body), r.Close})
		st, bd := b.status, b.body
		b.mu.Unlock()
		w.WriteHeader(st)
		io.WriteString(w, bd)
	})
	b.Server = httptest.NewUnstartedServer(h)
	b.Server.Config.ErrorLog = log.New(io.Discard, "", 0)
	if tlsOn {
		b.StartTLS()
	} else {
		b.Start()
	}
	t.Cleanup(b.Close)
	return b
}

func (b *httpBackend) set(status int, body string) {
	b.mu.Lock()
	b.status, b.body = status, body
	b.mu.Unlock()
}

func (b *httpBackend) last() seenReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reqs[len(b.reqs)-1]
}

func (b *httpBackend) addr() string { return b.Listener.Addr().String() }

func mustHTTP(t *testing.T, args []string, lines ...string) *Rules {
	t.Helper()
	r, err := ParseHTTPCheck(args, words(lines...))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestHTTPCheckDefault(t *testing.T) {
	ctx := ctxT(t)
	be := newHTTPBackend(t, false)
	spec := &Spec{Rules: mustHTTP(t, nil), Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, be.addr()), StatusL7OK, 200, "")
	req := be.last()
	if req.Method != "OPTIONS" || req.URI != "/" || req.Proto != "HTTP/1.0" || !req.Close || req.Host != "" {
		t.Fatalf("request %+v", req)
	}
	be.set(301, "")
	wantResult(t, runSpec(t, ctx, spec, be.addr()), StatusL7OK, 301, "")
	be.set(503, "down")
	r := runSpec(t, ctx, spec, be.addr())
	wantResult(t, r, StatusL7STS, 503, "Service Unavailable")
	if !strings.HasPrefix(r.Reason(), `, reason: Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: `) {
		t.Errorf("reason %q", r.Reason())
	}
	be.set(404, "")
	wantResult(t, runSpec(t, ctx, spec, be.addr()), StatusL7STS, 404, "Not Found")
}

func TestHTTPCheckOptionForms(t *testing.T) {
	ctx := ctxT(t)
	be := newHTTPBackend(t, false)
	tests := []struct {
		args             []string
		meth, uri, proto string
		host             string
	}{
		{[]string{"/health"}, "OPTIONS", "/health", "HTTP/1.0", ""},
		{[]string{"GET", "/x"}, "GET", "/x", "HTTP/1.0", ""},
		{[]string{"HEAD", "/y", "HTTP/1.0"}, "HEAD", "/y", "HTTP/1.0", ""},
		{[]string{"GET", "/z", "HTTP/1.1\r\nHost: www.example.com"}, "GET", "/z", "HTTP/1.1", "www.example.com"},
		{[]string{"GET", "/z", `HTTP/1.1\r\nHost:\ legacy.example.com`}, "GET", "/z", "HTTP/1.1", "legacy.example.com"},
		{[]string{"GET", "/h", "HTTP/1.1", "host.example.com"}, "GET", "/h", "HTTP/1.1", "host.example.com"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			spec := &Spec{Rules: mustHTTP(t, tc.args), Inter: 2 * time.Second}
			wantResult(t, runSpec(t, ctx, spec, be.addr()), StatusL7OK, 200, "")
			req := be.last()
			if req.Method != tc.meth || req.URI != tc.uri || req.Proto != tc.proto || req.Host != tc.host {
				t.Fatalf("request %+v", req)
			}
		})
	}
}

func TestHTTPCheckSend(t *testing.T) {
	ctx := ctxT(t)
	be := newHTTPBackend(t, false)
	rules := mustHTTP(t, []string{"GET", "/ignored"},
		"send meth POST uri /health ver HTTP/1.1 hdr Host app.example hdr X-Check yes body hello",
	)
	spec := &Spec{Rules: rules, Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, be.addr()), StatusL7OK, 200, "")
	req := be.last()
	if req.Method != "POST" || req.URI != "/health" || req.Proto != "HTTP/1.1" || req.Host != "app.example" ||
		req.Header.Get("X-Check") != "yes" || req.Body != "hello" || req.Header.Get("Content-Length") != "5" || !req.Close {
		t.Fatalf("request %+v", req)
	}
	// A configured Connection header is kept and no "close" is added.
	rules = mustHTTP(t, nil, "send uri /ka ver HTTP/1.1 hdr Host h hdr Connection keep-alive")
	if got := string(rules.steps[1].data); strings.Contains(got, "close") || !strings.HasPrefix(got, "OPTIONS /ka HTTP/1.1\r\n") {
		t.Fatalf("request bytes %q", got)
	}
	// send inherits the method and uri of option httpchk.
	rules = mustHTTP(t, []string{"GET", "/from-option"}, "send hdr X-A b")
	if got := string(rules.steps[1].data); got != "GET /from-option HTTP/1.0\r\nX-A: b\r\nConnection: close\r\n\r\n" {
		t.Fatalf("request bytes %q", got)
	}
}

func TestHTTPCheckExpect(t *testing.T) {
	ctx := ctxT(t)
	be := newHTTPBackend(t, false)
	tests := []struct {
		name   string
		lines  []string
		status int
		body   string
		want   Status
		info   string
	}{
		{"status list ok", []string{"expect status 200,201,300-310"}, 302, "", StatusL7OK, ""},
		{"status list fail", []string{"expect status 200,201,300-310"}, 404, "", StatusL7STS, "Not Found"},
		{"inverted status", []string{"expect ! status 500"}, 200, "", StatusL7OK, ""},
		{"inverted status fail", []string{"expect ! status 500"}, 500, "", StatusL7STS, "Internal Server Error"},
		{"rstatus", []string{"expect rstatus ^2[0-9][0-9]$"}, 204, "", StatusL7OK, ""},
		{"rstatus fail", []string{"expect rstatus ^2"}, 302, "", StatusL7STS, "Found"},
		{"string", []string{"expect string alive"}, 200, "i am alive!", StatusL7OK, ""},
		{"string missing", []string{"expect string alive"}, 200, "dead", StatusL7RSP, "HTTP content check did not match"},
		{"string on empty body", []string{"expect string alive"}, 200, "", StatusL7RSP, "HTTP content check could not find a response body"},
		{"inverted string", []string{"expect ! string maintenance"}, 200, "maintenance mode", StatusL7RSP, "HTTP check matched unwanted content"},
		{"rstring", []string{`expect rstring ^\{"status":"(ok|up)"\}$`}, 200, `{"status":"up"}`, StatusL7OK, ""},
		{"rstring fail", []string{`expect rstring "status":"up"`}, 200, `{"status":"down"}`, StatusL7RSP, "HTTP content check did not match"},
		{"status then string", []string{"expect status 200", "expect string ok"}, 200, "all ok", StatusL7OK, ""},
		{"error-status and comment", []string{"expect error-status L7RSP comment need-200 status 200"}, 500, "", StatusL7RSP, "Internal Server Error comment: need-200"},
		{"on-error text", []string{"expect on-error backend-sick status 200"}, 503, "", StatusL7STS, "backend-sick"},
		{"ok-status", []string{"expect ok-status L6OK status 200"}, 200, "", StatusL6OK, ""},
		{"on-success text", []string{"expect on-success fine status 200"}, 200, "", StatusL7OK, "fine"},
		{"disable-on-404", []string{"disable-on-404", "expect status 200"}, 404, "", StatusL7OKC, ""},
		{"disable-on-404 wins over expect string", []string{"disable-on-404", "expect string x"}, 404, "", StatusL7OKC, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			be.set(tc.status, tc.body)
			spec := &Spec{Rules: mustHTTP(t, nil, tc.lines...), Inter: 2 * time.Second}
			wantResult(t, runSpec(t, ctx, spec, be.addr()), tc.want, tc.status, tc.info)
		})
	}
	t.Run("disable-on-404 on a DOWN server", func(t *testing.T) {
		be.set(404, "")
		spec := &Spec{Rules: mustHTTP(t, nil, "disable-on-404"), Inter: 2 * time.Second}
		r, _ := spec.Probe(ctx, ProbeTarget{Addr: be.addr(), Up: false})
		wantResult(t, r, StatusL7STS, 404, "Not Found")
	})
}

func TestHTTPCheckBadPeers(t *testing.T) {
	ctx := ctxT(t)
	spec := &Spec{Rules: mustHTTP(t, nil), Inter: 300 * time.Millisecond}
	t.Run("not HTTP", func(t *testing.T) {
		addr := listen(t, func(c net.Conn) { io.WriteString(c, "SSH-2.0-OpenSSH_9.6\r\n") })
		wantResult(t, runSpec(t, ctx, spec, addr), StatusL7RSP, 0, "")
	})
	t.Run("closes without answering", func(t *testing.T) {
		addr := listen(t, func(c net.Conn) { c.Read(make([]byte, 512)) })
		wantResult(t, runSpec(t, ctx, spec, addr), StatusL7RSP, 0, "TCPCHK got an empty response at step 3")
	})
	t.Run("never answers", func(t *testing.T) {
		wantResult(t, runSpec(t, ctx, spec, silent(t)), StatusL7TOUT, 0, "")
	})
	t.Run("timeout check after connect", func(t *testing.T) {
		s := &Spec{Rules: spec.Rules, Inter: 30 * time.Second, ConnectTimeout: time.Second, CheckTimeout: 100 * time.Millisecond}
		start := time.Now()
		wantResult(t, runSpec(t, ctx, s, silent(t)), StatusL7TOUT, 0, "")
		if time.Since(start) > 10*time.Second {
			t.Fatal("timeout check ignored")
		}
	})
	t.Run("refused", func(t *testing.T) {
		wantResult(t, runSpec(t, ctx, spec, closedPort(t)), StatusL4CON, 0, "Connection refused")
	})
	t.Run("chunked body and RST after the response", func(t *testing.T) {
		addr := listen(t, func(c net.Conn) {
			c.Read(make([]byte, 512))
			io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nal\r\n\r\n3\r\nive\r\n0\r\n\r\n")
			c.(*net.TCPConn).SetLinger(0)
		})
		s := &Spec{Rules: mustHTTP(t, nil, "expect rstring (?s)^al..ive$"), Inter: time.Second}
		wantResult(t, runSpec(t, ctx, s, addr), StatusL7OK, 200, "")
	})
}

func TestHTTPCheckTLS(t *testing.T) {
	ctx := ctxT(t)
	be := newHTTPBackend(t, true)
	spec := &Spec{Rules: mustHTTP(t, []string{"GET", "/tls"}), SSL: true, Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, be.addr()), StatusL7OK, 200, "")
	if be.last().URI != "/tls" {
		t.Fatal("request not seen")
	}
	// Without check-ssl the TLS server sees garbage.
	plain := &Spec{Rules: spec.Rules, Inter: 2 * time.Second}
	if r := runSpec(t, ctx, plain, be.addr()); r.Status.Class() != ResultFailed {
		t.Fatalf("plain HTTP to a TLS server: %s", r.Status)
	}
}

func TestParseHTTPCheckErrors(t *testing.T) {
	tests := []struct {
		args  []string
		lines []string
		line  int
		want  string
	}{
		{nil, []string{"bogus"}, 0, "unknown directive 'bogus'"},
		{nil, []string{"comment x", "expect hdr name x"}, 1, "'http-check expect hdr' is not supported"},
		{nil, []string{"expect status 2x0"}, 0, "invalid status code '2x0'"},
		{nil, []string{"expect status"}, 0, "'http-check expect status' expects a pattern"},
		{nil, []string{"expect !"}, 0, "expects a match type and a pattern"},
		{nil, []string{"expect banana 200"}, 0, "unknown match type 'banana'"},
		{nil, []string{"expect rstring ("}, 0, "invalid regex '('"},
		{nil, []string{"expect ok-status L7STS status 200"}, 0, "'ok-status' only supports L7OK, L7OKC, L6OK, L4OK as argument, got 'L7STS'"},
		{nil, []string{"send-state"}, 0, "'http-check send-state' is not supported"},
		{nil, []string{"send meth"}, 0, "'meth' expects an argument"},
		{nil, []string{"send hdr X"}, 0, "'hdr' expects <name> and <value>"},
		{nil, []string{"send foo bar"}, 0, "unknown keyword 'foo'"},
		{nil, []string{"send uri /x foo"}, 0, "unknown keyword 'foo'"},
		{nil, []string{"send uri-lf /%[src]"}, 0, "'uri-lf' is not supported"},
		{nil, []string{"expect on-error %[res.hdr(x)] status 200"}, 0, "log-format strings in 'on-error' are not supported"},
		{nil, []string{"send uri /", "connect port 80"}, 0, "first step MUST also be a 'connect'"},
		{[]string{"a", "b", "c", "d", "e"}, nil, -1, "too many arguments"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := ParseHTTPCheck(tc.args, words(tc.lines...))
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RuleError", err)
			}
			if re.Line != tc.line || !strings.Contains(re.Msg, tc.want) {
				t.Fatalf("got line %d %q, want line %d containing %q", re.Line, re.Msg, tc.line, tc.want)
			}
		})
	}
}

func TestParseHTTPCheckInjection(t *testing.T) {
	for _, w := range [][]string{
		{"send", "uri", "/a b"},
		{"send", "meth", "GET\r\nX: y"},
		{"send", "hdr", "X-A", "v\r\nInjected: 1"},
		{"send", "hdr", "Bad Name", "v"},
	} {
		if _, err := ParseHTTPCheck(nil, [][]string{w}); err == nil {
			t.Errorf("%q accepted", w)
		}
	}
}

func TestParseHTTPResponse(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		eof      bool
		ok       bool
		err      bool
		status   int
		body     string
		complete bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi", false, true, false, 200, "hi", true},
		{"partial body", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhi", false, true, false, 200, "hi", false},
		{"until eof", "HTTP/1.0 200 OK\r\n\r\nabc", true, true, false, 200, "abc", true},
		{"headers incomplete", "HTTP/1.1 200 OK\r\nServer: x", false, false, false, 0, "", false},
		{"headers incomplete at eof", "HTTP/1.1 200 OK\r\nServer: x", true, false, true, 0, "", false},
		{"bare LF", "HTTP/1.1 204 No Content\n\n", false, true, false, 204, "", true},
		{"no reason", "HTTP/1.1 200\r\n\r\n", true, true, false, 200, "", true},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", true, false, true, 0, "", false},
		{"not http", "hello\r\n", true, false, true, 0, "", false},
		{"bad header", "HTTP/1.1 200 OK\r\nnocolon\r\n\r\n", true, false, true, 0, "", false},
		{"bad length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", true, false, true, 0, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, ok, err := parseHTTPResponse([]byte(tc.in), tc.eof, false)
			if ok != tc.ok || (err != nil) != tc.err {
				t.Fatalf("ok=%v err=%v", ok, err)
			}
			if ok && (resp.status != tc.status || string(resp.body) != tc.body || resp.complete != tc.complete) {
				t.Fatalf("resp %d %q complete=%v", resp.status, resp.body, resp.complete)
			}
		})
	}
}

func FuzzParseHTTPResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"), true)
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 503 x\n\n"), true)
	f.Fuzz(func(t *testing.T, in []byte, eof bool) {
		resp, ok, err := parseHTTPResponse(in, eof, false)
		if ok && err != nil {
			t.Fatal("ok with error")
		}
		if ok && (resp.status < 100 || resp.status > 999) {
			t.Fatalf("status %d", resp.status)
		}
	})
}
