package scripts

import (
	"fmt"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

var registerFuncs = map[string]Method{
	"register_init":             coreRegisterInit,
	"register_task":             coreRegisterTask,
	"register_cron":             coreRegisterCron,
	"register_fetches":          coreRegisterFetches,
	"register_converters":       coreRegisterConverters,
	"register_action":           coreRegisterAction,
	"register_service":          coreRegisterService,
	"register_cli":              coreRegisterCLI,
	"register_filter":           coreRegisterFilter,
	"use_native_mailers_config": coreMailTakeover("use_native_mailers_config"),
	"disable_legacy_mailers":    coreMailTakeover("disable_legacy_mailers"),
	"event_sub":                 coreEventSub,
}

// mustBody raises "<name>: not available outside of body context" unless the
// state is loading a file.
func (st *State) mustBody(L *lua.LState, name string) {
	if e := st.cur; e == nil || e.kind != CtxBody {
		L.RaiseError("%s: not available outside of body context", name)
	}
}

// checkFunction is hlua_checkfunction: argument n must be a function.
func checkFunction(L *lua.LState, n int) *lua.LFunction {
	fn, ok := L.Get(n).(*lua.LFunction)
	if !ok {
		L.ArgError(n, "function expected, got "+typeName(L.Get(n)))
	}
	return fn
}

func (st *State) warnTwice(kind, name string) {
	st.rt.warning(fmt.Sprintf("Trying to register %s 'lua.%s' more than once. This will become a hard error in version 2.5.", kind, name))
}

func coreRegisterInit(st *State, L *lua.LState) int {
	st.mustBody(L, "register_init")
	checkArgs(L, 1, "register_init")
	st.inits = append(st.inits, checkFunction(L, 1))
	return 0
}

func coreRegisterTask(st *State, L *lua.LState) int {
	n := L.GetTop()
	if n < 1 {
		L.RaiseError("register_task: <func> argument is required")
	}
	if n > 5 {
		L.RaiseError("register_task: no more that 4 arguments may be provided")
	}
	fn := checkFunction(L, 1)
	args := make([]lua.LValue, 0, n-1)
	for i := 2; i <= n; i++ {
		args = append(args, L.Get(i))
	}
	st.rt.startTask(st, fn, args)
	return 0
}

func coreRegisterFetches(st *State, L *lua.LState) int {
	st.mustBody(L, "register_fetches")
	checkArgs(L, 2, "register_fetches")
	name := L.CheckString(1)
	fn := checkFunction(L, 2)
	st.registerFunc(st.rt.reg.Fetches, "sample-fetch", name, name, fn, nil)
	return 0
}

func coreRegisterConverters(st *State, L *lua.LState) int {
	st.mustBody(L, "register_converters")
	checkArgs(L, 2, "register_converters")
	name := L.CheckString(1)
	fn := checkFunction(L, 2)
	st.registerFunc(st.rt.reg.Converters, "converter", name, name, fn, nil)
	return 0
}

// registerFunc stores fn under key in m for this state, warning when the
// state registers the same name twice.
func (st *State) registerFunc(m map[string]*Func, kind, key, fname string, fn *lua.LFunction, extra lua.LValue) *Func {
	f := m[key]
	if f == nil {
		f = &Func{Name: fname}
		m[key] = f
	}
	if f.set(st, fn, extra) {
		st.warnTwice(kind, key)
	}
	return f
}

var actionFacilities = map[string]bool{"tcp-req": true, "tcp-res": true, "http-req": true, "http-res": true, "http-after-res": true}

func coreRegisterAction(st *State, L *lua.LState) int {
	st.mustBody(L, "register_action")
	if n := L.GetTop(); n < 3 || n > 4 {
		L.RaiseError("'register_action' needs between 3 and 4 arguments")
	}
	name := L.CheckString(1)
	envs, ok := L.Get(2).(*lua.LTable)
	if !ok {
		L.RaiseError("register_action: second argument must be a table of strings")
	}
	fn := checkFunction(L, 3)
	nargs := 0
	if L.GetTop() >= 4 {
		nargs = checkInt(L, 4)
	}
	var facilities []string
	var bad string
	envs.ForEach(func(_, v lua.LValue) {
		s, ok := v.(lua.LString)
		if !ok {
			bad = "\x00"
			return
		}
		if !actionFacilities[string(s)] && bad == "" {
			bad = string(s)
		}
		facilities = append(facilities, string(s))
	})
	if bad == "\x00" {
		L.RaiseError("register_action: second argument must be a table of strings")
	}
	if bad != "" {
		L.RaiseError("Lua action environment '%s' is unknown. 'tcp-req', 'tcp-res', 'http-req', 'http-res' or 'http-after-res' are expected.", bad)
	}
	reg := st.rt.reg
	a := reg.Actions[name]
	if a == nil {
		a = &Action{Func: &Func{Name: name}}
		reg.Actions[name] = a
	}
	if a.set(st, fn, nil) {
		st.warnTwice("action", name)
	}
	for _, f := range facilities {
		if !containsStr(a.Facilities, f) {
			a.Facilities = append(a.Facilities, f)
		}
	}
	a.NbArgs = nargs
	return 0
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func coreRegisterService(st *State, L *lua.LState) int {
	st.mustBody(L, "register_service")
	checkArgs(L, 3, "register_service")
	name := L.CheckString(1)
	mode := L.CheckString(2)
	fn := checkFunction(L, 3)
	if mode != "tcp" && mode != "http" {
		L.RaiseError("Lua service environment '%s' is unknown. 'tcp' or 'http' are expected.", mode)
	}
	reg := st.rt.reg
	s := reg.Services[name]
	if s == nil {
		s = &Service{Func: &Func{Name: "<lua." + name + ">"}}
		reg.Services[name] = s
	}
	if s.set(st, fn, nil) {
		st.warnTwice("service", name)
	}
	s.Mode = mode
	return 0
}

func coreRegisterCLI(st *State, L *lua.LState) int {
	st.mustBody(L, "register_cli")
	checkArgs(L, 3, "register_cli")
	words, ok := L.Get(1).(*lua.LTable)
	if !ok {
		L.ArgError(1, "1st argument must be a table")
	}
	usage := L.CheckString(2)
	fn := checkFunction(L, 3)
	var kw []string
	words.ForEach(func(_, v lua.LValue) {
		if len(kw) >= 5 {
			L.ArgError(1, "1st argument must be a table with a maximum of 5 entries")
		}
		s, ok := v.(lua.LString)
		if !ok {
			L.ArgError(1, "1st argument must be a table filled with strings")
		}
		kw = append(kw, string(s))
	})
	key := strings.Join(kw, " ")
	reg := st.rt.reg
	c := reg.CLI[key]
	if c == nil {
		c = &CLICommand{Func: &Func{Name: "<lua.cli." + strings.Join(kw, ".") + ">"}, Words: kw}
		reg.CLI[key] = c
	}
	if c.set(st, fn, nil) {
		st.rt.warning(fmt.Sprintf("Trying to register CLI keyword 'lua.%s' more than once. This will become a hard error in version 2.5.", key))
	}
	c.Usage = usage
	return 0
}

func coreRegisterFilter(st *State, L *lua.LState) int {
	st.mustBody(L, "register_filter")
	checkArgs(L, 3, "register_filter")
	name := L.CheckString(1)
	cls, ok := L.Get(2).(*lua.LTable)
	if !ok {
		L.ArgError(2, "table expected, got "+typeName(L.Get(2)))
	}
	fn := checkFunction(L, 3)
	reg := st.rt.reg
	f := reg.Filters[name]
	if f == nil {
		f = &Filter{Func: &Func{Name: name}}
		reg.Filters[name] = f
	}
	if f.set(st, fn, cls) {
		st.warnTwice("filter", name)
	}
	return 0
}

func coreMailTakeover(name string) Method {
	return func(st *State, L *lua.LState) int {
		st.mustBody(L, name)
		st.rt.mailTakeover.Store(true)
		return 0
	}
}
