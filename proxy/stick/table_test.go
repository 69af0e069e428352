package stick

import (
	"fmt"

	"moonbus/config"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newTable(t *testing.T, spec Spec) (*Table, *fakeClock) {
	t.Helper()
	tb, err := New("tbl", spec)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeClock{t: time.UnixMilli(1_700_000_000_000)}
	tb.SetClock(c.now)
	return tb, c
}

func mustStore(t *testing.T, items ...string) []StoreItem {
	t.Helper()
	var out []StoreItem
	for _, s := range items {
		it, err := ParseStore(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

func TestParseStore(t *testing.T) {
	tests := []struct {
		in      string
		want    StoreItem
		wantErr string
	}{
		{in: "conn_rate(10s)", want: StoreItem{Name: "conn_rate", Period: 10 * time.Second}},
		{in: "gpc0", want: StoreItem{Name: "gpc0"}},
		{in: "gpc(3)", want: StoreItem{Name: "gpc", Count: 3}},
		{in: "gpc_rate(2,1m)", want: StoreItem{Name: "gpc_rate", Count: 2, Period: time.Minute}},
		{in: "http_req_rate(500)", want: StoreItem{Name: "http_req_rate", Period: 500 * time.Millisecond}},
		{in: "conn_rate", wantErr: "needs a period"},
		{in: "foo", wantErr: "unknown data type 'foo'"},
		{in: "gpc0(1)", wantErr: "takes no argument"},
		{in: "gpc", wantErr: "number of elements"},
		{in: "conn_rate(1x)", wantErr: "invalid period"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseStore(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestNewErrors(t *testing.T) {
	for _, spec := range []Spec{
		{Type: "ipx", Size: 10},
		{Type: "ip", Size: 0},
		{Type: "ip", Size: 10, Store: []StoreItem{{Name: "nope"}}},
		{Type: "ip", Size: 10, Store: []StoreItem{{Name: "conn_rate"}}},
		{Type: "ip", Size: 10, Store: []StoreItem{{Name: "gpc"}}},
	} {
		if _, err := New("x", spec); err == nil {
			t.Errorf("New(%+v) succeeded", spec)
		}
	}
}

func TestRateSemantics(t *testing.T) {
	tb, clk := newTable(t, Spec{Type: "ip", Size: 100, Store: mustStore(t, "conn_rate(10s)", "conn_cnt", "conn_cur", "http_req_rate(10s)", "http_req_cnt")})
	key, _ := tb.ParseKey("10.0.0.1")
	r, err := tb.Track(key)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		r.Count(EvConnStart | EvHTTPReq)
	}
	check := func(dt DataType, want int64) {
		t.Helper()
		got, ok := r.Get(dt, 0)
		if !ok || got != want {
			t.Fatalf("%s = %d,%v; want %d", dt, got, ok, want)
		}
	}
	check(ConnRate, 10)
	check(ConnCnt, 10)
	check(ConnCur, 10)
	check(HTTPReqRate, 10)
	// Half of the next period: the previous period counts for half.
	clk.add(15 * time.Second)
	check(ConnRate, 5)
	// A new event in the current period rotates and adds.
	r.Count(EvConnStart)
	check(ConnRate, 6)
	// Two periods later everything is gone from the rate, not the count.
	clk.add(25 * time.Second)
	check(ConnRate, 0)
	check(ConnCnt, 11)
	r.Count(EvConnStop)
	check(ConnCur, 10)
	r.Release()
	if r.Valid() {
		t.Fatal("Release did not reset the ref")
	}
}

func TestRateRead(t *testing.T) {
	v := make([]int64, 3)
	const p = 1000
	rateAdd(v, p, 5000, 4)
	if got := rateRead(v, p, 5000); got != 4 {
		t.Fatalf("same tick: %d", got)
	}
	if got := rateRead(v, p, 5999); got != 4 {
		t.Fatalf("end of period: %d", got)
	}
	if got := rateRead(v, p, 6250); got != 3 {
		t.Fatalf("quarter into next: %d", got)
	}
	if got := rateRead(v, p, 7000); got != 0 {
		t.Fatalf("two periods: %d", got)
	}
	rateAdd(v, p, 6500, 2) // rotation keeps 4 as previous
	if v[1] != 4 || v[0] != 2 || v[2] != 6000 {
		t.Fatalf("rotation: %v", v)
	}
}

func TestExpiry(t *testing.T) {
	tb, clk := newTable(t, Spec{Type: "ip", Size: 100, Expire: 10 * time.Second, Store: mustStore(t, "conn_cur", "gpc0")})
	k1, _ := tb.ParseKey("10.0.0.1")
	k2, _ := tb.ParseKey("10.0.0.2")
	r1, _ := tb.Track(k1)
	r2, _ := tb.Track(k2)
	r2.Release()
	clk.add(11 * time.Second)
	if tb.Lookup(k2) != nil {
		t.Fatal("expired unreferenced entry still visible")
	}
	if tb.Lookup(k1) == nil {
		t.Fatal("referenced entry expired")
	}
	r1.Release() // re-arms expiration from now
	clk.add(9 * time.Second)
	if tb.Lookup(k1) == nil {
		t.Fatal("entry expired before its delay after release")
	}
	clk.add(2 * time.Second)
	if n := tb.Purge(); n != 1 {
		t.Fatalf("Purge removed %d", n)
	}
	if tb.Used() != 0 {
		t.Fatalf("used = %d", tb.Used())
	}
	// Updates re-arm.
	e, _ := tb.GetOrCreate(k1)
	clk.add(8 * time.Second)
	tb.IncGPC(e, GPC0, GPC0Rate, 0)
	clk.add(8 * time.Second)
	if tb.Lookup(k1) == nil {
		t.Fatal("update did not re-arm expiration")
	}
}

func TestEviction(t *testing.T) {
	tb, clk := newTable(t, Spec{Type: "integer", Size: 3, Store: mustStore(t, "gpc0")})
	var keys [][]byte
	for i := 0; i < 3; i++ {
		k := tb.IntKey(nil, int64(i))
		keys = append(keys, k)
		if _, err := tb.GetOrCreate(k); err != nil {
			t.Fatal(err)
		}
		clk.add(time.Second)
	}
	// Touch key 0 so key 1 is now the oldest.
	tb.IncGPC(tb.Lookup(keys[0]), GPC0, GPC0Rate, 0)
	if _, err := tb.GetOrCreate(tb.IntKey(nil, 9)); err != nil {
		t.Fatal(err)
	}
	if tb.Lookup(keys[1]) != nil || tb.Lookup(keys[0]) == nil || tb.Used() != 3 {
		t.Fatalf("wrong victim: used=%d", tb.Used())
	}
	// Referenced entries are never evicted.
	var refs []Ref
	for _, k := range [][]byte{keys[0], keys[2], tb.IntKey(nil, 9)} {
		r, err := tb.Track(k)
		if err != nil {
			t.Fatal(err)
		}
		refs = append(refs, r)
	}
	if _, err := tb.Track(tb.IntKey(nil, 10)); err != ErrFull {
		t.Fatalf("err = %v, want ErrFull", err)
	}
	for i := range refs {
		refs[i].Release()
	}
}

func TestNoPurge(t *testing.T) {
	tb, _ := newTable(t, Spec{Type: "string", Len: 4, Size: 1, NoPurge: true})
	if _, err := tb.GetOrCreate([]byte("abcdef")); err != nil {
		t.Fatal(err)
	}
	if tb.Lookup([]byte("abcd")) == nil {
		t.Fatal("string key not truncated to len")
	}
	if _, err := tb.GetOrCreate([]byte("x")); err != ErrFull {
		t.Fatalf("err = %v", err)
	}
}

func TestGPC(t *testing.T) {
	tb, _ := newTable(t, Spec{Type: "ipv6", Size: 10, Store: mustStore(t, "gpc0", "gpc(2)", "gpc_rate(2,1s)", "gpt0", "gpt(2)")})
	k, _ := tb.ParseKey("::1")
	e, _ := tb.GetOrCreate(k)
	if v, ok := tb.IncGPC(e, GPC0, GPC0Rate, 0); !ok || v != 1 {
		t.Fatalf("gpc0 %d %v", v, ok)
	}
	tb.IncGPC(e, GPC0, GPC0Rate, 0)
	if v, ok := tb.ClearGPC(e, GPC0, 0); !ok || v != 2 {
		t.Fatalf("clear returned %d %v", v, ok)
	}
	if v, _ := tb.Get(e, GPC0, 0); v != 0 {
		t.Fatalf("gpc0 after clear = %d", v)
	}
	tb.IncGPC(e, GPC, GPCRate, 1)
	if v, _ := tb.Get(e, GPCRate, 1); v != 1 {
		t.Fatalf("gpc_rate[1] = %d", v)
	}
	if _, ok := tb.IncGPC(e, GPC1, GPC1Rate, 0); ok {
		t.Fatal("gpc1 not stored but IncGPC succeeded")
	}
	if _, ok := tb.Get(e, GPC, 2); ok {
		t.Fatal("out of range element readable")
	}
	tb.Set(e, GPT, 1, 42)
	tb.Set(e, GPT0, 0, 7)
	s, _ := tb.LookupSnapshot(k)
	var names []string
	for _, f := range s.Fields {
		names = append(names, fmt.Sprintf("%s=%d", f.Name, f.Value))
	}
	want := "gpt0=7 gpc0=0 gpt0=0 gpt1=42 gpc0=0 gpc1=1 gpc0_rate=0 gpc1_rate=1"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("fields %q\nwant   %q", got, want)
	}
}

func TestShowTable(t *testing.T) {
	tb, clk := newTable(t, Spec{Type: "ip", Size: 1 << 20, Expire: 10 * time.Second, Store: mustStore(t, "conn_rate(10s)")})
	k, _ := tb.ParseKey("127.0.0.1")
	r, _ := tb.Track(k)
	r.Count(EvConnStart)
	r.Release()
	clk.add(5 * time.Millisecond)
	out := string(tb.Show(nil, nil))
	re := regexp.MustCompile(`^# table: tbl, type: ip, size:1048576, used:1\n0x[0-9a-f]+: key=127\.0\.0\.1 use=0 exp=9995 shard=\d+ conn_rate\(10000\)=1\n$`)
	if !re.MatchString(out) {
		t.Fatalf("show table:\n%s", out)
	}
	f, err := tb.ParseFilter("data.conn_rate", "gt", "1")
	if err != nil {
		t.Fatal(err)
	}
	if got := tb.Dump(f); len(got) != 0 {
		t.Fatalf("filter gt 1 matched %d", len(got))
	}
	f.Op = "eq"
	if got := tb.Dump(f); len(got) != 1 {
		t.Fatalf("filter eq 1 matched %d", len(got))
	}
	if _, err := tb.ParseFilter("data.gpc0", "eq", "1"); err == nil {
		t.Fatal("filter on a type not stored accepted")
	}
	if out := string(tb.Show(nil, []byte{1, 2, 3, 4})); strings.Count(out, "\n") != 1 {
		t.Fatalf("key filter: %q", out)
	}
	in := tb.Info()
	if in.Type != "ip" || in.Used != 1 || in.Data["conn_rate"] != 10000 || in.Expire != 10000 {
		t.Fatalf("info %+v", in)
	}
	if n := tb.ClearAll(); n != 1 || tb.Used() != 0 {
		t.Fatalf("ClearAll %d", n)
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct{ typ, in, out string }{
		{"ip", "192.168.0.1", "192.168.0.1"},
		{"ipv6", "2001:db8::1", "2001:db8::1"},
		{"integer", "-42", "-42"},
		{"string", "hello", "hell"},
		{"binary", "0a0b", "0a0b0000"},
	} {
		tb, _ := newTable(t, Spec{Type: tc.typ, Len: 4, Size: 10})
		k, err := tb.ParseKey(tc.in)
		if err != nil {
			t.Fatalf("%s: %v", tc.typ, err)
		}
		if got := string(tb.FormatKey(nil, k)); got != tc.out {
			t.Errorf("%s: %q -> %q", tc.typ, tc.in, got)
		}
	}
	tb, _ := newTable(t, Spec{Type: "ip", Size: 10})
	if _, err := tb.ParseKey("::1"); err == nil {
		t.Error("IPv6 accepted as an ipv4 key")
	}
}

func TestConcurrent(t *testing.T) {
	tb, _ := newTable(t, Spec{Type: "integer", Size: 50, Expire: time.Second, Store: mustStore(t, "conn_cur", "conn_cnt", "http_req_rate(1s)")})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				r, err := tb.Track(tb.IntKey(nil, int64((g*31+i)%80)))
				if err != nil {
					continue
				}
				r.Count(EvConnStart | EvHTTPReq)
				r.Get(HTTPReqRate, 0)
				r.Count(EvConnStop)
				r.Release()
				if i%50 == 0 {
					tb.Purge()
					tb.Dump()
				}
			}
		}(g)
	}
	wg.Wait()
	if tb.Used() > 50 {
		t.Fatalf("used %d > size", tb.Used())
	}
	total := int64(0)
	for _, s := range tb.Dump() {
		if s.Use != 0 {
			t.Fatalf("leaked reference: %+v", s)
		}
		for _, f := range s.Fields {
			if f.Type == ConnCur && f.Value != 0 {
				t.Fatalf("conn_cur %d", f.Value)
			}
			if f.Type == ConnCnt {
				total += f.Value
			}
		}
	}
	if total == 0 {
		t.Fatal("no counts kept")
	}
}

func BenchmarkTrack(b *testing.B) {
	tb, _ := New("b", Spec{Type: "ip", Size: 1 << 20, Expire: 10 * time.Second, Store: []StoreItem{{Name: "conn_rate", Period: 10 * time.Second}, {Name: "http_req_rate", Period: 10 * time.Second}}})
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			i++
			k := [4]byte{10, 0, byte(i >> 8), byte(i)}
			r, _ := tb.Track(k[:])
			r.Count(EvConnStart | EvHTTPReq)
			r.Count(EvConnStop)
			r.Release()
		}
	})
}

func TestFromConfig(t *testing.T) {
	tb, err := FromConfig("be_limits", &config.StickTable{Type: "ip", Size: 1 << 20, Expire: 10 * time.Second,
		Store: []config.StoreItem{{Name: "conn_rate", Period: 10 * time.Second}, {Name: "gpc", Count: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if tb.Name() != "be_limits" || !tb.Stores(ConnRate) || tb.Period(ConnRate) != 10*time.Second || tb.Elements(GPC) != 2 || tb.Expire() != 10*time.Second {
		t.Fatalf("%+v", tb.Info())
	}
	if _, err := FromConfig("x", &config.StickTable{Type: "ip", Size: 10, Store: []config.StoreItem{{Name: "bogus"}}}); err == nil {
		t.Fatal("unknown data type accepted")
	}
}
