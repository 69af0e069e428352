package sample

import (
	"testing"
	"time"

	"moonbus/proxy/stick"
)

// benchRules is a typical 10-rule rule set; the benchmark evaluates every
// condition once per operation.
var benchRules = []string{
	"if { path_beg /static /images } or { path_end .css .js }",
	"if { hdr(host) -i -m dom example.com } !{ src 192.168.0.0/16 }",
	"unless { method GET HEAD }",
	"if { var(txn.connrate_threshold),sub(txn.conn_rate) -m int lt 0 }",
	"if { sc_http_req_rate(0) gt 10 }",
	"if { hdr(x-list) c } METH_GET",
	"if { path -m reg ^/api/v[0-9]+/ }",
	"if { hdr(host),lower,map(testdata/hosts.map) -m found }",
	"if { src -f testdata/blocked.lst }",
	"if { query -m sub debug=1 } || HTTP_1.0",
}

func benchSetup(b *testing.B) (*Registry, *testStream, CompileCtx) {
	reg := testRegistry(b)
	tbl, err := stick.New("fe", stick.Spec{Type: "ip", Size: 1000, Expire: 10 * time.Second,
		Store: []stick.StoreItem{{Name: "http_req_rate", Period: 10 * time.Second}, {Name: "conn_rate", Period: 10 * time.Second}}})
	if err != nil {
		b.Fatal(err)
	}
	ctx := CompileCtx{Maps: NewMaps(), DefaultTable: tbl, Where: InHTTPReq}
	st := newTestStream(nil)
	st.hdrs = [][2]string{{"Host", "WWW.Example.com"}, {"X-List", "a, b, c"}, {"User-Agent", "bench"}}
	st.query = "a=1&b=2"
	st.scratch = make([]byte, 0, 4096)
	ref, _ := tbl.Track([]byte{10, 1, 2, 3})
	ref.Count(stick.EvConnStart | stick.EvHTTPReq)
	st.sc[0] = ref
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "connrate_threshold"), &Sample{Type: SInt, Int: 100})
	st.vars[ScopeTxn].Set(reg.Vars().Intern(ScopeTxn, "conn_rate"), &Sample{Type: SInt, Int: 3})
	return reg, st, ctx
}

func BenchmarkConditions(b *testing.B) {
	reg, st, ctx := benchSetup(b)
	var conds []*Cond
	for _, r := range benchRules {
		c, err := CompileCond(condWords(r), nil, reg, ctx)
		if err != nil {
			b.Fatalf("%s: %v", r, err)
		}
		conds = append(conds, c)
	}
	hits := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for _, c := range conds {
			if c.Eval(st) {
				hits++
			}
		}
	}
	if hits == 0 {
		b.Fatal("no rule matched")
	}
}

func BenchmarkLogFormat(b *testing.B) {
	reg, st, ctx := benchSetup(b)
	f, err := CompileFormat(`%ci:%cp %{+Q}r %ST %[hdr(host),lower] %[path,map_beg(testdata/paths.map,none)] %{+Q}[var(txn.conn_rate),add(1)] %[src,ipmask(16)] %{+X}[str(ab)]`,
		reg, FormatCtx{CompileCtx: ctx, Aliases: benchAliases, MergeSpaces: true})
	if err != nil {
		b.Fatal(err)
	}
	dst := make([]byte, 0, 512)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = f.Append(dst[:0], st)
	}
	if len(dst) == 0 {
		b.Fatal("empty line")
	}
}

var reqLine = []byte("GET /static/img.png HTTP/1.1")

func benchAliases(name string) (AliasFunc, bool) {
	switch name {
	case "r":
		return func(s Stream, out *Sample) bool { out.SetStr(reqLine); return true }, true
	}
	return testAliases(name)
}

func BenchmarkExpr(b *testing.B) {
	reg, st, ctx := benchSetup(b)
	e, err := Compile("hdr(host),lower,field(1,.),concat(-,txn.conn_rate),upper,length", reg, ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	var smp Sample
	for i := 0; i < b.N; i++ {
		e.Eval(st, &smp)
	}
}

// TestZeroAlloc asserts the steady-state promise outside of benchmarks.
func TestZeroAlloc(t *testing.T) {
	if testing.Short() {
		t.Skip()
	}
	res := testing.Benchmark(BenchmarkConditions)
	if a := res.AllocsPerOp(); a != 0 {
		t.Errorf("conditions: %d allocs/op", a)
	}
	res = testing.Benchmark(BenchmarkLogFormat)
	if a := res.AllocsPerOp(); a != 0 {
		t.Errorf("log-format: %d allocs/op", a)
	}
}
