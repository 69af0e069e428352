package scripts

import (
	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy/sample"
)

// The Map class (Map.new(file, method), m:lookup(key), m:slookup(key)) and
// the legacy core.add_acl / del_acl / set_map / del_map. A Map opened while
// the files load reads the file on its own; once the engine runs, a map
// file the configuration also uses is shared with it, so runtime API
// changes ("set map") are seen by Lua lookups.

const mapClass = "Map"

// mapMethods are the Map._<method> constants (and the names without the
// underscore): HAProxy's match method numbers.
var mapMethods = []struct {
	name string
	kind sample.MatchKind
}{
	{"found", sample.MatchFound}, {"bool", sample.MatchBool}, {"int", sample.MatchInt}, {"ip", sample.MatchIP},
	{"bin", sample.MatchBin}, {"len", sample.MatchLen}, {"str", sample.MatchStr}, {"beg", sample.MatchBeg},
	{"sub", sample.MatchSub}, {"dir", sample.MatchDir}, {"dom", sample.MatchDom}, {"end", sample.MatchEnd},
	{"reg", sample.MatchReg},
}

// luaMap is the Go value of a Map object.
type luaMap struct {
	file   string
	kind   sample.MatchKind
	m      *sample.Map
	shared bool // m comes from the engine's maps
}

func init() {
	consts := map[string]lua.LValue{}
	for i, mm := range mapMethods {
		consts["_"+mm.name] = lua.LNumber(i)
		consts[mm.name] = lua.LNumber(i)
	}
	registerClass(&class{
		name: mapClass,
		methods: map[string]Method{
			"lookup":  mapLookup(false),
			"slookup": mapLookup(true),
		},
		global:  mapClass,
		statics: map[string]Method{"new": mapNew},
		consts:  consts,
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int {
				return pushStr(L, "Map: "+checkObj[*luaMap](L, 1, mapClass).file)
			},
		},
	})
	registerFuncs["add_acl"] = corePatEdit("add_acl", "acl", false, func(r *sample.PatRef, k, _ string) { _ = r.Add(k, "") })
	registerFuncs["del_acl"] = corePatEdit("del_acl", "acl", false, func(r *sample.PatRef, k, _ string) { r.Del(k) })
	registerFuncs["del_map"] = corePatEdit("del_map", "map", false, func(r *sample.PatRef, k, _ string) { r.Del(k) })
	registerFuncs["set_map"] = corePatEdit("set_map", "map", true, func(r *sample.PatRef, k, v string) {
		if ok, _ := r.Set(k, v); !ok {
			_ = r.Add(k, v)
		}
	})
}

// mapNew is Map.new(file, method).
func mapNew(st *State, L *lua.LState) int {
	checkArgs(L, 2, "new")
	file := L.CheckString(1)
	idx := checkInt(L, 2)
	if idx < 0 || idx >= len(mapMethods) {
		L.ArgError(2, "unknown match method")
	}
	kind := mapMethods[idx].kind
	lm := &luaMap{file: file, kind: kind}
	maps := st.rt.localMaps
	if e := st.rt.engine.Load(); e != nil {
		maps, lm.shared = e.Maps(), true
	}
	m, err := maps.Map(file, kind, sample.Str)
	if err != nil {
		L.RaiseError("'new': %s", err.Error())
	}
	lm.m = m
	L.Push(st.newObj(mapClass, lm))
	return 1
}

// current returns the map to read: the engine's copy of the file when the
// configuration loaded it too.
func (lm *luaMap) current(st *State) *sample.Map {
	if lm.shared {
		return lm.m
	}
	if e := st.rt.engine.Load(); e != nil {
		if _, ok := e.Maps().Lookup(lm.file); ok {
			if m, err := e.Maps().Map(lm.file, lm.kind, sample.Str); err == nil {
				lm.m, lm.shared = m, true
			}
		}
	}
	return lm.m
}

// mapLookup is lookup(key) (nil when absent) or slookup(key) ("" then).
func mapLookup(str bool) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 2, "lookup")
		lm := checkObj[*luaMap](L, 1, mapClass)
		key := L.CheckString(2)
		if v, ok := lm.current(st).Lookup(key); ok {
			L.Push(lua.LString(v))
		} else if str {
			L.Push(lua.LString(""))
		} else {
			L.Push(lua.LNil)
		}
		return 1
	}
}

// corePatEdit builds core.add_acl & co: they edit a pattern reference the
// configuration loaded, found by file name.
func corePatEdit(name, what string, withValue bool, f func(r *sample.PatRef, key, value string)) Method {
	return func(st *State, L *lua.LState) int {
		n := 2
		if withValue {
			n = 3
		}
		checkArgs(L, n, name)
		file := L.CheckString(1)
		key := L.CheckString(2)
		value := ""
		if withValue {
			value = L.CheckString(3)
		}
		var ref *sample.PatRef
		if e := st.rt.engine.Load(); e != nil {
			ref, _ = e.Maps().Lookup(file)
		}
		if ref == nil {
			L.RaiseError("'%s': unknown %s file '%s'", name, what, file)
		}
		f(ref, key, value)
		return 0
	}
}
