// Package scripts is Moonbus's Lua host: it runs HAProxy Lua scripts
// unmodified on gopher-lua. It owns the Lua states (one shared state for
// lua-load, one state per thread for lua-load-per-thread), the execution
// contexts and their timeouts, the HAProxy Lua API that does not need the
// request path (core, Socket, HTTPClient, Queue, Concat, Regex, Proxy, Server,
// Listener, act), the Lua 5.3 shims a 5.1 interpreter needs, the registry of
// what scripts register (fetches, converters, actions, services, CLI commands,
// filters), the tasks and crons scripts start (core.register_task,
// core.register_cron), and the event framework (core.event_sub,
// Server:event_sub over the bus, events.go). The API is written against the Host, ProxyObj,
// ServerObj and ListenerObj interfaces (host.go); EngineHost implements
// them over a live proxy.Engine, and the request-path classes (TXN,
// Fetches, Converters, HTTP, Reply, Channel, AppletHTTP, AppletTCP, Map,
// StickTable, Patref) work on the engine's transactions and maps
// (request.go).
//
// # Life cycle
//
//	host := scripts.NewEngineHost(cfg, version, releaseDate)
//	opts.Host = host                 // (and opts.Logger = host for global loggers)
//	opts.Bus = daemonBus             // core.event_sub subscribes there (nil: a bus of its own)
//	rt, err := scripts.New(opts)     // loads every file in body context
//	ext := rt.Extensions()           // lua.<name> fetches, converters, actions, services
//	eng, err := proxy.New(cfg, proxy.Options{Extensions: ext})
//	rt.SetEngine(eng)                // Lua now sees the live proxies
//	err = rt.Start(ctx)              // register_init functions, event subscriptions, tasks, crons
//	rt.RunCLI(ctx, rt.Registry().CLI[words], args, payload, w) // core.register_cli
//	prev.StopEvents()                // on reload: the old runtime's handlers stop
//	rt.Close()                       // ends subscriptions, stops tasks and crons, closes the states
//
// Every Lua call of one transaction runs in the same state (a per-thread
// state is picked round-robin per transaction), so txn:get_priv sees what
// txn:set_priv stored; TXN and applet objects are valid for the call that
// received them only (pooled transactions are reused afterwards).
//
// # Execution model (DESIGN §4.4)
//
// One goroutine at a time runs Lua in a state: each State has a lock. Every
// entry (task, action, fetch, converter, service, event callback, CLI
// command) runs in its own coroutine of the state (pooled LState threads).
// A blocking call (core.sleep, core.msleep, core.yield, core.wait, Socket
// I/O, httpclient, Queue:pop_wait) releases the lock while it waits and takes
// it back before returning to Lua: this is how HAProxy's yield maps onto
// goroutines. Body and init run on the state's main thread and cannot block.
// Blocking calls in sample-fetches, converters, filters and actions of final
// rulesets (Invocation.NoYield) abort the run with HAProxy's message.
//
// Timeouts: the session/service/task timeouts count Lua run time only (time
// spent blocked is not counted) and burst-timeout bounds one uninterrupted
// run. Both are enforced through the coroutine's context (LState.SetContext):
// a runaway loop is stopped at its next instruction, even inside pcall, the
// error is logged ("Lua sample-fetch 'x': execution timeout.") and the state
// keeps serving other entries. gopher-lua has no instruction hook, so
// tune.lua.forced-yield has no effect: a CPU loop that never blocks holds its
// state until burst-timeout stops it.
//
// # Events (core.event_sub, Server:event_sub)
//
// Each Lua subscription is a DropOldest subscription of the bus (global, or
// bound to one server by proxy uuid, puid and rid). Its handler runs on the
// bus's delivery goroutine of that subscription: one Call in event context
// per event, in publish order, on the subscribing state; the callback gets
// (event, data, sub, when) with data built from the published event (a
// publish-time snapshot) and data.reference looked up on the live host at
// delivery (nil once the server is gone, always nil for SERVER_DEL).
// Families: SERVER and BACKEND (ours; data proxy_name, proxy_uuid, active,
// backup, reference = the Proxy). Subscriptions made in body or init are
// armed by Start; with lua-load-per-thread only thread 1 subscribes there.
// Errors are logged as "Lua event_hdl: ..." and the subscription stays.
// A slow handler keeps receiving every event in order; at SlowEventBacklog
// waiting events a warning is logged, and beyond Options.EventQueueLen
// (DefaultEventQueueLen) the oldest are dropped, counted (EventStats, bus
// counters) and logged. Names HAProxy knows but Moonbus never publishes
// (PAT_REF*, ACME*, SERVER_NAME) are accepted and stay silent.
//
// # Calling registered functions (for the request path)
//
// Resolve a keyword once at config time (reg.Fetches["name"], an *Action,
// *Service...), then per request:
//
//	rets, err := rt.Call(ctx, scripts.Invocation{
//		Kind:   scripts.CtxFetch,
//		Func:   reg.Fetches[name],
//		Caller: workerIndex,        // picks the per-thread state; -1 = round-robin
//		NRet:   lua.MultRet,
//		Args: func(L *lua.LState) []lua.LValue {
//			st := rt.StateOf(L)     // the state the call runs in
//			return []lua.LValue{pushTXN(st, txn), lua.LString(arg1)}
//		},
//		Logger: proxyLoggers,       // core.log and error lines of this call
//	})
//	if err == nil && len(rets) > 0 { sample := scripts.ToSample(rets[0]) }
//
// Args runs on the coroutine that will run the call, with the state lock held;
// Results (optional) also runs under the lock, to read returned tables. Errors
// are *CallError values that have already been logged. Outcome reports
// act.wake_time and core.done. FromSample/ToSample convert samples.
//
// # Adding a class (one file per class)
//
// A class file declares a type-name constant, registers the class from init()
// and implements its methods as Method values (func(st *State, L
// *lua.LState) int); every state then gets the metatable:
//
//	const txnClass = "TXN"
//
//	func init() {
//		registerClass(&class{
//			name:    txnClass,
//			methods: map[string]Method{"get_var": txnGetVar, "set_var": txnSetVar},
//			index:   txnIndex,   // optional: attributes (txn.f, txn.http, ...)
//			meta:    map[string]Method{"__tostring": txnString}, // optional
//			global:  "",         // optional: a global table of statics (Regex.new)
//		})
//	}
//
//	func pushTXN(st *State, t *Txn) lua.LValue { return st.newObj(txnClass, t) }
//
//	func txnGetVar(st *State, L *lua.LState) int {
//		t := checkObj[*Txn](L, 1, txnClass)   // "bad argument #1 ... (TXN expected, got x)"
//		checkArgs(L, 2, "get_var")            // HAProxy's "'get_var' needs 2 arguments"
//		...
//	}
//
// Helpers: st.newObj, checkObj, checkArgs, checkInt, checkFunction,
// st.mapToTable, st.FromSample, st.pushProxy, st.pushServer, st.lazySet
// (read-only name-indexed tables with __pairs).
//
// # Blocking methods
//
// A method that waits (applet receive, channel data in an action, ...) first
// checks the context, then waits with the lock released:
//
//	e := st.mustYieldable(L, "receive") // raises HAProxy's error in fetch/converter/body/init
//	st.Unlocked(func() {
//		select {
//		case data = <-ch:
//		case <-e.Stop():              // timeout, core.done, host ctx done
//		case <-st.rt.ctx.Done():      // runtime closing
//		}
//	})
//
// The function given to Unlocked must not touch Lua values. st.Done(L, vals...)
// ends the running entry as core.done() does (for txn:done()).
//
// # Lock order
//
// State lock → Runtime.mu (register_task/register_cron/event_sub take
// Runtime.mu while Lua runs). Nothing takes a State lock while holding
// Runtime.mu. Queue state is only touched under the State lock. An event
// subscription's own lock is taken before the bus's (Subscribe, Unsub) and
// never while Runtime.mu is held; no bus lock is held while Lua runs.
//
// # Not implemented here
//
// HTTPMessage, CertCache, filters at run time (register_filter only
// records), and Patref:event_sub (PAT_REF events). Patref:is_map() tells maps by their values (an empty
// map file reads as an ACL file). Lua-defined fetches and converters are not methods of
// txn.f / txn.c (calling one would re-enter the running state). Actions
// registered for several rule sets may block even in http-after-response
// (only actions registered for http-after-res alone are refused blocking
// calls): the engine does not tell which rule set runs an action. Lua 5.1
// syntax limits remain: no "//", bitwise operators, goto, integer subtype
// or "\x"/"\z"/"\u{}" string escapes.
package scripts
