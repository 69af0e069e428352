package scripts

import (
	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy/sample"
)

// The Patref class (core.get_patref(name), HAProxy 3.2): a pattern
// reference (map or ACL file) the configuration loaded, edited in place or
// through a prepared version (prepare, then add/set/del on the new
// version, then commit or giveup). Subscribing to its events
// (Patref:event_sub) belongs to the event framework.

const patrefClass = "Patref"

// patref is the Go value of a Patref object.
type patref struct {
	ref     *sample.PatRef
	pending []sample.RefEntry // the prepared version; nil when none
	prep    bool
}

func init() {
	registerClass(&class{
		name: patrefClass,
		methods: map[string]Method{
			"get_name": func(st *State, L *lua.LState) int { return pushStr(L, checkPatref(L).ref.Name) },
			"is_map":   func(st *State, L *lua.LState) int { L.Push(lua.LBool(checkPatref(L).isMap())); return 1 },
			"prepare":  patrefPrepare,
			"commit":   patrefCommit,
			"giveup":   patrefGiveup,
			"purge":    patrefPurge,
			"add":      patrefAdd,
			"add_bulk": patrefAddBulk,
			"del":      patrefDel,
			"set":      patrefSet,
		},
		index: patrefIndex,
		meta: map[string]Method{
			"__pairs":    patrefPairs,
			"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, "Patref: "+checkPatref(L).ref.Name) },
		},
	})
	registerFuncs["get_patref"] = coreGetPatref
}

func checkPatref(L *lua.LState) *patref { return checkObj[*patref](L, 1, patrefClass) }

// coreGetPatref is core.get_patref(name); an unknown name raises.
func coreGetPatref(st *State, L *lua.LState) int {
	checkArgs(L, 1, "get_patref")
	name := L.CheckString(1)
	var ref *sample.PatRef
	if e := st.rt.engine.Load(); e != nil {
		ref, _ = e.Maps().Lookup(name)
	}
	if ref == nil {
		L.RaiseError("'get_patref': unknown pattern reference '%s'", name)
	}
	L.Push(st.newObj(patrefClass, &patref{ref: ref}))
	return 1
}

// isMap tells a map from an ACL file: map entries carry values.
func (p *patref) isMap() bool {
	for _, e := range p.ref.Entries() {
		if e.Value != "" {
			return true
		}
	}
	return false
}

func patrefPrepare(st *State, L *lua.LState) int {
	p := checkPatref(L)
	p.pending, p.prep = []sample.RefEntry{}, true
	L.Push(lua.LTrue)
	return 1
}

// patrefCommit makes the prepared version current: true, or nil and an
// error when nothing was prepared.
func patrefCommit(st *State, L *lua.LState) int {
	p := checkPatref(L)
	if !p.prep {
		L.Push(lua.LNil)
		L.Push(lua.LString("no prepared version to commit"))
		return 2
	}
	p.ref.Clear()
	for _, e := range p.pending {
		if err := p.ref.Add(e.Key, e.Value); err != nil {
			L.Push(lua.LNil)
			L.Push(lua.LString(err.Error()))
			return 2
		}
	}
	p.pending, p.prep = nil, false
	L.Push(lua.LTrue)
	return 1
}

func patrefGiveup(st *State, L *lua.LState) int {
	p := checkPatref(L)
	p.pending, p.prep = nil, false
	return 0
}

// patrefPurge empties the reference (or the prepared version).
func patrefPurge(st *State, L *lua.LState) int {
	p := checkPatref(L)
	if p.prep {
		p.pending = p.pending[:0]
	} else {
		p.ref.Clear()
	}
	L.Push(lua.LTrue)
	return 1
}

// add appends an entry to the current or prepared version.
func (p *patref) add(key, value string) error {
	if p.prep {
		p.pending = append(p.pending, sample.RefEntry{Key: key, Value: value})
		return nil
	}
	return p.ref.Add(key, value)
}

func patrefAdd(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 2 || n > 3 {
		L.RaiseError("'add' needs between 2 and 3 arguments")
	}
	p := checkPatref(L)
	value := ""
	if L.GetTop() == 3 && L.Get(3) != lua.LNil {
		value = L.CheckString(3)
	}
	if err := p.add(L.CheckString(2), value); err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LTrue)
	return 1
}

// patrefAddBulk adds a list of keys (ACL) or a key → value table (map).
func patrefAddBulk(st *State, L *lua.LState) int {
	checkArgs(L, 2, "add_bulk")
	p := checkPatref(L)
	tbl := L.CheckTable(2)
	var err error
	tbl.ForEach(func(k, v lua.LValue) {
		if err != nil {
			return
		}
		if _, ok := k.(lua.LNumber); ok {
			err = p.add(luaToString(L, v), "")
			return
		}
		err = p.add(luaToString(L, k), luaToString(L, v))
	})
	if err != nil {
		L.Push(lua.LNil)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LTrue)
	return 1
}

// patrefDel removes every entry of key: true when one was found.
func patrefDel(st *State, L *lua.LState) int {
	checkArgs(L, 2, "del")
	p := checkPatref(L)
	key := L.CheckString(2)
	if !p.prep {
		L.Push(lua.LBool(p.ref.Del(key)))
		return 1
	}
	out, found := p.pending[:0], false
	for _, e := range p.pending {
		if e.Key == key {
			found = true
			continue
		}
		out = append(out, e)
	}
	p.pending = out
	L.Push(lua.LBool(found))
	return 1
}

// patrefSet changes the value of key (every entry of it); with force, a
// missing key is added. It returns true when something was set.
func patrefSet(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 3 || n > 4 {
		L.RaiseError("'set' needs between 3 and 4 arguments")
	}
	p := checkPatref(L)
	key, value := L.CheckString(2), L.CheckString(3)
	force := L.GetTop() == 4 && lua.LVAsBool(L.Get(4))
	found := false
	if p.prep {
		for i := range p.pending {
			if p.pending[i].Key == key {
				p.pending[i].Value, found = value, true
			}
		}
	} else {
		found, _ = p.ref.Set(key, value)
	}
	if !found && force {
		found = p.add(key, value) == nil
	}
	L.Push(lua.LBool(found))
	return 1
}

// patrefIndex is ref[key]: the value of the first entry of key (the key
// itself for ACL files), nil when absent.
func patrefIndex(st *State, L *lua.LState, ud *lua.LUserData, key string) lua.LValue {
	p, ok := ud.Value.(*patref)
	if !ok {
		return lua.LNil
	}
	for _, e := range p.ref.Entries() {
		if e.Key == key {
			if e.Value == "" {
				return lua.LString(e.Key)
			}
			return lua.LString(e.Value)
		}
	}
	return lua.LNil
}

// patrefPairs iterates the current entries (key, value), in file order.
func patrefPairs(st *State, L *lua.LState) int {
	p := checkPatref(L)
	entries := p.ref.Entries()
	i := 0
	L.Push(L.NewFunction(func(L *lua.LState) int {
		if i >= len(entries) {
			L.Push(lua.LNil)
			return 1
		}
		e := entries[i]
		i++
		L.Push(lua.LString(e.Key))
		L.Push(lua.LString(e.Value))
		return 2
	}))
	L.Push(L.Get(1))
	L.Push(lua.LNil)
	return 3
}
