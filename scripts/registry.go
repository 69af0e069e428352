package scripts

import (
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	lua "github.com/yuin/gopher-lua"
)

// Func is a Lua function registered under a name. A function registered from
// the shared state has one reference; one registered from lua-load-per-thread
// files has one reference per thread state.
type Func struct {
	// Name is the name HAProxy uses in log lines: the registered name for
	// fetches, converters, actions and filters; "<lua.name>" for services;
	// "<lua.cli.w1.w2>" for CLI commands.
	Name      string
	shared    *funcRef
	perThread []*funcRef
	rr        atomic.Uint32
}

type funcRef struct {
	st    *State
	fn    *lua.LFunction
	extra lua.LValue // filter class table
}

// Shared reports whether the function lives in the shared state.
func (f *Func) Shared() bool { return f.shared != nil }

// Pick returns the state and function to call. caller >= 0 selects a
// per-thread state by index (modulo the number of states); -1 picks them
// round-robin. The shared state's function is returned whatever caller is.
func (f *Func) Pick(caller int) (*State, *lua.LFunction) {
	if f.shared != nil {
		return f.shared.st, f.shared.fn
	}
	n := len(f.perThread)
	if n == 0 {
		return nil, nil
	}
	var i int
	if caller >= 0 {
		i = caller % n
	} else {
		i = int(f.rr.Add(1)-1) % n
	}
	r := f.perThread[i]
	return r.st, r.fn
}

// States returns the states holding the function: the shared state, or the
// per-thread states in thread order.
func (f *Func) States() []*State {
	if f.shared != nil {
		return []*State{f.shared.st}
	}
	out := make([]*State, 0, len(f.perThread))
	for _, r := range f.perThread {
		if r != nil {
			out = append(out, r.st)
		}
	}
	return out
}

// Extra returns the extra value stored with the function in the state (the
// class table of a filter).
func (f *Func) Extra(st *State) lua.LValue {
	if r := f.ref(st); r != nil && r.extra != nil {
		return r.extra
	}
	return lua.LNil
}

func (f *Func) ref(st *State) *funcRef {
	if st.id == 0 {
		return f.shared
	}
	if st.id-1 < len(f.perThread) {
		return f.perThread[st.id-1]
	}
	return nil
}

// set stores fn for st and reports whether st had already registered it.
func (f *Func) set(st *State, fn *lua.LFunction, extra lua.LValue) bool {
	r := &funcRef{st: st, fn: fn, extra: extra}
	if st.id == 0 {
		again := f.shared != nil
		f.shared = r
		return again
	}
	for len(f.perThread) < st.id {
		f.perThread = append(f.perThread, nil)
	}
	again := f.perThread[st.id-1] != nil
	f.perThread[st.id-1] = r
	return again
}

// Action is a core.register_action registration.
type Action struct {
	*Func
	// Facilities lists where the action may be used: "tcp-req", "tcp-res",
	// "http-req", "http-res", "http-after-res".
	Facilities []string
	// NbArgs is the exact number of configuration words the rule takes.
	NbArgs int
}

// Service is a core.register_service registration.
type Service struct {
	*Func
	// Mode is "tcp" or "http".
	Mode string
}

// CLICommand is a core.register_cli registration.
type CLICommand struct {
	*Func
	Words []string
	Usage string
}

// Filter is a core.register_filter registration (stored only: the host
// decides whether it can run filters). Func.Extra(state) is the class table.
type Filter struct {
	*Func
}

// Registry holds what the scripts registered, keyed by the name given to
// core.register_* (without the "lua." prefix; CLI commands by their words
// joined with spaces). It is filled while New loads the files and is
// read-only afterwards.
type Registry struct {
	Fetches    map[string]*Func
	Converters map[string]*Func
	Actions    map[string]*Action
	Services   map[string]*Service
	CLI        map[string]*CLICommand
	Filters    map[string]*Filter
}

func newRegistry() *Registry {
	return &Registry{
		Fetches:    map[string]*Func{},
		Converters: map[string]*Func{},
		Actions:    map[string]*Action{},
		Services:   map[string]*Service{},
		CLI:        map[string]*CLICommand{},
		Filters:    map[string]*Filter{},
	}
}

// all returns every registered function, sorted by name for stable errors.
func (r *Registry) all() []*Func {
	var fs []*Func
	for _, f := range r.Fetches {
		fs = append(fs, f)
	}
	for _, f := range r.Converters {
		fs = append(fs, f)
	}
	for _, a := range r.Actions {
		fs = append(fs, a.Func)
	}
	for _, s := range r.Services {
		fs = append(fs, s.Func)
	}
	for _, c := range r.CLI {
		fs = append(fs, c.Func)
	}
	for _, f := range r.Filters {
		fs = append(fs, f.Func)
	}
	sort.Slice(fs, func(i, j int) bool { return fs[i].Name < fs[j].Name })
	return fs
}

// validate applies HAProxy's post-init checks: a function is registered in
// every thread state or in none, and not both in the shared state and in
// thread states.
func (r *Registry) validate(nthreads int) error {
	var errs []string
	for _, f := range r.all() {
		set := 0
		for _, ref := range f.perThread {
			if ref != nil {
				set++
			}
		}
		if set != 0 && set != nthreads {
			errs = append(errs, fmt.Sprintf("Lua function '%s' is not referenced in all thread. Expect function in all thread or in none thread.", f.Name))
			continue
		}
		if set != 0 && f.shared != nil {
			errs = append(errs, fmt.Sprintf("Lua function '%s' is referenced both ins shared Lua context (through lua-load) and per-thread Lua context (through lua-load-per-thread). these two context exclusive.", f.Name))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}
