package scripts

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"

	"moonbus/bus"
)

// The event framework (HAProxy's event_hdl from Lua): core.event_sub,
// Server:event_sub and the EventSub class. Every Lua subscription is a
// DropOldest subscription of the bus whose handler runs the Lua function in
// event context on the subscribing state, one event at a time, in order
// (the bus's delivery goroutine of the subscription waits for the Lua call,
// which may block in core.sleep, sockets or httpclient with the state lock
// released).
//
// Overflow (DESIGN §4.3): HAProxy pauses a subscription at 100 unconsumed
// events and drops what comes next. Here the subscription keeps delivering in
// order; at SlowEventBacklog waiting events a warning says the handler fails
// to keep up the pace, and only beyond Options.EventQueueLen waiting events
// the oldest ones are dropped: every drop is counted (EventStats, the bus's
// per-type counters) and logged (the bus's "subscriber ... is too slow" line
// once per burst, plus a "Lua event_hdl: N events dropped" line when the
// handler runs again).

const eventSubClass = "EventSub"

// DefaultEventQueueLen is the bound of a Lua subscription's queue when
// Options.EventQueueLen is 0: beyond it the oldest waiting events are dropped
// (counted and logged).
const DefaultEventQueueLen = 10000

// SlowEventBacklog is the number of waiting events at which a Lua
// subscription logs that its handler fails to keep up the pace (HAProxy's
// pause threshold; here delivery goes on).
const SlowEventBacklog = 100

// neverPublished are event names HAProxy accepts that Moonbus never
// publishes to Lua (pattern references, ACME, server renames): a
// subscription to them is valid and stays silent.
var neverPublished = map[string]bool{
	"SERVER_NAME": true, "PAT_REF": true, "PAT_REF_ADD": true, "PAT_REF_DEL": true,
	"PAT_REF_SET": true, "PAT_REF_CLEAR": true, "PAT_REF_COMMIT": true,
	"ACME": true, "ACME_DEPLOY": true, "ACME_NEWCERT": true,
}

func init() {
	registerClass(&class{
		name:    eventSubClass,
		methods: map[string]Method{"unsub": eventSubUnsub},
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int {
				return pushStr(L, "EventSub: "+checkObj[*eventSub](L, 1, eventSubClass).name)
			},
		},
	})
}

// eventSub is one Lua subscription.
type eventSub struct {
	rt     *Runtime
	st     *State
	fn     *lua.LFunction
	ud     *lua.LUserData // the EventSub object (a value of st)
	filter bus.Filter
	name   string

	mu   sync.Mutex
	sub  *bus.Subscription // set once armed
	dead atomic.Bool       // unsub() called, or the runtime stops its events

	started, finished atomic.Uint64 // handler calls

	// Backlog bookkeeping, touched by the delivery goroutine only.
	seenDropped uint64
	slow        bool
}

// EventStats describes one Lua subscription (Runtime.EventStats).
type EventStats struct {
	// Name says where the script subscribed and to what, e.g.
	// "lua event_hdl be/s1 SERVER_DOWN (webhook.lua:12)".
	Name string
	// Types are the subscribed event types (empty for a subscription to
	// names Moonbus never publishes).
	Types []bus.Type
	// State is the ID of the Lua state the handler runs in.
	State int
	// Server is "proxy/server" for Server:event_sub, "" for core.event_sub.
	Server string
	// Active is false once unsub() was called (or before Start).
	Active bool
	// Started counts handler calls started, Finished those that returned.
	Started, Finished uint64
	// Queued is the number of events waiting (not yet handed to the handler).
	Queued int
	// Dropped counts events dropped because the queue was full.
	Dropped uint64
}

// coreEventSub is core.event_sub(types, fn): a global subscription.
func coreEventSub(st *State, L *lua.LState) int {
	checkArgs(L, 2, "event_sub")
	types := checkEventTypes(L, 1)
	fn := checkFunction(L, 2)
	if st.initOnOtherThread() {
		return 0
	}
	L.Push(st.rt.subscribeEvents(st, L, fn, bus.Filter{Types: types}, ""))
	return 1
}

// serverEventSub is Server:event_sub(types, fn): a subscription to one
// server's events.
func serverEventSub(st *State, L *lua.LState, s ServerObj) int {
	checkArgs(L, 3, "event_sub")
	types := checkEventTypes(L, 2)
	fn := checkFunction(L, 3)
	if st.initOnOtherThread() {
		return 0
	}
	uuid, pxName := 0, ""
	if px := s.Proxy(); px != nil {
		uuid, pxName = px.UUID(), px.Name()
	}
	ref := &bus.ServerRef{Name: s.Name(), PUID: s.PUID(), RID: s.RID(), ProxyName: pxName, ProxyUUID: uuid}
	L.Push(st.rt.subscribeEvents(st, L, fn, bus.Filter{Types: types, Server: ref}, pxName+"/"+s.Name()))
	return 1
}

// initOnOtherThread reports HAProxy's rule for lua-load-per-thread: in body
// and init, only the state of thread 1 subscribes; the others silently do
// nothing, so that handlers are not duplicated.
func (st *State) initOnOtherThread() bool {
	if st.id <= 1 {
		return false
	}
	e := st.cur
	return e == nil || e.kind == CtxBody || e.kind == CtxInit
}

// checkEventTypes reads the array of event type or family names at stack
// index n, with HAProxy's errors. Names HAProxy knows but Moonbus never
// publishes are accepted and left out.
func checkEventTypes(L *lua.LState, n int) []bus.Type {
	tbl, ok := L.Get(n).(*lua.LTable)
	if !ok {
		L.ArgError(n, "table expected, got "+typeName(L.Get(n)))
	}
	var names []string
	bad, silent := false, false
	tbl.ForEach(func(_, v lua.LValue) {
		s, ok := v.(lua.LString)
		switch {
		case !ok:
			bad = true
		case neverPublished[string(s)]:
			silent = true
		default:
			names = append(names, string(s))
		}
	})
	if bad {
		L.RaiseError("table of strings expected")
	}
	if len(names) == 0 && silent {
		return nil
	}
	types, err := bus.ParseTypes(names)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	return types
}

// subscribeEvents creates a subscription of st running fn and returns its
// EventSub object. A subscription made before Start is armed by Start (no
// event reaches Lua while the configuration loads).
func (rt *Runtime) subscribeEvents(st *State, L *lua.LState, fn *lua.LFunction, f bus.Filter, server string) lua.LValue {
	es := &eventSub{rt: rt, st: st, fn: fn, filter: f}
	es.name = eventSubName(L, f, server)
	es.ud = st.newObj(eventSubClass, es)
	rt.mu.Lock()
	if rt.closed || rt.eventsStopped {
		rt.mu.Unlock()
		es.dead.Store(true)
		return es.ud
	}
	rt.events = append(rt.events, es)
	armNow := rt.started
	rt.mu.Unlock()
	if armNow {
		es.arm()
	}
	return es.ud
}

// eventSubName describes a subscription for logs and statistics.
func eventSubName(L *lua.LState, f bus.Filter, server string) string {
	var b strings.Builder
	b.WriteString("lua event_hdl ")
	if server != "" {
		b.WriteString(server)
		b.WriteByte(' ')
	}
	if len(f.Types) == 0 {
		b.WriteString("(silent)")
	}
	for i, t := range f.Types {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(t.String())
	}
	if w := strings.TrimSuffix(L.Where(1), ":"); w != "" {
		fmt.Fprintf(&b, " (%s)", w)
	}
	return b.String()
}

// arm subscribes es to the bus, unless it has ended or listens to nothing.
func (es *eventSub) arm() {
	es.mu.Lock()
	defer es.mu.Unlock()
	if es.dead.Load() || es.sub != nil || len(es.filter.Types) == 0 {
		return
	}
	es.sub = es.rt.bus.SubscribeWithSub(es.name, es.filter, bus.DropOldest, es.handle, bus.QueueLen(es.rt.eventQueueLen()))
}

// stop ends the subscription: fn is not called again (a call in progress
// runs to its end).
func (es *eventSub) stop() {
	es.mu.Lock()
	es.dead.Store(true)
	s := es.sub
	es.mu.Unlock()
	if s != nil {
		s.Unsub()
	}
	rt := es.rt
	rt.mu.Lock()
	for i, x := range rt.events {
		if x == es {
			rt.events = append(rt.events[:i:i], rt.events[i+1:]...)
			break
		}
	}
	rt.mu.Unlock()
}

func (rt *Runtime) eventQueueLen() int {
	if rt.opts.EventQueueLen > 0 {
		return rt.opts.EventQueueLen
	}
	return DefaultEventQueueLen
}

// eventSubUnsub is EventSub:unsub().
func eventSubUnsub(st *State, L *lua.LState) int {
	es := checkObj[*eventSub](L, 1, eventSubClass)
	es.stop()
	return 0
}

// handle runs on the bus's delivery goroutine of the subscription: one
// event at a time, in publish order.
func (es *eventSub) handle(s *bus.Subscription, e *bus.Event) {
	if es.dead.Load() {
		s.Unsub() // unsub() ran before arm() stored the subscription
		return
	}
	rt := es.rt
	if rt.isClosing() {
		return
	}
	es.watchBacklog(s)
	es.started.Add(1)
	_, _ = rt.Call(rt.ctx, Invocation{
		Kind:  CtxEvent,
		Name:  "event_hdl",
		State: es.st,
		Fn:    es.fn,
		Args: func(L *lua.LState) []lua.LValue {
			return []lua.LValue{lua.LString(e.Type.String()), es.st.eventData(L, e), es.ud, lua.LNumber(e.When.Unix())}
		},
	})
	es.finished.Add(1)
}

// watchBacklog logs, before a call, that the handler fails to keep up the
// pace (once per backlog) and how many events were dropped since the last
// call.
func (es *eventSub) watchBacklog(s *bus.Subscription) {
	ss := s.Stats()
	rt := es.rt
	if ss.Dropped > es.seenDropped {
		n := ss.Dropped - es.seenDropped
		es.seenDropped = ss.Dropped
		rt.sendLog(nil, LevelWarning, fmt.Sprintf("Lua event_hdl: %d events dropped (oldest first, %d in total) because the handler fails to keep up the pace (more than %d unconsumed events) from %s",
			n, ss.Dropped, rt.eventQueueLen(), es.name))
	}
	switch {
	case ss.Queued >= SlowEventBacklog && !es.slow:
		es.slow = true
		rt.sendLog(nil, LevelWarning, fmt.Sprintf("Lua event_hdl: the handler fails to keep up the pace (%d unconsumed events) from %s; events are still delivered in order, the oldest are dropped beyond %d",
			ss.Queued, es.name, rt.eventQueueLen()))
	case ss.Queued == 0 && es.slow:
		es.slow = false
	}
}

// armEvents subscribes the subscriptions made before Start. rt.mu is not held.
func (rt *Runtime) armEvents() {
	rt.mu.Lock()
	subs := append([]*eventSub(nil), rt.events...)
	rt.mu.Unlock()
	for _, es := range subs {
		es.arm()
	}
}

// StopEvents ends every Lua event subscription of the runtime and makes
// later core.event_sub / Server:event_sub calls inert. The daemon calls it on
// the previous runtime when a reloaded one starts, so handlers do not run
// twice. Close does it too.
func (rt *Runtime) StopEvents() {
	rt.mu.Lock()
	rt.eventsStopped = true
	subs := rt.events
	rt.events = nil
	rt.mu.Unlock()
	for _, es := range subs {
		es.stop()
	}
}

// EventStats returns the statistics of the runtime's Lua subscriptions that
// have not ended (unsub), in subscription order.
func (rt *Runtime) EventStats() []EventStats {
	rt.mu.Lock()
	subs := append([]*eventSub(nil), rt.events...)
	rt.mu.Unlock()
	out := make([]EventStats, 0, len(subs))
	for _, es := range subs {
		x := EventStats{Name: es.name, Types: es.filter.Types, State: es.st.id, Started: es.started.Load(), Finished: es.finished.Load()}
		if r := es.filter.Server; r != nil {
			x.Server = r.ProxyName + "/" + r.Name
		}
		es.mu.Lock()
		s := es.sub
		es.mu.Unlock()
		x.Active = s != nil && !es.dead.Load()
		if s != nil {
			ss := s.Stats()
			x.Queued, x.Dropped = ss.Queued, ss.Dropped
		}
		out = append(out, x)
	}
	return out
}

// Bus returns the event bus the runtime subscribes to (Options.Bus, or the
// runtime's own bus when none was given).
func (rt *Runtime) Bus() *bus.Bus { return rt.bus }
