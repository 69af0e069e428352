package moonbus

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// echoHeaders is a backend that answers with the request line and headers
// it received, so tests see what the proxy forwarded.
func echoHeaders(t *testing.T) string {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", "yes")
		w.Header().Set("Set-Cookie", "sid=abc; Path=/")
		w.Header().Add("X-Multi", "a, b")
		fmt.Fprintf(w, "%s %s\n", r.Method, r.URL.RequestURI())
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		for _, k := range sortStrings(keys) {
			fmt.Fprintf(w, "%s: %s\n", k, strings.Join(r.Header[k], " | "))
		}
	}))
	t.Cleanup(s.Close)
	return hostOf(s)
}

func sortStrings(l []string) []string {
	for i := 1; i < len(l); i++ {
		for j := i; j > 0 && l[j] < l[j-1]; j-- {
			l[j], l[j-1] = l[j-1], l[j]
		}
	}
	return l
}

func TestHTTPRequestHeaderAndURIActions(t *testing.T) {
	be := echoHeaders(t)
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request set-header X-Set %[src]:%[url_param(a)]
    http-request add-header X-Add one
    http-request add-header X-Add two
    http-request del-header X-Drop
    http-request del-header X-Pre -m beg
    http-request replace-header X-Rep ^v=(\d+)$ w=\1
    http-request replace-value X-Val ^x(.*)$ y\1
    http-request set-path /new%[path] if { path_beg /old }
    http-request set-query q=%[query] if { query -m found }
    http-request set-method PUT if { hdr(X-Put) -m found }
    http-request set-uri /uri-set if { path /full }
    default_backend be
backend be
    server s1 `+be+`
`)
	_, body := get(t, d.addr("fe"), "/old/p?a=7", "X-Drop: 1\r\nX-Pre-One: 1\r\nX-Pre-Two: 2\r\nX-Rep: v=12\r\nX-Val: x1, x2\r\n")
	for _, want := range []string{
		"GET /new/old/p?q=a=7\n",
		"X-Set: 127.0.0.1:7\n",
		"X-Add: one | two\n",
		"X-Rep: w=12\n",
		"X-Val: y1, y2\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("missing %q in:\n%s", want, body)
		}
	}
	for _, no := range []string{"X-Drop", "X-Pre-One", "X-Pre-Two"} {
		if strings.Contains(body, no) {
			t.Errorf("%s not removed:\n%s", no, body)
		}
	}
	if _, body := get(t, d.addr("fe"), "/full?x", "X-Put: 1\r\n"); !strings.HasPrefix(body, "PUT /uri-set\n") {
		t.Errorf("set-method/set-uri: %q", body)
	}
}

func TestHTTPResponseAndAfterResponseActions(t *testing.T) {
	be := echoHeaders(t)
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-response set-header X-Resp-Status %[status]
    http-response del-header X-Backend
    http-response replace-header Set-Cookie (.*) \1;\ Secure
    http-response set-status 203 reason "Rewritten" if { res.hdr(X-Multi) -m sub b }
    http-after-response add-header X-After %[txn.status]
    http-request return status 418 content-type text/plain string "teapot" if { path /tea }
    default_backend be
backend be
    server s1 `+be+`
`)
	resp, _ := get(t, d.addr("fe"), "/")
	if resp.StatusCode != 203 || resp.Status != "203 Rewritten" {
		t.Fatalf("status %q", resp.Status)
	}
	if resp.Header.Get("X-Resp-Status") != "200" || resp.Header.Get("X-Backend") != "" {
		t.Fatalf("headers %v", resp.Header)
	}
	if resp.Header.Get("Set-Cookie") != "sid=abc; Path=/; Secure" {
		t.Fatalf("set-cookie %q", resp.Header.Get("Set-Cookie"))
	}
	if resp.Header.Get("X-After") != "203" {
		t.Fatalf("after-response %q", resp.Header.Get("X-After"))
	}
	resp, body := get(t, d.addr("fe"), "/tea")
	if resp.StatusCode != 418 || body != "teapot" || resp.Header.Get("X-After") != "418" || resp.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("return: %d %q %v", resp.StatusCode, body, resp.Header)
	}
}

func TestDenyReturnRedirectAuth(t *testing.T) {
	be := echoHeaders(t)
	d := startDaemon(t, httpDefaults+`
userlist admins
    user alice insecure-password wonderland
    user bob password $6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1
frontend fe
    bind 127.0.0.1:0
    acl is_admin path_beg /admin
    http-request auth realm Restricted if is_admin !{ http_auth(admins) }
    http-request deny if { path /deny }
    http-request deny deny_status 429 if { path /slow }
    http-request deny status 403 content-type text/plain lf-string "no %[path] for you" hdr X-Why policy if { path /custom }
    http-request return status 200 content-type application/json lf-string "{\"src\":\"%[src]\"}" if { path /json }
    http-request redirect location /moved code 301 if { path /old }
    http-request redirect prefix https://example.com drop-query if { path_beg /pfx }
    http-request redirect scheme https if { path /secure }
    redirect location /kw-redirect if { path /kw }
    default_backend be
backend be
    server s1 `+be+`
`)
	check := func(path, hdr string, code int, wantBody, wantLoc string) {
		t.Helper()
		resp, body := get(t, d.addr("fe"), path, hdr)
		if resp.StatusCode != code {
			t.Fatalf("%s: status %d want %d (%q)", path, resp.StatusCode, code, body)
		}
		if wantBody != "" && !strings.Contains(body, wantBody) {
			t.Fatalf("%s: body %q want %q", path, body, wantBody)
		}
		if wantLoc != "" && resp.Header.Get("Location") != wantLoc {
			t.Fatalf("%s: location %q want %q", path, resp.Header.Get("Location"), wantLoc)
		}
	}
	check("/deny", "", 403, "<h1>403 Forbidden</h1>", "")
	check("/slow", "", 429, "429 Too Many Requests", "")
	check("/custom", "", 403, "no /custom for you", "")
	check("/json", "", 200, `{"src":"127.0.0.1"}`, "")
	check("/old", "", 301, "", "/moved")
	check("/pfx/a?b=c", "", 302, "", "https://example.com/pfx/a")
	check("/secure", "", 302, "", "https://test/secure")
	check("/kw", "", 302, "", "/kw-redirect")
	check("/admin", "", 401, "401 Unauthorized", "")
	resp, _ := get(t, d.addr("fe"), "/admin")
	if resp.Header.Get("Www-Authenticate") != `Basic realm="Restricted"` {
		t.Fatalf("auth header %q", resp.Header.Get("Www-Authenticate"))
	}
	check("/admin/x", "Authorization: Basic YWxpY2U6d29uZGVybGFuZA==\r\n", 200, "GET /admin/x", "")
	check("/admin/y", "Authorization: Basic Ym9iOkhlbGxvIHdvcmxkIQ==\r\n", 200, "GET /admin/y", "") // bob:Hello world! ($6$)
	check("/admin/z", "Authorization: Basic Ym9iOndyb25n\r\n", 401, "", "")
}

func TestVariablesAndUseBackend(t *testing.T) {
	a := namedServers(t, "api", "static", "dyn_blue", "default")
	dir := t.TempDir()
	mapFile := filepath.Join(dir, "hosts.map")
	os.WriteFile(mapFile, []byte("# host -> backend\nblue.example dyn_blue\n"), 0o644)
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request set-var(txn.route) str(api) if { path_beg /api }
    http-request set-var-fmt(txn.label) "%[var(txn.route)]-%[method]"
    http-request set-var(txn.tmp) str(x)
    http-request unset-var(txn.tmp)
    http-request set-header X-Label %[var(txn.label)]
    http-request set-header X-Tmp %[var(txn.tmp,none)]
    use_backend be_%[var(txn.route)] if { var(txn.route) -m found }
    use_backend be_%[req.hdr(host),lower,map(`+mapFile+`)] if { req.hdr(host),lower,map(`+mapFile+`) -m found }
    use_backend be_static if { path_end .css .js } || { path_beg /static }
    default_backend be_default
backend be_api
    server api `+a["api"]+`
backend be_static
    server static `+a["static"]+`
backend be_dyn_blue
    server b `+a["dyn_blue"]+`
backend be_default
    server d `+a["default"]+`
`)
	for path, want := range map[string]string{"/api/x": "api", "/x.css": "static", "/static/a": "static", "/other": "default"} {
		if _, body := get(t, d.addr("fe"), path); body != want {
			t.Errorf("%s -> %q, want %q", path, body, want)
		}
	}
	c := dialRaw(t, d.addr("fe"))
	c.send("GET /x HTTP/1.1\r\nHost: BLUE.example\r\n\r\n")
	if _, body := c.response("GET"); body != "dyn_blue" {
		t.Errorf("map routing: %q", body)
	}
}

func TestACLMatching(t *testing.T) {
	dir := t.TempDir()
	patFile := filepath.Join(dir, "bad.lst")
	os.WriteFile(patFile, []byte("# bad agents\n  evilbot\ncrawler\n"), 0o644)
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    acl bad_agent hdr_sub(user-agent) -i -f `+patFile+`
    acl api path_beg /api
    acl api path_beg /v2
    acl local src 127.0.0.0/8
    acl big req.hdr_cnt(x-n) gt 2
    acl mid hdr(x-int) -m int 10:20
    acl ext path -m end .php .asp
    acl reg path -m reg ^/r[0-9]+$
    acl dir path -m dir admin
    acl dom hdr(x-host) -m dom example
    acl len path -m len 3
    http-request return status 200 string "bad" if bad_agent
    http-request return status 200 string "api-local" if api local
    http-request return status 200 string "big" if big
    http-request return status 200 string "mid" if mid
    http-request return status 200 string "ext" if ext || reg
    http-request return status 200 string "dir" if dir
    http-request return status 200 string "dom" if dom !len
    http-request return status 200 string "len" if len
    http-request return status 200 string "post" if METH_POST
    http-request return status 200 string "none"
`)
	cases := []struct{ path, hdr, want string }{
		{"/x", "User-Agent: Mozilla EVILBOT/1\r\n", "bad"},
		{"/api/a", "", "api-local"},
		{"/v2/a", "", "api-local"},
		{"/x", "X-N: 1\r\nX-N: 2\r\nX-N: 3\r\n", "big"},
		{"/x", "X-Int: 15\r\n", "mid"},
		{"/x", "X-Int: 25\r\n", "none"},
		{"/a.php", "", "ext"},
		{"/r42", "", "ext"},
		{"/b/admin/c", "", "dir"},
		{"/abcd", "X-Host: www.example.com\r\n", "dom"},
		{"/abcd", "X-Host: www.examples.com\r\n", "none"},
		{"/xy", "", "len"},
	}
	for _, c := range cases {
		if _, body := get(t, d.addr("fe"), c.path, c.hdr); body != c.want {
			t.Errorf("%s %q -> %q, want %q", c.path, c.hdr, body, c.want)
		}
	}
	cl := dialRaw(t, d.addr("fe"))
	cl.send("POST /post HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
	if _, body := cl.response("POST"); body != "post" {
		t.Errorf("METH_POST: %q", body)
	}
}

// TestSeedDenyExample is the Lua-free example of the first seed article:
// var(txn.connrate_threshold),sub(txn.conn_rate) -m int lt 0 with its
// stick table (threshold lowered to 3 so the test is quick).
func TestSeedDenyExample(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe_main
    bind 127.0.0.1:0
    # Store the threshold in a variable
    http-request set-var(txn.connrate_threshold) int(3)
    stick-table type ip size 1m expire 10s store conn_rate(10s)
    http-request track-sc0 src
    # Store the connection rate in a variable
    http-request set-var(txn.conn_rate) src_conn_rate
    http-request deny if { var(txn.connrate_threshold),sub(txn.conn_rate) -m int lt 0 }
    default_backend be_servers
backend be_servers
    server s1 `+hostOf(srv)+`
`)
	var codes []int
	for i := 0; i < 5; i++ {
		resp, _ := get(t, d.addr("fe_main"), "/")
		codes = append(codes, resp.StatusCode)
	}
	if fmt.Sprint(codes) != "[200 200 200 403 403]" {
		t.Fatalf("status codes %v, want the 4th request on to be denied", codes)
	}
}

func TestStickTableRateLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    stick-table type ip size 100k expire 30s store http_req_rate(10s),gpc0,http_req_cnt
    http-request track-sc0 src
    http-request sc-inc-gpc0(0) if { path /mark }
    http-request return status 200 lf-string "gpc0=%[sc_get_gpc0(0)] cnt=%[sc0_http_req_cnt]" if { path /show }
    http-request deny deny_status 429 if { sc_http_req_rate(0) gt 6 }
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	c := dialRaw(t, d.addr("fe"))
	c.send("GET /mark HTTP/1.1\r\nHost: x\r\n\r\n")
	c.response("GET")
	c.send("GET /show HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.response("GET"); body != "gpc0=1 cnt=2" {
		t.Fatalf("counters: %q", body)
	}
	var codes []int
	for i := 0; i < 5; i++ {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, _ := c.response("GET")
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode == 429 {
			c.expectClosed() // a deny closes the connection
			break
		}
	}
	if fmt.Sprint(codes) != "[200 200 200 200 429]" {
		t.Fatalf("rate limit: %v", codes)
	}
}

func TestTCPRequestRules(t *testing.T) {
	a := echoServer(t, "a")
	d := startDaemon(t, `
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe_reject
    bind 127.0.0.1:0
    tcp-request connection reject if { src 127.0.0.1 }
    default_backend be
frontend fe_content
    bind 127.0.0.1:0
    tcp-request inspect-delay 2s
    tcp-request content reject if { req.len gt 10 }
    tcp-request content accept
    default_backend be
backend be
    server a `+a+`
`)
	c := dialRaw(t, d.addr("fe_reject"))
	c.expectClosed()
	c2 := dialRaw(t, d.addr("fe_content"))
	c2.send("hi\n")
	l, err := c2.br.ReadString('\n')
	if err != nil || l != "a:hi\n" {
		t.Fatalf("accepted content: %q %v", l, err)
	}
	c3 := dialRaw(t, d.addr("fe_content"))
	c3.send("this line is too long\n")
	c3.expectClosed()
}

func TestCaptureAndLogFormat(t *testing.T) {
	be := echoHeaders(t)
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    log stdout format raw local0
    capture request header Host len 16
    capture request header User-Agent len 5
    http-request capture req.hdr(X-Id) len 4
    log-format "%ci %{+Q}r %hr cap=%[capture.req.hdr(2)] %[req.hdr(host),upper] %{+Q}[var(txn.none)] %%"
    default_backend be
backend be
    server s1 `+be+`
`)
	get(t, d.addr("fe"), "/cap", "User-Agent: curl/8.0\r\nX-Id: 123456\r\n")
	line := d.waitLog(`"GET /cap HTTP/1.1"`)
	// http-request capture adds a slot shown by %hr too, as in HAProxy.
	want := `127.0.0.1 "GET /cap HTTP/1.1" {test|curl/|1234} cap=1234 TEST "" %`
	if line != want {
		t.Fatalf("log line\n got %q\nwant %q", line, want)
	}
}

func TestConfigErrorsNameFileLine(t *testing.T) {
	for _, c := range []struct{ cfg, want string }{
		{"frontend fe\n    mode http\n    bind 127.0.0.1:0\n    http-request frobnicate\n", "test.cfg:4] : 'http-request frobnicate' : unknown or unsupported action 'frobnicate'"},
		{"frontend fe\n    mode http\n    bind 127.0.0.1:0\n    http-request deny if { nosuchfetch }\n", "test.cfg:4]"},
		{"frontend fe\n    mode http\n    bind 127.0.0.1:0\n    use_backend nosuch if TRUE\n", "test.cfg:4] : frontend 'fe' : unable to find required use_backend: 'nosuch'"},
		{"frontend fe\n    mode http\n    bind 127.0.0.1:0\n    http-request set-var(bad.x) int(1)\n", "test.cfg:4]"},
	} {
		cfg, err := configParse(c.cfg)
		if err == nil {
			_, err = New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard})
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("error %v\nwant it to contain %q", err, c.want)
		}
	}
}

// TestPredefinedACLs compiles and evaluates every predefined ACL.
func TestPredefinedACLs(t *testing.T) {
	cfg := httpDefaults + "\nfrontend fe\n    bind 127.0.0.1:0\n    http-request set-var(txn.l) str(:)\n"
	names := []string{"TRUE", "FALSE", "LOCALHOST", "HTTP", "HTTP_1.0", "HTTP_1.1", "HTTP_2.0", "HTTP_3.0",
		"HTTP_CONTENT", "HTTP_URL_ABS", "HTTP_URL_SLASH", "HTTP_URL_STAR", "METH_CONNECT", "METH_DELETE",
		"METH_GET", "METH_HEAD", "METH_OPTIONS", "METH_POST", "METH_PUT", "METH_TRACE", "RDP_COOKIE", "REQ_CONTENT", "WAIT_END"}
	for _, n := range names {
		cfg += "    http-request set-var-fmt(txn.l) \"%[var(txn.l)] " + n + "\" if " + n + "\n"
	}
	cfg += "    http-request return status 200 lf-string %[var(txn.l)]\n"
	d := startDaemon(t, cfg)
	c := dialRaw(t, d.addr("fe"))
	c.send("POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nab")
	_, got := c.response("POST")
	if got != ": TRUE LOCALHOST HTTP HTTP_1.1 HTTP_CONTENT HTTP_URL_SLASH METH_POST REQ_CONTENT WAIT_END" {
		t.Fatalf("matching predefined ACLs: %q", got)
	}
}

func TestTCPResponseRules(t *testing.T) {
	a := echoServer(t, "a")
	d := startDaemon(t, `
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    tcp-response inspect-delay 2s
    tcp-response content reject if { res.len gt 100 }
    tcp-response content accept
    server a `+a+`
`)
	c := dialRaw(t, d.addr("fe"))
	c.send("hello\n")
	if l, err := c.br.ReadString('\n'); err != nil || l != "a:hello\n" {
		t.Fatalf("%q %v", l, err)
	}
	c2 := dialRaw(t, d.addr("fe"))
	c2.send(strings.Repeat("x", 200) + "\n")
	c2.expectClosed()
}
