package scripts

import (
	"bytes"
	"regexp"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy"
	"moonbus/proxy/sample"
)

// The HTTP class (txn.http, HTTP streams only). Header tables map each
// lowercase name to a 0-based array of values, as HAProxy's code does (the
// manual says 1-based). req_* methods work while the request is processed,
// res_* ones while the response is: the other side raises an error, as in
// HAProxy.

const httpClass = "HTTP"

func init() {
	m := map[string]Method{
		"req_set_method": httpSetStartLine("req_set_method", func(msg *proxy.Msg, v string) { msg.SetMethod([]byte(v)) }),
		"req_set_path":   httpSetStartLine("req_set_path", setPath),
		"req_set_query":  httpSetStartLine("req_set_query", setQuery),
		"req_set_uri":    httpSetStartLine("req_set_uri", func(msg *proxy.Msg, v string) { msg.SetURI([]byte(v)) }),
		"res_set_status": httpResSetStatus,
	}
	for _, side := range []string{"req", "res"} {
		resp := side == "res"
		m[side+"_get_headers"] = httpGetHeaders(side+"_get_headers", resp)
		m[side+"_add_header"] = httpEditHeader(side+"_add_header", resp, 3, func(msg *proxy.Msg, n, v string) { msg.AddHeader(n, v) })
		m[side+"_set_header"] = httpEditHeader(side+"_set_header", resp, 3, func(msg *proxy.Msg, n, v string) { msg.SetHeader(n, v) })
		m[side+"_del_header"] = httpEditHeader(side+"_del_header", resp, 2, func(msg *proxy.Msg, n, _ string) { msg.DelHeader(n) })
		m[side+"_rep_header"] = httpRepHeader(side+"_rep_header", resp, false)
		m[side+"_rep_value"] = httpRepHeader(side+"_rep_value", resp, true)
	}
	registerClass(&class{
		name:    httpClass,
		methods: m,
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, "HTTP") },
		},
	})
}

// httpMsg returns the message a method edits, raising when the transaction
// is not processing that side.
func httpMsg(L *lua.LState, name string, resp bool) (*proxy.Txn, *proxy.Msg) {
	x := checkObj[*txnUD](L, 1, httpClass)
	t := x.live(L)
	if !t.IsHTTP() {
		L.RaiseError("'%s': not an HTTP stream", name)
	}
	if resp {
		if x.dir != sample.DirResponse {
			L.RaiseError("'%s': the response is not available while the request is processed", name)
		}
		return t, t.Resp()
	}
	if x.dir != sample.DirRequest {
		L.RaiseError("'%s': the request can no longer be changed while the response is processed", name)
	}
	return t, t.Req()
}

// headersTable builds name → 0-based array of values (names lowercased).
func headersTable(L *lua.LState, msg *proxy.Msg) *lua.LTable {
	out := L.NewTable()
	for i := 0; i < msg.NumHeaders(); i++ {
		n, v := msg.HeaderAt(i)
		name := lua.LString(strings.ToLower(string(n)))
		list, ok := out.RawGet(name).(*lua.LTable)
		if !ok {
			list = L.NewTable()
			out.RawSet(name, list)
			list.RawSetInt(0, lua.LString(v))
			continue
		}
		idx := 1
		for list.RawGetInt(idx) != lua.LNil {
			idx++
		}
		list.RawSetInt(idx, lua.LString(v))
	}
	return out
}

func httpGetHeaders(name string, resp bool) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 1, name)
		_, msg := httpMsg(L, name, resp)
		L.Push(headersTable(L, msg))
		return 1
	}
}

func httpEditHeader(name string, resp bool, nargs int, f func(msg *proxy.Msg, n, v string)) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, nargs, name)
		_, msg := httpMsg(L, name, resp)
		hn := L.CheckString(2)
		v := ""
		if nargs == 3 {
			v = L.CheckString(3)
		}
		f(msg, hn, v)
		return 0
	}
}

func httpRepHeader(name string, resp bool, perValue bool) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 4, name)
		_, msg := httpMsg(L, name, resp)
		hn := L.CheckString(2)
		re, err := regexp.Compile(L.CheckString(3))
		if err != nil {
			L.ArgError(3, err.Error())
		}
		msg.ReplaceHeader(hn, re, []byte(L.CheckString(4)), perValue)
		return 0
	}
}

func httpSetStartLine(name string, f func(msg *proxy.Msg, v string)) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, name)
		_, msg := httpMsg(L, name, false)
		f(msg, L.CheckString(2))
		L.Push(lua.LTrue)
		return 1
	}
}

// splitURI splits a request target into its scheme+authority prefix (for
// absolute-form), path and query (without '?'; hasQ tells whether there
// was one).
func splitURI(uri []byte) (prefix, path, query []byte, hasQ bool) {
	rest := uri
	if i := bytes.Index(uri, []byte("://")); i > 0 && bytes.IndexByte(uri[:i], '/') < 0 {
		j := bytes.IndexByte(uri[i+3:], '/')
		if j < 0 {
			j = len(uri) - i - 3
			if k := bytes.IndexByte(uri[i+3:], '?'); k >= 0 {
				j = k
			}
		}
		prefix, rest = uri[:i+3+j], uri[i+3+j:]
	}
	if k := bytes.IndexByte(rest, '?'); k >= 0 {
		return prefix, rest[:k], rest[k+1:], true
	}
	return prefix, rest, nil, false
}

func setPath(msg *proxy.Msg, p string) {
	prefix, _, q, hasQ := splitURI(msg.URI())
	out := append(append([]byte(nil), prefix...), p...)
	if hasQ {
		out = append(append(out, '?'), q...)
	}
	msg.SetURI(out)
}

func setQuery(msg *proxy.Msg, q string) {
	prefix, path, _, _ := splitURI(msg.URI())
	out := append(append([]byte(nil), prefix...), path...)
	if q != "" {
		out = append(append(out, '?'), q...)
	}
	msg.SetURI(out)
}

func httpResSetStatus(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 2 || n > 3 {
		L.RaiseError("'res_set_status' needs between 2 and 3 arguments")
	}
	t, _ := httpMsg(L, "res_set_status", true)
	code := checkInt(L, 2)
	reason := ""
	if L.GetTop() == 3 && L.Get(3) != lua.LNil {
		reason = L.CheckString(3)
	}
	if code < 100 || code > 999 {
		L.ArgError(2, "invalid status code")
	}
	t.SetRespStatus(code, reason)
	return 0
}
