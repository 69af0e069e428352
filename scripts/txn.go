package scripts

import (
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy"
	"moonbus/proxy/sample"
)

const txnClass = "TXN"

// txnUD is the Go value of a TXN object (actions, fetches, and the
// transaction behind applets). It is valid for one Lua call: afterwards the
// pooled transaction may serve another client, so every method raises.
type txnUD struct {
	rt   *Runtime
	t    atomic.Pointer[proxy.Txn] // nil once the call is over
	kind Context
	dir  sample.Direction

	f, sf, c, sc, req, res, http lua.LValue   // attributes, built on first use
	fo                           [4]fetchesUD // the Go values of f, sf, c, sc

	doneSet    bool // txn:done() ended the action
	doneResult proxy.ActionResult
}

func newTxnUD(rt *Runtime, t *proxy.Txn, kind Context) *txnUD {
	x := &txnUD{rt: rt, kind: kind, dir: t.Dir()}
	x.t.Store(t)
	return x
}

// invalidate ends the object's validity (the call is over; it may run
// while another goroutine holds the state lock, hence the atomic).
func (x *txnUD) invalidate() { x.t.Store(nil) }

// txn returns the transaction, nil once the call is over.
func (x *txnUD) txn() *proxy.Txn { return x.t.Load() }

// live returns the transaction, or raises once the call that created the
// object is over.
func (x *txnUD) live(L *lua.LState) *proxy.Txn {
	var t *proxy.Txn
	if x != nil {
		t = x.t.Load()
	}
	if t == nil {
		L.RaiseError("the transaction is over: this object can no longer be used")
	}
	return t
}

func init() {
	registerClass(&class{
		name: txnClass,
		methods: map[string]Method{
			"get_priv":            txnGetPriv,
			"set_priv":            txnSetPriv,
			"get_var":             txnGetVar,
			"set_var":             txnSetVar,
			"unset_var":           txnUnsetVar,
			"reply":               txnReply,
			"done":                txnDone,
			"set_loglevel":        txnSetLogLevel,
			"set_tos":             txnSetSockOpt("set_tos", true),
			"set_fc_tos":          txnSetSockOpt("set_fc_tos", true),
			"set_mark":            txnSetSockOpt("set_mark", false),
			"set_fc_mark":         txnSetSockOpt("set_fc_mark", false),
			"set_priority_class":  txnSetPriority("set_priority_class", 2047, true),
			"set_priority_offset": txnSetPriority("set_priority_offset", 524287, false),
			"log":                 txnLog,
			"deflog":              txnDeflog,
			"Debug":               txnLevelLog(LevelDebug, "Debug"),
			"Info":                txnLevelLog(LevelInfo, "Info"),
			"Warning":             txnLevelLog(LevelWarning, "Warning"),
			"Alert":               txnLevelLog(LevelAlert, "Alert"),
		},
		index: txnIndex,
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, "TXN") },
		},
	})
}

func checkTxn(L *lua.LState) *txnUD { return checkObj[*txnUD](L, 1, txnClass) }

// txnIndex serves the attributes f, sf, c, sc, req, res and http
// (http_req/http_res only exist in filters: nil).
func txnIndex(st *State, L *lua.LState, ud *lua.LUserData, key string) lua.LValue {
	x, ok := ud.Value.(*txnUD)
	if !ok || x.txn() == nil {
		return lua.LNil
	}
	slot := func(p *lua.LValue, mk func() lua.LValue) lua.LValue {
		if *p == nil {
			*p = mk()
		}
		return *p
	}
	switch key {
	case "f":
		return slot(&x.f, func() lua.LValue { return st.newObj(fetchesClass, x.fetches(0, false, false)) })
	case "sf":
		return slot(&x.sf, func() lua.LValue { return st.newObj(fetchesClass, x.fetches(1, true, false)) })
	case "c":
		return slot(&x.c, func() lua.LValue { return st.newObj(convertersClass, x.fetches(2, false, true)) })
	case "sc":
		return slot(&x.sc, func() lua.LValue { return st.newObj(convertersClass, x.fetches(3, true, true)) })
	case "req":
		return slot(&x.req, func() lua.LValue { return st.newObj(channelClass, &channelUD{tx: x}) })
	case "res":
		return slot(&x.res, func() lua.LValue { return st.newObj(channelClass, &channelUD{tx: x, resp: true}) })
	case "http":
		if !x.txn().IsHTTP() {
			return lua.LNil
		}
		return slot(&x.http, func() lua.LValue { return st.newObj(httpClass, x) })
	}
	return lua.LNil
}

// fetches returns the Go value of the f/sf/c/sc object i (kept in x, so
// building the attribute allocates only the userdata).
func (x *txnUD) fetches(i int, str, conv bool) *fetchesUD {
	x.fo[i] = fetchesUD{tx: x, str: str, conv: conv}
	return &x.fo[i]
}

// Private data: one Lua value per transaction and per state.

func (st *State) getPriv(x *txnUD, L *lua.LState) lua.LValue {
	t := x.live(L)
	if d, ok := t.LuaData().(*txnData); ok && d.privs != nil {
		if v, ok := d.privs[st]; ok {
			return v
		}
	}
	return lua.LNil
}

func (st *State) setPriv(x *txnUD, L *lua.LState, v lua.LValue) {
	d := st.rt.data(x.live(L))
	if d.privs == nil {
		d.privs = map[*State]lua.LValue{}
	}
	d.privs[st] = v
}

func txnGetPriv(st *State, L *lua.LState) int {
	checkArgs(L, 1, "get_priv")
	L.Push(st.getPriv(checkTxn(L), L))
	return 1
}

func txnSetPriv(st *State, L *lua.LState) int {
	checkArgs(L, 2, "set_priv")
	st.setPriv(checkTxn(L), L, L.Get(2))
	return 0
}

// Variables (shared by TXN and the applets).

// varNames returns the instance's variable names (nil before SetEngine).
func (rt *Runtime) varNames() *sample.VarNames {
	if e := rt.engine.Load(); e != nil {
		return e.Registry().Vars()
	}
	return nil
}

// sampleToLua converts a sample to Lua (reference §1.3).
func (st *State) sampleToLua(smp *sample.Sample) lua.LValue {
	switch smp.Type {
	case sample.SInt:
		return lua.LNumber(smp.Int)
	case sample.Bool:
		if st.rt.opts.BoolSampleConversion != "normal" {
			if smp.Bool {
				return lua.LNumber(1)
			}
			return lua.LNumber(0)
		}
		return lua.LBool(smp.Bool)
	case sample.Str, sample.Bin:
		return lua.LString(smp.Str)
	case sample.IPv4, sample.IPv6:
		return lua.LString(smp.IP.String())
	case sample.Meth:
		if smp.Meth == sample.MethOther {
			return lua.LString(smp.Str)
		}
		return lua.LString(smp.Meth.String())
	}
	return lua.LNil
}

// getVar reads a variable of s; nil when unset or unknown.
func (st *State) getVar(s sample.Stream, name string) lua.LValue {
	names := st.rt.varNames()
	sc, n, err := sample.ParseVarName(name)
	if err != nil || names == nil || s == nil {
		return lua.LNil
	}
	id, ok := names.Lookup(sc, n)
	if !ok {
		return lua.LNil
	}
	var smp sample.Sample
	if !sample.GetVar(s, sample.VarRef{Scope: sc, ID: id, Name: name}, &smp) {
		return lua.LNil
	}
	return st.sampleToLua(&smp)
}

// setVar sets a variable of s. With ifexist, a proc variable must already
// be known from the configuration (other scopes are always set).
func (st *State) setVar(s sample.Stream, name string, v lua.LValue, ifexist bool) bool {
	names := st.rt.varNames()
	sc, n, err := sample.ParseVarName(name)
	if err != nil || names == nil || s == nil || sc.ReadOnly() || sc == sample.ScopeCheck {
		return false
	}
	var id int
	if ifexist && sc == sample.ScopeProc {
		var ok bool
		if id, ok = names.Lookup(sc, n); !ok {
			return false
		}
	} else {
		id = names.Intern(sc, n)
	}
	var smp sample.Sample
	luaToSample(v, nil, &smp)
	return sample.SetVar(s, sample.VarRef{Scope: sc, ID: id, Name: name}, &smp)
}

func (st *State) unsetVar(s sample.Stream, name string) bool {
	names := st.rt.varNames()
	sc, n, err := sample.ParseVarName(name)
	if err != nil || names == nil || s == nil || sc.ReadOnly() {
		return false
	}
	id, ok := names.Lookup(sc, n)
	if !ok {
		return s.Vars(sc) != nil
	}
	return sample.UnsetVar(s, sample.VarRef{Scope: sc, ID: id, Name: name})
}

func txnGetVar(st *State, L *lua.LState) int {
	checkArgs(L, 2, "get_var")
	t := checkTxn(L).live(L)
	L.Push(st.getVar(t, L.CheckString(2)))
	return 1
}

// checkSetVarArgs is the check of set_var: 3 or 4 arguments.
func checkSetVarArgs(L *lua.LState) bool {
	if n := L.GetTop(); n < 3 || n > 4 {
		L.RaiseError("'set_var' needs between 3 and 4 arguments")
	}
	return L.GetTop() == 4 && lua.LVAsBool(L.Get(4))
}

func txnSetVar(st *State, L *lua.LState) int {
	ifexist := checkSetVarArgs(L)
	t := checkTxn(L).live(L)
	L.Push(lua.LBool(st.setVar(t, L.CheckString(2), L.Get(3), ifexist)))
	return 1
}

func txnUnsetVar(st *State, L *lua.LState) int {
	checkArgs(L, 2, "unset_var")
	t := checkTxn(L).live(L)
	L.Push(lua.LBool(st.unsetVar(t, L.CheckString(2))))
	return 1
}

// txnReply is txn:reply([tbl]): a new Reply (status 200, no reason, no
// headers, empty body), initialised from tbl.
func txnReply(st *State, L *lua.LState) int {
	checkTxn(L)
	var init *lua.LTable
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		init = L.CheckTable(2)
	}
	L.Push(st.newReply(L, init))
	return 1
}

// txnDone is txn:done([reply]): it ends the transaction and the Lua code.
// In HTTP the reply (table or Reply) is sent; without one the connection is
// closed with no response. From a fetch or converter it acts as core.done().
func txnDone(st *State, L *lua.LState) int {
	x := checkTxn(L)
	t := x.live(L)
	if x.kind == CtxFetch || x.kind == CtxConverter {
		vals := make([]lua.LValue, 0, L.GetTop())
		for i := 2; i <= L.GetTop(); i++ {
			vals = append(vals, L.Get(i))
		}
		return st.Done(L, vals...)
	}
	res := proxy.ActAbort
	if t.IsHTTP() {
		if rep, ok := L.Get(2).(*lua.LTable); ok {
			status, raw := buildReply(L, rep)
			t.LocalReply(status, raw)
			res = proxy.ActDone
		} else {
			t.CloseClient()
		}
	}
	x.doneSet, x.doneResult = true, res
	return st.Done(L)
}

// buildReply renders a Reply table as an HTTP/1.1 response.
func buildReply(L *lua.LState, rep *lua.LTable) (int, []byte) {
	status := 200
	if n, ok := rep.RawGetString("status").(lua.LNumber); ok {
		status = int(n)
	}
	if status < 100 || status > 999 {
		status = 500
	}
	reason, _ := rep.RawGetString("reason").(lua.LString)
	if reason == "" {
		reason = lua.LString(http.StatusText(status))
		if reason == "" {
			reason = "Unknown"
		}
	}
	body := lua.LVAsString(rep.RawGetString("body"))
	var b strings.Builder
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(status))
	b.WriteByte(' ')
	b.WriteString(string(reason))
	b.WriteString("\r\n")
	hasCL := false
	if hdrs, ok := rep.RawGetString("headers").(*lua.LTable); ok {
		hdrs.ForEach(func(k, v lua.LValue) {
			name, ok := k.(lua.LString)
			if !ok {
				return
			}
			if strings.EqualFold(string(name), "content-length") {
				hasCL = true
			}
			write := func(val lua.LValue) {
				b.WriteString(string(name))
				b.WriteString(": ")
				b.WriteString(luaToString(L, val))
				b.WriteString("\r\n")
			}
			if list, ok := v.(*lua.LTable); ok {
				for i := 0; i <= list.Len(); i++ {
					if val := list.RawGetInt(i); val != lua.LNil {
						write(val)
					}
				}
				return
			}
			write(v)
		})
	}
	if !hasCL {
		b.WriteString("content-length: ")
		b.WriteString(strconv.Itoa(len(body)))
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	b.WriteString(body)
	return status, []byte(b.String())
}

func txnSetLogLevel(st *State, L *lua.LState) int {
	checkArgs(L, 2, "set_loglevel")
	x := checkTxn(L)
	t := x.live(L)
	ll := checkInt(L, 2)
	if ll < -1 || ll > LevelDebug {
		L.ArgError(2, "Invalid loglevel.")
	}
	t.SetLogLevel(ll)
	return 0
}

// txnSetSockOpt sets IP TOS/DSCP (tos) or the netfilter mark on the client
// connection; failures (no privilege, not a TCP socket) are ignored, as
// HAProxy ignores them.
func txnSetSockOpt(name string, tos bool) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, name)
		t := checkTxn(L).live(L)
		v := checkInt(L, 2)
		_ = setClientSockOpt(t.ClientConn(), tos, v)
		return 0
	}
}

// txnSetPriority stores the priority class/offset (clamped). Moonbus's
// queues are FIFO, so the value has no effect on scheduling.
func txnSetPriority(name string, limit int, class bool) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, name)
		t := checkTxn(L).live(L)
		v := checkInt(L, 2)
		v = max(-limit, min(limit, v))
		d := st.rt.data(t)
		if class {
			d.prioClass = v
		} else {
			d.prioOffset = v
		}
		return 0
	}
}

func txnLog(st *State, L *lua.LState) int {
	checkArgs(L, 3, "log")
	x := checkTxn(L)
	t := x.live(L)
	level := checkInt(L, 2)
	msg := L.CheckString(3)
	if level < 0 || level > LevelDebug {
		L.ArgError(2, "Invalid loglevel.")
	}
	st.rt.sendLog(st.rt.txnLogger(t), level, msg)
	return 0
}

// txnDeflog logs at the transaction's log level (info by default).
func txnDeflog(st *State, L *lua.LState) int {
	checkArgs(L, 2, "deflog")
	t := checkTxn(L).live(L)
	msg := L.CheckString(2)
	level := t.LogLevel()
	if level < 0 || level > LevelDebug {
		level = LevelInfo
	}
	st.rt.sendLog(st.rt.txnLogger(t), level, msg)
	return 0
}

func txnLevelLog(level int, name string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, name)
		t := checkTxn(L).live(L)
		st.rt.sendLog(st.rt.txnLogger(t), level, L.CheckString(2))
		return 0
	}
}
