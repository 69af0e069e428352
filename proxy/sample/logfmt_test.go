package sample

import (
	"net/netip"
	"strings"
	"testing"
)

func testAliases(name string) (AliasFunc, bool) {
	switch name {
	case "ci":
		return func(s Stream, out *Sample) bool { out.SetIP(ts(s).src); return true }, true
	case "cp":
		return func(s Stream, out *Sample) bool { out.SetInt(40312); return true }, true
	case "ST":
		return func(s Stream, out *Sample) bool { out.SetInt(ts(s).status); return true }, true
	case "r":
		return func(s Stream, out *Sample) bool {
			out.SetStr([]byte(ts(s).method + " " + ts(s).path + " HTTP/" + ts(s).ver))
			return true
		}, true
	case "hr", "hs":
		return func(s Stream, out *Sample) bool { return true }, true
	case "empty":
		return func(s Stream, out *Sample) bool { out.SetStr(nil); return true }, true
	case "b":
		return func(s Stream, out *Sample) bool { out.SetStr([]byte("be_main")); return true }, true
	case "HM":
		return func(s Stream, out *Sample) bool {
			m := []byte(ts(s).method)
			out.SetMeth(ParseMethod(m), m)
			return true
		}, true
	}
	return nil, false
}

func TestLogFormat(t *testing.T) {
	reg := testRegistry(t)
	st := newTestStream(nil)
	st.hdrs = [][2]string{{"Host", "example.com"}, {"X-Q", `a"b\c]`}}
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "n"), &Sample{Type: SInt, Int: 255})
	tests := []struct {
		fmt   string
		merge bool
		want  string
	}{
		{"plain text", false, "plain text"},
		{"100%% sure", false, "100% sure"},
		{"%ci:%cp", false, "10.1.2.3:40312"},
		{"%{+Q}r", false, `"GET /static/img.png HTTP/1.1"`},
		{"%[hdr(host)]", false, "example.com"},
		{"%[hdr(host),upper]/%[path]", false, "EXAMPLE.COM//static/img.png"},
		{"%[hdr(missing)]", false, "-"},
		{"%{+Q}[hdr(missing)]", false, `""`},
		{"%{+Q}[hdr(host)]", false, `"example.com"`},
		{"%{+E}[hdr(x-q)]", false, `a\"b\\c\]`},
		{"%{+X}[var(txn.n)]", false, "ff"},
		{"%{+X}ci", false, "0A010203"},
		{"%{+X}[str(AB)]", false, "4142"},
		{"%{+Q}o %ci %b %[path]", true, `"10.1.2.3" "be_main" "/static/img.png"`},
		{"%{+Q}o %{-Q}ci %b", true, `10.1.2.3 "be_main"`},
		{"%{+json}[hdr(x-q)]", false, `"a\"b\\c]"`},
		{"%{+json}[var(txn.n)]", false, `255`},
		{"%{+json}[hdr(nope)]", false, `null`},
		{"%{+cbor}[var(txn.n)]", false, "18FF"},
		{"%{+cbor}[str(ab)]", false, "626162"},
		{"%HM %[method]", false, "GET GET"},
		{"%empty|%{+Q}empty", false, `-|""`},
		{"%ci  %hr %hs %ST", true, "10.1.2.3 200"},
		{"  %ci   x  ", true, "10.1.2.3 x "},
		{"%hr %hs", true, ""},
		{"a  b", false, "a  b"},
		{"%[str(a]b)]", false, "a]b"},
		{"%[str('x]')]", false, "x]"},
		{`%{+json}o %(client)ci %(st)ST %(path)[path] %(n:str)[var(txn.n)] literal`, false, `{"client": "10.1.2.3", "st": 200, "path": "/static/img.png", "n": "255"}`},
		{`%{+cbor}o %(st)ST`, false, "A1627374" + "18C8"},
		{"%(x:bool)[var(txn.n)]", false, "1"},
	}
	for _, tc := range tests {
		t.Run(tc.fmt, func(t *testing.T) {
			f, err := CompileFormat(tc.fmt, reg, FormatCtx{CompileCtx: testCtx(), Aliases: testAliases, MergeSpaces: tc.merge})
			if err != nil {
				t.Fatal(err)
			}
			got := string(f.Append(nil, st))
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestLogFormatHTTPLog(t *testing.T) {
	// The httplog format with the aliases it needs stubbed as the proxy will.
	reg := testRegistry(t)
	aliases := func(name string) (AliasFunc, bool) {
		if fn, ok := testAliases(name); ok {
			return fn, true
		}
		v := map[string]string{"tr": "10/Mar/2024:10:00:00.123", "ft": "fe_main", "s": "<lua.magic8ball>", "TR": "0", "Tw": "0", "Tc": "0", "Tr": "0", "Ta": "0",
			"B": "125", "CC": "", "CS": "", "tsc": "----", "ac": "1", "fc": "1", "bc": "0", "sc": "0", "rc": "0", "sq": "0", "bq": "0"}[name]
		if name == "CC" || name == "CS" {
			return func(Stream, *Sample) bool { return false }, true
		}
		if v == "" {
			return nil, false
		}
		return func(s Stream, out *Sample) bool { out.SetStr([]byte(v)); return true }, true
	}
	f, err := CompileFormat("%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r", reg,
		FormatCtx{CompileCtx: testCtx(), Aliases: aliases, MergeSpaces: true})
	if err != nil {
		t.Fatal(err)
	}
	st := newTestStream(nil)
	st.src = netip.MustParseAddr("127.0.0.1")
	st.path = "/magic"
	got := string(f.Append(nil, st))
	want := `127.0.0.1:40312 [10/Mar/2024:10:00:00.123] fe_main be_main/<lua.magic8ball> 0/0/0/0/0 200 125 - - ---- 1/1/0/0/0 0/0 "GET /magic HTTP/1.1"`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestLogFormatErrors(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct{ fmt, want string }{
		{"%zz", "no such format alias 'zz'"},
		{"%", "unexpected end"},
		{"%[path", "missing ']'"},
		{"%[nope]", "unknown fetch method 'nope'"},
		{"%{+Z}ci", "unknown log-format option 'Z'"},
		{"%{Q}ci", "must start with '+' or '-'"},
		{"%{+Q", "missing '}'"},
		{"%(n", "missing ')'"},
		{"%(n:float)ci", "unknown item type 'float'"},
		{"%{+Q}", "missing item"},
		{"%1", "unexpected character '1'"},
		{"%[res.hdr(x)]", "none of which is available here"},
	}
	for _, tc := range tests {
		t.Run(tc.fmt, func(t *testing.T) {
			ctx := FormatCtx{CompileCtx: testCtx(), Aliases: testAliases}
			ctx.Where = InHTTPReq
			_, err := CompileFormat(tc.fmt, reg, ctx)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
	f, err := CompileFormat("abc", reg, FormatCtx{})
	if err != nil || !f.IsConst() || f.String() != "abc" {
		t.Fatal("constant format")
	}
}
