package scripts

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"moonbus/bus"
)

// writeTestLua writes a Lua file into a temporary directory.
func writeTestLua(t testing.TB, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "events.lua")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitCond polls cond until it holds or 5s pass.
func waitCond(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// luaGlobal reads a global of a state as a string.
func luaGlobal(t testing.TB, st *State, name string) string {
	t.Helper()
	var s string
	if err := st.Do(context.Background(), func(L *lua.LState) error {
		s = lua.LVAsString(L.GetGlobal(name))
		if v := L.GetGlobal(name); v.Type() != lua.LTString && v.Type() != lua.LTNumber {
			s = v.String()
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

func adminEvent(px *fakeProxy, s *fakeServer, typ bus.Type) *bus.Event {
	return &bus.Event{Type: typ, Server: &bus.ServerRef{Name: s.name, PUID: s.puid, RID: s.rid, ProxyName: px.name, ProxyUUID: px.uuid},
		Admin: &bus.AdminChange{OldAdmin: 0, NewAdmin: bus.FMaint}}
}

// TestEventsPerThreadInitSubscribesOnce: with lua-load-per-thread only the
// state of thread 1 subscribes from body and init; at runtime any state may.
func TestEventsPerThreadInitSubscribesOnce(t *testing.T) {
	file := writeTestLua(t, `
local s = core.event_sub({"SERVER_ADMIN"}, function() end)
body_ret = tostring(s)
core.register_init(function()
  local s = core.event_sub({"SERVER_DOWN"}, function() end)
  init_ret = tostring(s)
end)
`)
	rt, _, _ := newTestRuntime(t, newFakeHost(), func(o *Options) {
		o.Threads = 3
		o.Loads = []Load{{File: file, PerThread: true}}
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	for i, st := range rt.PerThread() {
		body, init := luaGlobal(t, st, "body_ret"), luaGlobal(t, st, "init_ret")
		if i == 0 && (!strings.HasPrefix(body, "EventSub: lua event_hdl SERVER_ADMIN (") || !strings.HasPrefix(init, "EventSub: lua event_hdl SERVER_DOWN (")) {
			t.Errorf("thread 1: body %q init %q", body, init)
		}
		if i > 0 && (body != "nil" || init != "nil") {
			t.Errorf("thread %d: body %q init %q, want nothing returned", i+1, body, init)
		}
	}
	stats := rt.EventStats()
	if len(stats) != 2 || stats[0].State != 1 || stats[1].State != 1 || !stats[0].Active {
		t.Fatalf("subscriptions: %+v", stats)
	}
	if !strings.Contains(stats[0].Name, "events.lua:2") {
		t.Errorf("name %q does not say where the script subscribed", stats[0].Name)
	}
	// At runtime (task context) another thread's state may subscribe.
	_, err := rt.Call(context.Background(), Invocation{Kind: CtxTask, State: rt.PerThread()[2], Fn: mustGlobalFn(t, rt.PerThread()[2], `return core.event_sub({"SERVER_UP"}, function() end)`)})
	if err != nil {
		t.Fatal(err)
	}
	if stats := rt.EventStats(); len(stats) != 3 || stats[2].State != 3 {
		t.Fatalf("runtime subscription: %+v", stats)
	}
}

// mustGlobalFn compiles src into a function of st.
func mustGlobalFn(t testing.TB, st *State, src string) *lua.LFunction {
	t.Helper()
	var fn *lua.LFunction
	if err := st.Do(context.Background(), func(L *lua.LState) error {
		var err error
		fn, err = L.LoadString(src)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return fn
}

// TestEventsReferenceLookedUpAtDelivery: reference is the live server,
// nil for a deleted one and always nil for SERVER_DEL (fake host: the
// generic lookup over Host.Proxies).
func TestEventsReferenceLookedUpAtDelivery(t *testing.T) {
	file := writeTestLua(t, `
got = {}
core.event_sub({"SERVER"}, function(event, data)
  local r = data.reference
  got[#got + 1] = event .. ":" .. data.name .. ":" .. (r and r:get_addr() or "nil")
end)
`)
	host := newFakeHost()
	rt, _, _ := newTestRuntime(t, host, func(o *Options) { o.Loads = []Load{{File: file}} })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	dc1 := host.proxies[1]
	b := rt.Bus()
	b.Publish(adminEvent(dc1, dc1.servers[0], bus.ServerAdmin))
	b.Publish(adminEvent(dc1, dc1.servers[2], bus.ServerAdmin)) // "gone" is deleted
	b.Publish(adminEvent(dc1, dc1.servers[0], bus.ServerDel))
	want := "SERVER_ADMIN:server1:192.0.2.1:80,SERVER_ADMIN:gone:nil,SERVER_DEL:server1:nil"
	waitCond(t, "3 events", func() bool { return countGot(t, rt) == 3 })
	if got := joinGot(t, rt); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func countGot(t testing.TB, rt *Runtime) int {
	n := 0
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error {
		n = L.GetGlobal("got").(*lua.LTable).Len()
		return nil
	})
	return n
}

func joinGot(t testing.TB, rt *Runtime) string {
	var parts []string
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error {
		L.GetGlobal("got").(*lua.LTable).ForEach(func(_, v lua.LValue) { parts = append(parts, lua.LVAsString(v)) })
		return nil
	})
	return strings.Join(parts, ",")
}

// TestEventsOverflowCountedAndLogged: a handler slower than the events keeps
// receiving them in order; beyond the queue bound the oldest are dropped,
// and every event is either delivered or counted and logged as dropped.
func TestEventsOverflowCountedAndLogged(t *testing.T) {
	file := writeTestLua(t, `
got = {}
core.event_sub({"SERVER_ADMIN"}, function(event, data)
  got[#got + 1] = data.puid
  core.msleep(1)
end)
`)
	host := newFakeHost()
	rt, logger, _ := newTestRuntime(t, host, func(o *Options) {
		o.Loads = []Load{{File: file}}
		o.EventQueueLen = 300
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const total = 1000
	ref := func(i int) *bus.ServerRef { return &bus.ServerRef{Name: "s", PUID: i, ProxyName: "px", ProxyUUID: 99} }
	for i := 1; i <= total; i++ {
		rt.Bus().Publish(&bus.Event{Type: bus.ServerAdmin, Server: ref(i), Admin: &bus.AdminChange{}})
	}
	var st EventStats
	waitCond(t, "queue drained", func() bool {
		st = rt.EventStats()[0]
		return st.Queued == 0 && st.Started == st.Finished && st.Finished+st.Dropped == total
	})
	if st.Dropped == 0 {
		t.Fatalf("no drops with a queue of 300 and %d events: %+v", total, st)
	}
	// Delivered in publish order, the newest always kept.
	var puids []int
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error {
		L.GetGlobal("got").(*lua.LTable).ForEach(func(_, v lua.LValue) { puids = append(puids, int(v.(lua.LNumber))) })
		return nil
	})
	if uint64(len(puids)) != st.Finished || puids[len(puids)-1] != total {
		t.Fatalf("%d delivered (stats %d), last %d", len(puids), st.Finished, puids[len(puids)-1])
	}
	for i := 1; i < len(puids); i++ {
		if puids[i] <= puids[i-1] {
			t.Fatalf("out of order at %d: %d after %d", i, puids[i], puids[i-1])
		}
	}
	// Every drop is logged: the counts of the "dropped" lines add up.
	var logged uint64
	slow := 0
	for _, l := range logger.snapshot() {
		var n, tot, bound uint64
		if strings.HasPrefix(l, "4 Lua event_hdl: the handler fails to keep up the pace (") {
			slow++
		}
		if _, err := fmt.Sscanf(l, "4 Lua event_hdl: %d events dropped (oldest first, %d in total) because the handler fails to keep up the pace (more than %d unconsumed events)", &n, &tot, &bound); err == nil {
			logged += n
			if bound != 300 {
				t.Errorf("bound %d in %q", bound, l)
			}
		}
	}
	if logged != st.Dropped || slow == 0 {
		t.Fatalf("logged drops %d, counted %d, slow warnings %d:\n%s", logged, st.Dropped, slow, strings.Join(logger.snapshot(), "\n"))
	}
}

// TestEventsStopAndClose: StopEvents ends every subscription and makes new
// ones inert; Close does the same and closes the runtime's own bus.
func TestEventsStopAndClose(t *testing.T) {
	file := writeTestLua(t, `
n = 0
core.event_sub({"SERVER"}, function() n = n + 1 end)
function later() return core.event_sub({"SERVER"}, function() n = n + 100 end) end
`)
	host := newFakeHost()
	rt, _, _ := newTestRuntime(t, host, func(o *Options) { o.Loads = []Load{{File: file}} })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	dc1 := host.proxies[1]
	rt.Bus().Publish(adminEvent(dc1, dc1.servers[0], bus.ServerAdmin))
	waitCond(t, "first event", func() bool { return luaGlobal(t, rt.Shared(), "n") == "1" })
	rt.StopEvents()
	if s := rt.EventStats(); len(s) != 0 {
		t.Fatalf("after StopEvents: %+v", s)
	}
	var ret string
	_, err := rt.Call(context.Background(), Invocation{Kind: CtxTask, State: rt.Shared(), Fn: mustGlobalFn(t, rt.Shared(), `return tostring(later())`),
		NRet: 1, Results: func(L *lua.LState, r []lua.LValue) { ret = lua.LVAsString(r[0]) }})
	if err != nil || !strings.HasPrefix(ret, "EventSub: ") {
		t.Fatalf("event_sub after StopEvents: %q %v", ret, err)
	}
	if rt.Bus().SubscriberCount() != 0 {
		t.Fatalf("%d bus subscribers after StopEvents", rt.Bus().SubscriberCount())
	}
	_ = rt.Close()
	rt.Bus().Publish(adminEvent(dc1, dc1.servers[0], bus.ServerAdmin)) // closed bus: ignored
}
