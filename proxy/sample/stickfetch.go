package sample

import (
	"fmt"

	"moonbus/proxy/stick"
)

type stickOp uint8

const (
	opGet      stickOp = iota // read a data value
	opGetKB                   // read a byte counter in kilobytes
	opInc                     // increment a gpc and its rate, return the counter
	opClr                     // clear a gpc, return its previous value
	opTrackers                // number of references
	opExpire                  // ms before expiry (table_expire)
	opIdle                    // ms since the last update (table_idle)
)

// stickItem describes one stick-counter family member: fetch names are
// sc_<fetch>, sc0_<fetch>, src_<fetch>; converter names table_<conv>.
type stickItem struct {
	fetch, conv string
	dt, rate    stick.DataType
	op          stickOp
	idx         bool // takes an element index argument first (gpc(n)...)
}

var stickItems = func() []stickItem {
	items := []stickItem{
		{fetch: "get_gpc0", conv: "gpc0", dt: stick.GPC0},
		{fetch: "get_gpc1", conv: "gpc1", dt: stick.GPC1},
		{fetch: "get_gpt0", conv: "gpt0", dt: stick.GPT0},
		{fetch: "get_gpc", conv: "gpc", dt: stick.GPC, idx: true},
		{fetch: "get_gpt", conv: "gpt", dt: stick.GPT, idx: true},
		{fetch: "gpc_rate", conv: "gpc_rate", dt: stick.GPCRate, idx: true},
		{fetch: "inc_gpc0", dt: stick.GPC0, rate: stick.GPC0Rate, op: opInc},
		{fetch: "inc_gpc1", dt: stick.GPC1, rate: stick.GPC1Rate, op: opInc},
		{fetch: "inc_gpc", dt: stick.GPC, rate: stick.GPCRate, op: opInc, idx: true},
		{fetch: "clr_gpc0", dt: stick.GPC0, op: opClr},
		{fetch: "clr_gpc1", dt: stick.GPC1, op: opClr},
		{fetch: "clr_gpc", dt: stick.GPC, op: opClr, idx: true},
		{fetch: "kbytes_in", conv: "kbytes_in", dt: stick.BytesInCnt, op: opGetKB},
		{fetch: "kbytes_out", conv: "kbytes_out", dt: stick.BytesOutCnt, op: opGetKB},
		{fetch: "trackers", conv: "trackers", op: opTrackers},
		{conv: "server_id", dt: stick.ServerID},
		{conv: "expire", op: opExpire},
		{conv: "idle", op: opIdle},
	}
	for _, dt := range []stick.DataType{stick.ConnCnt, stick.ConnCur, stick.ConnRate, stick.SessCnt, stick.SessRate,
		stick.HTTPReqCnt, stick.HTTPReqRate, stick.HTTPErrCnt, stick.HTTPErrRate, stick.HTTPFailCnt, stick.HTTPFailRate,
		stick.BytesInRate, stick.BytesOutRate, stick.GPC0Rate, stick.GPC1Rate, stick.GlitchCnt, stick.GlitchRate} {
		items = append(items, stickItem{fetch: dt.String(), conv: dt.String(), dt: dt})
	}
	return items
}()

// evalStick computes an item on an entry; e may be nil (key not present):
// reads then give 0, as HAProxy does, unless the table does not store the
// data type, in which case the sample fails.
func evalStick(it *stickItem, t *stick.Table, e *stick.Entry, idx int, out *Sample) bool {
	switch it.op {
	case opTrackers:
		out.SetInt(int64(t.Trackers(e)))
		return true
	case opExpire, opIdle:
		if e == nil {
			return false
		}
		exp, idle := t.ExpireIn(e)
		if it.op == opExpire {
			out.SetInt(exp)
		} else {
			out.SetInt(idle)
		}
		return true
	case opInc:
		if !t.Stores(it.dt) && !t.Stores(it.rate) {
			return false
		}
		if e == nil {
			out.SetInt(0)
			return true
		}
		v, ok := t.IncGPC(e, it.dt, it.rate, idx)
		out.SetInt(v)
		return ok
	case opClr:
		if !t.Stores(it.dt) {
			return false
		}
		if e == nil {
			out.SetInt(0)
			return true
		}
		v, ok := t.ClearGPC(e, it.dt, idx)
		out.SetInt(v)
		return ok
	}
	if !t.Stores(it.dt) || idx >= t.Elements(it.dt) {
		return false
	}
	if e == nil {
		out.SetInt(0)
		return true
	}
	v, ok := t.Get(e, it.dt, idx)
	if it.op == opGetKB {
		v >>= 10
	}
	out.SetInt(v)
	return ok
}

// TableKey converts a sample to the key bytes of table t (cast to the
// table's key type), appending them to the stream's scratch buffer.
func TableKey(s Stream, t *stick.Table, smp *Sample) ([]byte, bool) {
	sc := s.Scratch()
	switch t.KeyType() {
	case stick.KeyIPv4:
		if !smp.Cast(IPv4, sc) {
			return nil, false
		}
		b := smp.IP.As4()
		return appendBytes(sc, b[:]), true
	case stick.KeyIPv6:
		if !smp.Cast(IPv6, sc) {
			return nil, false
		}
		b := smp.IP.As16()
		return appendBytes(sc, b[:]), true
	case stick.KeyInteger:
		if !smp.Cast(SInt, sc) {
			return nil, false
		}
		rg := begin(s)
		return rg.end(t.IntKey(rg.buf(), smp.Int)), true
	case stick.KeyString:
		if !smp.Cast(Str, sc) {
			return nil, false
		}
		rg := begin(s)
		return rg.end(t.StrKey(rg.buf(), smp.Str)), true
	default:
		if !smp.Cast(Bin, sc) {
			return nil, false
		}
		rg := begin(s)
		return rg.end(t.BinKey(rg.buf(), smp.Str)), true
	}
}

func defaultTable(a *Arg, ctx *CompileCtx) error {
	if a.Present {
		return nil
	}
	if ctx.DefaultTable == nil {
		return fmt.Errorf("no table given and the proxy has no stick-table")
	}
	a.Table = ctx.DefaultTable
	return nil
}

func registerStickConverters(r *Registry) {
	for i := range stickItems {
		it := &stickItems[i]
		if it.conv == "" {
			continue
		}
		args := []ArgKind{ArgTable}
		if it.idx {
			args = []ArgKind{ArgInt, ArgTable}
		}
		ti := len(args) - 1
		r.RegisterConverter("table_"+it.conv, ConvDef{In: Any, Out: SInt, Args: args, MinArgs: ti,
			Check: func(a []Arg, ctx *CompileCtx) error { return defaultTable(&a[ti], ctx) },
			Fn: func(s Stream, a []Arg, smp *Sample) bool {
				t := a[ti].Table
				key, ok := TableKey(s, t, smp)
				if !ok {
					return false
				}
				idx := 0
				if it.idx {
					idx = int(a[0].Int)
				}
				return evalStick(it, t, t.Lookup(key), idx, smp)
			}})
	}
	r.RegisterConverter("in_table", ConvDef{In: Any, Out: Bool, Args: []ArgKind{ArgTable},
		Check: func(a []Arg, ctx *CompileCtx) error { return defaultTable(&a[0], ctx) },
		Fn: func(s Stream, a []Arg, smp *Sample) bool {
			key, ok := TableKey(s, a[0].Table, smp)
			if !ok {
				return false
			}
			smp.SetBool(a[0].Table.Lookup(key) != nil)
			return true
		}})
}

// RegisterStickFetches registers the stick-counter fetch families on reg:
// sc_<x>(<ctr>[,<table>]), sc0_<x>..sc2_<x>([<table>]) reading the entries
// the stream tracks (Stream.StickCounter), and, when src is not nil,
// src_<x>([<table>]) looking up the key produced by src (the client
// address) in the table. <x> covers conn_cnt, conn_cur, conn_rate,
// sess_cnt, sess_rate, http_req_cnt/rate, http_err_cnt/rate,
// http_fail_cnt/rate, bytes_in/out_rate, kbytes_in/out, glitch_cnt/rate,
// get_gpc0/1, gpc0/1_rate, get_gpt0, inc_gpc0/1, clr_gpc0/1, get_gpc(idx),
// gpc_rate(idx), inc_gpc(idx), clr_gpc(idx), get_gpt(idx), trackers; plus
// sc_tracked/scN_tracked. src_inc_* and src_clr_* create the entry when
// missing, as HAProxy does. The proxy calls this once per registry.
func RegisterStickFetches(reg *Registry, src FetchFunc) error {
	for i := range stickItems {
		it := &stickItems[i]
		if it.fetch == "" {
			continue
		}
		if err := registerSC(reg, it, -1); err != nil {
			return err
		}
		for n := 0; n < 3; n++ {
			if err := registerSC(reg, it, n); err != nil {
				return err
			}
		}
		if src != nil {
			if err := registerSrc(reg, it, src); err != nil {
				return err
			}
		}
	}
	tracked := func(n int) FetchDef {
		args := []ArgKind{ArgTable}
		if n < 0 {
			args = []ArgKind{ArgInt, ArgTable}
		}
		return FetchDef{Args: args, MinArgs: len(args) - 1, Out: Bool, Use: UseL4, Needs: "stick counters",
			Fn: func(s Stream, a []Arg, out *Sample) bool {
				ctr := n
				if n < 0 {
					ctr = int(a[0].Int)
				}
				r := s.StickCounter(ctr)
				out.SetBool(r != nil && r.Valid())
				return true
			}}
	}
	if err := reg.RegisterFetch("sc_tracked", tracked(-1)); err != nil {
		return err
	}
	for n := 0; n < 3; n++ {
		if err := reg.RegisterFetch(fmt.Sprintf("sc%d_tracked", n), tracked(n)); err != nil {
			return err
		}
	}
	return nil
}

// registerSC registers sc_<x> (n < 0: the counter number is an argument)
// or sc<n>_<x>.
func registerSC(reg *Registry, it *stickItem, n int) error {
	var args []ArgKind
	pos := 0
	if it.idx {
		args = append(args, ArgInt)
	}
	ctrArg := -1
	if n < 0 {
		ctrArg = len(args)
		args = append(args, ArgInt)
	}
	ti := len(args)
	args = append(args, ArgTable)
	_ = pos
	name := fmt.Sprintf("sc%d_%s", n, it.fetch)
	if n < 0 {
		name = "sc_" + it.fetch
	}
	return reg.RegisterFetch(name, FetchDef{Args: args, MinArgs: ti, Out: SInt, Use: UseL4, Needs: "stick counters",
		Check: func(a []Arg, _ *CompileCtx) error {
			if ctrArg >= 0 && (a[ctrArg].Int < 0 || a[ctrArg].Int > 2) {
				return fmt.Errorf("invalid stick counter %d (0..2)", a[ctrArg].Int)
			}
			return nil
		},
		Fn: func(s Stream, a []Arg, out *Sample) bool {
			ctr := n
			if ctrArg >= 0 {
				ctr = int(a[ctrArg].Int)
			}
			ref := s.StickCounter(ctr)
			if ref == nil || !ref.Valid() {
				return false
			}
			t, e := ref.T, ref.E
			if a[ti].Present && a[ti].Table != t {
				t = a[ti].Table
				e = t.Lookup(ref.E.Key())
			}
			idx := 0
			if it.idx {
				idx = int(a[0].Int)
			}
			return evalStick(it, t, e, idx, out)
		}})
}

func registerSrc(reg *Registry, it *stickItem, src FetchFunc) error {
	var args []ArgKind
	if it.idx {
		args = append(args, ArgInt)
	}
	ti := len(args)
	args = append(args, ArgTable)
	create := it.op == opInc || it.op == opClr
	return reg.RegisterFetch("src_"+it.fetch, FetchDef{Args: args, MinArgs: ti, Out: SInt, Use: UseL4, Needs: "the client address",
		Check: func(a []Arg, ctx *CompileCtx) error { return defaultTable(&a[ti], ctx) },
		Fn: func(s Stream, a []Arg, out *Sample) bool {
			t := a[ti].Table
			var k Sample
			if !src(s, nil, noescape(&k)) {
				return false
			}
			key, ok := TableKey(s, t, &k)
			if !ok {
				return false
			}
			var e *stick.Entry
			if create {
				e, _ = t.GetOrCreate(key)
			} else {
				e = t.Lookup(key)
			}
			idx := 0
			if it.idx {
				idx = int(a[0].Int)
			}
			return evalStick(it, t, e, idx, out)
		}})
}
