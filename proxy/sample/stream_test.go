package sample

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"moonbus/proxy/stick"
)

// testStream is a minimal transaction: a request with headers, a response
// status, variables in every scope and three stick counters.
type testStream struct {
	vars    [numScopes]*VarStore
	scratch []byte
	now     time.Time
	sc      [3]stick.Ref
	env     map[string]string
	dir     Direction

	src    netip.Addr
	method string
	path   string
	query  string
	ver    string
	hdrs   [][2]string
	status int64

	prepared                         bool
	snap                             [4]string
	snapHdrs                         [][2]string
	hdrb                             [][]byte
	pathb, queryb, methb, verb, urlb []byte
}

func newTestStream(proc *VarStore) *testStream {
	s := &testStream{now: time.Unix(1_700_000_000, 0), env: map[string]string{"HOME": "/root"},
		src: netip.MustParseAddr("10.1.2.3"), method: "GET", path: "/static/img.png", ver: "1.1", status: 200}
	for i := range s.vars {
		s.vars[i] = NewVarStore(false)
	}
	if proc != nil {
		s.vars[ScopeProc] = proc
	}
	s.vars[ScopeCheck] = nil
	return s
}

func (s *testStream) Vars(sc Scope) *VarStore { return s.vars[sc] }
func (s *testStream) Scratch() *[]byte        { return &s.scratch }
func (s *testStream) Now() time.Time          { return s.now }
func (s *testStream) StickCounter(n int) *stick.Ref {
	if n < 0 || n > 2 || !s.sc[n].Valid() {
		return nil
	}
	return &s.sc[n]
}
func (s *testStream) Env(n string) (string, bool) { v, ok := s.env[n]; return v, ok }
func (s *testStream) Dir() Direction              { return s.dir }

func ts(s Stream) *testStream { return s.(*testStream) }

// hdrValue returns the n-th comma-separated value of header name (n < 0:
// the last one) and how many there are, without allocating.
func (s *testStream) hdrValue(name string, n int) (val []byte, count int) {
	for i := range s.hdrs {
		if !strings.EqualFold(s.hdrs[i][0], name) {
			continue
		}
		rest := s.hdrb[i]
		for len(rest) > 0 {
			v := rest
			if j := bytes.IndexByte(rest, ','); j >= 0 {
				v, rest = rest[:j], rest[j+1:]
			} else {
				rest = nil
			}
			if count == n || n < 0 {
				val = bytes.TrimSpace(v)
			}
			count++
		}
	}
	return val, count
}

// prepare caches byte forms of the fields (the real Txn holds bytes).
func (s *testStream) prepare() {
	s.hdrb = s.hdrb[:0]
	for _, h := range s.hdrs {
		s.hdrb = append(s.hdrb, []byte(h[1]))
	}
	s.pathb, s.queryb, s.methb, s.verb = []byte(s.path), []byte(s.query), []byte(s.method), []byte(s.ver)
	s.urlb = []byte(s.path)
	if s.query != "" {
		s.urlb = []byte(s.path + "?" + s.query)
	}
	s.prepared = true
}

func (s *testStream) p() *testStream {
	if !s.prepared || s.snap != [4]string{s.path, s.query, s.method, s.ver} || !sameHdrs(s.snapHdrs, s.hdrs) {
		s.prepare()
		s.snap = [4]string{s.path, s.query, s.method, s.ver}
		s.snapHdrs = s.hdrs
	}
	return s
}

func sameHdrs(a, b [][2]string) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// testRegistry registers fake stream fetches the way the proxy will.
func testRegistry(t testing.TB) *Registry {
	t.Helper()
	reg := NewRegistry()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	srcFn := func(s Stream, _ []Arg, out *Sample) bool { out.SetIP(ts(s).src); return true }
	must(reg.RegisterFetch("src", FetchDef{Out: IPv4, Use: UseL4, Fn: srcFn}))
	must(reg.RegisterFetch("path", FetchDef{Out: Str, Use: UseReq, Needs: "HTTP request headers", Fn: func(s Stream, _ []Arg, out *Sample) bool {
		out.SetStr(ts(s).p().pathb)
		return true
	}}))
	must(reg.RegisterFetch("url", FetchDef{Out: Str, Use: UseReq, Fn: func(s Stream, _ []Arg, out *Sample) bool {
		out.SetStr(ts(s).p().urlb)
		return true
	}}))
	must(reg.RegisterFetch("query", FetchDef{Out: Str, Use: UseReq, Fn: func(s Stream, _ []Arg, out *Sample) bool {
		out.SetStr(ts(s).p().queryb)
		return true
	}}))
	must(reg.RegisterFetch("method", FetchDef{Out: Meth, Use: UseReq, Fn: func(s Stream, _ []Arg, out *Sample) bool {
		m := ts(s).p().methb
		out.SetMeth(ParseMethod(m), m)
		return true
	}}))
	must(reg.RegisterFetch("req.ver", FetchDef{Out: Str, Use: UseReq, Fn: func(s Stream, _ []Arg, out *Sample) bool {
		out.SetStr(ts(s).p().verb)
		return true
	}}))
	must(reg.RegisterFetch("req.len", FetchDef{Out: SInt, Use: UseReq, Fn: func(s Stream, _ []Arg, out *Sample) bool {
		out.SetInt(0)
		return true
	}}))
	must(reg.RegisterFetch("status", FetchDef{Out: SInt, Use: UseRes, Needs: "HTTP response", Fn: func(s Stream, _ []Arg, out *Sample) bool {
		out.SetInt(ts(s).status)
		return true
	}}))
	hdr := func(s Stream, a []Arg, out *Sample) bool {
		st := ts(s).p()
		if out.Iter.Multi {
			v, n := st.hdrValue(a[0].Str, out.Iter.Pos)
			if n == 0 {
				return false
			}
			out.SetStr(v)
			out.Iter.Pos++
			out.Iter.More = out.Iter.Pos < n
			return true
		}
		v, n := st.hdrValue(a[0].Str, -1)
		if n == 0 {
			return false
		}
		out.SetStr(v)
		return true
	}
	must(reg.RegisterFetch("hdr", FetchDef{Args: []ArgKind{ArgStr, ArgInt}, MinArgs: 1, Out: Str, Use: UseReq, Fn: hdr}))
	must(reg.RegisterFetch("req.hdr", FetchDef{Args: []ArgKind{ArgStr, ArgInt}, MinArgs: 1, Out: Str, Use: UseReq, Fn: hdr}))
	must(reg.RegisterFetch("res.hdr", FetchDef{Args: []ArgKind{ArgStr, ArgInt}, MinArgs: 1, Out: Str, Use: UseRes, Needs: "HTTP response headers", Fn: hdr}))
	must(reg.RegisterFetch("req.hdr_val", FetchDef{Args: []ArgKind{ArgStr}, MinArgs: 1, Out: SInt, Use: UseReq, Fn: func(s Stream, a []Arg, out *Sample) bool {
		if !hdr(s, a, out) {
			return false
		}
		out.SetInt(readInt(out.Str))
		return true
	}}))
	must(RegisterStickFetches(reg, srcFn))
	return reg
}

var testFile = map[string]string{}

func testMaps() *Maps {
	m := NewMaps()
	m.ReadFile = nil
	return m
}
