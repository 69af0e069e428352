package scripts

import (
	"fmt"

	lua "github.com/yuin/gopher-lua"
)

const (
	proxyClass    = "Proxy"
	listenerClass = "Listener"
	mailersClass  = "ProxyMailers"
)

// proxyUD is the Go value of a Proxy userdata.
type proxyUD struct {
	px      ProxyObj
	servers *lua.LTable // lazily built name-indexed set
}

func init() {
	registerClass(&class{
		name: proxyClass,
		methods: map[string]Method{
			"get_name":     func(st *State, L *lua.LState) int { return pushStr(L, checkProxy(L).Name()) },
			"get_uuid":     func(st *State, L *lua.LState) int { return pushInt(L, checkProxy(L).UUID()) },
			"get_cap":      func(st *State, L *lua.LState) int { return pushStr(L, checkProxy(L).Cap()) },
			"get_mode":     func(st *State, L *lua.LState) int { return pushStr(L, checkProxy(L).Mode()) },
			"get_srv_act":  func(st *State, L *lua.LState) int { return pushInt(L, checkProxy(L).SrvAct()) },
			"get_srv_bck":  func(st *State, L *lua.LState) int { return pushInt(L, checkProxy(L).SrvBck()) },
			"get_stats":    proxyGetStats,
			"get_mailers":  proxyGetMailers,
			"pause":        func(st *State, L *lua.LState) int { checkProxy(L).Pause(); return 0 },
			"resume":       func(st *State, L *lua.LState) int { checkProxy(L).Resume(); return 0 },
			"stop":         func(st *State, L *lua.LState) int { checkProxy(L).Stop(); return 0 },
			"shut_bcksess": func(st *State, L *lua.LState) int { checkProxy(L).ShutBackupSessions(); return 0 },
		},
		index: proxyIndex,
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, "Proxy: "+checkProxy(L).Name()) },
		},
	})
	registerClass(&class{
		name: listenerClass,
		methods: map[string]Method{
			"get_stats": func(st *State, L *lua.LState) int {
				m := checkObj[listenerUD](L, 1, listenerClass).l.Stats()
				if m == nil {
					L.Push(lua.LNil)
					return 1
				}
				L.Push(st.mapToTable(m))
				return 1
			},
		},
	})
}

// listenerUD is the Go value of a Listener userdata.
type listenerUD struct{ l ListenerObj }

func checkProxy(L *lua.LState) ProxyObj { return checkObj[*proxyUD](L, 1, proxyClass).px }

func pushStr(L *lua.LState, s string) int { L.Push(lua.LString(s)); return 1 }
func pushInt(L *lua.LState, n int) int    { L.Push(lua.LNumber(n)); return 1 }

// pushProxy returns a new Proxy object for px.
func (st *State) pushProxy(px ProxyObj) lua.LValue {
	if px == nil {
		return lua.LNil
	}
	return st.newObj(proxyClass, &proxyUD{px: px})
}

// proxyIndex serves the attributes: servers, listeners, and the legacy
// name/uuid (with a one-time deprecation warning), and stktable (nil when
// the proxy has no stick-table).
func proxyIndex(st *State, L *lua.LState, ud *lua.LUserData, key string) lua.LValue {
	p, ok := ud.Value.(*proxyUD)
	if !ok {
		return lua.LNil
	}
	switch key {
	case "servers":
		if p.servers == nil {
			p.servers = st.serverSet(p.px)
		}
		return p.servers
	case "listeners":
		t := L.NewTable()
		for i, l := range p.px.Listeners() {
			name := l.Name()
			if name == "" {
				name = fmt.Sprintf("sock-%d", i+1)
			}
			t.RawSetString(name, st.newObj(listenerClass, listenerUD{l}))
		}
		return t
	case "stktable":
		return st.pushStickTable(p.px.StickTable())
	case "name":
		st.rt.warnOnceKey("Proxy.name", "Lua: the Proxy 'name' attribute is deprecated, use Proxy:get_name() instead.")
		return lua.LString(p.px.Name())
	case "uuid":
		st.rt.warnOnceKey("Proxy.uuid", "Lua: the Proxy 'uuid' attribute is deprecated, use Proxy:get_uuid() instead.")
		return lua.LNumber(p.px.UUID())
	}
	return lua.LNil
}

func proxyGetStats(st *State, L *lua.LState) int {
	L.Push(st.mapToTable(checkProxy(L).Stats()))
	return 1
}

// proxyGetMailers returns the ProxyMailers table, or nothing when the proxy
// has no email-alert configuration.
func proxyGetMailers(st *State, L *lua.LState) int {
	m := checkProxy(L).Mailers()
	if m == nil {
		return 0
	}
	t := L.CreateTable(0, 7)
	t.RawSetString("track_server_health", lua.LBool(m.TrackServerHealth))
	t.RawSetString("log_level", lua.LNumber(m.LogLevel))
	servers := L.CreateTable(0, len(m.Mailservers))
	for name, addr := range m.Mailservers {
		servers.RawSetString(name, lua.LString(addr))
	}
	t.RawSetString("mailservers", servers)
	t.RawSetString("mailservers_timeout", lua.LNumber(m.MailserversTimeout))
	t.RawSetString("smtp_hostname", lua.LString(m.SMTPHostname))
	t.RawSetString("smtp_from", lua.LString(m.SMTPFrom))
	t.RawSetString("smtp_to", lua.LString(m.SMTPTo))
	L.Push(t)
	return 1
}

// lazyItem is one entry of a lazySet iteration; value is called when the
// iteration reaches it and may return lua.LNil to skip it (deleted server).
type lazyItem struct {
	name  string
	value func() lua.LValue
}

// lazySet builds a read-only table whose lookups and pairs() iteration go
// through Go: __index(t, name) → get(name), __pairs → walk list() lazily,
// __newindex ignores writes.
func (st *State) lazySet(get func(name string) lua.LValue, list func() []lazyItem) *lua.LTable {
	L := st.L
	t := L.NewTable()
	mt := L.NewTable()
	mt.RawSetString("__index", L.NewFunction(func(L *lua.LState) int {
		k, ok := L.Get(2).(lua.LString)
		if !ok {
			L.Push(lua.LNil)
			return 1
		}
		L.Push(get(string(k)))
		return 1
	}))
	mt.RawSetString("__newindex", L.NewFunction(func(L *lua.LState) int { return 0 }))
	mt.RawSetString("__pairs", L.NewFunction(func(L *lua.LState) int {
		items := list()
		i := 0
		L.Push(L.NewFunction(func(L *lua.LState) int {
			for i < len(items) {
				it := items[i]
				i++
				if v := it.value(); v != lua.LNil {
					L.Push(lua.LString(it.name))
					L.Push(v)
					return 2
				}
			}
			L.Push(lua.LNil)
			return 1
		}))
		L.Push(t)
		L.Push(lua.LNil)
		return 3
	}))
	L.SetMetatable(t, mt)
	return t
}

// setProxyTables installs core.proxies, core.frontends and core.backends.
// A "listen" proxy (cap "proxy") is in all three; names are unique in each
// (the first proxy of a name wins, as a lookup by name would find it).
func (st *State) setProxyTables(core *lua.LTable) {
	for _, x := range []struct{ name, cap string }{{"proxies", ""}, {"frontends", "frontend"}, {"backends", "backend"}} {
		want := x.cap
		keep := func(px ProxyObj) bool {
			c := px.Cap()
			return want == "" || c == want || c == "proxy"
		}
		core.RawSetString(x.name, st.lazySet(
			func(name string) lua.LValue {
				for _, px := range st.rt.host.Proxies() {
					if keep(px) && px.Name() == name {
						return st.pushProxy(px)
					}
				}
				return lua.LNil
			},
			func() []lazyItem {
				var items []lazyItem
				seen := map[string]bool{}
				for _, px := range st.rt.host.Proxies() {
					if keep(px) && !seen[px.Name()] {
						seen[px.Name()] = true
						px := px
						items = append(items, lazyItem{name: px.Name(), value: func() lua.LValue { return st.pushProxy(px) }})
					}
				}
				return items
			},
		))
	}
}
