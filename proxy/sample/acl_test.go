package sample

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"moonbus/proxy/stick"
)

func condWords(s string) []string { return strings.Fields(s) }

func TestACLMatch(t *testing.T) {
	reg := testRegistry(t)
	st := newTestStream(nil)
	st.hdrs = [][2]string{{"Host", "WWW.Example.com:8080"}, {"X-List", "a, b, c"}, {"Accept", "text/html"}}
	st.query = "a=1&b=2"
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "n"), &Sample{Type: SInt, Int: 42})
	tests := []struct {
		line string
		want bool
	}{
		// str / -i / default method
		{"path /static/img.png", true},
		{"path /STATIC/img.png", false},
		{"path -i /STATIC/IMG.png", true},
		{"path /a /static/img.png /b", true},
		{"path -m str /static/img.png", true},
		// beg / end / sub / reg / dir / dom / len
		{"path -m beg /static/", true},
		{"path -m beg /api/", false},
		{"path -m end .png .jpg", true},
		{"path -m sub img", true},
		{"path -m reg ^/static/.*\\.png$", true},
		{"path -m reg -i ^/STATIC/", true},
		{"path -m dir static", true},
		{"path -m dir stat", false},
		{"path -m dir /static/", true},
		{"hdr(host) -m dom example.com", false},
		{"hdr(host) -i -m dom example.com", true},
		{"hdr(host) -i -m dom ample.com", false},
		{"path -m len 15", true},
		{"path -m len gt 20", false},
		{"path -m len 10:20", true},
		// shortcuts
		{"path_beg /static", true},
		{"path_end .png", true},
		{"path_sub tic/im", true},
		{"path_dir img.png", true},
		{"path_reg img\\.png$", true},
		{"path_len 15", true},
		{"url_beg /static", true},
		{"hdr_beg(host) -i www.", true},
		{"hdr_end(host) :8080", true},
		{"hdr_sub(accept) html", true},
		{"hdr_dom(host) -i www.example.com", true},
		// found / bool / int operators and ranges
		{"hdr(host) -m found", true},
		{"hdr(nope) -m found", false},
		{"always_true", true},
		{"always_false", false},
		{"var(txn.n) 42", true},
		{"var(txn.n) -m int 41", false},
		{"var(txn.n) -m int gt 41", true},
		{"var(txn.n) -m int ge 42", true},
		{"var(txn.n) -m int lt 42", false},
		{"var(txn.n) -m int le 42", true},
		{"var(txn.n) -m int eq 42", true},
		{"var(txn.n) -m int 40:50", true},
		{"var(txn.n) -m int :41", false},
		{"var(txn.n) -m int 43:", false},
		{"var(txn.n) -m int lt 10 gt 40", true},
		{"var(txn.n) -m bool", true},
		{"int(0) -m bool", false},
		{"var(txn.missing) -m found", false},
		// multi-value fetch: the ACL tries every value
		{"hdr(x-list) b", true},
		{"hdr(x-list) z", false},
		// ip
		{"src 10.0.0.0/8", true},
		{"src 10.1.2.3", true},
		{"src 10.1.2.4", false},
		{"src 10.1", true},
		{"src 10/8", true},
		{"src 10.1.0.0/255.255.0.0", true},
		{"src 192.168.0.0/16 ::ffff:10.1.2.3", true},
		{"src ::ffff:10.0.0.0/104", true},
		{"src 2001:db8::/32", false},
		{"str(10.1.2.3) -m ip 10.0.0.0/8", true},
		// bin
		{"str(AB) -m bin 4142", true},
		{"str(AB) -m bin 4143", false},
		// method
		{"method GET HEAD", true},
		{"method get", true},
		{"method POST", false},
		// end of flags
		{"int(-5) -- -5", true},
		{"int(-5) -m int -- -5", true},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			set := NewACLSet(reg, testCtx())
			if err := set.Add(append([]string{"x"}, condWords(tc.line)...)); err != nil {
				t.Fatal(err)
			}
			c, err := CompileCond([]string{"if", "x"}, set, reg, testCtx())
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Eval(st); got != tc.want {
				t.Errorf("%q = %v, want %v", tc.line, got, tc.want)
			}
		})
	}
}

func TestACLErrors(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct{ line, want string }{
		{"x nope", "unknown fetch method 'nope'"},
		{"x path -z foo", "'-z' is not a valid ACL option"},
		{"x int(1) -5", "'-5' is not a valid ACL option. Please use '--'"},
		{"x path -m foo x", "unknown matching method 'foo'"},
		{"x path_beg -m str /x", "cannot be used with ACL keyword 'path_beg'"},
		{"x path_beg,lower /x", "cannot be followed by a converter"},
		{"x bin(00) 00", "a match method (-m) is required"},
		{"x path -m found /x", "takes no pattern"},
		{"x var(txn.n) -m int abc", "'abc' is not a number"},
		{"x src 300.1.1.1", "not a valid IPv4 or IPv6 address"},
		{"x path -m reg [", "regex '[' is invalid"},
		{"x path -f", "missing argument after '-f'"},
		{"x path -f testdata/none.lst", "failed to open pattern file"},
		{"x ip(1) x", "unknown fetch method 'ip'"},
		{"bad/name path x", "invalid character '/' in ACL name"},
		{"x path -m bin zz", "not a valid hex string"},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			set := NewACLSet(reg, testCtx())
			err := set.Add(condWords(tc.line))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestConditions(t *testing.T) {
	reg := testRegistry(t)
	set := NewACLSet(reg, testCtx())
	for _, l := range []string{"yes always_true", "no always_false", "static path_beg /static", "api path_beg /api", "api path_beg /v2"} {
		if err := set.Add(condWords(l)); err != nil {
			t.Fatal(err)
		}
	}
	st := newTestStream(nil)
	tests := []struct {
		cond string
		want bool
	}{
		{"if yes", true},
		{"if no", false},
		{"unless no", true},
		{"unless yes", false},
		{"if !no", true},
		{"if ! no", true},
		{"if !!yes", true},
		{"if yes no", false},
		{"if yes !no", true},
		{"if no or yes", true},
		{"if no || yes", true},
		{"if no or no", false},
		{"if yes no or no yes", false},
		{"if yes no or yes yes", true},
		{"if static", true},
		{"if api", false},
		{"if { path_beg /static } yes", true},
		{"if !{ path_beg /static }", false},
		{"if ! { path_beg /x }", true},
		{"if { path -m sub img } { path -m end png }", true},
		{"if TRUE", true},
		{"if FALSE", false},
		{"if METH_GET", true},
		{"if METH_POST", false},
		{"if HTTP_1.1", true},
		{"if HTTP_1.0", false},
		{"if HTTP_URL_SLASH", true},
		{"if HTTP_URL_STAR", false},
		{"if HTTP_URL_ABS", false},
		{"if HTTP_CONTENT", false},
		{"if REQ_CONTENT", false},
		{"if LOCALHOST", false},
		{"unless LOCALHOST", true},
		{"unless api or no", true},
	}
	for _, tc := range tests {
		t.Run(tc.cond, func(t *testing.T) {
			c, err := CompileCond(condWords(tc.cond), set, reg, CompileCtx{Where: InHTTPReq})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Eval(st); got != tc.want {
				t.Errorf("%q = %v, want %v", tc.cond, got, tc.want)
			}
		})
	}
	st.src = netip.MustParseAddr("127.0.0.5")
	c, _ := CompileCond(condWords("if LOCALHOST"), set, reg, testCtx())
	if !c.Eval(st) {
		t.Error("LOCALHOST does not match 127.0.0.5")
	}
	st.method = "HEAD"
	c, _ = CompileCond(condWords("if METH_GET"), set, reg, testCtx())
	if !c.Eval(st) {
		t.Error("METH_GET does not match HEAD")
	}
	var nilCond *Cond
	if !nilCond.Eval(st) {
		t.Error("nil condition is false")
	}
}

func TestConditionErrors(t *testing.T) {
	reg := testRegistry(t)
	set := NewACLSet(reg, testCtx())
	set.Add(condWords("resp status 200"))
	tests := []struct {
		cond  string
		where Where
		want  string
	}{
		{"when yes", 0, "must start with 'if' or 'unless'"},
		{"if", 0, "missing condition after 'if'"},
		{"if nosuch", 0, "no such ACL : 'nosuch'"},
		{"if or TRUE", 0, "missing ACL before 'or'"},
		{"if TRUE or", 0, "missing ACL after 'or'"},
		{"if { path /x", 0, "missing closing '}'"},
		{"if { }", 0, "empty anonymous ACL"},
		{"if }", 0, "unexpected '}'"},
		{"if { nope }", 0, "unknown fetch method 'nope'"},
		{"if resp", InHTTPReq, "acl 'resp' will never match because it only involves keywords that are incompatible with 'http-request'"},
		{"if { res.hdr(x) y }", InHTTPReq, "none of which is available here"},
		{"if WAIT_END", 0, "unknown fetch method 'wait_end'"},
	}
	for _, tc := range tests {
		t.Run(tc.cond, func(t *testing.T) {
			_, err := CompileCond(condWords(tc.cond), set, reg, CompileCtx{Where: tc.where})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := CompileCond(condWords("if resp"), set, reg, CompileCtx{Where: InHTTPRes}); err != nil {
		t.Fatal(err)
	}
}

func TestSplitCond(t *testing.T) {
	head, cond := SplitCond(condWords("deny deny_status 429 if { sc_http_req_rate(0) gt 10 } || bad"))
	if strings.Join(head, " ") != "deny deny_status 429" || strings.Join(cond, " ") != "if { sc_http_req_rate(0) gt 10 } || bad" {
		t.Fatalf("%q %q", head, cond)
	}
	head, cond = SplitCond(condWords("set-header X y"))
	if len(head) != 3 || cond != nil {
		t.Fatal("no condition")
	}
	_, cond = SplitCond(condWords("x unless { str(if) -m str if }"))
	if cond[0] != "unless" || len(cond) != 7 {
		t.Fatalf("%q", cond)
	}
}

func TestPatternFiles(t *testing.T) {
	reg := testRegistry(t)
	maps := NewMaps()
	ctx := CompileCtx{Maps: maps}
	set := NewACLSet(reg, ctx)
	for _, l := range []string{
		"blocked src -f testdata/blocked.lst",
		"agent hdr(user-agent) -i -f testdata/agents.lst",
		"host hdr(host) -f testdata/hosts.map -M",
		"mixed path -f testdata/agents.lst /inline",
	} {
		if err := set.Add(condWords(l)); err != nil {
			t.Fatal(err)
		}
	}
	check := func(name string, st *testStream, want bool) {
		t.Helper()
		c, err := CompileCond([]string{"if", name}, set, reg, ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.Eval(st); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	st := newTestStream(nil)
	check("blocked", st, true)
	st.src = netip.MustParseAddr("192.168.1.1")
	check("blocked", st, true)
	st.src = netip.MustParseAddr("192.168.1.2")
	check("blocked", st, false)
	st.src = netip.MustParseAddr("2001:db8::5")
	check("blocked", st, true)
	st.hdrs = [][2]string{{"User-Agent", "evilcrawler"}, {"Host", "www.example.com"}}
	check("agent", st, true)
	check("host", st, true)
	st.path = "/inline"
	check("mixed", st, true)
	st.path = "badbot"
	check("mixed", st, true)
	st.path = "# not a pattern"
	check("mixed", st, false)
	// Runtime edits through the shared reference ("add acl").
	ref, ok := maps.Lookup("testdata/agents.lst")
	if !ok {
		t.Fatal("reference not cached")
	}
	st.hdrs = [][2]string{{"User-Agent", "curl"}}
	check("agent", st, false)
	if err := ref.Add("CURL", ""); err != nil {
		t.Fatal(err)
	}
	check("agent", st, true)
	if !ref.Del("CURL") {
		t.Fatal("Del found nothing")
	}
	check("agent", st, false)
}

// TestSeed is the example: a threshold compared to the connection
// rate of the client, through stick tracking, set-var and a converter.
func TestSeed(t *testing.T) {
	reg := testRegistry(t)
	tbl, err := stick.New("fe", stick.Spec{Type: "ip", Size: 1 << 20, Expire: 10 * time.Second, Store: []stick.StoreItem{{Name: "conn_rate", Period: 10 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := CompileCtx{Maps: NewMaps(), DefaultTable: tbl, Tables: func(n string) *stick.Table {
		if n == "fe" {
			return tbl
		}
		return nil
	}, Where: InHTTPReq}
	// http-request set-var(txn.connrate_threshold) int(3)
	thr, _, err := ParseSetVar("txn.connrate_threshold", reg.Vars())
	if err != nil {
		t.Fatal(err)
	}
	thrExpr, err := Compile("int(3)", reg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	// http-request track-sc0 src
	keyExpr, err := Compile("src", reg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	// http-request set-var(txn.conn_rate) src_conn_rate
	rateVar, _, err := ParseSetVar("txn.conn_rate", reg.Vars())
	if err != nil {
		t.Fatal(err)
	}
	rateExpr, err := Compile("src_conn_rate", reg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	// http-request deny if { var(txn.connrate_threshold),sub(txn.conn_rate) -m int lt 0 }
	deny, err := CompileCond(condWords("if { var(txn.connrate_threshold),sub(txn.conn_rate) -m int lt 0 }"), nil, reg, ctx)
	if err != nil {
		t.Fatal(err)
	}
	var denied []bool
	for i := 0; i < 6; i++ {
		st := newTestStream(nil)
		var smp Sample
		thrExpr.Eval(st, &smp)
		SetVar(st, thr, &smp)
		if !keyExpr.Eval(st, &smp) {
			t.Fatal("src failed")
		}
		key, ok := TableKey(st, tbl, &smp)
		if !ok {
			t.Fatal("key")
		}
		ref, err := tbl.Track(key)
		if err != nil {
			t.Fatal(err)
		}
		ref.Count(stick.EvConnStart)
		st.sc[0] = ref
		if !rateExpr.Eval(st, &smp) {
			t.Fatal("src_conn_rate failed")
		}
		SetVar(st, rateVar, &smp)
		denied = append(denied, deny.Eval(st))
		// sc0_conn_rate reads the same entry through the tracked counter.
		sc0, _ := Compile("sc0_conn_rate", reg, ctx)
		if !sc0.Eval(st, &smp) || smp.Int != int64(i+1) {
			t.Fatalf("sc0_conn_rate = %d, want %d", smp.Int, i+1)
		}
		ref.Count(stick.EvConnStop)
		st.sc[0].Release()
	}
	want := []bool{false, false, false, true, true, true}
	for i := range want {
		if denied[i] != want[i] {
			t.Fatalf("denied = %v, want %v", denied, want)
		}
	}
	out := string(tbl.Show(nil, nil))
	if !strings.Contains(out, "key=10.1.2.3 use=0") || !strings.Contains(out, "conn_rate(10000)=6") {
		t.Fatalf("show table:\n%s", out)
	}
}
