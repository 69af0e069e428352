package sample

import (
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/proxy/stick"
)

func TestParseVarName(t *testing.T) {
	tests := []struct {
		in    string
		scope Scope
		name  string
		err   string
	}{
		{in: "txn.foo", scope: ScopeTxn, name: "foo"},
		{in: "proc.a_b.c", scope: ScopeProc, name: "a_b.c"},
		{in: "sess.x", scope: ScopeSess, name: "x"},
		{in: "req.x", scope: ScopeReq, name: "x"},
		{in: "res.x", scope: ScopeRes, name: "x"},
		{in: "check.x", scope: ScopeCheck, name: "x"},
		{in: "ptxn.x", scope: ScopePTxn, name: "x"},
		{in: "foo", err: "A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"},
		{in: "glob.x", err: "invalid variable name 'glob.x'"},
		{in: "txn.", err: "empty name"},
		{in: "txn.a-b", err: "character '-' is not allowed"},
	}
	for _, tc := range tests {
		sc, name, err := ParseVarName(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || sc != tc.scope || name != tc.name {
			t.Errorf("%s = %v %q %v", tc.in, sc, name, err)
		}
	}
	if ScopePTxn.Own() != ScopeTxn || !ScopePRes.ReadOnly() || ScopeTxn.ReadOnly() || ScopeTxn.String() != "txn" {
		t.Error("scope helpers")
	}
}

func TestVarScopes(t *testing.T) {
	reg := testRegistry(t)
	proc := NewVarStore(true)
	a := newTestStream(proc)
	b := newTestStream(proc)
	set := func(s *testStream, expr, v string) {
		t.Helper()
		ref, cond, err := ParseSetVar(v, reg.Vars())
		if err != nil {
			t.Fatal(err)
		}
		e, err := Compile(expr, reg, testCtx())
		if err != nil {
			t.Fatal(err)
		}
		var smp Sample
		if e.Eval(s, &smp) {
			SetVarIf(s, ref, cond, &smp)
		}
	}
	set(a, "str(shared)", "proc.p")
	set(a, "str(mine)", "txn.t")
	set(a, "int(1)", "sess.s")
	set(a, "int(2)", "req.r")
	set(a, "int(3)", "res.r")
	if got := evalString(t, reg, b, "var(proc.p)"); got != "str:shared" {
		t.Errorf("proc not shared: %s", got)
	}
	if got := evalString(t, reg, b, "var(txn.t)"); got != "fail" {
		t.Errorf("txn leaked: %s", got)
	}
	if got := evalString(t, reg, a, "var(txn.t)"); got != "str:mine" {
		t.Errorf("txn: %s", got)
	}
	if got := evalString(t, reg, a, "var(req.r),add(res.r)"); got != "sint:5" {
		t.Errorf("req/res: %s", got)
	}
	if got := evalString(t, reg, a, "var(check.c)"); got != "fail" {
		t.Errorf("check scope outside a check: %s", got)
	}
	// Resetting a scope (end of transaction) keeps the others.
	a.vars[ScopeTxn].Reset()
	if got := evalString(t, reg, a, "var(txn.t)"); got != "fail" {
		t.Errorf("after reset: %s", got)
	}
	if got := evalString(t, reg, a, "var(sess.s)"); got != "sint:1" {
		t.Errorf("sess after txn reset: %s", got)
	}
	// Parent scopes are read-only.
	ref, _ := reg.Vars().Resolve("ptxn.t")
	if SetVar(a, ref, &Sample{Type: SInt}) || UnsetVar(a, ref) {
		t.Error("parent scope writable")
	}
	if _, _, err := ParseSetVar("ptxn.t", reg.Vars()); err == nil {
		t.Error("set-var on a parent scope accepted")
	}
	// A value read from proc stays valid after a later set (copy-on-write).
	var got Sample
	pref, _ := reg.Vars().Resolve("proc.p")
	GetVar(a, pref, &got)
	set(b, "str(changed)", "proc.p")
	if string(got.Str) != "shared" {
		t.Errorf("proc value changed under a reader: %q", got.Str)
	}
	// Lua-style lookup of known names.
	if _, ok := reg.Vars().Lookup(ScopeTxn, "t"); !ok {
		t.Error("known name not found")
	}
	if _, ok := reg.Vars().Lookup(ScopeTxn, "never"); ok {
		t.Error("unknown name found")
	}
	if reg.Vars().Name(ScopeTxn, reg.Vars().Intern(ScopeTxn, "t")) != "t" {
		t.Error("Name")
	}
	n := 0
	a.vars[ScopeSess].Each(func(int, *Sample) { n++ })
	if n != 1 {
		t.Errorf("Each saw %d", n)
	}
}

func TestSetVarConditions(t *testing.T) {
	reg := testRegistry(t)
	tests := []struct {
		conds   string
		initial *Sample
		value   Sample
		set     bool
	}{
		{"ifexists", nil, Sample{Type: SInt, Int: 1}, false},
		{"ifexists", &Sample{Type: SInt, Int: 0}, Sample{Type: SInt, Int: 1}, true},
		{"ifnotexists", nil, Sample{Type: SInt, Int: 1}, true},
		{"ifnotexists", &Sample{Type: SInt}, Sample{Type: SInt, Int: 1}, false},
		{"ifset", &Sample{Type: SInt}, Sample{Type: SInt, Int: 1}, true},
		{"ifnotset", &Sample{Type: SInt}, Sample{Type: SInt, Int: 1}, false},
		{"ifempty", nil, Sample{Type: Str, Str: []byte("")}, true},
		{"ifempty", nil, Sample{Type: Str, Str: []byte("x")}, false},
		{"ifnotempty", nil, Sample{Type: Str, Str: []byte("")}, false},
		{"ifnotempty", nil, Sample{Type: Str, Str: []byte("x")}, true},
		{"ifnotempty", nil, Sample{Type: SInt, Int: 0}, false},
		{"ifgt", &Sample{Type: SInt, Int: 10}, Sample{Type: SInt, Int: 5}, true},
		{"ifgt", &Sample{Type: SInt, Int: 10}, Sample{Type: SInt, Int: 15}, false},
		{"iflt", &Sample{Type: SInt, Int: 10}, Sample{Type: SInt, Int: 15}, true},
		{"iflt", &Sample{Type: SInt, Int: 10}, Sample{Type: SInt, Int: 5}, false},
		{"iflt", nil, Sample{Type: SInt, Int: 5}, true},
		{"ifgt", &Sample{Type: Str, Str: []byte("x")}, Sample{Type: SInt, Int: 5}, false},
		{"ifexists,ifnotempty", &Sample{Type: SInt}, Sample{Type: Str, Str: []byte("x")}, true},
	}
	for _, tc := range tests {
		st := newTestStream(nil)
		ref, cond, err := ParseSetVar("txn.v,"+tc.conds, reg.Vars())
		if err != nil {
			t.Fatal(err)
		}
		if tc.initial != nil {
			SetVar(st, ref, tc.initial)
		}
		v := tc.value
		if got := SetVarIf(st, ref, cond, &v); got != tc.set {
			t.Errorf("%s initial=%v value=%s: set=%v, want %v", tc.conds, tc.initial != nil, render(&tc.value), got, tc.set)
		}
	}
	if _, err := ParseSetConds([]string{"ifwhatever"}); err == nil {
		t.Error("unknown condition accepted")
	}
}

func TestStickConvertersAndFetches(t *testing.T) {
	reg := testRegistry(t)
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	mk := func(name, typ string, store ...stick.StoreItem) *stick.Table {
		tb, err := stick.New(name, stick.Spec{Type: typ, Size: 100, Expire: time.Minute, Store: store})
		if err != nil {
			t.Fatal(err)
		}
		tb.SetClock(clock)
		return tb
	}
	web := mk("web", "ip", stick.StoreItem{Name: "conn_rate", Period: 10 * time.Second}, stick.StoreItem{Name: "gpc0"},
		stick.StoreItem{Name: "http_req_cnt"}, stick.StoreItem{Name: "bytes_in_cnt"}, stick.StoreItem{Name: "gpc", Count: 2}, stick.StoreItem{Name: "gpt0"})
	other := mk("other", "ip", stick.StoreItem{Name: "gpc0"})
	strs := mk("strs", "string", stick.StoreItem{Name: "http_req_cnt"})
	tables := map[string]*stick.Table{"web": web, "other": other, "strs": strs}
	ctx := CompileCtx{Maps: NewMaps(), DefaultTable: web, Tables: func(n string) *stick.Table { return tables[n] }}
	ev := func(st *testStream, expr string) string {
		t.Helper()
		e, err := Compile(expr, reg, ctx)
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		var smp Sample
		if !e.Eval(st, &smp) {
			return "fail"
		}
		return render(&smp)
	}
	st := newTestStream(nil)
	key := []byte{10, 1, 2, 3}
	ref, _ := web.Track(key)
	ref.Count(stick.EvConnStart | stick.EvHTTPReq)
	web.AddBytes(ref.E, 4096, 0)
	st.sc[1] = ref
	k2, _ := strs.Track([]byte("alice"))
	k2.Count(stick.EvHTTPReq)
	tests := []struct{ expr, want string }{
		{"src_conn_rate", "sint:1"},
		{"src_http_req_cnt", "sint:1"},
		{"src_conn_cur", "fail"}, // not stored
		{"src_get_gpc0", "sint:0"},
		{"src_inc_gpc0", "sint:1"},
		{"src_inc_gpc0", "sint:2"},
		{"src_get_gpc0", "sint:2"},
		{"src_clr_gpc0", "sint:2"},
		{"src_get_gpc0", "sint:0"},
		{"src_kbytes_in", "sint:4"},
		{"src_get_gpc(1)", "sint:0"},
		{"src_inc_gpc(1)", "sint:1"},
		{"src_get_gpc(1)", "sint:1"},
		{"src_get_gpc(2)", "fail"},
		{"src_get_gpt0", "sint:0"},
		{"src_trackers", "sint:1"},
		{"src_conn_rate(other)", "fail"},
		{"src_get_gpc0(other)", "sint:0"},
		{"sc1_conn_rate", "sint:1"},
		{"sc_conn_rate(1)", "sint:1"},
		{"sc0_conn_rate", "fail"},
		{"sc1_trackers", "sint:1"},
		{"sc1_inc_gpc0", "sint:1"},
		{"sc_get_gpc0(1)", "sint:1"},
		{"sc_clr_gpc0(1)", "sint:1"},
		{"sc1_get_gpc0(other)", "sint:0"},
		{"sc_tracked(1)", "bool:true"},
		{"sc0_tracked", "bool:false"},
		{"sc_get_gpc(1,1)", "sint:1"},
		{"str(10.1.2.3),table_conn_rate", "sint:1"},
		{"str(10.1.2.3),table_conn_rate(web)", "sint:1"},
		{"str(10.9.9.9),table_conn_rate", "sint:0"},
		{"str(10.1.2.3),table_gpc(1)", "sint:1"},
		{"str(10.1.2.3),table_trackers", "sint:1"},
		{"str(10.1.2.3),table_expire", "sint:60000"},
		{"str(10.1.2.3),table_idle", "sint:0"},
		{"str(10.1.2.3),table_server_id", "fail"},
		{"str(10.1.2.3),in_table", "bool:true"},
		{"str(10.1.2.4),in_table", "bool:false"},
		{"str(nope),in_table", "fail"},
		{"str(alice),table_http_req_cnt(strs)", "sint:1"},
		{"str(alice),in_table(strs)", "bool:true"},
		{"str(bob),in_table(strs)", "bool:false"},
	}
	for _, tc := range tests {
		if got := ev(st, tc.expr); got != tc.want {
			t.Errorf("%s = %s, want %s", tc.expr, got, tc.want)
		}
	}
	// src_inc_gpc0 creates the entry of an unknown client.
	st2 := newTestStream(nil)
	st2.src = st2.src.Next()
	if got := ev(st2, "src_inc_gpc0"); got != "sint:1" || web.Lookup(st2.src.AsSlice()) == nil {
		t.Errorf("src_inc_gpc0 on a new client: %s", got)
	}
	ref.Release()
}

func TestVarStoreConcurrentProc(t *testing.T) {
	proc := NewVarStore(true)
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				proc.Set(g%2, &Sample{Type: Str, Str: []byte("value")})
				var s Sample
				if proc.Get(g%2, &s) && string(s.Str) != "value" {
					t.Error("torn read")
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

func TestCheckScope(t *testing.T) {
	for _, tc := range []struct {
		where Where
		sc    Scope
		ok    bool
	}{
		{InConn, ScopeSess, true}, {InConn, ScopeTxn, false}, {InSess, ScopeProc, true},
		{InHTTPReq, ScopeTxn, true}, {InHTTPReq, ScopeCheck, false}, {InCheck, ScopeCheck, true},
		{InCheck, ScopeTxn, false}, {InHTTPRes, ScopeRes, true},
	} {
		if err := CheckScope(tc.where, tc.sc); (err == nil) != tc.ok {
			t.Errorf("CheckScope(%s, %s) = %v", tc.where, tc.sc, err)
		}
	}
}
