package scripts

import (
	"math"
	"strconv"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// openLibs opens the standard libraries selected by tune.lua.openlibs (base
// and coroutine always) and installs the Lua 5.3 shims scripts written for
// HAProxy expect from a 5.1 interpreter:
//
//   - table.pack, table.unpack (the 5.1 global unpack is kept);
//   - pairs honouring __pairs;
//   - math.type and math.tointeger (integer-valued numbers are "integer");
//   - tostring/print/string.format("%s") print integer-valued numbers without
//     ".0" or exponent up to 2^63, and other numbers as Lua's "%.14g";
//   - os.date with a real strftime, os.getenv reading the daemon's configured
//     environment (Host.Getenv), os.exit refused (it would kill the daemon);
//   - a utf8 library (char, charpattern, codepoint, len, offset, codes).
//
// Not provided: the integer subtype itself, the "//" and bitwise operators
// (the 5.1 parser rejects them), string.pack, goto. The ".." operator still
// formats non-integer numbers with Go's shortest representation.
func (st *State) openLibs(libs map[string]bool) {
	L := st.L
	open := func(name string, f lua.LGFunction) {
		L.Push(L.NewFunction(f))
		L.Push(lua.LString(name))
		L.Call(1, 0)
	}
	if libs["package"] {
		open(lua.LoadLibName, lua.OpenPackage)
	}
	open(lua.BaseLibName, lua.OpenBase)
	open(lua.CoroutineLibName, lua.OpenCoroutine)
	if !libs["package"] {
		L.SetGlobal("require", lua.LNil)
		L.SetGlobal("module", lua.LNil)
	}
	for _, lib := range []struct {
		name string
		f    lua.LGFunction
	}{
		{"table", lua.OpenTable}, {"io", lua.OpenIo}, {"os", lua.OpenOs},
		{"string", lua.OpenString}, {"math", lua.OpenMath}, {"debug", lua.OpenDebug},
	} {
		if libs[lib.name] {
			open(lib.name, lib.f)
		}
	}
	if libs["utf8"] {
		openUTF8(L)
	}
	st.installShims(libs)
}

func (st *State) installShims(libs map[string]bool) {
	L := st.L
	next := L.GetGlobal("next")
	L.SetGlobal("pairs", L.NewFunction(func(L *lua.LState) int {
		v := L.CheckAny(1)
		if mm := L.GetMetaField(v, "__pairs"); mm != lua.LNil {
			L.Push(mm)
			L.Push(v)
			L.Call(1, 3)
			return 3
		}
		t := L.CheckTable(1)
		L.Push(next)
		L.Push(t)
		L.Push(lua.LNil)
		return 3
	}))
	L.SetGlobal("tostring", L.NewFunction(func(L *lua.LState) int {
		L.Push(lua.LString(luaToString(L, L.CheckAny(1))))
		return 1
	}))
	L.SetGlobal("print", L.NewFunction(func(L *lua.LState) int {
		var b strings.Builder
		for i := 1; i <= L.GetTop(); i++ {
			if i > 1 {
				b.WriteByte('\t')
			}
			b.WriteString(luaToString(L, L.Get(i)))
		}
		b.WriteByte('\n')
		st.rt.logMu.Lock()
		_, _ = st.rt.opts.Stdout.Write([]byte(b.String()))
		st.rt.logMu.Unlock()
		return 0
	}))
	st.installCoroutineShims()
	if tbl, ok := L.GetGlobal("table").(*lua.LTable); ok && libs["table"] {
		tbl.RawSetString("pack", L.NewFunction(tablePack))
		tbl.RawSetString("unpack", L.GetGlobal("unpack"))
	}
	if m, ok := L.GetGlobal("math").(*lua.LTable); ok && libs["math"] {
		m.RawSetString("type", L.NewFunction(mathType))
		m.RawSetString("tointeger", L.NewFunction(mathToInteger))
		m.RawSetString("maxinteger", lua.LNumber(math.MaxInt64))
		m.RawSetString("mininteger", lua.LNumber(math.MinInt64))
	}
	if s, ok := L.GetGlobal("string").(*lua.LTable); ok && libs["string"] {
		orig := s.RawGetString("format")
		s.RawSetString("format", L.NewFunction(func(L *lua.LState) int {
			stringFormatNumbers(L)
			L.Insert(orig, 1)
			L.Call(L.GetTop()-1, 1)
			return 1
		}))
	}
	if osTab, ok := L.GetGlobal("os").(*lua.LTable); ok && libs["os"] {
		osTab.RawSetString("date", L.NewFunction(osDate))
		osTab.RawSetString("getenv", L.NewFunction(func(L *lua.LState) int {
			if v, ok := st.rt.host.Getenv(L.CheckString(1)); ok {
				L.Push(lua.LString(v))
			} else {
				L.Push(lua.LNil)
			}
			return 1
		}))
		osTab.RawSetString("exit", L.NewFunction(func(L *lua.LState) int {
			L.RaiseError("os.exit is not allowed in Moonbus (it would stop the daemon)")
			return 0
		}))
	}
}

// FormatNumber formats a Lua number the way Lua 5.3 prints it when it holds
// an integer (no ".0", no exponent up to 2^63), else as "%.14g".
func FormatNumber(n float64) string {
	switch {
	case math.IsNaN(n):
		if math.Signbit(n) {
			return "-nan"
		}
		return "nan"
	case math.IsInf(n, 1):
		return "inf"
	case math.IsInf(n, -1):
		return "-inf"
	case n == 0:
		return "0"
	case n == math.Trunc(n) && n >= 0 && n <= 1<<63:
		return strconv.FormatUint(uint64(n), 10)
	case n == math.Trunc(n) && n < 0 && n >= -(1<<63):
		return strconv.FormatInt(int64(n), 10)
	}
	return strconv.FormatFloat(n, 'g', 14, 64)
}

// luaToString is tostring(): numbers per FormatNumber, __tostring honoured.
func luaToString(L *lua.LState, v lua.LValue) string {
	if n, ok := v.(lua.LNumber); ok {
		return FormatNumber(float64(n))
	}
	return L.ToStringMeta(v).String()
}

// stringFormatNumbers replaces number arguments consumed by %s in the format
// (argument 1) with their Lua 5.3 text, so string.format("%s", 2^60) does not
// use an exponent.
func stringFormatNumbers(L *lua.LState) {
	f, ok := L.Get(1).(lua.LString)
	if !ok {
		return
	}
	arg := 2
	s := string(f)
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			continue
		}
		i++
		if i < len(s) && s[i] == '%' {
			continue
		}
		for i < len(s) && strings.IndexByte("-+ #0123456789.", s[i]) >= 0 {
			i++
		}
		if i >= len(s) {
			return
		}
		if s[i] == 's' {
			if n, ok := L.Get(arg).(lua.LNumber); ok {
				L.Replace(arg, lua.LString(FormatNumber(float64(n))))
			}
		}
		arg++
	}
}

func tablePack(L *lua.LState) int {
	n := L.GetTop()
	t := L.CreateTable(n, 1)
	for i := 1; i <= n; i++ {
		t.RawSetInt(i, L.Get(i))
	}
	t.RawSetString("n", lua.LNumber(n))
	L.Push(t)
	return 1
}

func mathType(L *lua.LState) int {
	n, ok := L.CheckAny(1).(lua.LNumber)
	switch {
	case !ok:
		L.Push(lua.LNil)
	case float64(n) == math.Trunc(float64(n)) && math.Abs(float64(n)) <= 1<<63:
		L.Push(lua.LString("integer"))
	default:
		L.Push(lua.LString("float"))
	}
	return 1
}

func mathToInteger(L *lua.LState) int {
	v := L.CheckAny(1)
	if s, ok := v.(lua.LString); ok {
		if f, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64); err == nil {
			v = lua.LNumber(f)
		}
	}
	if n, ok := v.(lua.LNumber); ok && float64(n) == math.Trunc(float64(n)) && !math.IsInf(float64(n), 0) {
		L.Push(n)
	} else {
		L.Push(lua.LNil)
	}
	return 1
}

// installCoroutineShims makes coroutines portable across entries: a
// coroutine runs under the context of the entry that resumes it (so that
// entry's timeouts stop a runaway loop inside it), not of the entry that
// created it, which may be over. gopher-lua would otherwise give a coroutine
// a child of its creator's context for ever.
func (st *State) installCoroutineShims() {
	L := st.L
	co, ok := L.GetGlobal("coroutine").(*lua.LTable)
	if !ok {
		return
	}
	origCreate, ok1 := co.RawGetString("create").(*lua.LFunction)
	origResume, ok2 := co.RawGetString("resume").(*lua.LFunction)
	if !ok1 || !ok2 {
		return
	}
	newCo := func(L *lua.LState, fn *lua.LFunction) *lua.LState {
		L.Push(origCreate)
		L.Push(fn)
		L.Call(1, 1)
		th := L.CheckThread(-1)
		L.Pop(1)
		th.RemoveContext()
		return th
	}
	co.RawSetString("create", L.NewFunction(func(L *lua.LState) int {
		L.Push(newCo(L, L.CheckFunction(1)))
		return 1
	}))
	co.RawSetString("resume", L.NewFunction(func(L *lua.LState) int {
		st.bindCoroutine(L.CheckThread(1))
		L.Insert(origResume, 1)
		L.Call(L.GetTop()-1, lua.MultRet)
		return L.GetTop()
	}))
	co.RawSetString("wrap", L.NewFunction(func(L *lua.LState) int {
		th := newCo(L, L.CheckFunction(1))
		L.Push(L.NewFunction(func(L *lua.LState) int {
			st.bindCoroutine(th)
			n := L.GetTop()
			L.Insert(th, 1)
			L.Insert(origResume, 1)
			L.Call(n+1, lua.MultRet)
			if lua.LVIsFalse(L.Get(1)) {
				L.Error(L.Get(2), 0)
			}
			L.Remove(1)
			return L.GetTop()
		}))
		return 1
	}))
}

// bindCoroutine gives th the context of the running entry.
func (st *State) bindCoroutine(th *lua.LState) {
	if e := st.cur; e != nil && e.rc != nil {
		th.SetContext(e.rc)
	} else {
		th.RemoveContext()
	}
}
