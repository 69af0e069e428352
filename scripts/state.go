package scripts

import (
	"context"
	"fmt"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Context names the execution context of a Lua entry, as HAProxy does.
type Context uint8

// The execution contexts. Body and init run in the state's main thread and
// cannot yield; the others each run in their own coroutine.
const (
	CtxBody Context = iota
	CtxInit
	CtxTask
	CtxAction
	CtxFetch
	CtxConverter
	CtxService
	CtxEvent
	CtxCLI
	CtxFilter
)

var ctxNames = [...]string{"body", "init", "task", "action", "sample-fetch", "converter", "service", "event", "cli", "filter"}

// String returns HAProxy's name of the context ("sample-fetch", ...).
func (c Context) String() string {
	if int(c) < len(ctxNames) {
		return ctxNames[c]
	}
	return fmt.Sprintf("context(%d)", int(c))
}

// canYield reports whether a blocking call is allowed in c.
func (c Context) canYield() bool {
	switch c {
	case CtxTask, CtxAction, CtxService, CtxEvent, CtxCLI:
		return true
	}
	return false
}

// maxThreadPool bounds the idle coroutines kept per state.
const maxThreadPool = 64

// State is one Lua state: a gopher-lua LState, its pool of coroutines and the
// lock that lets one goroutine at a time run Lua in it. The shared state
// (lua-load) has ID 0; per-thread states have IDs 1..N (core.thread).
type State struct {
	rt     *Runtime
	id     int
	L      *lua.LState
	lock   chan struct{}
	cur    *entry // the entry running Lua now (valid while the lock is held)
	pool   []*runner
	inits  []*lua.LFunction
	mts    map[string]*lua.LTable
	closed bool
	req    stateReq // request-path caches (request.go)
}

// ID returns the state's number: 0 for the shared state, 1..N per thread.
func (st *State) ID() int { return st.id }

// Runtime returns the runtime owning the state.
func (st *State) Runtime() *Runtime { return st.rt }

func (rt *Runtime) newState(id int, libs map[string]bool) *State {
	opts := lua.Options{
		SkipOpenLibs:        true,
		CallStackSize:       lua.CallStackSize,
		RegistrySize:        1024,
		RegistryGrowStep:    1024,
		RegistryMaxSize:     1024 * 1024,
		MinimizeStackMemory: true,
	}
	if rt.opts.MaxMemMB > 0 {
		// Best effort: cap each coroutine's data stack (16 bytes a slot).
		slots := rt.opts.MaxMemMB * 1024 * 1024 / 16
		if slots < opts.RegistrySize {
			slots = opts.RegistrySize
		}
		opts.RegistryMaxSize = slots
	}
	st := &State{rt: rt, id: id, L: lua.NewState(opts), lock: make(chan struct{}, 1), mts: map[string]*lua.LTable{}}
	rt.all = append(rt.all, st)
	rt.byG[st.L.G] = st
	st.openLibs(libs)
	for _, pp := range rt.opts.PrependPaths {
		st.prependPath(pp)
	}
	st.openClasses()
	st.openCore()
	return st
}

func (st *State) prependPath(pp PrependPath) {
	kind := pp.Kind
	if kind == "" {
		kind = "path"
	}
	pkg, ok := st.L.GetGlobal("package").(*lua.LTable)
	if !ok {
		return
	}
	old := lua.LVAsString(pkg.RawGetString(kind))
	pkg.RawSetString(kind, lua.LString(pp.Path+";"+old))
}

// loadChunk runs a compiled file in body context.
func (st *State) loadChunk(proto *lua.FunctionProto, ld Load) error {
	st.lock <- struct{}{}
	defer func() { <-st.lock }()
	e := &entry{st: st, kind: CtxBody, name: ld.File, L: st.L, parent: context.Background()}
	st.cur = e
	defer func() { st.cur = nil }()
	fn := st.L.NewFunctionFromProto(proto)
	st.L.Push(fn)
	for _, a := range ld.Args {
		st.L.Push(lua.LString(a))
	}
	if err := st.L.PCall(len(ld.Args), 0, nil); err != nil {
		return &LoadError{Pos: ld.Pos, File: ld.File, Err: fmt.Errorf("Lua runtime error: %s", luaErrorText(err))}
	}
	st.L.SetTop(0)
	return nil
}

// runInits runs the register_init functions of the state, in order, in init
// context on the main thread.
func (st *State) runInits(ctx context.Context) error {
	for _, fn := range st.inits {
		if err := st.acquire(ctx); err != nil {
			return err
		}
		e := &entry{st: st, kind: CtxInit, name: "init", L: st.L, parent: ctx}
		st.cur = e
		st.L.Push(fn)
		err := st.L.PCall(0, 0, nil)
		st.L.SetTop(0)
		st.cur = nil
		st.release()
		if err != nil {
			if e.yieldAbort {
				return fmt.Errorf("Lua init: yield not allowed: %w", ErrYieldNotAllowed)
			}
			msg, trace := splitLuaError(err)
			return fmt.Errorf("Lua init: runtime error: '%s' from %s", msg, trace)
		}
	}
	st.inits = nil
	return nil
}

// acquire takes the state lock, giving up when ctx is done.
func (st *State) acquire(ctx context.Context) error {
	select {
	case st.lock <- struct{}{}:
	default:
		select {
		case st.lock <- struct{}{}:
		case <-ctx.Done():
			return fmt.Errorf("waiting for Lua state %d: %w", st.id, ErrAborted)
		}
	}
	if st.closed {
		<-st.lock
		return ErrClosed
	}
	return nil
}

func (st *State) release() { <-st.lock }

// Do runs fn with the state lock held, on the state's main thread. It is for
// host code that must touch Lua values outside a Call (e.g. reading a table a
// script returned). fn must not block.
func (st *State) Do(ctx context.Context, fn func(L *lua.LState) error) error {
	if err := st.acquire(ctx); err != nil {
		return err
	}
	defer st.release()
	return fn(st.L)
}

// Unlocked runs fn with the state lock released, so that other entries of the
// state can run Lua meanwhile, and takes the lock back before returning. The
// run-time budget of the current entry does not count the time spent in fn,
// and the burst timer restarts afterwards. Use it for every blocking call made
// from a Lua method, after st.mustYieldable:
//
//	e := st.mustYieldable(L, "receive")
//	st.Unlocked(func() { n, err = conn.Read(buf) })
//
// fn must not touch Lua values (it runs while other coroutines use the
// state); it should return early when e.Stop() is closed.
func (st *State) Unlocked(fn func()) {
	e := st.cur
	if e != nil {
		e.endSegment()
	}
	g := st.L.G
	curThread := g.CurrentThread
	st.cur = nil
	st.release()
	if e != nil && e.flush != nil {
		f := e.flush
		e.flush = nil
		_ = f.Flush()
	}
	defer func() {
		st.lock <- struct{}{}
		g.CurrentThread = curThread
		st.cur = e
		if e != nil {
			if st.rt.isClosing() {
				e.abort(ErrAborted) // stop at the next instruction
			}
			e.startSegment()
		}
	}()
	fn()
}

// mustYieldable returns the running entry when its context may block, and
// otherwise raises HAProxy's error (and marks a fetch/converter run as
// aborted: its result is dropped even if the script catches the error).
// what names the calling function for the error text.
func (st *State) mustYieldable(L *lua.LState, what string) *entry {
	e := st.cur
	if e == nil || e.kind == CtxBody {
		L.RaiseError("attempt to yield from outside a coroutine")
		return nil
	}
	if e.kind == CtxInit {
		e.yieldAbort = true
		L.RaiseError("Lua init: yield not allowed")
		return nil
	}
	if !e.kind.canYield() || e.noYield {
		e.abort(errYieldAbort)
		L.RaiseError("%s: yield not allowed", what)
		return nil
	}
	return e
}

// current returns the running entry (nil only outside any run).
func (st *State) current() *entry { return st.cur }

// getRunner returns an idle coroutine of the state with its run objects.
func (st *State) getRunner() *runner {
	if n := len(st.pool); n > 0 {
		r := st.pool[n-1]
		st.pool = st.pool[:n-1]
		return r
	}
	th, _ := st.L.NewThread()
	return &runner{th: th, ctx: newRunCtx()}
}

func (st *State) putRunner(r *runner) {
	r.th.SetTop(0)
	r.th.RemoveContext()
	r.e = entry{}
	if len(st.pool) < maxThreadPool {
		st.pool = append(st.pool, r)
	}
}

// Causes attached to an entry's context when it is cancelled on purpose.
var (
	errDoneCause  = fmt.Errorf("core.done")
	errYieldAbort = fmt.Errorf("yield abort: %w", ErrYieldNotAllowed)
)

// entry is one run of Lua in a state: a task, an action, a fetch, ...
type entry struct {
	st      *State
	kind    Context
	name    string
	mode    string // service mode, for the log prefix
	noYield bool
	log     Logger
	L       *lua.LState

	parent context.Context
	rc     *runCtx // nil: no deadline enforcement (fast path)
	r      *runner // owns the timer; nil for body, init and nested runs

	total, burst, used time.Duration
	segStart           int64 // monoNow at the start of the running segment

	// flush sends what a service left buffered (HTTP applet): run before
	// the entry blocks, as HAProxy sends an applet's output when it yields.
	flush interface{ Flush() error }

	done       bool
	doneVals   []lua.LValue
	yieldAbort bool
	wake       chan struct{}
	wakeTime   time.Duration
}

// Stop returns a channel closed when the entry must stop waiting: its context
// was cancelled (host context done, core.done, timeout) or the runtime is
// closing. Blocking Go code inside Unlocked selects on it.
func (e *entry) Stop() <-chan struct{} {
	if e.rc != nil {
		return e.rc.Done()
	}
	return e.parent.Done()
}

// context returns the context of the run (for library calls that take one).
func (e *entry) context() context.Context {
	if e.rc != nil {
		return e.rc
	}
	return e.parent
}

// wakeChan returns the entry's wake-up channel (core.wait, Queue:alarm).
func (e *entry) wakeChan() chan struct{} {
	if e.wake == nil {
		e.wake = make(chan struct{}, 1)
	}
	return e.wake
}

func (e *entry) abort(cause error) {
	if cause == errYieldAbort {
		e.yieldAbort = true
	}
	if e.rc != nil {
		e.rc.cancel(cause)
	}
}

func (e *entry) startSegment() {
	if e.rc == nil || e.r == nil {
		return
	}
	var d time.Duration
	var cause error
	if e.total > 0 {
		d, cause = e.total-e.used, ErrExecutionTimeout
		if d <= 0 {
			d = time.Nanosecond
		}
	}
	if e.burst > 0 && (cause == nil || e.burst < d) {
		d, cause = e.burst, ErrBurstTimeout
	}
	e.segStart = monoNow()
	if cause != nil {
		e.r.arm(e.rc, e.segStart, d, cause)
	}
}

func (e *entry) endSegment() {
	if e.rc == nil || e.r == nil {
		return
	}
	e.r.disarm()
	e.used += time.Duration(monoNow() - e.segStart)
}

// luaErrorText returns the message of a Lua error without the stack trace.
func luaErrorText(err error) string {
	if ae, ok := err.(*lua.ApiError); ok {
		return lua.LVAsString(ae.Object)
	}
	return err.Error()
}

// splitLuaError returns the error message and an HAProxy-style one-line
// traceback ("file:line in function 'f', ...").
func splitLuaError(err error) (string, string) {
	ae, ok := err.(*lua.ApiError)
	if !ok {
		return err.Error(), "?"
	}
	msg := lua.LVAsString(ae.Object)
	if msg == "" {
		msg = ae.Object.String()
	}
	var parts []string
	for _, ln := range strings.Split(ae.StackTrace, "\n") {
		ln = strings.TrimSpace(ln)
		if ln == "" || ln == "stack traceback:" || ln == "[G]: ?" || strings.HasPrefix(ln, "[G]: in function 'error'") {
			continue
		}
		parts = append(parts, strings.Replace(ln, ": in ", " in ", 1))
	}
	if len(parts) == 0 {
		return msg, "?"
	}
	return msg, strings.Join(parts, ", ")
}
