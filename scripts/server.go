package scripts

import (
	"strconv"

	lua "github.com/yuin/gopher-lua"
)

const serverClass = "Server"

// serverMethod builds a Server method that returns nothing (nil) when the
// server has been deleted since the object was made.
func serverMethod(f func(st *State, L *lua.LState, s ServerObj) int) Method {
	return func(st *State, L *lua.LState) int {
		s := checkObj[ServerObj](L, 1, serverClass)
		if s.Deleted() {
			return 0
		}
		return f(st, L, s)
	}
}

// serverAction builds a Server method that calls an admin action and
// returns nothing.
func serverAction(f func(ServerObj)) Method {
	return serverMethod(func(st *State, L *lua.LState, s ServerObj) int { f(s); return 0 })
}

// pushErrText returns nil on success, else the error string.
func pushErrText(L *lua.LState, msg string) int {
	if msg == "" {
		L.Push(lua.LNil)
	} else {
		L.Push(lua.LString(msg))
	}
	return 1
}

func init() {
	registerClass(&class{
		name: serverClass,
		methods: map[string]Method{
			"get_name":      serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushStr(L, s.Name()) }),
			"get_puid":      serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushStr(L, strconv.Itoa(s.PUID())) }),
			"get_rid":       serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushStr(L, strconv.Itoa(s.RID())) }),
			"is_draining":   serverMethod(func(st *State, L *lua.LState, s ServerObj) int { L.Push(lua.LBool(s.IsDraining())); return 1 }),
			"is_backup":     serverMethod(func(st *State, L *lua.LState, s ServerObj) int { L.Push(lua.LBool(s.IsBackup())); return 1 }),
			"is_dynamic":    serverMethod(func(st *State, L *lua.LState, s ServerObj) int { L.Push(lua.LBool(s.IsDynamic())); return 1 }),
			"get_cur_sess":  serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushInt(L, s.CurSess()) }),
			"get_pend_conn": serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushInt(L, s.PendConn()) }),
			"get_maxconn":   serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushInt(L, s.MaxConn()) }),
			"set_maxconn": serverMethod(func(st *State, L *lua.LState, s ServerObj) int {
				return pushErrText(L, s.SetMaxConn(L.CheckString(2)))
			}),
			"get_weight": serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushInt(L, s.Weight()) }),
			"set_weight": serverMethod(func(st *State, L *lua.LState, s ServerObj) int {
				return pushErrText(L, s.SetWeight(L.CheckString(2)))
			}),
			"get_addr": serverMethod(func(st *State, L *lua.LState, s ServerObj) int { return pushStr(L, s.Addr()) }),
			"set_addr": serverMethod(func(st *State, L *lua.LState, s ServerObj) int {
				addr := L.CheckString(2)
				port := ""
				if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
					port = L.CheckString(3)
				}
				return pushErrText(L, s.SetAddr(addr, port))
			}),
			"get_stats": serverMethod(func(st *State, L *lua.LState, s ServerObj) int {
				L.Push(st.mapToTable(s.Stats()))
				return 1
			}),
			"get_proxy": serverMethod(func(st *State, L *lua.LState, s ServerObj) int {
				L.Push(st.pushProxy(s.Proxy()))
				return 1
			}),
			"shut_sess":        serverAction(ServerObj.ShutSess),
			"set_drain":        serverAction(ServerObj.SetDrain),
			"set_maint":        serverAction(ServerObj.SetMaint),
			"set_ready":        serverAction(ServerObj.SetReady),
			"check_enable":     serverAction(ServerObj.CheckEnable),
			"check_disable":    serverAction(ServerObj.CheckDisable),
			"check_force_up":   serverAction(ServerObj.CheckForceUp),
			"check_force_nolb": serverAction(ServerObj.CheckForceNolb),
			"check_force_down": serverAction(ServerObj.CheckForceDown),
			"agent_enable":     serverAction(ServerObj.AgentEnable),
			"agent_disable":    serverAction(ServerObj.AgentDisable),
			"agent_force_up":   serverAction(ServerObj.AgentForceUp),
			"agent_force_down": serverAction(ServerObj.AgentForceDown),
			"tracking": serverMethod(func(st *State, L *lua.LState, s ServerObj) int {
				L.Push(st.pushServer(s.Tracking()))
				return 1
			}),
			"get_trackers": serverMethod(func(st *State, L *lua.LState, s ServerObj) int {
				t := L.NewTable()
				for _, tr := range s.Trackers() {
					t.Append(st.pushServer(tr))
				}
				L.Push(t)
				return 1
			}),
			"event_sub": serverMethod(serverEventSub),
		},
		index: serverIndex,
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int {
				return pushStr(L, "Server: "+checkObj[ServerObj](L, 1, serverClass).Name())
			},
		},
	})
}

// pushServer returns a new Server object for s (nil for a nil server).
func (st *State) pushServer(s ServerObj) lua.LValue {
	if s == nil {
		return lua.LNil
	}
	return st.newObj(serverClass, s)
}

// serverIndex serves the legacy name/puid attributes with a one-time
// deprecation warning.
func serverIndex(st *State, L *lua.LState, ud *lua.LUserData, key string) lua.LValue {
	s, ok := ud.Value.(ServerObj)
	if !ok || s.Deleted() {
		return lua.LNil
	}
	switch key {
	case "name":
		st.rt.warnOnceKey("Server.name", "Lua: the Server 'name' attribute is deprecated, use Server:get_name() instead.")
		return lua.LString(s.Name())
	case "puid":
		st.rt.warnOnceKey("Server.puid", "Lua: the Server 'puid' attribute is deprecated, use Server:get_puid() instead.")
		return lua.LString(strconv.Itoa(s.PUID()))
	}
	return lua.LNil
}

// serverSet builds Proxy.servers: a name-indexed, lazily iterable set.
func (st *State) serverSet(px ProxyObj) *lua.LTable {
	return st.lazySet(
		func(name string) lua.LValue {
			s := px.ServerByName(name)
			if s == nil || s.Deleted() {
				return lua.LNil
			}
			return st.pushServer(s)
		},
		func() []lazyItem {
			srvs := px.Servers()
			items := make([]lazyItem, len(srvs))
			for i, s := range srvs {
				s := s
				items[i] = lazyItem{name: s.Name(), value: func() lua.LValue {
					if s.Deleted() {
						return lua.LNil
					}
					return st.pushServer(s)
				}}
			}
			return items
		},
	)
}
