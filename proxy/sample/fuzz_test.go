package sample

import (
	"strings"
	"testing"
)

func FuzzCompileExpr(f *testing.F) {
	for _, s := range []string{
		"path", "int(1),add(txn.x)", `str(a),regsub("(a|b)",x,g)`, "hdr(host,1),lower,map(testdata/hosts.map,def)",
		"str('x'),concat(a,txn.b,c)", "var(txn.a,dflt)", `str("a\"b"),json(utf8s)`, "bin(0a),hex", "src,ipmask(24,64)",
		"str(x),field(-1,.,0)", "str(a),table_conn_rate", "str(),", "a(((", `str(\)`, "str(x),json_query('$.a[0]',int)",
	} {
		f.Add(s)
	}
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Compile(s, reg, CompileCtx{Maps: NewMaps()})
		if err != nil {
			return
		}
		st := newTestStream(nil)
		st.hdrs = [][2]string{{"Host", "a.example.com"}}
		var smp Sample
		e.Eval(st, &smp)
	})
}

func FuzzCompileCond(f *testing.F) {
	for _, s := range []string{
		"if { path_beg /x } || !{ src 10.0.0.0/8 }", "unless TRUE FALSE or METH_GET", "if { var(txn.a),sub(txn.b) -m int lt 0 }",
		"if { hdr(host) -i -m dom example.com }", "if { path -f testdata/agents.lst -m sub }", "if ! ! {", "if { int(1) -- -1 }",
		"if { src -m ip 10.1/16 ::1 }", "if { path -m reg ( }", "if {", "if }", "if or",
	} {
		f.Add(s)
	}
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, s string) {
		set := NewACLSet(reg, CompileCtx{Maps: NewMaps()})
		c, err := CompileCond(strings.Fields(s), set, reg, CompileCtx{Maps: NewMaps()})
		if err != nil {
			return
		}
		st := newTestStream(nil)
		c.Eval(st)
	})
}

func FuzzCompileFormat(f *testing.F) {
	for _, s := range []string{"%ci:%cp %{+Q}r", "%[path,lower] %%", "%{+json}o %(a)[path]", "%{+Q,-X}[int(1)]", "%(x:sint)[str(1)]", "%[", "%{"} {
		f.Add(s)
	}
	reg := testRegistry(f)
	f.Fuzz(func(t *testing.T, s string) {
		fm, err := CompileFormat(s, reg, FormatCtx{CompileCtx: CompileCtx{Maps: NewMaps()}, Aliases: testAliases, MergeSpaces: len(s)%2 == 0})
		if err != nil {
			return
		}
		fm.Append(nil, newTestStream(nil))
	})
}
