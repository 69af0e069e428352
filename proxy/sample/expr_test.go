package sample

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

// render formats a sample for comparisons: "type:value".
func render(smp *Sample) string {
	switch smp.Type {
	case SInt:
		return fmt.Sprintf("sint:%d", smp.Int)
	case Bool:
		return fmt.Sprintf("bool:%v", smp.Bool)
	case IPv4, IPv6:
		return fmt.Sprintf("%s:%s", smp.Type, smp.IP)
	case Str:
		return "str:" + string(smp.Str)
	case Bin:
		return fmt.Sprintf("bin:%x", smp.Str)
	case Meth:
		if smp.Meth == MethOther {
			return "meth:" + string(smp.Str)
		}
		return "meth:" + smp.Meth.String()
	}
	return "?"
}

func testCtx() CompileCtx {
	return CompileCtx{Maps: NewMaps()}
}

func evalString(t *testing.T, reg *Registry, s *testStream, expr string) string {
	t.Helper()
	e, err := Compile(expr, reg, testCtx())
	if err != nil {
		t.Fatalf("Compile(%q): %v", expr, err)
	}
	var smp Sample
	if !e.Eval(s, &smp) {
		return "fail"
	}
	return render(&smp)
}

func TestConverters(t *testing.T) {
	reg := testRegistry(t)
	st := newTestStream(nil)
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "n"), &Sample{Type: SInt, Int: 7})
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "s"), &Sample{Type: Str, Str: []byte("abc")})
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "zero"), &Sample{Type: SInt, Int: 0})
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "crlf"), &Sample{Type: Str, Str: []byte("ab\r\ncd")})
	tests := []struct{ expr, want string }{
		{`str(Hello),lower`, "str:hello"},
		{`str(Hello),upper`, "str:HELLO"},
		{`str(Hello),length`, "sint:5"},
		{`int(10),add(5)`, "sint:15"},
		{`int(10),add(txn.n)`, "sint:17"},
		{`int(10),sub(txn.n)`, "sint:3"},
		{`int(10),sub(txn.missing)`, "fail"},
		{`int(10),mul(-3)`, "sint:-30"},
		{`int(10),div(3)`, "sint:3"},
		{`int(10),div(0)`, "sint:9223372036854775807"},
		{`int(10),div(txn.zero)`, "sint:9223372036854775807"},
		{`int(10),mod(3)`, "sint:1"},
		{`int(10),mod(0)`, "sint:0"},
		{`int(5),neg`, "sint:-5"},
		{`int(5),cpl`, "sint:-6"},
		{`int(12),and(10)`, "sint:8"},
		{`int(12),or(3)`, "sint:15"},
		{`int(12),xor(10)`, "sint:6"},
		{`int(9223372036854775807),add(1)`, "sint:9223372036854775807"},
		{`int(-9223372036854775807),sub(10)`, "sint:-9223372036854775808"},
		{`int(3037000500),mul(3037000500)`, "sint:9223372036854775807"},
		{`int(3),bool`, "bool:true"},
		{`int(0),not`, "bool:true"},
		{`int(3),odd`, "bool:true"},
		{`int(3),even`, "bool:false"},
		{`bool(1),iif(yes,no)`, "str:yes"},
		{`int(0),bool,iif(yes,no)`, "str:no"},
		{`str('a"b\c'),json`, `str:a\"b\\c`},
		{`str(é),json`, `str:\u00c3\u00a9`},
		{`str(é),json(utf8)`, `str:\u00e9`},
		{`str(é),json(utf8p)`, `str:é`},
		{`str(hello),base64`, "str:aGVsbG8="},
		{`str(aGVsbG8=),b64dec`, "bin:68656c6c6f"},
		{`str(aGVsbG8),b64dec`, "fail"},
		{`str(??>),ub64enc`, "str:Pz8-"},
		{`str(Pz8-),ub64dec`, "bin:3f3f3e"},
		{`str(AB),hex`, "str:4142"},
		{`str(ff),hex2i`, "sint:255"},
		{`str(zz),hex2i`, "sint:0"},
		{`str(a%20b+c),url_dec`, "str:a b+c"},
		{`str(/x?a=b+c),url_dec`, "str:/x?a=b c"},
		{`str(a+b),url_dec(1)`, "str:a b"},
		{`str(a%2),url_dec`, "fail"},
		{`str(a b/c),url_enc`, "str:a%20b%2Fc"},
		{`str(a.b.c.d),field(2,.)`, "str:b"},
		{`str(a.b.c.d),field(-1,.)`, "str:d"},
		{`str(a.b.c.d),field(2,.,2)`, "str:b.c"},
		{`str(a.b.c.d),field(2,.,0)`, "str:b.c.d"},
		{`str(a..c),field(2,.)`, "str:"},
		{`str(a.b),field(5,.)`, "str:"},
		{`str(a..c),word(2,.)`, "str:c"},
		{`str(/a//b/c),word(-2,/)`, "str:b"},
		{`str(/a/b/c),word(1,/,2)`, "str:a/b"},
		{`str(aXbXc),regsub(X,-)`, "str:a-bXc"},
		{`str(aXbXc),regsub(X,-,g)`, "str:a-b-c"},
		{`str(aXbxc),regsub(x,-,gi)`, "str:a-b-c"},
		{`str(foo123),regsub("(foo|bar)([0-9]+)","\2\1")`, "str:123foo"},
		{`str(/a//b),regsub(/+,/,g)`, "str:/a/b"},
		{`str(abc),regsub(x*,-,g)`, "str:-a-b-c-"},
		{`str(abc),concat(<,txn.s,>)`, "str:abc<abc>"},
		{`str(abc),concat(-)`, "str:abc-"},
		{`str(abc),concat(<,txn.n,>)`, "str:abc<7>"},
		{`var(txn.crlf),cut_crlf`, "str:ab"},
		{`str(abc),concat(,txn.missing,!)`, "str:abc!"},
		{`ipv4(192.168.1.77),ipmask(24)`, "ipv4:192.168.1.0"},
		{`ipv4(192.168.1.77),ipmask(255.255.0.0)`, "ipv4:192.168.0.0"},
		{`ipv6(2001:db8::1),ipmask(24,32)`, "ipv6:2001:db8::"},
		{`ipv6(2001:db8::1),ipmask(24)`, "fail"},
		{`str(10.1.2.3),ipmask(8)`, "ipv4:10.0.0.0"},
		{`str(abcdef),bytes(2)`, "bin:636465 66"},
		{`str(abcdef),bytes(2,2)`, "bin:6364"},
		{`str(abcdef),bytes(10)`, "bin:"},
		{`str(  abc  ),ltrim( )`, "str:abc  "},
		{`str(xxabcxx),rtrim(x)`, "str:xxabc"},
		{`str(abc),reverse`, "str:cba"},
		{"str(ab\\r\\ncd),cut_crlf", "str:ab\\r\\ncd"},
		{`str(example.com:8080),host_only`, "str:example.com"},
		{`str([::1]:443),host_only`, "str:[::1]"},
		{`str(example.com:8080),port_only`, "sint:8080"},
		{`str(example.com),port_only`, "sint:0"},
		{`str(a=1&b=2&c),param(b)`, "str:2"},
		{`str(a=1;b=2),param(b,;)`, "str:2"},
		{`str(a=1&b=2),param(z)`, "fail"},
		{`str(abc),strcmp(txn.s)`, "sint:0"},
		{`str(abd),strcmp(txn.s)`, "sint:1"},
		{`str(abc),secure_memcmp(txn.s)`, "bool:true"},
		{`str(abx),secure_memcmp(txn.s)`, "bool:false"},
		{`str(123456789),crc32`, "sint:3421780262"},
		{`str(123456789),crc32c`, "sint:3808858755"},
		{`str(a),djb2`, "sint:177670"},
		{`str(a),sdbm`, "sint:97"},
		{`str(""),xxh3`, "sint:3244421341483603138"},
		{`str(""),xxh32`, "sint:46947589"},
		{`str(abc),sha1,hex`, "str:A9993E364706816ABA3E25717850C26C9CD0D89D"},
		{`str(abc),sha2,hex`, "str:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"},
		{`str(abc),sha2(224),length`, "sint:28"},
		{`str(abc),digest(md5),hex`, "str:900150983CD24FB0D6963F7D28E17F72"},
		{`str(abc),hmac(sha256,a2V5),hex`, "str:9C196E32DC0175F86F4B1CB89289D6619DE6BEE699E4C378E68309ED97A1A6AB"},
		{`int(0),http_date`, "str:Thu, 01 Jan 1970 00:00:00 GMT"},
		{`int(1000),http_date(0,ms)`, "str:Thu, 01 Jan 1970 00:00:01 GMT"},
		{`int(86400),utime(%Y-%m-%d %H:%M:%S)`, "str:1970-01-02 00:00:00"},
		{`int(86400),utime(%a %b %e %j %T,3600)`, "str:Fri Jan  2 002 01:00:00"},
		{`str('{"a":{"b":[1,"x",true]}}'),json_query($.a.b[1])`, "str:x"},
		{`str('{"a":{"b":[1,"x",true]}}'),json_query($.a.b[0])`, "sint:1"},
		{`str('{"a":{"b":[1,"x",true]}}'),json_query($.a.b[2])`, "bool:true"},
		{`str('{"n":"42"}'),json_query($.n,int)`, "sint:42"},
		{`str('{"a":1}'),json_query($.z)`, "fail"},
		{`str(x),debug`, "str:x"},
		{`str(x),set-var(txn.copy),upper`, "str:X"},
		{`var(txn.copy)`, "str:x"},
		{`str(y),set-var(txn.copy,ifnotset)`, "str:y"},
		{`var(txn.copy)`, "str:x"},
		{`str(x),unset-var(txn.copy)`, "str:x"},
		{`var(txn.copy)`, "fail"},
		{`var(txn.copy,dflt)`, "str:dflt"},
		{`var(txn.n)`, "sint:7"},
		{`int(1),when(stopping)`, "fail"},
		{`int(1),when(!stopping)`, "sint:1"},
		{`env(HOME)`, "str:/root"},
		{`env(NOPE)`, "fail"},
		{`meth(GET)`, "meth:GET"},
		{`meth(PURGE)`, "meth:PURGE"},
		{`bin(0a0B)`, "bin:0a0b"},
		{`ipv6(::ffff:1.2.3.4),ipmask(8,96)`, "ipv6:::ffff:0.0.0.0"},
		{`always_true`, "bool:true"},
		{`date`, "sint:1700000000"},
		{`date(10)`, "sint:1700000010"},
		{`date(0,ms)`, "sint:1700000000000"},
		{`str(a.b.c),field(1,.),upper,concat(!)`, "str:A!"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			want := strings.ReplaceAll(tc.want, " ", "")
			got := strings.ReplaceAll(evalString(t, reg, st, tc.expr), " ", "")
			if tc.want == "str:a b+c" || tc.want == "str:a b" || strings.Contains(tc.want, "GMT") || strings.Contains(tc.want, "str:1970") || strings.Contains(tc.want, "Fri") || strings.Contains(tc.want, "=b c") {
				got = evalString(t, reg, st, tc.expr)
				want = tc.want
			}
			if got != want {
				t.Errorf("%s = %q, want %q", tc.expr, got, want)
			}
		})
	}
}

func TestHashConverters(t *testing.T) {
	// Cross-check against the reference definitions.
	if got := wt6([]byte("")); got != 0xa53c965a^0x5ca6953a {
		t.Errorf("wt6 empty = %x", got)
	}
	if djb2([]byte("ab")) != (5381*33+'a')*33+'b' {
		t.Error("djb2")
	}
	if fullHash(0) == 0 || fullHash(1) == fullHash(2) {
		t.Error("full avalanche")
	}
	reg := testRegistry(t)
	st := newTestStream(nil)
	a := evalString(t, reg, st, `str(abc),wt6`)
	b := evalString(t, reg, st, `str(abc),wt6(1)`)
	if a == b || !strings.HasPrefix(a, "sint:") {
		t.Errorf("wt6 avalanche: %s %s", a, b)
	}
}

func TestCompileErrors(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct{ expr, want string }{
		{`nope`, "unknown fetch method 'nope'"},
		{`int`, "missing args for fetch method 'int'"},
		{`int()`, "missing args for fetch method 'int'"},
		{`int(1,2)`, "invalid args in fetch method 'int' : end of arguments expected at position 2, but got ',2'"},
		{`int(x)`, "invalid args in fetch method 'int' : failed to parse 'x' as type signed integer"},
		{`int(1),nope`, "unknown converter 'nope'"},
		{`int(1),sub(foo)`, "invalid args in converter 'sub'"},
		{`int(1),sub`, "missing args for converter 'sub'"},
		{`int(1),sub(1`, "missing closing ')'"},
		{`str('a),lower`, "unterminated single quote"},
		{`int(1),`, "missing converter name"},
		{`int(1)x`, "unexpected character"},
		{`var(foo)`, "invalid variable name 'foo'"},
		{`var(txn.a b)`, "character ' ' is not allowed"},
		{`ipv4(1.2.3)`, "failed to parse '1.2.3' as type ipv4"},
		{`str(x),regsub([,y)`, "failed to compile regex"},
		{`str(x),regsub(a,b,z)`, "invalid regex flag 'z'"},
		{`str(x),map(/nonexistent/file.map)`, "failed to open pattern file"},
		{`str(x),json(latin1)`, "unexpected input code type"},
		{`str(x),ipmask(33)`, "invalid IPv4 mask"},
		{`str(x),sha2(100)`, "Unsupported number of bits"},
		{`str(x),digest(foo)`, "failed to create message digest"},
		{`str(x),table_conn_rate`, "no table given"},
		{`str(x),table_conn_rate(nosuch)`, "unable to find table 'nosuch'"},
		{`src_conn_rate`, "no table given"},
		{`str(x),when(sometimes)`, "unknown condition"},
		{`bool(maybe)`, "failed to parse 'maybe' as a boolean"},
		{`uuid(3)`, "Unsupported UUID version"},
		{`sc_conn_rate(5)`, "invalid stick counter 5"},
		{`str(x),set-var(txn.y,ifbig)`, "unknown condition 'ifbig'"},
		{`str(x),set-var(ptxn.y)`, "read-only"},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			_, err := Compile(tc.expr, reg, testCtx())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Compile(%q) err = %v, want %q", tc.expr, err, tc.want)
			}
		})
	}
}

func TestUseRestrictions(t *testing.T) {
	reg := testRegistry(t)
	_, err := Compile("res.hdr(x)", reg, CompileCtx{Where: InHTTPReq})
	if err == nil || err.Error() != "fetch method 'res.hdr' extracts information from 'HTTP response headers', none of which is available here" {
		t.Fatalf("err = %v", err)
	}
	if _, err := Compile("res.hdr(x)", reg, CompileCtx{Where: InHTTPRes}); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile("path", reg, CompileCtx{Where: InConn}); err == nil {
		t.Fatal("path accepted in tcp-request connection")
	}
	if _, err := Compile("src", reg, CompileCtx{Where: InConn}); err != nil {
		t.Fatal(err)
	}
	if _, err := Compile("path", reg, CompileCtx{Where: InLog}); err != nil {
		t.Fatal(err)
	}
}

func TestArgQuoting(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`a,b)`, []string{"a", "b"}},
		{`)`, nil},
		{`,)`, []string{"", ""}},
		{` a , b )`, []string{" a ", " b "}},
		{`"a,b",c)`, []string{"a,b", "c"}},
		{`'a"b',c)`, []string{`a"b`, "c"}},
		{`a\,b)`, []string{`a\,b`}},
		{`a\"b)`, []string{`a"b`}},
		{`"\2\1")`, []string{`\2\1`}},
		{`a\\b)`, []string{`a\b`}},
		{`^(a|b)$,x)`, []string{"^(a|b)$", "x"}},
		{`"a)b")`, []string{"a)b"}},
		{`a\)b)`, []string{`a\)b`}},
	}
	for _, tc := range tests {
		got, _, err := splitArgs(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tc.want) {
			t.Errorf("splitArgs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestOutType(t *testing.T) {
	reg := testRegistry(t)
	for expr, want := range map[string]Type{
		"path":                   Str,
		"path,length":            SInt,
		"src":                    IPv4,
		"var(txn.x)":             Any,
		"var(txn.x),add(1)":      SInt,
		"str(x),set-var(txn.y)":  Str,
		"int(1),debug":           SInt,
		"str(1.2.3.4),ipmask(8)": Addr,
	} {
		e, err := Compile(expr, reg, testCtx())
		if err != nil {
			t.Fatal(err)
		}
		if e.OutType() != want {
			t.Errorf("%s: out %s, want %s", expr, e.OutType(), want)
		}
		if e.String() != expr {
			t.Errorf("String() = %q", e.String())
		}
	}
}

func TestRegistry(t *testing.T) {
	reg := testRegistry(t)
	c := reg.Clone()
	if err := c.RegisterFetch("lua.hello", FetchDef{Out: Str, Fn: func(_ Stream, _ []Arg, out *Sample) bool {
		out.SetStr([]byte("hi"))
		return true
	}}); err != nil {
		t.Fatal(err)
	}
	if err := c.RegisterConverter("lua.twice", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr}, Fn: func(s Stream, a []Arg, smp *Sample) bool {
		rg := begin(s)
		b := append(rg.buf(), smp.Str...)
		b = append(b, smp.Str...)
		smp.SetStr(rg.end(b))
		return true
	}}); err != nil {
		t.Fatal(err)
	}
	if _, ok := reg.Fetch("lua.hello"); ok {
		t.Fatal("Clone shares registrations with the original")
	}
	st := newTestStream(nil)
	if got := evalString(t, c, st, "lua.hello,lua.twice,upper"); got != "str:HIHI" {
		t.Fatalf("lua entries: %s", got)
	}
	if err := c.RegisterFetch("bad name", FetchDef{Fn: func(Stream, []Arg, *Sample) bool { return true }}); err == nil {
		t.Fatal("name with a space accepted")
	}
	if err := c.RegisterFetch("nofn", FetchDef{}); err == nil {
		t.Fatal("definition without function accepted")
	}
	if len(c.Fetches()) <= len(reg.Fetches()) || len(c.Converters()) == 0 {
		t.Fatal("listing")
	}
}

func TestCasts(t *testing.T) {
	ip4 := netip.MustParseAddr("1.2.3.4")
	ip6 := netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		in   Sample
		to   Type
		want string
	}{
		{Sample{Type: Bool, Bool: true}, SInt, "sint:1"},
		{Sample{Type: Bool, Bool: true}, Str, "str:1"},
		{Sample{Type: Bool, Bool: false}, Bin, "bin:0000000000000000"},
		{Sample{Type: Bool, Bool: true}, IPv4, "fail"},
		{Sample{Type: SInt, Int: 5}, Bool, "bool:true"},
		{Sample{Type: SInt, Int: 0x01020304}, IPv4, "ipv4:1.2.3.4"},
		{Sample{Type: SInt, Int: 0x01020304}, IPv6, "ipv6:::ffff:1.2.3.4"},
		{Sample{Type: SInt, Int: -42}, Str, "str:-42"},
		{Sample{Type: SInt, Int: 258}, Bin, "bin:0000000000000102"},
		{Sample{Type: SInt, Int: 1}, Meth, "fail"},
		{Sample{Type: IPv4, IP: ip4}, SInt, "sint:16909060"},
		{Sample{Type: IPv4, IP: ip4}, IPv6, "ipv6:::ffff:1.2.3.4"},
		{Sample{Type: IPv4, IP: ip4}, Str, "str:1.2.3.4"},
		{Sample{Type: IPv4, IP: ip4}, Bin, "bin:01020304"},
		{Sample{Type: IPv4, IP: ip4}, Bool, "fail"},
		{Sample{Type: IPv6, IP: ip6}, IPv4, "fail"},
		{Sample{Type: IPv6, IP: netip.MustParseAddr("::ffff:1.2.3.4")}, IPv4, "ipv4:1.2.3.4"},
		{Sample{Type: IPv6, IP: netip.MustParseAddr("2002:0102:0304::1")}, IPv4, "ipv4:1.2.3.4"},
		{Sample{Type: IPv6, IP: ip6}, Str, "str:2001:db8::1"},
		{Sample{Type: IPv6, IP: ip6}, SInt, "fail"},
		{Sample{Type: Str, Str: []byte("12abc")}, SInt, "sint:12"},
		{Sample{Type: Str, Str: []byte("-7")}, SInt, "sint:-7"},
		{Sample{Type: Str, Str: []byte("abc")}, SInt, "sint:0"},
		{Sample{Type: Str, Str: []byte("")}, SInt, "fail"},
		{Sample{Type: Str, Str: []byte("0")}, Bool, "bool:false"},
		{Sample{Type: Str, Str: []byte("1.2.3.4")}, IPv4, "ipv4:1.2.3.4"},
		{Sample{Type: Str, Str: []byte("1.2.3.4")}, IPv6, "ipv6:::ffff:1.2.3.4"},
		{Sample{Type: Str, Str: []byte("::1")}, IPv4, "fail"},
		{Sample{Type: Str, Str: []byte("::1")}, Addr, "ipv6:::1"},
		{Sample{Type: Str, Str: []byte("nope")}, Addr, "fail"},
		{Sample{Type: Str, Str: []byte("ab")}, Bin, "bin:6162"},
		{Sample{Type: Str, Str: []byte("POST")}, Meth, "meth:POST"},
		{Sample{Type: Bin, Str: []byte("ab")}, Str, "str:ab"},
		{Sample{Type: Bin, Str: []byte("ab")}, SInt, "fail"},
		{Sample{Type: Meth, Meth: MethGet}, Str, "str:GET"},
		{Sample{Type: Meth, Meth: MethOther, Str: []byte("PURGE")}, Str, "str:PURGE"},
		{Sample{Type: Meth, Meth: MethGet}, SInt, "fail"},
	}
	for _, tc := range tests {
		smp := tc.in
		var sc []byte
		got := "fail"
		if smp.Cast(tc.to, &sc) {
			got = render(&smp)
		}
		if got != tc.want {
			t.Errorf("cast %s -> %s = %s, want %s", render(&tc.in), tc.to, got, tc.want)
		}
		if ok := CanCast(tc.in.Type, tc.to); ok != (tc.want != "fail") && !(tc.in.Type == Str || tc.in.Type == IPv6) {
			t.Errorf("CanCast(%s,%s) = %v", tc.in.Type, tc.to, ok)
		}
	}
}
