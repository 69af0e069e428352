package scripts

import (
	lua "github.com/yuin/gopher-lua"

	"moonbus/bus"
)

// The data argument of an event callback (reference §4.3). The event is the
// bus's immutable publish-time record, so the table is a snapshot taken at
// publish time; only "reference" is looked up when the callback is
// delivered.
//
// SERVER family: name, puid, rid, proxy_name, proxy_uuid, reference (the
// live Server, nil once it is gone and always nil for SERVER_DEL), plus
// state (SERVER_STATE), admin (SERVER_ADMIN) or check (SERVER_CHECK).
// BACKEND family (ours): proxy_name, proxy_uuid, active, backup (usable
// servers after the change) and reference (the live Proxy, nil once gone).

// eventData builds the data table of e on the running coroutine L.
func (st *State) eventData(L *lua.LState, e *bus.Event) *lua.LTable {
	if e.Type.Family() == "BACKEND" {
		t := L.CreateTable(0, 5)
		if b := e.Backend; b != nil {
			t.RawSetString("proxy_name", lua.LString(b.ProxyName))
			t.RawSetString("proxy_uuid", lua.LNumber(b.ProxyUUID))
			t.RawSetString("active", lua.LNumber(b.Active))
			t.RawSetString("backup", lua.LNumber(b.Backup))
			if px := st.rt.findProxy(b.ProxyUUID); px != nil {
				t.RawSetString("reference", st.pushProxy(px))
			}
		}
		return t
	}
	t := L.CreateTable(0, 7)
	if r := e.Server; r != nil {
		t.RawSetString("name", lua.LString(r.Name))
		t.RawSetString("puid", lua.LNumber(r.PUID))
		t.RawSetString("rid", lua.LNumber(r.RID))
		t.RawSetString("proxy_name", lua.LString(r.ProxyName))
		t.RawSetString("proxy_uuid", lua.LNumber(r.ProxyUUID))
		if e.Type != bus.ServerDel {
			if s := st.rt.findServer(r); s != nil {
				t.RawSetString("reference", st.pushServer(s))
			}
		}
	}
	switch e.Type {
	case bus.ServerState:
		if sc := e.State; sc != nil {
			s := L.CreateTable(0, 6)
			s.RawSetString("admin", lua.LBool(sc.Admin))
			if sc.Check != nil && !sc.Admin {
				s.RawSetString("check", checkResTable(L, sc.Check))
			}
			s.RawSetString("cause", lua.LString(sc.Cause))
			s.RawSetString("old_state", lua.LString(sc.OldState))
			s.RawSetString("new_state", lua.LString(sc.NewState))
			s.RawSetString("requeued", lua.LNumber(sc.Requeued))
			t.RawSetString("state", s)
		}
	case bus.ServerAdmin:
		if ac := e.Admin; ac != nil {
			a := L.CreateTable(0, 4)
			a.RawSetString("cause", lua.LString(ac.Cause))
			a.RawSetString("old_admin", adminTable(L, ac.OldAdmin))
			a.RawSetString("new_admin", adminTable(L, ac.NewAdmin))
			a.RawSetString("requeued", lua.LNumber(ac.Requeued))
			t.RawSetString("admin", a)
		}
	case bus.ServerCheck:
		if e.Check != nil {
			t.RawSetString("check", checkResTable(L, e.Check))
		}
	}
	return t
}

// adminTable is the map of the eight admin booleans, every key present.
func adminTable(L *lua.LState, f bus.AdminFlags) *lua.LTable {
	m := f.Map()
	t := L.CreateTable(0, len(m))
	for k, v := range m {
		t.RawSetString(k, lua.LBool(v))
	}
	return t
}

// checkResTable is HAProxy's CheckRes table.
func checkResTable(L *lua.LState, c *bus.CheckResult) *lua.LTable {
	t := L.CreateTable(0, 5)
	t.RawSetString("agent", lua.LBool(c.Agent))
	if c.Result != "" {
		t.RawSetString("result", lua.LString(c.Result))
	}
	t.RawSetString("duration", lua.LNumber(c.Duration))
	r := L.CreateTable(0, 3)
	r.RawSetString("short", lua.LString(c.Reason.Short))
	r.RawSetString("desc", lua.LString(c.Reason.Desc))
	if c.Reason.Code != 0 {
		r.RawSetString("code", lua.LNumber(c.Reason.Code))
	}
	t.RawSetString("reason", r)
	h := L.CreateTable(0, 3)
	h.RawSetString("cur", lua.LNumber(c.Health.Cur))
	h.RawSetString("rise", lua.LNumber(c.Health.Rise))
	h.RawSetString("fall", lua.LNumber(c.Health.Fall))
	t.RawSetString("health", h)
	return t
}

// serverFinder is implemented by hosts that find a server by its event
// identity faster than a walk over every proxy (EngineHost).
type serverFinder interface {
	FindServer(proxyUUID, puid, rid int) ServerObj
}

// findServer returns the live server an event names (proxy uuid, puid and
// rid), nil when it is gone.
func (rt *Runtime) findServer(r *bus.ServerRef) ServerObj {
	if f, ok := rt.host.(serverFinder); ok {
		return f.FindServer(r.ProxyUUID, r.PUID, r.RID)
	}
	px := rt.findProxy(r.ProxyUUID)
	if px == nil {
		return nil
	}
	for _, s := range px.Servers() {
		if s.PUID() == r.PUID && s.RID() == r.RID && !s.Deleted() {
			return s
		}
	}
	return nil
}

// findProxy returns the live proxy with that uuid, nil when there is none.
func (rt *Runtime) findProxy(uuid int) ProxyObj {
	for _, px := range rt.host.Proxies() {
		if px.UUID() == uuid {
			return px
		}
	}
	return nil
}
