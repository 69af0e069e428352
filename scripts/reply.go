package scripts

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// The Reply class (txn:reply()): a Lua table with the fields status
// (default 200), reason, headers (name → 1-based list of values) and body,
// and the methods set_status, add_header, del_header and set_body. A plain
// table with the same fields works too for txn:done(reply).

const replyClass = "Reply"

func init() {
	registerClass(&class{
		name: replyClass,
		methods: map[string]Method{
			"set_status": replySetStatus,
			"add_header": replyAddHeader,
			"del_header": replyDelHeader,
			"set_body":   replySetBody,
		},
	})
}

// newReply builds a Reply table, copying status, reason, headers and body
// from init when given.
func (st *State) newReply(L *lua.LState, init *lua.LTable) *lua.LTable {
	r := L.NewTable()
	r.RawSetString("status", lua.LNumber(200))
	r.RawSetString("headers", L.NewTable())
	if init != nil {
		if v, ok := init.RawGetString("status").(lua.LNumber); ok {
			r.RawSetString("status", v)
		}
		if v, ok := init.RawGetString("reason").(lua.LString); ok {
			r.RawSetString("reason", v)
		}
		if v := init.RawGetString("body"); v != lua.LNil {
			r.RawSetString("body", lua.LString(lua.LVAsString(v)))
		}
		if hs, ok := init.RawGetString("headers").(*lua.LTable); ok {
			dst := r.RawGetString("headers").(*lua.LTable)
			hs.ForEach(func(k, v lua.LValue) {
				name, ok := k.(lua.LString)
				if !ok {
					return
				}
				list := L.NewTable()
				switch vv := v.(type) {
				case *lua.LTable:
					vv.ForEach(func(_, x lua.LValue) { list.Append(lua.LString(luaToString(L, x))) })
				default:
					list.Append(lua.LString(luaToString(L, vv)))
				}
				dst.RawSet(name, list)
			})
		}
	}
	L.SetMetatable(r, st.mts[replyClass])
	return r
}

func replySelf(L *lua.LState) *lua.LTable {
	t, ok := L.Get(1).(*lua.LTable)
	if !ok {
		L.ArgError(1, "Reply expected, got "+typeName(L.Get(1)))
	}
	return t
}

func replySetStatus(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 2 || n > 3 {
		L.RaiseError("'set_status' needs between 2 and 3 arguments")
	}
	r := replySelf(L)
	code := checkInt(L, 2)
	if code < 100 || code > 599 {
		L.ArgError(2, "invalid HTTP status code")
	}
	r.RawSetString("status", lua.LNumber(code))
	if L.GetTop() == 3 && L.Get(3) != lua.LNil {
		r.RawSetString("reason", lua.LString(L.CheckString(3)))
	} else {
		r.RawSetString("reason", lua.LNil)
	}
	return 0
}

// headersOf returns the reply's headers table, creating it.
func headersOf(L *lua.LState, r *lua.LTable) *lua.LTable {
	h, ok := r.RawGetString("headers").(*lua.LTable)
	if !ok {
		h = L.NewTable()
		r.RawSetString("headers", h)
	}
	return h
}

// replyAddHeader appends a value; names are stored lowercase.
func replyAddHeader(st *State, L *lua.LState) int {
	checkArgs(L, 3, "add_header")
	r := replySelf(L)
	name := lua.LString(strings.ToLower(L.CheckString(2)))
	value := lua.LString(L.CheckString(3))
	h := headersOf(L, r)
	list, ok := h.RawGet(name).(*lua.LTable)
	if !ok {
		list = L.NewTable()
		h.RawSet(name, list)
	}
	list.Append(value)
	return 0
}

func replyDelHeader(st *State, L *lua.LState) int {
	checkArgs(L, 2, "del_header")
	r := replySelf(L)
	name := strings.ToLower(L.CheckString(2))
	h := headersOf(L, r)
	var del []lua.LValue
	h.ForEach(func(k, _ lua.LValue) {
		if s, ok := k.(lua.LString); ok && strings.ToLower(string(s)) == name {
			del = append(del, k)
		}
	})
	for _, k := range del {
		h.RawSet(k, lua.LNil)
	}
	return 0
}

func replySetBody(st *State, L *lua.LState) int {
	checkArgs(L, 2, "set_body")
	r := replySelf(L)
	r.RawSetString("body", lua.LString(L.CheckString(2)))
	return 0
}
