package scripts

import (
	"context"
	"errors"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// errRunFinished cancels a run's context when the run ends while coroutines
// created during it still hold child contexts.
var errRunFinished = errors.New("lua run finished")

// runCtx is the context installed on a coroutine (LState.SetContext) for one
// run. gopher-lua checks Done() before every instruction; cancelling it stops
// the Lua code at its next instruction, even through pcall. It is reused by
// the next run of the same pooled coroutine unless it was cancelled, so a run
// that neither times out nor creates coroutines allocates nothing for it.
type runCtx struct {
	mu         sync.Mutex
	parent     context.Context
	done       chan struct{}
	closed     bool
	cause      error
	gen        uint64
	funcs      map[uint64]func()
	nextID     uint64
	stopParent func() bool
}

func newRunCtx() *runCtx { return &runCtx{done: make(chan struct{})} }

func (c *runCtx) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done is read by the Lua goroutine only (which also resets it between runs).
func (c *runCtx) Done() <-chan struct{} { return c.done }

func (c *runCtx) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return context.Canceled
	}
	return nil
}

func (c *runCtx) Value(key any) any { return c.parent.Value(key) }

// Cause returns why the context was cancelled (nil while it is not).
func (c *runCtx) Cause() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cause
}

// AfterFunc lets context.WithCancel(runCtx) register children without a
// goroutine (coroutine.create inside a run makes such children).
func (c *runCtx) AfterFunc(f func()) func() bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	id := c.nextID
	c.nextID++
	if c.funcs == nil {
		c.funcs = map[uint64]func(){}
	}
	c.funcs[id] = f
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if _, ok := c.funcs[id]; ok {
			delete(c.funcs, id)
			return true
		}
		return false
	}
}

func (c *runCtx) cancel(cause error) { c.cancelGen(0, false, cause) }

// cancelGen cancels the context; when checkGen is set, only if the context is
// still in generation gen (a late callback of a previous run is ignored).
func (c *runCtx) cancelGen(gen uint64, checkGen bool, cause error) {
	c.mu.Lock()
	if c.closed || (checkGen && gen != c.gen) {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.cause = cause
	close(c.done)
	fs := c.funcs
	c.funcs = nil
	c.mu.Unlock()
	for _, f := range fs {
		f()
	}
}

// reset prepares the context for a new run under parent.
func (c *runCtx) reset(parent context.Context) {
	c.mu.Lock()
	if c.closed {
		c.done = make(chan struct{})
		c.closed = false
		c.cause = nil
	}
	c.gen++
	gen := c.gen
	c.parent = parent
	c.mu.Unlock()
	if parent.Done() == nil {
		return
	}
	if parent.Err() != nil {
		c.cancel(context.Cause(parent))
		return
	}
	c.stopParent = context.AfterFunc(parent, func() { c.cancelGen(gen, true, context.Cause(parent)) })
}

// finish ends the run: it detaches from the parent and cancels the children
// that coroutines created during the run still hold.
func (c *runCtx) finish() {
	if c.stopParent != nil {
		c.stopParent()
		c.stopParent = nil
	}
	c.mu.Lock()
	n := len(c.funcs)
	c.mu.Unlock()
	if n > 0 {
		c.cancel(errRunFinished)
	}
}

// runner is a pooled coroutine of a state with what a run reuses: its entry,
// its context and its timer.
//
// The timer is lazy: calls are short and timeouts long, so arming only
// records a deadline and disarming only clears it; the timer is reset only
// when it is not pending or would fire after the new deadline, and a firing
// that finds the deadline still ahead re-arms itself for the rest. A busy
// state therefore touches the runtime's timer heap about once per timeout
// period instead of twice per call.
type runner struct {
	th  *lua.LState
	e   entry
	ctx *runCtx

	mu         sync.Mutex // guards the fields below against the timer goroutine
	armed      *runCtx
	armedCause error
	deadline   int64 // monoNow
	timer      *time.Timer
	pending    bool  // the timer is set to fire at timerAt
	timerAt    int64 // monoNow of when the pending timer fires
}

// monoBase is the origin of monoNow, set once when the package loads.
var monoBase = time.Now()

// monoNow reads the monotonic clock in nanoseconds since monoBase; it costs
// one clock read where time.Now costs two (wall and monotonic), and a Lua
// call reads the clock twice.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// arm starts the timer of the current segment, which began at now.
func (r *runner) arm(c *runCtx, now int64, d time.Duration, cause error) {
	r.mu.Lock()
	r.armed, r.armedCause, r.deadline = c, cause, now+int64(d)
	if !r.pending || r.timerAt > r.deadline {
		r.pending, r.timerAt = true, r.deadline
		if r.timer == nil {
			r.timer = time.AfterFunc(d, r.fire)
		} else {
			r.timer.Reset(d)
		}
	}
	r.mu.Unlock()
}

// disarm forgets the deadline; a pending timer finds nothing armed when it
// fires.
func (r *runner) disarm() {
	r.mu.Lock()
	r.armed = nil
	r.mu.Unlock()
}

func (r *runner) fire() {
	r.mu.Lock()
	r.pending = false
	c, cause := r.armed, r.armedCause
	if c == nil {
		r.mu.Unlock()
		return
	}
	if left := time.Duration(r.deadline - monoNow()); left > 0 {
		// armed again since the timer was set: wait for the rest
		r.pending, r.timerAt = true, r.deadline
		r.timer.Reset(left)
		r.mu.Unlock()
		return
	}
	r.armed = nil
	r.mu.Unlock()
	c.cancel(cause)
}
