package scripts

import (
	"bytes"
	"strings"
	"sync/atomic"
	"unsafe"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy"
)

// The AppletHTTP class: the object an HTTP service (core.register_service
// with mode "http") receives. Fields method, version, path, qs, length,
// headers (lowercase name → 0-based array), f, sf, c, sc; methods
// set_status, add_header, start_response, getline, receive, send, and the
// private data and variable calls. Reading the body waits with the state
// unlocked.

const appletHTTPClass = "AppletHTTP"

// appletHTTP is the Go value of an AppletHTTP object.
type appletHTTP struct {
	a       *proxy.HTTPApplet
	tx      *txnUD
	dead    atomic.Bool // the service returned
	headers lua.LValue
}

func newAppletHTTP(t *proxy.Txn, tx *txnUD) *appletHTTP {
	return &appletHTTP{a: t.HTTPApplet(), tx: tx}
}

func init() {
	registerClass(&class{
		name: appletHTTPClass,
		methods: map[string]Method{
			"set_status":     appletHTTPSetStatus,
			"add_header":     appletHTTPAddHeader,
			"start_response": appletHTTPStart,
			"getline":        appletHTTPGetline,
			"receive":        appletHTTPReceive,
			"send":           appletHTTPSend,
			"get_priv":       appletGetPriv(appletHTTPClass),
			"set_priv":       appletSetPriv(appletHTTPClass),
			"get_var":        appletGetVar(appletHTTPClass),
			"set_var":        appletSetVar(appletHTTPClass),
			"unset_var":      appletUnsetVar(appletHTTPClass),
		},
		index: appletHTTPIndex,
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, appletHTTPClass) },
		},
	})
}

func checkAppletHTTP(L *lua.LState) (*appletHTTP, *proxy.Txn) {
	ap := checkObj[*appletHTTP](L, 1, appletHTTPClass)
	if ap.dead.Load() {
		L.RaiseError("the service is over: this applet can no longer be used")
	}
	return ap, ap.tx.live(L)
}

func appletHTTPIndex(st *State, L *lua.LState, ud *lua.LUserData, key string) lua.LValue {
	ap, ok := ud.Value.(*appletHTTP)
	t := ap.tx.txn()
	if !ok || ap.dead.Load() || t == nil {
		return lua.LNil
	}
	req := t.Req()
	switch key {
	case "method":
		return lua.LString(req.Method())
	case "version":
		return lua.LString(strings.TrimPrefix(string(req.Proto()), "HTTP/"))
	case "path", "qs":
		uri := req.URI()
		_, path, q, _ := splitURI(uri)
		if key == "qs" {
			return lua.LString(q)
		}
		return lua.LString(path)
	case "length":
		return lua.LNumber(ap.a.BodyLength())
	case "headers":
		if ap.headers == nil {
			ap.headers = headersTable(L, req)
		}
		return ap.headers
	case "f", "sf", "c", "sc":
		return txnIndex(st, L, &lua.LUserData{Value: ap.tx}, key)
	}
	return lua.LNil
}

// appletHTTPSetStatus is set_status(code[, reason]): true, or false for a
// code outside 100..599.
func appletHTTPSetStatus(st *State, L *lua.LState) int {
	ap, _ := checkAppletHTTP(L)
	code := checkInt(L, 2)
	reason := ""
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		reason = L.CheckString(3)
	}
	if code < 100 || code > 599 {
		L.Push(lua.LFalse)
		return 1
	}
	ap.a.SetStatus(code, reason)
	L.Push(lua.LTrue)
	return 1
}

func appletHTTPAddHeader(st *State, L *lua.LState) int {
	checkArgs(L, 3, "add_header")
	ap, _ := checkAppletHTTP(L)
	name := L.CheckString(2)
	value := L.CheckString(3)
	if !ap.a.Started() {
		ap.a.AddHeader(name, value)
	}
	L.Push(lua.LTrue)
	return 1
}

func appletHTTPStart(st *State, L *lua.LState) int {
	checkArgs(L, 1, "start_response")
	ap, _ := checkAppletHTTP(L)
	var err error
	st.Unlocked(func() { err = ap.a.StartResponse() })
	if e := st.cur; e != nil {
		e.flush = ap.a
	}
	L.Push(lua.LBool(err == nil))
	return 1
}

// appletHTTPGetline returns one body line with its '\n', "" at the end.
func appletHTTPGetline(st *State, L *lua.LState) int {
	checkArgs(L, 1, "getline")
	ap, _ := checkAppletHTTP(L)
	st.mustYieldable(L, "getline")
	var b []byte
	st.Unlocked(func() { b, _ = ap.a.Getline() })
	L.Push(lua.LString(b))
	return 1
}

// appletHTTPReceive is receive([size]): the whole body, or up to size
// bytes; "" once the body is over.
func appletHTTPReceive(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 1 || n > 2 {
		L.RaiseError("'receive' needs between 1 and 2 arguments")
	}
	ap, _ := checkAppletHTTP(L)
	size := -1
	if L.GetTop() == 2 && L.Get(2) != lua.LNil {
		size = checkInt(L, 2)
	}
	st.mustYieldable(L, "receive")
	var out []byte
	st.Unlocked(func() {
		if size < 0 {
			out, _ = ap.a.Receive(-1)
			return
		}
		var buf bytes.Buffer
		for buf.Len() < size {
			b, err := ap.a.Receive(size - buf.Len())
			buf.Write(b)
			if err != nil || len(b) == 0 {
				break
			}
		}
		out = buf.Bytes()
	})
	L.Push(lua.LString(out))
	return 1
}

// appletHTTPSend sends body bytes; the response must have been started.
func appletHTTPSend(st *State, L *lua.LState) int {
	checkArgs(L, 2, "send")
	ap, _ := checkAppletHTTP(L)
	s := L.CheckString(2)
	if !ap.a.Started() {
		L.RaiseError("Lua: 'send' you must call start_response() before sending data.")
	}
	if ap.a.Fits(len(s)) {
		// Buffered without blocking: no need to release the state. The
		// bytes leave before the service blocks or when it ends.
		_ = ap.a.Send(unsafe.Slice(unsafe.StringData(s), len(s)))
	} else {
		st.Unlocked(func() { _ = ap.a.Send([]byte(s)) })
	}
	if e := st.cur; e != nil {
		e.flush = ap.a
	}
	return 0
}

// Private data and variables of applets (HTTP and TCP).

// appletTx returns the transaction object behind an applet, nil for CLI
// handlers.
func appletTx(L *lua.LState, class string) (*txnUD, *lua.LTable) {
	switch ap := checkObj[any](L, 1, class).(type) {
	case *appletHTTP:
		if ap.dead.Load() {
			L.RaiseError("the service is over: this applet can no longer be used")
		}
		return ap.tx, nil
	case *appletTCP:
		if ap.dead.Load() {
			L.RaiseError("the service is over: this applet can no longer be used")
		}
		if ap.tx == nil {
			if ap.priv == nil {
				ap.priv = L.NewTable()
			}
			return nil, ap.priv
		}
		return ap.tx, nil
	}
	L.ArgError(1, class+" expected")
	return nil, nil
}

func appletGetPriv(class string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 1, "get_priv")
		tx, own := appletTx(L, class)
		if tx == nil {
			L.Push(own.RawGetString("priv"))
			return 1
		}
		L.Push(st.getPriv(tx, L))
		return 1
	}
}

func appletSetPriv(class string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, "set_priv")
		tx, own := appletTx(L, class)
		if tx == nil {
			own.RawSetString("priv", L.Get(2))
			return 0
		}
		st.setPriv(tx, L, L.Get(2))
		return 0
	}
}

func appletGetVar(class string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, "get_var")
		tx, _ := appletTx(L, class)
		name := L.CheckString(2)
		if tx == nil {
			L.Push(st.getVar(st.rt.procStream(), name))
			return 1
		}
		L.Push(st.getVar(tx.live(L), name))
		return 1
	}
}

func appletSetVar(class string) Method {
	return func(st *State, L *lua.LState) int {
		ifexist := checkSetVarArgs(L)
		tx, _ := appletTx(L, class)
		name := L.CheckString(2)
		if tx == nil {
			L.Push(lua.LBool(st.setVar(st.rt.procStream(), name, L.Get(3), ifexist)))
			return 1
		}
		L.Push(lua.LBool(st.setVar(tx.live(L), name, L.Get(3), ifexist)))
		return 1
	}
}

func appletUnsetVar(class string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, "unset_var")
		tx, _ := appletTx(L, class)
		name := L.CheckString(2)
		if tx == nil {
			L.Push(lua.LBool(st.unsetVar(st.rt.procStream(), name)))
			return 1
		}
		L.Push(lua.LBool(st.unsetVar(tx.live(L), name)))
		return 1
	}
}
