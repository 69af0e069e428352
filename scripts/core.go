package scripts

import (
	"runtime"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// openCore builds the global "core" and "act" tables of the state.
func (st *State) openCore() {
	L := st.L
	core := L.NewTable()
	core.RawSetString("silent", lua.LNumber(-1))
	for i, name := range levelNames {
		core.RawSetString(name, lua.LNumber(i))
	}
	core.RawSetString("thread", lua.LNumber(st.id))
	st.setFuncs(core, map[string]Method{
		"log":          coreLog,
		"Debug":        coreLevelLog(LevelDebug, "debug"),
		"Info":         coreLevelLog(LevelInfo, "info"),
		"Warning":      coreLevelLog(LevelWarning, "warning"),
		"Alert":        coreLevelLog(LevelAlert, "alert"),
		"get_info":     coreGetInfo,
		"get_var":      coreGetVar,
		"now":          coreNow,
		"http_date":    coreDateParser(httpDateLayouts...),
		"imf_date":     coreDateParser(imfLayout),
		"rfc850_date":  coreDateParser(rfc850Layout),
		"asctime_date": coreDateParser(asctimeLayout),
		"sleep":        coreSleep(time.Second, "sleep"),
		"msleep":       coreSleep(time.Millisecond, "msleep"),
		"yield":        coreYield,
		"wait":         coreWait,
		"set_nice":     coreSetNice,
		"done":         coreDone,
		"tcp":          coreTCP,
		"httpclient":   coreHTTPClient,
		"concat":       coreConcat,
		"queue":        coreQueue,
		"parse_addr":   coreParseAddr,
		"match_addr":   coreMatchAddr,
		"tokenize":     coreTokenize,
	})
	st.setFuncs(core, registerFuncs)
	st.setProxyTables(core)
	L.SetGlobal("core", core)

	act := L.NewTable()
	for i, name := range []string{"CONTINUE", "STOP", "YIELD", "ERROR", "DONE", "DENY", "ABORT", "INVALID"} {
		act.RawSetString(name, lua.LNumber(i))
	}
	st.setFuncs(act, map[string]Method{"wake_time": actWakeTime})
	L.SetGlobal("act", act)
}

// setFuncs binds Go functions to st and stores them in t.
func (st *State) setFuncs(t *lua.LTable, fns map[string]Method) {
	for name, m := range fns {
		t.RawSetString(name, st.wrap(m))
	}
}

// entryLogger returns the logger of the running entry (nil = global).
func (st *State) entryLogger() Logger {
	if st.cur != nil {
		return st.cur.log
	}
	return nil
}

func coreLog(st *State, L *lua.LState) int {
	checkArgs(L, 2, "log")
	level := checkInt(L, 1)
	msg := L.CheckString(2)
	if level < 0 || level >= len(levelNames) {
		L.ArgError(1, "Invalid loglevel.")
	}
	st.rt.sendLog(st.entryLogger(), level, msg)
	return 0
}

func coreLevelLog(level int, name string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 1, name)
		st.rt.sendLog(st.entryLogger(), level, L.CheckString(1))
		return 0
	}
}

func coreGetInfo(st *State, L *lua.LState) int {
	L.Push(st.mapToTable(st.rt.host.Info()))
	return 1
}

func coreGetVar(st *State, L *lua.LState) int {
	checkArgs(L, 1, "get_var")
	name := L.CheckString(1)
	if !strings.HasPrefix(name, "proc.") {
		L.RaiseError("'get_var': Only 'proc.' scope allowed to be retrieved in 'core.get_var()'.")
	}
	v, ok := st.rt.host.GetVar(name)
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(st.FromSample(v))
	return 1
}

func coreNow(st *State, L *lua.LState) int {
	now := time.Now()
	t := L.CreateTable(0, 2)
	t.RawSetString("sec", lua.LNumber(now.Unix()))
	t.RawSetString("usec", lua.LNumber(now.Nanosecond()/1000))
	L.Push(t)
	return 1
}

const (
	imfLayout     = "Mon, 02 Jan 2006 15:04:05 GMT"
	rfc850Layout  = "Monday, 02-Jan-06 15:04:05 GMT"
	asctimeLayout = "Mon Jan _2 15:04:05 2006"
)

var httpDateLayouts = []string{imfLayout, rfc850Layout, asctimeLayout}

// coreDateParser parses a date string (read as UTC) into an epoch integer,
// or returns nil.
func coreDateParser(layouts ...string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 1, "date")
		s := L.CheckString(1)
		for _, layout := range layouts {
			if t, err := time.Parse(layout, s); err == nil {
				L.Push(lua.LNumber(t.Unix()))
				return 1
			}
		}
		L.Push(lua.LNil)
		return 1
	}
}

// sleepFor blocks the entry for d with the state unlocked. It returns early
// when the entry must stop or the runtime closes.
func (st *State) sleepFor(e *entry, d time.Duration, wake <-chan struct{}) {
	st.Unlocked(func() {
		var tc <-chan time.Time
		if d >= 0 {
			t := time.NewTimer(d)
			defer t.Stop()
			tc = t.C
		}
		select {
		case <-tc:
		case <-wake:
		case <-e.Stop():
		case <-st.rt.ctx.Done():
		}
	})
}

func coreSleep(unit time.Duration, name string) Method {
	return func(st *State, L *lua.LState) int {
		checkArgs(L, 1, name)
		n := checkInt64(L, 1)
		e := st.mustYieldable(L, "core."+name)
		if n < 0 {
			n = 0
		}
		st.sleepFor(e, time.Duration(n)*unit, nil)
		return 0
	}
}

func coreYield(st *State, L *lua.LState) int {
	st.mustYieldable(L, "core.yield")
	st.Unlocked(runtime.Gosched)
	return 0
}

// coreWait is core.wait([ms]): sleeps until something wakes the entry (a
// Queue alarm), or ms have passed when given.
func coreWait(st *State, L *lua.LState) int {
	d := time.Duration(-1)
	if L.GetTop() >= 1 && L.Get(1) != lua.LNil {
		d = time.Duration(checkInt64(L, 1)) * time.Millisecond
	}
	e := st.mustYieldable(L, "core.wait")
	st.sleepFor(e, d, e.wakeChan())
	return 0
}

func coreSetNice(st *State, L *lua.LState) int {
	checkArgs(L, 1, "set_nice")
	checkInt(L, 1) // accepted and clamped to -1024..1024 by HAProxy; no scheduler priority here
	return 0
}

func coreDone(st *State, L *lua.LState) int {
	vals := make([]lua.LValue, L.GetTop())
	for i := range vals {
		vals[i] = L.Get(i + 1)
	}
	return st.Done(L, vals...)
}

func actWakeTime(st *State, L *lua.LState) int {
	checkArgs(L, 1, "wake_time")
	ms := checkInt64(L, 1)
	if e := st.cur; e != nil && e.kind != CtxBody && e.kind != CtxInit {
		e.wakeTime = time.Duration(ms) * time.Millisecond
	}
	return 0
}
