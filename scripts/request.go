package scripts

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy"
	"moonbus/proxy/sample"
)

// The request path: what the proxy engine calls (Extensions) and the
// per-transaction state the TXN, applet and channel classes share.
//
//	ext := rt.Extensions()                      // before proxy.New
//	eng, err := proxy.New(cfg, proxy.Options{Extensions: ext})
//	rt.SetEngine(eng)                            // before eng.Start / rt.Start
//
// lua.<name> fetches and converters are registered into the engine's sample
// registry, so they work wherever a sample expression does (ACLs, %[...],
// set-var chains, use_backend); actions and services are keyed "lua.<name>"
// with their facilities, argument counts and modes.

// reqEnv is what the request path needs from the engine, built by SetEngine
// and read-only afterwards.
type reqEnv struct {
	eng     *proxy.Engine
	fetches map[string]string // txn.f method name → fetch keyword
	convs   map[string]string // txn.c method name → converter keyword
	loggers map[*proxy.Proxy]Logger
}

// convInputFetch is the hidden fetch that feeds txn.c:<conv>(input, ...)
// its input (see convStream).
const convInputFetch = "_lua.input"

// luaSampleArgs are the argument kinds of lua.<name> fetches and
// converters: up to 12 optional strings.
var luaSampleArgs = func() []sample.ArgKind {
	a := make([]sample.ArgKind, 12)
	for i := range a {
		a[i] = sample.ArgStr
	}
	return a
}()

// SetEngine gives the runtime the engine built with its Extensions: Lua
// objects then see the live proxies and servers, txn.f / txn.c know every
// fetch and converter, and Lua logs reach the proxies' loggers. When the
// runtime's Host is an *EngineHost, it is given the engine too. Call it
// before Start.
func (rt *Runtime) SetEngine(e *proxy.Engine) {
	rt.engine.Store(e)
	if h, ok := rt.host.(*EngineHost); ok {
		h.SetEngine(e)
	}
	env := &reqEnv{eng: e, fetches: map[string]string{}, convs: map[string]string{}, loggers: map[*proxy.Proxy]Logger{}}
	reg := e.Registry()
	for _, kw := range reg.Fetches() {
		// Lua-defined fetches are left out: calling one from Lua would
		// re-enter the state the caller holds.
		if !strings.HasPrefix(kw, "lua.") && !strings.HasPrefix(kw, "_lua.") {
			env.fetches[methodName(kw)] = kw
		}
	}
	for _, kw := range reg.Converters() {
		if !strings.HasPrefix(kw, "lua.") {
			env.convs[methodName(kw)] = kw
		}
	}
	for _, p := range e.Proxies() {
		if p.HasLoggers() {
			env.loggers[p] = proxyLogger{p}
		}
	}
	rt.req.Store(env)
}

// Engine returns the engine given by SetEngine (nil before).
func (rt *Runtime) Engine() *proxy.Engine { return rt.engine.Load() }

// methodName turns a sample keyword into its Lua method name: '.', '-'
// and '+' become '_'.
func methodName(kw string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '+' {
			return '_'
		}
		return r
	}, kw)
}

// proxyLogger sends Lua log lines to a proxy's loggers.
type proxyLogger struct{ p *proxy.Proxy }

func (l proxyLogger) Log(level int, msg string) { l.p.SendLog(level, msg) }

// txnLogger returns the logger of a transaction's proxy (the backend once
// chosen, else the frontend); nil means the global loggers.
func (rt *Runtime) txnLogger(t *proxy.Txn) Logger {
	env := rt.req.Load()
	if env == nil || t == nil {
		return nil
	}
	p := t.Backend()
	if p == nil {
		p = t.Frontend()
	}
	return env.loggers[p]
}

// Extensions returns the hooks to give proxy.New: every lua.<name> fetch,
// converter, action and service the scripts registered.
func (rt *Runtime) Extensions() *proxy.Extensions {
	ext := &proxy.Extensions{
		Samples:  rt.registerSamples,
		Actions:  map[string]proxy.ActionDef{},
		Services: map[string]proxy.ServiceDef{},
	}
	for name, a := range rt.reg.Actions {
		ext.Actions["lua."+name] = proxy.ActionDef{
			Facilities: append([]string(nil), a.Facilities...),
			NbArgs:     a.NbArgs,
			Run:        rt.actionFunc(name, a),
		}
	}
	for name, s := range rt.reg.Services {
		ext.Services["lua."+name] = proxy.ServiceDef{Mode: s.Mode, Run: rt.serviceFunc(name, s)}
	}
	return ext
}

// registerSamples adds the lua.<name> fetches and converters to an
// instance's registry. As in HAProxy they are declared as producing strings
// (ACLs match them as strings unless -m says otherwise); the sample they
// return at run time keeps its own type (integer, boolean or string).
func (rt *Runtime) registerSamples(reg *sample.Registry) error {
	for name, f := range rt.reg.Fetches {
		if err := reg.RegisterFetch("lua."+name, sample.FetchDef{Args: luaSampleArgs, Out: sample.Str, Fn: rt.fetchFunc(name, f)}); err != nil {
			return err
		}
	}
	for name, f := range rt.reg.Converters {
		if err := reg.RegisterConverter("lua."+name, sample.ConvDef{Args: luaSampleArgs, In: sample.Str, Out: sample.Str, Fn: rt.convFunc(name, f)}); err != nil {
			return err
		}
	}
	return reg.RegisterFetch(convInputFetch, sample.FetchDef{Out: sample.Any, Fn: func(s sample.Stream, _ []sample.Arg, out *sample.Sample) bool {
		cs, ok := s.(*convStream)
		if !ok {
			return false
		}
		*out = cs.in
		return true
	}})
}

// convStream evaluates "_lua.input,<conv>(args)" for txn.c: it is the
// transaction with the converter's input attached.
type convStream struct {
	sample.Stream
	in sample.Sample
}

// txnData is the Lua host's per-transaction state (Txn.LuaData). While a
// transaction only needs its per-thread state index it is stored as a uint8
// (no allocation); it becomes a *txnData when a script keeps private data
// or edits a channel.
type txnData struct {
	caller                int
	privs                 map[*State]lua.LValue
	reqFwd                int // request channel bytes already forwarded (TCP)
	prioClass, prioOffset int
}

// txnCaller returns the per-thread state index of a transaction, picking
// one round-robin on first use so every Lua call of the transaction runs in
// the same state (txn:get_priv sees what txn:set_priv stored).
func (rt *Runtime) txnCaller(t *proxy.Txn) int {
	switch d := t.LuaData().(type) {
	case uint8:
		return int(d)
	case *txnData:
		return d.caller
	}
	c := rt.pickThread()
	if c < 256 {
		t.SetLuaData(uint8(c))
	} else {
		t.SetLuaData(&txnData{caller: c})
	}
	return c
}

// pickThread chooses the per-thread state of a new transaction: the next
// one round-robin, or the first after it that no other call holds, so a
// transaction does not queue behind a busy state while another is idle.
func (rt *Runtime) pickThread() int {
	n := len(rt.thread)
	if n <= 1 {
		return 0
	}
	start := int(rt.txnRR.Add(1)-1) % n
	for k := 0; k < n; k++ {
		i := (start + k) % n
		if st := rt.thread[i]; st != nil && len(st.lock) == 0 {
			return i
		}
	}
	return start
}

// data returns the transaction's *txnData, creating it.
func (rt *Runtime) data(t *proxy.Txn) *txnData {
	if d, ok := t.LuaData().(*txnData); ok {
		return d
	}
	d := &txnData{caller: rt.txnCaller(t)}
	t.SetLuaData(d)
	return d
}

// reqCtx is the context of request-path calls. It is never cancelled:
// Close interrupts blocking calls through the runtime's own context, and a
// context without Done keeps calls free of cancellation bookkeeping.
var reqCtx = context.Background()

// luaCall is the pooled state of one call from the request path, with its
// Args and Results callbacks bound once so a call allocates no closure.
type luaCall struct {
	rt    *Runtime
	t     *proxy.Txn
	kind  Context
	fargs []sample.Arg
	words []string
	in    lua.LValue // converter input
	res   sample.Sample
	// scratch receives result bytes: the transaction's scratch buffer, nil
	// to allocate. (The evaluator's *Sample may live on its goroutine's
	// stack, so a call never keeps a pointer to it.)
	scratch sample.Stream
	ok      bool
	code    int
	hasRet  bool
	tx      *txnUD
	newObj  func(st *State) lua.LValue
	vals    []lua.LValue
	argsFn  func(*lua.LState) []lua.LValue
	resFn   func(*lua.LState, []lua.LValue)
}

var callPool = sync.Pool{New: func() any {
	c := &luaCall{}
	c.argsFn = c.buildArgs
	c.resFn = c.results
	return c
}}

func (rt *Runtime) getCall(t *proxy.Txn, kind Context) *luaCall {
	c := callPool.Get().(*luaCall)
	c.rt, c.t, c.kind = rt, t, kind
	return c
}

func (c *luaCall) release() {
	if c.tx != nil {
		c.tx.invalidate()
	}
	c.rt, c.t, c.fargs, c.words, c.in, c.tx, c.newObj, c.scratch = nil, nil, nil, nil, nil, nil, nil, nil
	c.res = sample.Sample{}
	c.ok, c.hasRet, c.code = false, false, 0
	for i := range c.vals {
		c.vals[i] = nil
	}
	c.vals = c.vals[:0]
	callPool.Put(c)
}

// buildArgs runs on the call's coroutine with the state lock held.
func (c *luaCall) buildArgs(L *lua.LState) []lua.LValue {
	st := c.rt.StateOf(L)
	c.vals = c.vals[:0]
	switch c.kind {
	case CtxConverter:
		c.vals = append(c.vals, c.in)
	case CtxService, CtxCLI:
		c.vals = append(c.vals, c.newObj(st))
	default:
		c.tx = newTxnUD(c.rt, c.t, c.kind)
		c.vals = append(c.vals, st.newObj(txnClass, c.tx))
	}
	for i := range c.fargs {
		if c.fargs[i].Present {
			c.vals = append(c.vals, lua.LString(c.fargs[i].Str))
		}
	}
	for _, w := range c.words {
		c.vals = append(c.vals, lua.LString(w))
	}
	return c.vals
}

// results converts what a fetch or converter returned (the first value),
// or reads an action's return code (the last value).
func (c *luaCall) results(L *lua.LState, rets []lua.LValue) {
	if len(rets) == 0 {
		return
	}
	switch c.kind {
	case CtxFetch, CtxConverter:
		c.ok = luaToSample(rets[0], c.scratch, &c.res)
	case CtxAction:
		if n, ok := rets[len(rets)-1].(lua.LNumber); ok {
			c.code, c.hasRet = int(n), true
		}
	}
}

// luaToSample converts a Lua result to a sample (reference §1.3): number →
// integer (truncated), boolean → boolean, string → string (copied into the
// stream's scratch buffer), anything else → boolean false.
func luaToSample(v lua.LValue, s sample.Stream, out *sample.Sample) bool {
	switch x := v.(type) {
	case lua.LNumber:
		out.SetInt(int64(x))
	case lua.LBool:
		out.SetBool(bool(x))
	case lua.LString:
		if s == nil {
			out.SetStr([]byte(x))
			return true
		}
		sc := s.Scratch()
		start := len(*sc)
		*sc = append(*sc, x...)
		out.SetStr((*sc)[start:len(*sc):len(*sc)])
	default:
		out.SetBool(false)
	}
	return true
}

// fetchFunc is the sample fetch of a lua.<name> registration.
func (rt *Runtime) fetchFunc(name string, f *Func) sample.FetchFunc {
	return func(s sample.Stream, args []sample.Arg, out *sample.Sample) bool {
		t, ok := s.(*proxy.Txn)
		if !ok {
			return false
		}
		c := rt.getCall(t, CtxFetch)
		defer c.release()
		c.fargs, c.scratch = args, t
		_, err := rt.Call(reqCtx, Invocation{Kind: CtxFetch, Name: name, Func: f, Caller: rt.txnCaller(t), NRet: lua.MultRet,
			Args: c.argsFn, Results: c.resFn, Logger: rt.txnLogger(t)})
		if err != nil || !c.ok {
			return false
		}
		*out = c.res
		return true
	}
}

// convFunc is the converter of a lua.<name> registration; its input is
// already a string.
func (rt *Runtime) convFunc(name string, f *Func) sample.ConvFunc {
	return func(s sample.Stream, args []sample.Arg, smp *sample.Sample) bool {
		t, _ := s.(*proxy.Txn)
		if cs, ok := s.(*convStream); ok {
			t, _ = cs.Stream.(*proxy.Txn)
		}
		caller := -1
		var logger Logger
		if t != nil {
			caller, logger = rt.txnCaller(t), rt.txnLogger(t)
		}
		c := rt.getCall(t, CtxConverter)
		defer c.release()
		c.fargs, c.in = args, lua.LString(smp.Str)
		if t != nil {
			c.scratch = t
		}
		_, err := rt.Call(reqCtx, Invocation{Kind: CtxConverter, Name: name, Func: f, Caller: caller, NRet: lua.MultRet,
			Args: c.argsFn, Results: c.resFn, Logger: logger})
		if err != nil || !c.ok {
			return false
		}
		*smp = c.res
		return true
	}
}

// yieldBudget bounds how long an action that keeps returning act.YIELD is
// re-run before the rule moves on.
func (rt *Runtime) yieldBudget() time.Duration {
	if d := rt.opts.SessionTimeout; d > 0 {
		return d
	}
	return 30 * time.Second
}

// actionFunc runs a lua.<name> action: the function gets the TXN and the
// rule's words; its last return value is the act.* code (none means
// act.CONTINUE, an error too). act.YIELD re-runs the function after
// act.wake_time (10ms by default).
func (rt *Runtime) actionFunc(name string, a *Action) func(*proxy.Txn, []string) proxy.ActionResult {
	// Only http-after-response forbids yielding outright; the engine does
	// not say which rule set runs an action registered for several.
	noYield := len(a.Facilities) == 1 && a.Facilities[0] == "http-after-res"
	return func(t *proxy.Txn, args []string) proxy.ActionResult {
		var deadline time.Time
		for {
			var oc Outcome
			c := rt.getCall(t, CtxAction)
			c.words = args
			_, err := rt.Call(reqCtx, Invocation{Kind: CtxAction, Name: name, Func: a.Func, Caller: rt.txnCaller(t), NRet: lua.MultRet,
				Args: c.argsFn, Results: c.resFn, Logger: rt.txnLogger(t), NoYield: noYield, Outcome: &oc})
			code, hasRet := c.code, c.hasRet
			var done *proxy.ActionResult
			if c.tx != nil && c.tx.doneSet {
				r := c.tx.doneResult
				done = &r
			}
			c.release()
			switch {
			case done != nil:
				return *done
			case err != nil, oc.Done, !hasRet:
				return proxy.ActContinue
			case proxy.ActionResult(code) != proxy.ActYield:
				if code < 0 || code > int(proxy.ActInvalid) {
					return proxy.ActContinue
				}
				return proxy.ActionResult(code)
			}
			now := time.Now()
			if deadline.IsZero() {
				deadline = now.Add(rt.yieldBudget())
			}
			d := oc.WakeTime
			if d <= 0 {
				d = 10 * time.Millisecond
			}
			if now.Add(d).After(deadline) {
				return proxy.ActContinue
			}
			tm := time.NewTimer(d)
			select {
			case <-tm.C:
			case <-rt.ctx.Done():
				tm.Stop()
				return proxy.ActContinue
			}
		}
	}
}

// serviceFunc runs a lua.<name> service with an AppletHTTP or AppletTCP.
// An HTTP service that fails before sending its headers answers 500.
func (rt *Runtime) serviceFunc(name string, s *Service) func(*proxy.Txn) {
	return func(t *proxy.Txn) {
		c := rt.getCall(t, CtxService)
		defer c.release()
		var ha *appletHTTP
		var ta *appletTCP
		if t.IsHTTP() {
			c.newObj = func(st *State) lua.LValue {
				c.tx = newTxnUD(rt, t, CtxService)
				ha = newAppletHTTP(t, c.tx)
				return st.newObj(appletHTTPClass, ha)
			}
		} else {
			c.newObj = func(st *State) lua.LValue {
				c.tx = newTxnUD(rt, t, CtxService)
				ta = &appletTCP{io: t.TCPApplet(), tx: c.tx}
				return st.newObj(appletTCPClass, ta)
			}
		}
		_, err := rt.Call(reqCtx, Invocation{Kind: CtxService, Name: name, Mode: s.Mode, Func: s.Func, Caller: rt.txnCaller(t), NRet: 0,
			Args: c.argsFn, Logger: rt.txnLogger(t)})
		if ha != nil {
			ha.dead.Store(true)
		}
		if ta != nil {
			ta.dead.Store(true)
		}
		if err == nil || !t.IsHTTP() {
			return
		}
		a := t.HTTPApplet()
		if a.Started() {
			t.CloseClient()
			return
		}
		body := "<html><body><h1>500 Internal Server Error</h1>\nAn internal server error occurred.\n</body></html>\n"
		a.SetStatus(500, "")
		a.AddHeader("content-type", "text/html")
		a.AddHeader("content-length", strconv.Itoa(len(body)))
		a.AddHeader("cache-control", "no-cache")
		_ = a.Send([]byte(body))
		t.CloseClient()
	}
}
