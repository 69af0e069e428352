package moonbus

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// fetchMatrix starts a frontend that answers with one line per expression
// ("name=%[expr]") and returns the lines for a request.
func TestFetchesThroughTheDaemon(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Res", "r1, r2")
		w.Header().Set("Set-Cookie", "rc=9; Path=/")
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	exprs := []string{
		"src", "src_port,bool", "dst", "dst_port,bool", "fe_name", "fe_id", "be_name", "be_id",
		"path", "url", "base", "query", "url_param(b)", "urlp(a)", "method", "pathq",
		"hdr(x-a)", "hdr(x-a,1)", "req.hdr(x-a,-2)", "req.fhdr(x-a)", "hdr_cnt(x-a)", "req.hdr_cnt(x-a)",
		"cook(c2)", "req.cook(c1)", "req.ver", "req.body", "req.len",
		"int(42)", "str(hello)", "bool(1)", "env(MOONBUS_TEST_ENV)", "var(txn.v)",
		"nbsrv", "nbsrv(be2)", "be_conn", "srv_is_up(be/s1)", "srv_is_up(be2/down)", "srv_conn(be/s1)",
		"connslots", "queue", "ssl_fc", "capture.req.hdr(0)",
		"date,bool", "rand(10),bool", "uuid,length", "hostname,length,bool", "always_true", "always_false",
		"sc0_http_req_cnt", "sc_conn_cur(0)", "sc0_trackers", "src_http_req_cnt(fe)", "sc0_get_gpc0", "sc0_inc_gpc0", "sc0_get_gpc0",
		"sc_clr_gpc0(0)", "sc0_get_gpc0", "sc0_tracked", "sc1_tracked", "src_conn_rate(fe)", "sc0_http_err_rate", "src_get_gpt0(fe)",
	}
	var b strings.Builder
	for _, e := range exprs {
		fmt.Fprintf(&b, "%s=%%[%s]\\n", e, e)
	}
	os.Setenv("MOONBUS_TEST_ENV", "from-env")
	defer os.Unsetenv("MOONBUS_TEST_ENV")
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    option http-buffer-request
    capture request header X-A len 10
    stick-table type ip size 1k expire 10s store http_req_cnt,conn_cur,gpc0,conn_rate(10s),http_err_rate(10s),gpt0
    http-request track-sc0 src
    http-request set-var(txn.v) str(vv)
    use_backend bef if { path_beg /f }
    default_backend be
backend bef
    http-request return status 200 content-type text/plain lf-string "`+b.String()+`"
backend be
    server s1 `+hostOf(srv)+`
    http-response set-header X-Status %[status]
    http-response set-header X-Res-Hdr %[res.hdr(x-res)]
    http-response set-header X-Res-Cnt %[res.hdr_cnt(x-res)]
    http-response set-header X-Srv %[srv_name]:%[srv_id]
    http-response set-header X-Res-Ver %[res.ver]
    http-response set-header X-Hdr-Dir %[hdr(x-res,1)]
    http-response set-header X-Res-Cook %[res.cook(rc)]
backend be2
    server down 127.0.0.1:1 disabled
    server up 127.0.0.1:2
`)
	c := dialRaw(t, d.addr("fe"))
	c.send("POST /f/x?a=1&b=2 HTTP/1.1\r\nHost: h.test\r\nX-A: one, two\r\nX-A: three\r\nCookie: c1=v1; c2=v2\r\nContent-Length: 4\r\n\r\nbody")
	_, body := c.response("POST")
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(body, "\n"), "\n") {
		k, v, _ := strings.Cut(l, "=")
		key := k
		for n := 2; ; n++ {
			if _, dup := got[key]; !dup {
				break
			}
			key = fmt.Sprintf("%s#%d", k, n)
		}
		got[key] = v
	}
	want := map[string]string{
		"src": "127.0.0.1", "src_port,bool": "1", "dst": "127.0.0.1", "dst_port,bool": "1", "fe_name": "fe", "fe_id": "1",
		"be_name": "bef", "be_id": "2", "path": "/f/x", "url": "/f/x?a=1&b=2", "base": "h.test/f/x", "query": "a=1&b=2",
		"url_param(b)": "2", "urlp(a)": "1", "method": "POST", "pathq": "/f/x?a=1&b=2",
		"hdr(x-a)": "three", "hdr(x-a,1)": "one", "req.hdr(x-a,-2)": "two", "req.fhdr(x-a)": "three", "hdr_cnt(x-a)": "3",
		"req.hdr_cnt(x-a)": "3", "cook(c2)": "v2", "req.cook(c1)": "v1", "req.ver": "1.1", "req.body": "body", "req.len": "4",
		"int(42)": "42", "str(hello)": "hello", "bool(1)": "1", "env(MOONBUS_TEST_ENV)": "from-env", "var(txn.v)": "vv",
		"nbsrv": "0", "nbsrv(be2)": "1", "be_conn": "1", "srv_is_up(be/s1)": "1", "srv_is_up(be2/down)": "0",
		"srv_conn(be/s1)": "0", "connslots": "0", "queue": "0", "ssl_fc": "0", "capture.req.hdr(0)": "one, two",
		"date,bool": "1", "rand(10),bool": "", "uuid,length": "36", "hostname,length,bool": "1", "always_true": "1", "always_false": "0",
		"sc0_http_req_cnt": "1", "sc_conn_cur(0)": "1", "sc0_trackers": "1", "src_http_req_cnt(fe)": "1",
		"sc0_get_gpc0": "0", "sc0_inc_gpc0": "1", "sc0_get_gpc0#2": "1", "sc_clr_gpc0(0)": "1", "sc0_get_gpc0#3": "0",
		"sc0_tracked": "1", "sc1_tracked": "0", "src_conn_rate(fe)": "1", "sc0_http_err_rate": "0", "src_get_gpt0(fe)": "0",
	}
	for k, v := range want {
		if k == "rand(10),bool" {
			if got[k] != "0" && got[k] != "1" {
				t.Errorf("%s = %q", k, got[k])
			}
			continue
		}
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	// Response-side fetches.
	resp, _ := get(t, d.addr("fe"), "/resp")
	for h, v := range map[string]string{"X-Status": "200", "X-Res-Hdr": "r2", "X-Res-Cnt": "2", "X-Srv": "s1:1", "X-Res-Ver": "1.1", "X-Hdr-Dir": "r1", "X-Res-Cook": "9"} {
		if resp.Header.Get(h) != v {
			t.Errorf("%s = %q, want %q", h, resp.Header.Get(h), v)
		}
	}
}

// TestConvertersThroughTheDaemon evaluates every converter of the issue in a
// real daemon; the hash values were cross-checked against HAProxy 2.6.
func TestConvertersThroughTheDaemon(t *testing.T) {
	dir := t.TempDir()
	m := filepath.Join(dir, "m.map")
	os.WriteFile(m, []byte("/b route_b\n/a route_a\n/api/v1 route_api\n"), 0o644)
	mip := filepath.Join(dir, "ip.map")
	os.WriteFile(mip, []byte("10.0.0.0/8 net10\n"), 0o644)
	mint := filepath.Join(dir, "int.map")
	os.WriteFile(mint, []byte("5 five\n"), 0o644)
	convs := map[string]string{
		"str(AbC),lower": "abc", "str(AbC),upper": "ABC", "int(7),add(3)": "10", "int(7),sub(10)": "-3",
		"int(7),mul(6)": "42", "int(7),div(2)": "3", "int(7),div(0)": "9223372036854775807", "int(7),mod(4)": "3",
		"int(7),mod(0)": "0", "int(7),neg": "-7", "int(6),and(3)": "2", "int(6),or(3)": "7", "int(6),xor(3)": "5",
		"int(5),add(txn.n)": "105", `str(a"b),json`: `a\"b`, "str(hello),base64": "aGVsbG8=", "str(aGVsbG8=),b64dec": "hello",
		"str(hi),hex": "6869", "str(ff),hex2i": "255", "str(a%20b+c),url_dec": "a b+c", "str(a|b|c),field(2,|)": "b",
		"str(a..b),word(2,.)": "b", "str(aXbXc),regsub(X,-,g)": "a-b-c", "str(/a),map(" + m + ")": "route_a",
		"str(/nope),map(" + m + ",dflt)": "dflt", "str(/api/v1/x),map_beg(" + m + ")": "route_a", // first match in file order, as HAProxy
		"str(10.1.2.3),map_ip(" + mip + ")": "net10", "int(5),map_int(" + mint + ")": "five",
		"str(x),concat(-,txn.s,-)": "x-ss-", "str(10.1.2.3),ipmask(16)": "10.1.0.0", "str(hello),length": "5",
		"str(hello),bytes(1,3)": "ell", "str(xxhixx),ltrim(x)": "hixx", "str(xxhixx),rtrim(x)": "xxhi",
		"str(abc),crc32": "891568578", "str(abc),djb2": "193485963", "str(abc),sdbm": "807794786", "str(abc),wt6": "2483038440",
		"str(abc),xxh3": "8696274497037089104", "str(abc),sha1,hex": "A9993E364706816ABA3E25717850C26C9CD0D89D",
		"str(abc),sha2,hex":     "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
		"str(ss),strcmp(txn.s)": "0", "src,in_table(fe)": "1", "src,table_http_req_cnt(fe)": "1",
	}
	var b strings.Builder
	keys := make([]string, 0, len(convs))
	for k := range convs {
		keys = append(keys, k)
	}
	keys = sortStrings(keys)
	for i, k := range keys {
		fmt.Fprintf(&b, "%d=%%[%s]\\n", i, strings.ReplaceAll(k, `"`, `\"`))
	}
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    stick-table type ip size 1k expire 10s store http_req_cnt
    http-request track-sc0 src
    http-request set-var(txn.n) int(100)
    http-request set-var(txn.s) str(ss)
    http-request return status 200 lf-string '`+b.String()+`'
`)
	_, body := get(t, d.addr("fe"), "/")
	// Single quotes keep "\n" literal in the config: split on it.
	lines := strings.Split(strings.TrimSuffix(body, `\n`), `\n`)
	if len(lines) != len(keys) {
		t.Fatalf("got %d lines:\n%s", len(lines), body)
	}
	for i, k := range keys {
		want := fmt.Sprintf("%d=%s", i, convs[k])
		if lines[i] != want {
			t.Errorf("%s: got %q, want %q", k, lines[i], want)
		}
	}
}

// TestTLSFetches covers ssl_fc and ssl_fc_sni on a TLS listener.
func TestTLSFetches(t *testing.T) {
	ca := newTestCA(t)
	dir := t.TempDir()
	pemFile := filepath.Join(dir, "s.pem")
	os.WriteFile(pemFile, ca.issue(t, "sni.test"), 0o600)
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0 ssl crt `+pemFile+`
    http-request return status 200 lf-string "%[ssl_fc]/%[ssl_fc_sni]/%[ssl_fc_protocol]"
`)
	c, err := tls.Dial("tcp", d.addr("fe"), &tls.Config{ServerName: "sni.test", InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	b, _ := io.ReadAll(c)
	if !regexp.MustCompile(`\r\n\r\n1/sni\.test/TLSv1\.[23]$`).Match(b) {
		t.Fatalf("response %q", b)
	}
	_ = net.IPv4len
}
