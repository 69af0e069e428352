package scripts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"moonbus/bus"
	"moonbus/proxy"
	"moonbus/proxy/sample"
)

// Load is one lua-load or lua-load-per-thread directive.
type Load struct {
	// File is the Lua file to load.
	File string
	// Args are the extra words of the directive; the chunk receives them as
	// its varargs (...).
	Args []string
	// PerThread selects lua-load-per-thread (one copy per thread state).
	PerThread bool
	// Pos is the directive's position, "file:line", used in error messages.
	Pos string
}

// PrependPath is one lua-prepend-path directive.
type PrependPath struct {
	Path string
	// Kind is "path" (the default when empty) or "cpath".
	Kind string
}

// Options configures a Runtime. Start from DefaultOptions(): zero durations
// mean "no limit", not "HAProxy's default".
type Options struct {
	// Loads are the lua-load / lua-load-per-thread directives, in order.
	Loads []Load
	// PrependPaths are the lua-prepend-path directives, in order (a later one
	// is searched first).
	PrependPaths []PrependPath
	// SessionTimeout bounds the Lua run time of actions, fetches, converters,
	// filters and CLI handlers (tune.lua.session-timeout; HAProxy default 4s).
	SessionTimeout time.Duration
	// TaskTimeout bounds tasks, crons and event handlers (default: none).
	TaskTimeout time.Duration
	// ServiceTimeout bounds services (default 4s).
	ServiceTimeout time.Duration
	// BurstTimeout bounds one uninterrupted run between two blocking calls
	// (default 1s). gopher-lua has no instruction hook, so there is no forced
	// yield: a CPU loop that never blocks is stopped after BurstTimeout.
	BurstTimeout time.Duration
	// ForcedYield is accepted for compatibility and has no effect (see
	// BurstTimeout).
	ForcedYield int
	// MaxMemMB (tune.lua.maxmem) is best effort: gopher-lua allocates on the
	// Go heap without per-state accounting, so it only caps each coroutine's
	// data stack and call depth; it is not a byte-exact memory limit.
	MaxMemMB int
	// OpenLibs is tune.lua.openlibs: "all" (default when empty), "none", or a
	// comma-separated list of table, io, os, string, math, utf8, package,
	// debug. base and coroutine are always loaded.
	OpenLibs string
	// BoolSampleConversion is "normal" (booleans reach Lua as booleans) or
	// "pre-3.1-bug" (as integers 0/1; the default when empty).
	BoolSampleConversion string
	// LogLoggers is tune.lua.log.loggers: "on" (default when empty) or "off".
	LogLoggers string
	// LogStderr is tune.lua.log.stderr: "on", "auto" (default when empty) or
	// "off".
	LogStderr string
	// Logger receives lines meant for the global loggers; nil when the
	// global section has no logger.
	Logger Logger
	// Stderr receives the stderr copies and alerts (default os.Stderr).
	Stderr io.Writer
	// Stdout receives print() output (default os.Stdout).
	Stdout io.Writer
	// Host gives access to proxies, environment, info and variables.
	Host Host
	// Threads is the number of per-thread states (default GOMAXPROCS).
	Threads int
	// Debug is HAProxy's debug mode (-d): debug-level Lua logs reach stderr.
	Debug bool
	// Bus is the event bus core.event_sub and Server:event_sub subscribe
	// to (the daemon's). Nil gives the runtime a bus of its own (Bus()).
	Bus *bus.Bus
	// EventQueueLen bounds each Lua subscription's queue: beyond it the
	// oldest waiting events are dropped, counted and logged. 0 means
	// DefaultEventQueueLen.
	EventQueueLen int
}

// DefaultOptions returns HAProxy's defaults for the tune.lua.* settings.
func DefaultOptions() Options {
	return Options{
		SessionTimeout:       4 * time.Second,
		ServiceTimeout:       4 * time.Second,
		BurstTimeout:         time.Second,
		ForcedYield:          10000,
		OpenLibs:             "all",
		BoolSampleConversion: "pre-3.1-bug",
		LogLoggers:           "on",
		LogStderr:            "auto",
		Threads:              runtime.GOMAXPROCS(0),
	}
}

// Errors reported by Call (wrapped in *CallError) and New.
var (
	ErrExecutionTimeout = errors.New("execution timeout")
	ErrBurstTimeout     = errors.New("burst timeout")
	ErrYieldNotAllowed  = errors.New("yield not allowed")
	ErrAborted          = errors.New("execution aborted")
	ErrClosed           = errors.New("lua runtime closed")
)

// Runtime owns every Lua state of one daemon instance: the shared state
// (lua-load), the per-thread states (lua-load-per-thread), the registry of
// Lua-defined fetches/converters/actions/services/CLI commands/filters, and
// the tasks and crons started by the scripts.
type Runtime struct {
	opts   Options
	host   Host
	reg    *Registry
	shared *State
	thread []*State // per-thread states, index = thread-1
	all    []*State
	byG    map[*lua.Global]*State // read-only after New

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu        sync.Mutex
	started   bool
	closed    bool
	pending   []pendingTask
	crons     []*cronJob
	scheduler *cronScheduler

	// Event framework (events.go): the bus, whether the runtime owns it,
	// and the Lua subscriptions not ended yet.
	bus           *bus.Bus
	ownBus        bool
	events        []*eventSub
	eventsStopped bool

	wg           sync.WaitGroup
	mailTakeover atomic.Bool
	warnOnce     sync.Map // string -> struct{}
	conns        connSet
	logMu        sync.Mutex
	pid          int

	// Request path (request.go): the engine given by SetEngine, the method
	// names of txn.f / txn.c, and the per-transaction state picker.
	engine    atomic.Pointer[proxy.Engine]
	req       atomic.Pointer[reqEnv]
	txnRR     atomic.Uint32
	localMaps *sample.Maps
}

type pendingTask struct {
	st   *State
	fn   *lua.LFunction
	args []lua.LValue
	name string
}

// LoadError is a lua-load failure, formatted as HAProxy reports it.
type LoadError struct {
	Pos  string // "file:line" of the directive, may be empty
	File string
	Err  error
}

func (e *LoadError) Error() string {
	if e.Pos != "" {
		return fmt.Sprintf("parsing [%s] : %v", e.Pos, e.Err)
	}
	return e.Err.Error()
}

func (e *LoadError) Unwrap() error { return e.Err }

// New creates the Lua states and loads every file in body context. Each file
// is compiled once; its bytecode is shared by all states that load it.
func New(opts Options) (*Runtime, error) {
	if opts.Host == nil {
		opts.Host = nopHost{}
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Threads <= 0 {
		opts.Threads = runtime.GOMAXPROCS(0)
	}
	libs, err := parseOpenLibs(opts.OpenLibs)
	if err != nil {
		return nil, err
	}
	rt := &Runtime{opts: opts, host: opts.Host, reg: newRegistry(), pid: os.Getpid(), byG: map[*lua.Global]*State{}, localMaps: sample.NewMaps()}
	rt.ctx, rt.cancel = context.WithCancel(context.Background())
	rt.bus = opts.Bus

	protos := map[string]*lua.FunctionProto{}
	compile := func(ld Load) (*lua.FunctionProto, error) {
		if p, ok := protos[ld.File]; ok {
			return p, nil
		}
		p, err := compileFile(ld.File)
		if err != nil {
			return nil, &LoadError{Pos: ld.Pos, File: ld.File, Err: err}
		}
		protos[ld.File] = p
		return p, nil
	}
	var perThread []Load
	for _, ld := range opts.Loads {
		if _, err := compile(ld); err != nil {
			rt.closeStates()
			return nil, err
		}
		if ld.PerThread {
			perThread = append(perThread, ld)
		}
	}
	// HAProxy loads the shared files and thread 1's copies in directive
	// order, then threads 2..N.
	if len(perThread) > 0 {
		rt.thread = make([]*State, opts.Threads)
	}
	for _, ld := range opts.Loads {
		var st *State
		if ld.PerThread {
			if rt.thread[0] == nil {
				rt.thread[0] = rt.newState(1, libs)
			}
			st = rt.thread[0]
		} else {
			if rt.shared == nil {
				rt.shared = rt.newState(0, libs)
			}
			st = rt.shared
		}
		if err := st.loadChunk(protos[ld.File], ld); err != nil {
			rt.closeStates()
			return nil, err
		}
	}
	for i := 1; i < len(rt.thread); i++ {
		rt.thread[i] = rt.newState(i+1, libs)
		for _, ld := range perThread {
			if err := rt.thread[i].loadChunk(protos[ld.File], ld); err != nil {
				rt.closeStates()
				return nil, err
			}
		}
	}
	rt.all = rt.all[:0]
	if rt.shared != nil {
		rt.all = append(rt.all, rt.shared)
	}
	rt.all = append(rt.all, rt.thread...)
	if err := rt.reg.validate(len(rt.thread)); err != nil {
		rt.closeStates()
		return nil, err
	}
	if rt.bus == nil {
		rt.bus, rt.ownBus = bus.New(bus.Options{History: -1}), true
	}
	return rt, nil
}

func compileFile(name string) (*lua.FunctionProto, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("error in Lua file '%s': cannot open %s: %w", name, name, err)
	}
	defer f.Close()
	chunk, err := parse.Parse(f, name)
	if err != nil {
		return nil, fmt.Errorf("error in Lua file '%s': %w", name, err)
	}
	proto, err := lua.Compile(chunk, name)
	if err != nil {
		return nil, fmt.Errorf("error in Lua file '%s': %w", name, err)
	}
	return proto, nil
}

// Registry returns what the scripts registered. It is complete when New
// returns and is not modified afterwards.
func (rt *Runtime) Registry() *Registry { return rt.reg }

// StateOf returns the State an LState (main thread or coroutine) belongs
// to, nil when it is not one of this runtime's.
func (rt *Runtime) StateOf(L *lua.LState) *State { return rt.byG[L.G] }

// Shared returns the lua-load state, nil when no file was loaded that way.
func (rt *Runtime) Shared() *State { return rt.shared }

// PerThread returns the lua-load-per-thread states (index = thread-1), nil
// when no file was loaded that way.
func (rt *Runtime) PerThread() []*State { return rt.thread }

// Options returns the options the runtime was built with (defaults applied).
func (rt *Runtime) Options() Options { return rt.opts }

// MailTakeover reports whether a script called core.use_native_mailers_config()
// or core.disable_legacy_mailers(): the native mail sender must stay quiet.
func (rt *Runtime) MailTakeover() bool { return rt.mailTakeover.Load() }

// Start runs the register_init functions (shared state first, then thread
// states 1..N, each in registration order), then arms the event
// subscriptions made so far (body and init) and starts the tasks and crons
// the scripts registered. ctx bounds the init phase only; background work
// runs until Close. An init failure is returned and nothing is started.
func (rt *Runtime) Start(ctx context.Context) error {
	rt.mu.Lock()
	if rt.started || rt.closed {
		rt.mu.Unlock()
		return errors.New("scripts: runtime already started or closed")
	}
	rt.mu.Unlock()
	for _, st := range rt.all {
		if err := st.runInits(ctx); err != nil {
			return err
		}
	}
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return ErrClosed
	}
	rt.started = true
	rt.mu.Unlock()
	rt.armEvents()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, t := range rt.pending {
		rt.startTaskLocked(t)
	}
	rt.pending = nil
	if len(rt.crons) > 0 {
		rt.scheduler = newCronScheduler(rt)
		for _, j := range rt.crons {
			if err := rt.scheduler.add(j); err != nil {
				return err
			}
		}
		rt.scheduler.start()
	}
	return nil
}

// Close ends the event subscriptions, stops crons and tasks (a task blocked
// in a yielding call is woken, a running one is stopped at its next
// instruction), closes the sockets the scripts left open, waits for every
// goroutine the runtime started, then closes the states. It waits for Calls
// in progress to return.
func (rt *Runtime) Close() error {
	rt.mu.Lock()
	if rt.closed {
		rt.mu.Unlock()
		return nil
	}
	rt.closed = true
	sched := rt.scheduler
	rt.mu.Unlock()
	rt.StopEvents()
	rt.cancel()
	if sched != nil {
		sched.stop()
	}
	rt.conns.closeAll()
	rt.wg.Wait()
	rt.closeStates()
	if rt.ownBus {
		rt.bus.Close()
	}
	return nil
}

func (rt *Runtime) closeStates() {
	rt.cancel()
	for _, st := range rt.all {
		if st == nil {
			continue
		}
		st.lock <- struct{}{}
		if !st.closed {
			st.L.Close()
			st.closed = true
		}
		<-st.lock
	}
}

// isClosing reports whether Close was called.
func (rt *Runtime) isClosing() bool { return rt.ctx.Err() != nil }

// startTask runs fn as a task in st: now if the runtime is started, else
// when Start runs.
func (rt *Runtime) startTask(st *State, fn *lua.LFunction, args []lua.LValue) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	t := pendingTask{st: st, fn: fn, args: args}
	if rt.closed {
		return
	}
	if !rt.started {
		rt.pending = append(rt.pending, t)
		return
	}
	rt.startTaskLocked(t)
}

func (rt *Runtime) startTaskLocked(t pendingTask) {
	rt.wg.Add(1)
	go func() {
		defer rt.wg.Done()
		_, _ = rt.Call(rt.ctx, Invocation{
			Kind:  CtxTask,
			State: t.st,
			Fn:    t.fn,
			Args:  func(*lua.LState) []lua.LValue { return t.args },
		})
	}()
}

// warnOnceKey logs a warning the first time key is seen.
func (rt *Runtime) warnOnceKey(key, msg string) {
	if _, loaded := rt.warnOnce.LoadOrStore(key, struct{}{}); !loaded {
		rt.warning(msg)
	}
}

func parseOpenLibs(s string) (map[string]bool, error) {
	all := []string{"table", "io", "os", "string", "math", "utf8", "package", "debug"}
	libs := map[string]bool{}
	switch strings.TrimSpace(s) {
	case "", "all":
		for _, l := range all {
			libs[l] = true
		}
		return libs, nil
	case "none":
		return libs, nil
	}
	for _, w := range strings.Split(s, ",") {
		w = strings.TrimSpace(w)
		ok := false
		for _, l := range all {
			if w == l {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("tune.lua.openlibs: unknown Lua library '%s'", w)
		}
		libs[w] = true
	}
	return libs, nil
}
