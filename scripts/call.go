package scripts

import (
	"context"
	"errors"
	"fmt"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// Invocation describes one call from the host into Lua.
type Invocation struct {
	// Kind is the execution context (CtxFetch, CtxAction, ...). It selects
	// the timeout, whether blocking calls are allowed and the log prefix.
	Kind Context
	// Name is the registered name, used in log lines ("Lua function 'x'").
	// For a registered Func it defaults to Func.Name.
	Name string
	// Mode is "tcp" or "http" for services ("Lua applet tcp '<n>'").
	Mode string
	// Func is the registered function to call; the state is picked with
	// Caller. Alternatively set State and Fn directly.
	Func *Func
	// Caller selects the per-thread state: a caller index (e.g. the worker
	// number; taken modulo the number of states) or -1 for round-robin.
	// Ignored for functions of the shared state.
	Caller int
	State  *State
	Fn     *lua.LFunction
	// Args builds the arguments on the coroutine that will run the call,
	// with the state lock held (e.g. a TXN userdata, then the config words).
	Args func(L *lua.LState) []lua.LValue
	// NRet is the number of results wanted; lua.MultRet (-1) keeps them all.
	NRet int
	// Results, if set, is called with the state lock held and the results
	// still valid on the coroutine (to read tables, convert samples...).
	Results func(L *lua.LState, rets []lua.LValue)
	// NoYield forbids blocking calls even in a yieldable kind (actions in
	// final rulesets, http-after-response).
	NoYield bool
	// Logger receives core.log lines and the error line of this call (the
	// proxy's loggers); nil means the global loggers.
	Logger Logger
	// Outcome, if set, receives details of the run.
	Outcome *Outcome
}

// Outcome reports details of a finished Call.
type Outcome struct {
	// WakeTime is the delay set by act.wake_time(ms), 0 when not called.
	WakeTime time.Duration
	// Done is true when the run ended with core.done() (or a host helper
	// built on State.Done, like txn:done()).
	Done bool
}

// CallError is a failed Lua entry. Its message is the log line HAProxy would
// print, e.g. "Lua sample-fetch 'foo': execution timeout."; it has already
// been logged when Call returns it.
type CallError struct {
	Kind Context
	Name string
	// Reason is ErrExecutionTimeout, ErrBurstTimeout, ErrYieldNotAllowed,
	// ErrAborted, or the *lua.ApiError of a runtime error.
	Reason error
	Msg    string
}

func (e *CallError) Error() string { return e.Msg }
func (e *CallError) Unwrap() error { return e.Reason }

// Call runs a Lua function in its own coroutine of the chosen state, under
// the state lock, with the timeout of inv.Kind (Lua run time only: time spent
// in blocking calls does not count) and the burst timeout. A runtime error,
// timeout or forbidden yield is logged in HAProxy's format and returned as a
// *CallError; the results are those of the function, or the values given to
// core.done(). ctx cancels the wait for the state lock and any blocking call.
//
// Call must not be made from inside a Lua call of the same state (it would
// deadlock waiting for the lock).
func (rt *Runtime) Call(ctx context.Context, inv Invocation) (rets []lua.LValue, err error) {
	st, fn := inv.State, inv.Fn
	if inv.Func != nil {
		st, fn = inv.Func.Pick(inv.Caller)
		if inv.Name == "" {
			inv.Name = inv.Func.Name
		}
	}
	if st == nil || fn == nil {
		return nil, fmt.Errorf("scripts: Call %q: no function: %w", inv.Name, ErrAborted)
	}
	if err := st.acquire(ctx); err != nil {
		return nil, err
	}
	defer st.release()

	r := st.getRunner()
	th := r.th
	e := &r.e
	*e = entry{st: st, kind: inv.Kind, name: inv.Name, mode: inv.Mode, noYield: inv.NoYield, log: inv.Logger, parent: ctx, L: th, r: r}
	e.total, e.burst = rt.timeoutFor(inv.Kind), rt.opts.BurstTimeout
	if e.total > 0 || e.burst > 0 || ctx.Done() != nil {
		r.ctx.reset(ctx)
		e.rc = r.ctx
		th.SetContext(r.ctx)
	}
	g := st.L.G
	prevThread := g.CurrentThread
	g.CurrentThread = th
	st.cur = e
	defer func() {
		st.cur = nil
		g.CurrentThread = prevThread
		if e.rc != nil {
			r.disarm()
			e.rc.finish()
		}
		st.putRunner(r)
	}()

	th.Push(fn)
	nargs := 0
	if inv.Args != nil {
		args, aerr := buildArgs(th, inv.Args)
		if aerr != nil {
			th.SetTop(0)
			return nil, rt.callFailed(e, aerr, aerr.Error())
		}
		for _, a := range args {
			th.Push(a)
		}
		nargs = len(args)
	}
	nret := inv.NRet
	if nret < 0 {
		nret = lua.MultRet
	}
	e.startSegment()
	perr := th.PCall(nargs, nret, nil)
	e.endSegment()

	if inv.Outcome != nil {
		inv.Outcome.WakeTime = e.wakeTime
		inv.Outcome.Done = e.done
	}
	switch {
	case e.done:
		rets = append([]lua.LValue(nil), e.doneVals...)
		if inv.NRet >= 0 && len(rets) > inv.NRet {
			rets = rets[:inv.NRet]
		}
	case e.yieldAbort:
		return nil, rt.callFailed(e, ErrYieldNotAllowed, "")
	case perr != nil:
		if e.rc != nil && e.rc.Err() != nil {
			cause := e.rc.Cause()
			switch {
			case errors.Is(cause, ErrExecutionTimeout), errors.Is(cause, ErrBurstTimeout):
				return nil, rt.callFailed(e, cause, "")
			default:
				return nil, rt.callFailed(e, ErrAborted, "")
			}
		}
		return nil, rt.callFailed(e, perr, "")
	default:
		top := th.GetTop()
		rets = make([]lua.LValue, top)
		for i := 1; i <= top; i++ {
			rets[i-1] = th.Get(i)
		}
	}
	if inv.Results != nil {
		if err := runResults(th, rets, inv.Results); err != nil {
			return nil, rt.callFailed(e, err, err.Error())
		}
	}
	return rets, nil
}

func runResults(L *lua.LState, rets []lua.LValue, f func(*lua.LState, []lua.LValue)) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("reading results: %v", r)
		}
	}()
	f(L, rets)
	return nil
}

func buildArgs(L *lua.LState, f func(*lua.LState) []lua.LValue) (args []lua.LValue, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building arguments: %v", r)
		}
	}()
	return f(L), nil
}

// timeoutFor returns the run-time budget of a context.
func (rt *Runtime) timeoutFor(k Context) time.Duration {
	switch k {
	case CtxAction, CtxFetch, CtxConverter, CtxCLI, CtxFilter:
		return rt.opts.SessionTimeout
	case CtxService:
		return rt.opts.ServiceTimeout
	case CtxTask, CtxEvent:
		return rt.opts.TaskTimeout
	}
	return 0
}

// logPrefix returns HAProxy's prefix for the error lines of an entry.
func (e *entry) logPrefix() string {
	switch e.kind {
	case CtxTask:
		return "Lua task"
	case CtxEvent:
		return "Lua event_hdl"
	case CtxFetch:
		return fmt.Sprintf("Lua sample-fetch '%s'", e.name)
	case CtxConverter:
		return fmt.Sprintf("Lua converter '%s'", e.name)
	case CtxService:
		mode := e.mode
		if mode == "" {
			mode = "http"
		}
		return fmt.Sprintf("Lua applet %s '%s'", mode, e.name)
	case CtxCLI:
		return fmt.Sprintf("Lua cli '%s'", e.name)
	case CtxFilter:
		return fmt.Sprintf("Lua filter '%s'", e.name)
	case CtxInit:
		return "Lua init"
	}
	return fmt.Sprintf("Lua function '%s'", e.name)
}

// callFailed builds, logs and returns the CallError of a failed entry.
func (rt *Runtime) callFailed(e *entry, reason error, text string) error {
	if text == "" {
		switch {
		case errors.Is(reason, ErrExecutionTimeout):
			text = "execution timeout"
		case errors.Is(reason, ErrBurstTimeout):
			text = "burst timeout"
		case errors.Is(reason, ErrYieldNotAllowed):
			text = "yield not allowed"
			if e.kind == CtxConverter {
				text = "yield functions like core.tcp() or core.sleep() are not allowed"
			}
		case errors.Is(reason, ErrAborted):
			text = "execution aborted"
		default:
			msg, trace := splitLuaError(reason)
			text = fmt.Sprintf("[state-id %d] runtime error: %s from %s", e.st.id, msg, trace)
		}
	}
	ce := &CallError{Kind: e.kind, Name: e.name, Reason: reason, Msg: e.logPrefix() + ": " + text + "."}
	// A task stopped because the runtime is closing is not an error.
	if !(errors.Is(reason, ErrAborted) && rt.isClosing()) {
		rt.sendErr(e.log, ce.Msg)
	}
	return ce
}

// Done ends the running entry as core.done() does: the values become the
// entry's results and the Lua code stops at once (in body and init it does
// nothing). It is for host methods such as txn:done(); it raises, so it must
// be the last thing the Go function does.
func (st *State) Done(L *lua.LState, vals ...lua.LValue) int {
	e := st.cur
	if e == nil || e.kind == CtxBody || e.kind == CtxInit {
		return 0
	}
	e.done = true
	e.doneVals = vals
	e.abort(errDoneCause)
	L.RaiseError("core.done")
	return 0
}
