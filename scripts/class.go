package scripts

import (
	lua "github.com/yuin/gopher-lua"
)

// Method is a Lua method or function implemented in Go. st is the state the
// call runs in (its lock is held).
type Method func(st *State, L *lua.LState) int

// class describes a Lua class: the recipe every class file follows.
//
//	const concatClass = "Concat"
//
//	func init() {
//		registerClass(&class{
//			name:    concatClass,
//			methods: map[string]Method{"add": concatAdd, "dump": concatDump},
//		})
//	}
//
//	func concatAdd(st *State, L *lua.LState) int {
//		c := checkObj[*concat](L, 1, concatClass)
//		...
//	}
//
// Objects are userdata whose Value is the Go object and whose metatable is
// the class metatable of the state (st.newObj(concatClass, v)).
type class struct {
	name string
	// methods are reachable through __index (obj:m() and obj.m(obj)).
	methods map[string]Method
	// index, if set, is consulted for keys that are not methods (attributes
	// such as Proxy.servers); it returns lua.LNil when the key is unknown.
	index func(st *State, L *lua.LState, ud *lua.LUserData, key string) lua.LValue
	// sharedIndex, instead of index, serves keys whose value is the same for
	// every object of the class (Fetches methods): it is called with a nil
	// ud the first time a key is read, and a non-nil result is stored in
	// the methods table, so later reads are plain table lookups.
	sharedIndex func(st *State, L *lua.LState, key string) lua.LValue
	// meta holds metamethods (__tostring, __gc, __pairs, __len, __eq...).
	meta map[string]Method
	// global, if set, exposes a table of static functions under that global
	// name (e.g. Regex.new).
	global  string
	statics map[string]Method
	// consts are constant fields of the global table (Map._str...).
	consts map[string]lua.LValue
}

// classes is filled once by init functions and read-only afterwards.
var classes []*class

func registerClass(c *class) { classes = append(classes, c) }

// wrap binds a Method to a state.
func (st *State) wrap(m Method) *lua.LFunction {
	return st.L.NewFunction(func(L *lua.LState) int { return m(st, L) })
}

// openClasses builds the metatable of every registered class in the state.
func (st *State) openClasses() {
	L := st.L
	for _, c := range classes {
		c := c
		mt := L.NewTable()
		mt.RawSetString("__name", lua.LString(c.name))
		methods := L.NewTable()
		for name, m := range c.methods {
			methods.RawSetString(name, st.wrap(m))
		}
		switch {
		case c.sharedIndex != nil:
			fill := L.NewTable()
			fill.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
				key, ok := L.Get(2).(lua.LString)
				if !ok {
					L.Push(lua.LNil)
					return 1
				}
				v := c.sharedIndex(st, L, string(key))
				if v != lua.LNil {
					methods.RawSetString(string(key), v)
				}
				L.Push(v)
				return 1
			}))
			L.SetMetatable(methods, fill)
			mt.RawSetString("__index", methods)
		case c.index == nil:
			mt.RawSetString("__index", methods)
		default:
			mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
				ud := L.CheckUserData(1)
				key := L.Get(2)
				if v := methods.RawGet(key); v != lua.LNil {
					L.Push(v)
					return 1
				}
				if ks, ok := key.(lua.LString); ok {
					L.Push(c.index(st, L, ud, string(ks)))
					return 1
				}
				L.Push(lua.LNil)
				return 1
			}))
		}
		for name, m := range c.meta {
			mt.RawSetString(name, st.wrap(m))
		}
		st.mts[c.name] = mt
		if c.global != "" {
			g := L.NewTable()
			for name, m := range c.statics {
				g.RawSetString(name, st.wrap(m))
			}
			for name, v := range c.consts {
				g.RawSetString(name, v)
			}
			L.SetGlobal(c.global, g)
		}
	}
}

// newObj wraps v in a userdata of the given class.
func (st *State) newObj(className string, v any) *lua.LUserData {
	ud := st.L.NewUserData()
	ud.Value = v
	ud.Metatable = st.mts[className]
	return ud
}

// checkObj returns the Go object of the class at stack index n, or raises
// "bad argument #n to 'f' (<class> expected, got <type>)".
func checkObj[T any](L *lua.LState, n int, className string) T {
	if ud, ok := L.Get(n).(*lua.LUserData); ok {
		if v, ok := ud.Value.(T); ok {
			return v
		}
	}
	var zero T
	L.ArgError(n, className+" expected, got "+typeName(L.Get(n)))
	return zero
}

func typeName(v lua.LValue) string {
	if ud, ok := v.(*lua.LUserData); ok {
		if mt, ok := ud.Metatable.(*lua.LTable); ok {
			if n, ok := mt.RawGetString("__name").(lua.LString); ok {
				return string(n)
			}
		}
	}
	return v.Type().String()
}

// checkArgs raises HAProxy's check_args error when the number of arguments
// (self included) is not n.
func checkArgs(L *lua.LState, n int, fn string) {
	if L.GetTop() != n {
		L.RaiseError("'%s' needs %d arguments", fn, n)
	}
}

// toLua converts a Go value from the host (stats, info, variables) to Lua.
// Integers and floats become numbers, strings and byte slices strings,
// booleans booleans (or 0/1 when boolAsInt), nil and unknown types nil.
func toLua(v any, boolAsInt bool) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case string:
		return lua.LString(x)
	case []byte:
		return lua.LString(x)
	case bool:
		if boolAsInt {
			if x {
				return lua.LNumber(1)
			}
			return lua.LNumber(0)
		}
		return lua.LBool(x)
	case int:
		return lua.LNumber(x)
	case int8:
		return lua.LNumber(x)
	case int16:
		return lua.LNumber(x)
	case int32:
		return lua.LNumber(x)
	case int64:
		return lua.LNumber(x)
	case uint:
		return lua.LNumber(x)
	case uint8:
		return lua.LNumber(x)
	case uint16:
		return lua.LNumber(x)
	case uint32:
		return lua.LNumber(x)
	case uint64:
		return lua.LNumber(x)
	case float32:
		return lua.LNumber(x)
	case float64:
		return lua.LNumber(x)
	case lua.LValue:
		return x
	case interface{ String() string }:
		return lua.LString(x.String())
	}
	return lua.LNil
}

// mapToTable converts a host map (stats, info) into a Lua table, leaving out
// nil values.
func (st *State) mapToTable(m map[string]any) *lua.LTable {
	t := st.L.CreateTable(0, len(m))
	for k, v := range m {
		if lv := toLua(v, false); lv != lua.LNil {
			t.RawSetString(k, lv)
		}
	}
	return t
}

// FromSample converts a sample value to Lua as HAProxy does (SINT → number,
// BOOL → boolean or 0/1 under "pre-3.1-bug", STR/BIN → string, IP → string,
// anything else → nil). Host code uses it to build fetch results for Lua.
func (st *State) FromSample(v any) lua.LValue {
	return toLua(v, st.rt.opts.BoolSampleConversion != "normal")
}

// ToSample converts a Lua value returned by a fetch or converter into a
// sample value: number → int64 (truncated), boolean → bool, string → string,
// anything else → false.
func ToSample(v lua.LValue) any {
	switch x := v.(type) {
	case lua.LNumber:
		return int64(x)
	case lua.LBool:
		return bool(x)
	case lua.LString:
		return string(x)
	}
	return false
}

// checkInt64 is luaL_checkinteger: a number, or a string holding one,
// truncated to an integer.
func checkInt64(L *lua.LState, n int) int64 { return int64(L.CheckNumber(n)) }

// checkInt is checkInt64 for int.
func checkInt(L *lua.LState, n int) int { return int(L.CheckNumber(n)) }
