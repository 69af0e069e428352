package scripts

import (
	"strconv"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy/stick"
)

// The StickTable class (Proxy.stktable): info(), lookup(key) and
// dump([filter]) over the engine's stick tables.

const stickTableClass = "StickTable"

func init() {
	registerClass(&class{
		name: stickTableClass,
		methods: map[string]Method{
			"info":   stktableInfo,
			"lookup": stktableLookup,
			"dump":   stktableDump,
		},
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int {
				return pushStr(L, "StickTable: "+checkObj[*stick.Table](L, 1, stickTableClass).Name())
			},
		},
	})
}

// pushStickTable returns the StickTable object of a proxy's table, nil
// when there is none.
func (st *State) pushStickTable(name string) lua.LValue {
	e := st.rt.engine.Load()
	if e == nil || name == "" {
		return lua.LNil
	}
	t := e.Table(name)
	if t == nil {
		return lua.LNil
	}
	return st.newObj(stickTableClass, t)
}

// stktableInfo returns {type, length, size, used, nopurge, expire,
// data={<type>=<period ms or -1>}}.
func stktableInfo(st *State, L *lua.LState) int {
	checkArgs(L, 1, "info")
	t := checkObj[*stick.Table](L, 1, stickTableClass)
	in := t.Info()
	out := L.CreateTable(0, 7)
	out.RawSetString("type", lua.LString(in.Type))
	out.RawSetString("length", lua.LNumber(in.Length))
	out.RawSetString("size", lua.LNumber(in.Size))
	out.RawSetString("used", lua.LNumber(in.Used))
	out.RawSetString("nopurge", lua.LBool(in.NoPurge))
	out.RawSetString("expire", lua.LNumber(in.Expire))
	data := L.CreateTable(0, len(in.Data))
	for k, v := range in.Data {
		data.RawSetString(k, lua.LNumber(v))
	}
	out.RawSetString("data", data)
	L.Push(out)
	return 1
}

// entryTable renders an entry: {expire=<ms>, use=<trackers>, <col>=<v>...}.
func entryTable(L *lua.LState, s *stick.Snapshot) *lua.LTable {
	e := L.CreateTable(0, len(s.Fields)+2)
	e.RawSetString("expire", lua.LNumber(s.Exp))
	e.RawSetString("use", lua.LNumber(s.Use))
	for _, f := range s.Fields {
		e.RawSetString(f.Name, lua.LNumber(f.Value))
	}
	return e
}

// stktableLookup returns the entry of key, nil when there is none.
func stktableLookup(st *State, L *lua.LState) int {
	checkArgs(L, 2, "lookup")
	t := checkObj[*stick.Table](L, 1, stickTableClass)
	key, err := t.ParseKey(luaToString(L, L.CheckAny(2)))
	if err != nil {
		L.Push(lua.LNil)
		return 1
	}
	s, ok := t.LookupSnapshot(key)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(entryTable(L, &s))
	return 1
}

// stktableDump returns key → entry for every entry matching the filter: a
// list of at most 4 {column, operator, value} items.
func stktableDump(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 1 || n > 2 {
		L.RaiseError("'dump' needs between 1 and 2 arguments")
	}
	t := checkObj[*stick.Table](L, 1, stickTableClass)
	var filters []stick.Filter
	if L.GetTop() == 2 && L.Get(2) != lua.LNil {
		ft := L.CheckTable(2)
		n := ft.Len()
		if n > 4 {
			L.ArgError(2, "filter table cannot have more than 4 entries")
		}
		for i := 1; i <= n; i++ {
			item, ok := ft.RawGetInt(i).(*lua.LTable)
			if !ok || item.Len() != 3 {
				L.ArgError(2, "filter table entry must be a triplet: {\"data_col\", \"op\", val} (entry #"+strconv.Itoa(i)+")")
			}
			f, err := t.ParseFilter(luaToString(L, item.RawGetInt(1)), luaToString(L, item.RawGetInt(2)), luaToString(L, item.RawGetInt(3)))
			if err != nil {
				L.ArgError(2, err.Error())
			}
			filters = append(filters, f)
		}
	}
	out := L.NewTable()
	buf := make([]byte, 0, 64)
	for _, s := range t.Dump(filters...) {
		buf = t.FormatKey(buf[:0], s.Key)
		out.RawSetString(string(buf), entryTable(L, &s))
	}
	L.Push(out)
	return 1
}
