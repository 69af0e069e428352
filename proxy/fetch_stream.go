package proxy

import (
	"bytes"
	"strconv"
	"strings"

	"moonbus/proxy/sample"
)

// Stream-dependent sample fetches (reference §3.2): connection, request,
// response and proxy/server state fetches, registered on every instance's
// registry.

type fetchFn func(t *Txn, a []sample.Arg, out *sample.Sample) bool

// txnFetch adapts a Txn fetch to the registry's signature.
func txnFetch(f fetchFn) sample.FetchFunc {
	return func(s sample.Stream, a []sample.Arg, out *sample.Sample) bool {
		t, ok := s.(*Txn)
		if !ok {
			return false
		}
		return f(t, a, out)
	}
}

var (
	argStr  = []sample.ArgKind{sample.ArgStr}
	argStrI = []sample.ArgKind{sample.ArgStr, sample.ArgInt}
	argInt  = []sample.ArgKind{sample.ArgInt}
	argNone []sample.ArgKind
	argStr3 = []sample.ArgKind{sample.ArgStr, sample.ArgStr, sample.ArgStr}
)

func reg(r *sample.Registry, name string, args []sample.ArgKind, min int, out sample.Type, use sample.Where, f fetchFn) {
	if err := r.RegisterFetch(name, sample.FetchDef{Args: args, MinArgs: min, Out: out, Use: use, Fn: txnFetch(f)}); err != nil {
		panic("proxy: registering fetch " + name + ": " + err.Error())
	}
}

// fetchSrc is the client address, also the key of src_* stick fetches.
func fetchSrc(s sample.Stream, _ []sample.Arg, out *sample.Sample) bool {
	t, ok := s.(*Txn)
	if !ok || !t.s.src.IsValid() {
		return false
	}
	out.SetIP(t.s.src.Addr())
	return true
}

func registerStreamFetches(r *sample.Registry) {
	l4, req, res, txn, any := sample.UseL4, sample.UseReq, sample.UseRes, sample.UseTxn, sample.UseAnywhere
	r.RegisterFetch("src", sample.FetchDef{Out: sample.Addr, Use: l4, Fn: fetchSrc})
	reg(r, "src_port", argNone, 0, sample.SInt, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetInt(int64(t.s.src.Port()))
		return t.s.src.IsValid()
	})
	reg(r, "dst", argNone, 0, sample.Addr, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.s.dst.IsValid() {
			return false
		}
		o.SetIP(t.s.dst.Addr())
		return true
	})
	reg(r, "dst_port", argNone, 0, sample.SInt, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetInt(int64(t.s.dst.Port()))
		return t.s.dst.IsValid()
	})
	reg(r, "fe_name", argNone, 0, sample.Str, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetStr(strBytes(t, t.fe.name))
		return true
	})
	reg(r, "fe_id", argNone, 0, sample.SInt, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetInt(int64(t.fe.uuid))
		return true
	})
	reg(r, "be_name", argNone, 0, sample.Str, txn, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.be == nil {
			return false
		}
		o.SetStr(strBytes(t, t.be.name))
		return true
	})
	reg(r, "be_id", argNone, 0, sample.SInt, txn, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.be == nil {
			return false
		}
		o.SetInt(int64(t.be.uuid))
		return true
	})
	reg(r, "srv_name", argNone, 0, sample.Str, res, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.srv == nil {
			return false
		}
		o.SetStr(strBytes(t, t.srv.name))
		return true
	})
	reg(r, "srv_id", argNone, 0, sample.SInt, res, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.srv == nil {
			return false
		}
		o.SetInt(int64(t.srv.puid))
		return true
	})
	reg(r, "ssl_fc", argNone, 0, sample.Bool, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetBool(t.s.tls != nil)
		return true
	})
	reg(r, "ssl_fc_sni", argNone, 0, sample.Str, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.s.tls == nil || t.s.tls.ServerName == "" {
			return false
		}
		o.SetStr(strBytes(t, t.s.tls.ServerName))
		return true
	})
	reg(r, "ssl_fc_protocol", argNone, 0, sample.Str, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.s.tls == nil {
			return false
		}
		o.SetStr(strBytes(t, tlsVersionName(t.s.tls.Version)))
		return true
	})
	reg(r, "ssl_fc_alpn", argNone, 0, sample.Str, l4, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.s.tls == nil || t.s.tls.NegotiatedProtocol == "" {
			return false
		}
		o.SetStr(strBytes(t, t.s.tls.NegotiatedProtocol))
		return true
	})
	// Proxy and server state.
	reg(r, "nbsrv", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		be := t.argBackend(a, 0)
		if be == nil {
			return false
		}
		o.SetInt(int64(be.SrvAct() + be.SrvBck()))
		return true
	})
	reg(r, "be_conn", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		be := t.argBackend(a, 0)
		if be == nil {
			return false
		}
		o.SetInt(be.BeCounters.Scur.Load())
		return true
	})
	reg(r, "be_conn_free", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		be := t.argBackend(a, 0)
		if be == nil {
			return false
		}
		free := int64(0)
		for _, s := range be.Servers() {
			if !s.usable() {
				continue
			}
			if m := s.Maxconn(); m == 0 {
				o.SetInt(-1)
				return true
			} else {
				free += int64(max(m-s.CurConns(), 0))
			}
		}
		o.SetInt(free)
		return true
	})
	reg(r, "queue", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		be := t.argBackend(a, 0)
		if be == nil {
			return false
		}
		o.SetInt(int64(be.QueueLen()))
		return true
	})
	reg(r, "avg_queue", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		be := t.argBackend(a, 0)
		if be == nil {
			return false
		}
		n := be.SrvAct()
		if n == 0 {
			n = be.SrvBck()
		}
		if n == 0 {
			o.SetInt(int64(be.QueueLen()))
		} else {
			o.SetInt(int64((be.QueueLen() + n - 1) / n))
		}
		return true
	})
	reg(r, "connslots", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		be := t.argBackend(a, 0)
		if be == nil {
			return false
		}
		slots := int64(0)
		for _, s := range be.Servers() {
			if !s.usable() {
				continue
			}
			m := s.Maxconn()
			if m == 0 {
				o.SetInt(-1)
				return true
			}
			slots += int64(m - s.CurConns())
			if mq := int(s.maxqueue.Load()); mq > 0 {
				slots += int64(mq - s.QueueLen())
			}
		}
		o.SetInt(slots)
		return true
	})
	reg(r, "fe_conn", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		fe := t.fe
		if a[0].Present {
			fe = t.s.e.byName[a[0].Str]
		}
		if fe == nil {
			return false
		}
		o.SetInt(int64(fe.FeConns()))
		return true
	})
	reg(r, "be_sess_rate", argStr, 0, sample.SInt, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		be := t.argBackend(a, 0)
		if be == nil {
			return false
		}
		o.SetInt(int64(be.BeCounters.SessRate(t.Now())))
		return true
	})
	srvFetch := func(name string, out sample.Type, f func(s *Server, o *sample.Sample)) {
		reg(r, name, argStr, 1, out, any, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
			s := t.argServer(a[0].Str)
			if s == nil {
				return false
			}
			f(s, o)
			return true
		})
	}
	srvFetch("srv_is_up", sample.Bool, func(s *Server, o *sample.Sample) { o.SetBool(s.isUp()) })
	srvFetch("srv_conn", sample.SInt, func(s *Server, o *sample.Sample) { o.SetInt(int64(s.CurConns())) })
	srvFetch("srv_queue", sample.SInt, func(s *Server, o *sample.Sample) { o.SetInt(int64(s.QueueLen())) })
	srvFetch("srv_weight", sample.SInt, func(s *Server, o *sample.Sample) { o.SetInt(int64(s.EWeight())) })
	srvFetch("srv_iweight", sample.SInt, func(s *Server, o *sample.Sample) { o.SetInt(int64(s.IWeight())) })
	srvFetch("srv_uweight", sample.SInt, func(s *Server, o *sample.Sample) { o.SetInt(int64(s.UWeight())) })
	srvFetch("srv_sess_rate", sample.SInt, func(s *Server, o *sample.Sample) { o.SetInt(int64(s.Counters.SessRate(nowTime()))) })
	reg(r, "stopping", argNone, 0, sample.Bool, any, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetBool(t.s.e.stopping.Load())
		return true
	})
	registerHTTPFetches(r, req, res)
	registerAuthFetches(r)
}

// strBytes returns s as bytes through the scratch buffer (no allocation).
func strBytes(t *Txn, s string) []byte {
	sc := t.Scratch()
	start := len(*sc)
	*sc = append(*sc, s...)
	return (*sc)[start:]
}

// argBackend returns the backend named by optional argument i, or the
// transaction's backend (or frontend when it is a listen).
func (t *Txn) argBackend(a []sample.Arg, i int) *Proxy {
	if i < len(a) && a[i].Present {
		p := t.s.e.byName[a[i].Str]
		if p == nil || !p.isBE {
			return nil
		}
		return p
	}
	if t.be != nil {
		return t.be
	}
	if t.fe.isBE {
		return t.fe
	}
	return nil
}

// argServer resolves "[<be>/]<srv>".
func (t *Txn) argServer(spec string) *Server {
	be := t.be
	if be == nil && t.fe.isBE {
		be = t.fe
	}
	if i := strings.IndexByte(spec, '/'); i >= 0 {
		be = t.s.e.byName[spec[:i]]
		spec = spec[i+1:]
	}
	if be == nil {
		return nil
	}
	return be.Server(spec)
}

// registerHTTPFetches adds the request and response fetches.
func registerHTTPFetches(r *sample.Registry, req, res sample.Where) {
	reg(r, "method", argNone, 0, sample.Meth, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() || t.req.method.n == 0 {
			return false
		}
		m := t.req.Method()
		o.Type = sample.Meth
		o.Meth = sample.ParseMethod(m)
		if o.Meth == sample.MethOther {
			o.Str = m
		}
		return true
	})
	reg(r, "path", argNone, 0, sample.Str, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() || t.req.uri.n == 0 {
			return false
		}
		o.SetStr(t.req.Path())
		return true
	})
	reg(r, "pathq", argNone, 0, sample.Str, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() || t.req.uri.n == 0 {
			return false
		}
		o.SetStr(t.req.PathQ())
		return true
	})
	reg(r, "url", argNone, 0, sample.Str, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() || t.req.uri.n == 0 {
			return false
		}
		o.SetStr(t.req.URI())
		return true
	})
	reg(r, "base", argNone, 0, sample.Str, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() || t.req.uri.n == 0 {
			return false
		}
		h, _ := t.req.Header("host")
		sc := t.Scratch()
		start := len(*sc)
		*sc = append(*sc, h...)
		*sc = append(*sc, t.req.Path()...)
		o.SetStr((*sc)[start:])
		return true
	})
	reg(r, "query", []sample.ArgKind{sample.ArgStr}, 0, sample.Str, req, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() {
			return false
		}
		q, ok := t.req.Query()
		if !ok {
			return false
		}
		if a[0].Present && a[0].Str == "with_qm" {
			_, qq := splitQuery(t.req.URI())
			o.SetStr(qq)
			return true
		}
		o.SetStr(q)
		return true
	})
	urlParam := func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() {
			return false
		}
		v, ok := queryParam(t.req.URI(), a[0].Str)
		if !ok {
			return false
		}
		o.SetStr(v)
		return true
	}
	reg(r, "url_param", argStr3, 0, sample.Str, req, urlParam)
	reg(r, "urlp", argStr3, 0, sample.Str, req, urlParam)
	reg(r, "req.ver", argNone, 0, sample.Str, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() || t.req.proto.n == 0 {
			return false
		}
		o.SetStr(t.req.Proto()[5:])
		return true
	})
	reg(r, "res.ver", argNone, 0, sample.Str, res, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() || t.rsp.status == 0 {
			return false
		}
		o.SetStr(t.rsp.get(t.rsp.proto)[5:])
		return true
	})
	reg(r, "status", argNone, 0, sample.SInt, res, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.rsp.status == 0 {
			return false
		}
		o.SetInt(int64(t.rsp.status))
		return true
	})
	reg(r, "txn.status", argNone, 0, sample.SInt, sample.UseAnywhere, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.status == 0 {
			return false
		}
		o.SetInt(int64(t.status))
		return true
	})
	reg(r, "req.body", argNone, 0, sample.Bin, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.rules.body == nil {
			return false
		}
		o.SetBin(t.rules.body)
		return true
	})
	reg(r, "req.len", argNone, 0, sample.SInt, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		if t.rules.body != nil {
			o.SetInt(int64(len(t.rules.body)))
		} else if t.s.br != nil {
			o.SetInt(int64(t.s.br.Buffered()))
		} else if t.s.fc != nil {
			o.SetInt(int64(t.s.fc.buffered()))
		} else {
			return false
		}
		return true
	})
	reg(r, "capture.req.hdr", argInt, 1, sample.Str, sample.UseAnywhere, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		i := int(a[0].Int)
		if i < 0 || i >= len(t.rules.capReq) {
			return false
		}
		o.SetStr(t.rules.capReq[i])
		return true
	})
	reg(r, "capture.res.hdr", argInt, 1, sample.Str, sample.UseAnywhere, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		i := int(a[0].Int)
		if i < 0 || i >= len(t.rules.capRes) {
			return false
		}
		o.SetStr(t.rules.capRes[i])
		return true
	})
	// Headers: hdr() follows the direction; req.* and res.* are explicit.
	both := req | res
	hdrFetch := func(name string, use sample.Where, which int, full bool) {
		reg(r, name, argStrI, 0, sample.Str, use, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
			m := t.msgFor(which)
			if m == nil {
				return false
			}
			return hdrValue(m, a, full, o)
		})
	}
	hdrFetch("hdr", both, 0, false)
	hdrFetch("req.hdr", req, 1, false)
	hdrFetch("res.hdr", res, 2, false)
	hdrFetch("req.fhdr", req, 1, true)
	hdrFetch("res.fhdr", res, 2, true)
	hdrFetch("shdr", res, 2, false)
	cntFetch := func(name string, use sample.Where, which int, full bool) {
		reg(r, name, argStr, 0, sample.SInt, use, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
			m := t.msgFor(which)
			if m == nil {
				return false
			}
			o.SetInt(int64(hdrCount(m, a[0].Str, a[0].Present, full)))
			return true
		})
	}
	cntFetch("hdr_cnt", both, 0, false)
	cntFetch("req.hdr_cnt", req, 1, false)
	cntFetch("res.hdr_cnt", res, 2, false)
	cntFetch("req.fhdr_cnt", req, 1, true)
	cntFetch("res.fhdr_cnt", res, 2, true)
	reg(r, "res.len", argNone, 0, sample.SInt, res, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetInt(int64(t.rules.resLen))
		return true
	})
	reg(r, "req.proto_http", argNone, 0, sample.Bool, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetBool(t.IsHTTP())
		return true
	})
	valFetch := func(name string, use sample.Where, which int) {
		reg(r, name, argStrI, 0, sample.SInt, use, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
			m := t.msgFor(which)
			if m == nil {
				return false
			}
			if !hdrValue(m, a, false, o) {
				return false
			}
			n, err := strconv.ParseInt(string(bytes.TrimSpace(o.Str)), 10, 64)
			if err != nil {
				return false
			}
			it := o.Iter
			o.Reset()
			o.Iter = it
			o.SetInt(n)
			return true
		})
	}
	valFetch("hdr_val", both, 0)
	valFetch("req.hdr_val", req, 1)
	valFetch("res.hdr_val", res, 2)
	reg(r, "req.rdp_cookie_cnt", argStr, 0, sample.SInt, req, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetInt(0)
		return true
	})
	reg(r, "wait_end", argNone, 0, sample.Bool, sample.UseAnywhere, func(t *Txn, _ []sample.Arg, o *sample.Sample) bool {
		o.SetBool(true)
		return true
	})
	cook := func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		if !t.IsHTTP() {
			return false
		}
		return cookieValue(&t.req, "cookie", a, o)
	}
	reg(r, "req.cook", argStr, 0, sample.Str, req, cook)
	reg(r, "cook", argStr, 0, sample.Str, req, cook)
	reg(r, "req.cook_cnt", argStr, 0, sample.SInt, req, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		n := 0
		for i := 0; i < t.req.NumHeaders(); i++ {
			hn, hv := t.req.HeaderAt(i)
			if !equalFold(hn, "cookie") {
				continue
			}
			forEachCookie(hv, func(k, _ []byte) {
				if !a[0].Present || string(k) == a[0].Str {
					n++
				}
			})
		}
		o.SetInt(int64(n))
		return true
	})
	reg(r, "res.cook", argStr, 0, sample.Str, res, func(t *Txn, a []sample.Arg, o *sample.Sample) bool {
		return cookieValue(&t.rsp, "set-cookie", a, o)
	})
}

// msgFor returns the message for a header fetch: 0 = by direction, 1 =
// request, 2 = response.
func (t *Txn) msgFor(which int) *Msg {
	if !t.IsHTTP() {
		return nil
	}
	switch which {
	case 1:
		return &t.req
	case 2:
		if t.rsp.status == 0 {
			return nil
		}
		return &t.rsp
	}
	if t.rules.dir == sample.DirResponse && t.rsp.status != 0 {
		return &t.rsp
	}
	return &t.req
}

// hdrValue implements hdr(<name>[,<occ>]) and fhdr(): the last value by
// default, occ > 0 counts from the first, occ < 0 from the last; in an ACL
// every value is returned in turn.
func hdrValue(m *Msg, a []sample.Arg, full bool, o *sample.Sample) bool {
	if !a[0].Present {
		return false
	}
	name := a[0].Str
	occ := int64(-1)
	if a[1].Present {
		occ = a[1].Int
	}
	if o.Iter.Multi {
		// Iterate over every value; Pos counts values returned.
		idx := 0
		found := false
		var val []byte
		next := false
		m.eachValue(name, full, func(v []byte) bool {
			if found {
				next = true
				return false
			}
			if idx == o.Iter.Pos {
				val, found = v, true
			}
			idx++
			return true
		})
		if !found {
			o.Iter.More = false
			return false
		}
		o.Iter.Pos++
		o.Iter.More = next
		o.SetStr(val)
		return true
	}
	total := 0
	if occ < 0 {
		m.eachValue(name, full, func([]byte) bool { total++; return true })
		occ = int64(total) + occ + 1
		if occ <= 0 {
			return false
		}
	}
	if occ == 0 {
		return false
	}
	n := int64(0)
	var val []byte
	found := false
	m.eachValue(name, full, func(v []byte) bool {
		n++
		if n == occ {
			val, found = v, true
			return false
		}
		return true
	})
	if !found {
		return false
	}
	o.SetStr(val)
	return true
}

// eachValue calls f for each value of the named header: comma-separated
// values unless full; f returns false to stop.
func (m *Msg) eachValue(name string, full bool, f func(v []byte) bool) {
	for _, h := range m.headers {
		if !equalFold(m.get(h.name), name) {
			continue
		}
		v := m.get(h.value)
		if full {
			if !f(v) {
				return
			}
			continue
		}
		for len(v) > 0 {
			var part []byte
			if i := bytes.IndexByte(v, ','); i >= 0 {
				part, v = v[:i], v[i+1:]
			} else {
				part, v = v, nil
			}
			if !f(bytes.TrimSpace(part)) {
				return
			}
		}
	}
}

func hdrCount(m *Msg, name string, named, full bool) int {
	if !named {
		return len(m.headers)
	}
	n := 0
	m.eachValue(name, full, func([]byte) bool { n++; return true })
	return n
}

// cookieValue returns a cookie of the Cookie (or Set-Cookie) headers: the
// last occurrence of name, or the first cookie without a name.
func cookieValue(m *Msg, hdr string, a []sample.Arg, o *sample.Sample) bool {
	var val []byte
	found := false
	for i := 0; i < m.NumHeaders(); i++ {
		hn, hv := m.HeaderAt(i)
		if !equalFold(hn, hdr) {
			continue
		}
		if hdr == "set-cookie" {
			if j := bytes.IndexByte(hv, ';'); j >= 0 {
				hv = hv[:j]
			}
		}
		forEachCookie(hv, func(k, v []byte) {
			if !a[0].Present {
				if !found {
					val, found = v, true
				}
				return
			}
			if string(k) == a[0].Str {
				val, found = v, true
			}
		})
	}
	if !found {
		return false
	}
	o.SetStr(val)
	return true
}

func forEachCookie(h []byte, f func(k, v []byte)) {
	for len(h) > 0 {
		var part []byte
		if i := bytes.IndexByte(h, ';'); i >= 0 {
			part, h = h[:i], h[i+1:]
		} else {
			part, h = h, nil
		}
		part = bytes.TrimSpace(part)
		if len(part) == 0 {
			continue
		}
		k, v, _ := bytes.Cut(part, []byte("="))
		f(bytes.TrimSpace(k), v)
	}
}

// Path returns the path of the request target (without scheme, authority
// and query).
func (m *Msg) Path() []byte {
	p := uriPathOnly(m.URI())
	return p
}

// PathQ returns the path and query of the request target.
func (m *Msg) PathQ() []byte {
	u := m.URI()
	if i := indexOf(u, "://"); i >= 0 {
		rest := u[i+3:]
		if j := bytes.IndexAny(rest, "/?"); j >= 0 {
			return rest[j:]
		}
		return nil
	}
	return u
}

// Query returns what follows the first '?' of the target; false without '?'.
func (m *Msg) Query() ([]byte, bool) {
	u := m.URI()
	if i := bytes.IndexByte(u, '?'); i >= 0 {
		return u[i+1:], true
	}
	return nil, false
}

// authority returns the "scheme://authority" prefix of an absolute URI.
func (m *Msg) authority() []byte {
	u := m.URI()
	if i := indexOf(u, "://"); i >= 0 {
		rest := u[i+3:]
		if j := bytes.IndexAny(rest, "/?"); j >= 0 {
			return u[:i+3+j]
		}
		return u
	}
	return nil
}

// SetPath replaces the path, keeping the scheme, authority and query.
func (m *Msg) SetPath(p []byte) {
	q, hasQ := m.Query()
	out := append([]byte(nil), m.authority()...)
	out = append(out, p...)
	if hasQ {
		out = append(out, '?')
		out = append(out, q...)
	}
	m.SetURI(out)
}

// SetPathQ replaces the path and query.
func (m *Msg) SetPathQ(pq []byte) {
	out := append([]byte(nil), m.authority()...)
	out = append(out, pq...)
	m.SetURI(out)
}

// SetQuery replaces the query: a '?' is added when there was none and the
// value is not empty; an existing '?' is never removed.
func (m *Msg) SetQuery(q []byte) {
	u := m.URI()
	path, _, hadQ := bytes.Cut(u, []byte("?"))
	out := append([]byte(nil), path...)
	if hadQ || len(q) > 0 {
		out = append(out, '?')
		out = append(out, q...)
	}
	m.SetURI(out)
}
