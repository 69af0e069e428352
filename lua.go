package moonbus

import (
	"context"
	"io"
	"runtime"
	"sort"

	"moonbus/config"
	"moonbus/proxy"
	"moonbus/scripts"
)

// ReleaseDate is core.get_info()'s Release_date.
const ReleaseDate = "2026/01/01"

// luaRuntime is the daemon's view of the Lua host: it is created before the
// proxy engine (scripts run their body while the configuration loads and
// register fetches, converters, actions and services), then given the engine
// so that core.backends, Server and Proxy objects see the live proxies.
type luaRuntime interface {
	SetEngine(e *proxy.Engine)
	Start(ctx context.Context) error
	Close()
	// MailTakeover reports whether a script took over mail alerts
	// (core.disable_legacy_mailers / core.use_native_mailers_config).
	MailTakeover() bool
	// CLICommands returns the runtime API commands scripts registered with
	// core.register_cli.
	CLICommands() []LuaCLICommand
}

// LuaCLICommand is a runtime API command a script registered with
// core.register_cli: the request words must start with Words.
type LuaCLICommand struct {
	// Words are the keywords that select the command (at most 5).
	Words []string
	// Usage is the help text the script gave.
	Usage string
	// Run executes the Lua handler with every word of the request (the
	// command's own words first) and the payload sent after "<<" (empty
	// when none); what the handler sends is written to w. The error is the
	// Lua failure, already logged.
	Run func(ctx context.Context, args []string, payload string, w io.Writer) error
}

// luaHost is the daemon's Lua host: a scripts.Runtime over the engine.
type luaHost struct {
	rt   *scripts.Runtime
	host *scripts.EngineHost
	// prev is the runtime this one replaces on reload: its event
	// subscriptions end when this one starts (so no handler runs twice).
	prev *luaHost
}

// newLua loads the lua-load / lua-load-per-thread files of cfg. It returns a
// nil runtime and nil extensions when the configuration loads no script.
func (d *Daemon) newLua(cfg *config.Config) (luaRuntime, *proxy.Extensions, error) {
	if len(cfg.Global.Lua.Loads) == 0 {
		return nil, nil, nil
	}
	opts := luaOptions(cfg)
	host := scripts.NewEngineHost(cfg, Version, ReleaseDate)
	opts.Host = host
	if len(cfg.Global.Logs) > 0 {
		opts.Logger = host
	}
	opts.Stdout, opts.Stderr, opts.Debug = d.opts.Stdout, d.opts.Stderr, d.opts.Debug
	// core.event_sub and Server:event_sub subscribe to the daemon's bus,
	// which exists before the first runtime is built.
	opts.Bus = d.bus
	if cfg.Global.Lua.BoolSampleConversion == "" && d.log != nil {
		d.log.Warn("Lua: 'tune.lua.bool-sample-conversion' is not set: boolean samples reach Lua as integers 0/1 ('pre-3.1-bug'); set it to 'normal' to get Lua booleans.")
	}
	rt, err := scripts.New(opts)
	if err != nil {
		return nil, nil, err
	}
	// newLua runs from New (d.lua is nil) or from Reload, which holds d.mu.
	prev, _ := d.lua.(*luaHost)
	return &luaHost{rt: rt, host: host, prev: prev}, rt.Extensions(), nil
}

// luaOptions maps the global lua-* and tune.lua.* directives onto the
// runtime options (HAProxy's defaults come from scripts.DefaultOptions and
// the config package).
func luaOptions(cfg *config.Config) scripts.Options {
	l := cfg.Global.Lua
	opts := scripts.DefaultOptions()
	for _, ld := range l.Loads {
		opts.Loads = append(opts.Loads, scripts.Load{File: ld.File, Args: ld.Args, PerThread: ld.PerThread, Pos: ld.Pos.String()})
	}
	for _, p := range l.PrependPaths {
		opts.PrependPaths = append(opts.PrependPaths, scripts.PrependPath{Path: p.Path, Kind: p.Kind})
	}
	opts.SessionTimeout = l.SessionTimeout
	opts.TaskTimeout = l.TaskTimeout
	opts.ServiceTimeout = l.ServiceTimeout
	opts.BurstTimeout = l.BurstTimeout
	if l.ForcedYield > 0 {
		opts.ForcedYield = l.ForcedYield
	}
	opts.MaxMemMB = l.MaxMemMB
	if l.LogLoggers != "" {
		opts.LogLoggers = l.LogLoggers
	}
	if l.LogStderr != "" {
		opts.LogStderr = l.LogStderr
	}
	if l.BoolSampleConversion != "" {
		opts.BoolSampleConversion = l.BoolSampleConversion
	}
	if l.OpenLibs != "" {
		opts.OpenLibs = l.OpenLibs
	}
	opts.Threads = runtime.GOMAXPROCS(0)
	if cfg.Global.Nbthread > 0 {
		opts.Threads = cfg.Global.Nbthread
	}
	return opts
}

// SetEngine gives the scripts the live engine.
func (l *luaHost) SetEngine(e *proxy.Engine) { l.rt.SetEngine(e) }

// Start ends the event subscriptions of the runtime this one replaces (on
// reload), then runs the register_init functions, arms the event
// subscriptions and starts tasks and crons.
func (l *luaHost) Start(ctx context.Context) error {
	if l.prev != nil {
		l.prev.rt.StopEvents()
		l.prev = nil
	}
	return l.rt.Start(ctx)
}

// Close stops tasks and closes the Lua states.
func (l *luaHost) Close() { _ = l.rt.Close() }

// MailTakeover reports whether a script took over mail alerts.
func (l *luaHost) MailTakeover() bool { return l.rt.MailTakeover() }

// CLICommands returns the core.register_cli commands, sorted by words.
func (l *luaHost) CLICommands() []LuaCLICommand {
	reg := l.rt.Registry()
	keys := make([]string, 0, len(reg.CLI))
	for k := range reg.CLI {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]LuaCLICommand, 0, len(keys))
	for _, k := range keys {
		cmd := reg.CLI[k]
		rt := l.rt
		out = append(out, LuaCLICommand{
			Words: append([]string(nil), cmd.Words...),
			Usage: cmd.Usage,
			Run: func(ctx context.Context, args []string, payload string, w io.Writer) error {
				return rt.RunCLI(ctx, cmd, args, payload, w)
			},
		})
	}
	return out
}

// LuaEventStats returns the statistics of the Lua event subscriptions
// (core.event_sub, Server:event_sub) of the running configuration, nil when
// no script is loaded.
func (d *Daemon) LuaEventStats() []scripts.EventStats {
	d.mu.Lock()
	l, _ := d.lua.(*luaHost)
	d.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.rt.EventStats()
}

// LuaCLICommands returns the runtime API commands the running configuration's
// scripts registered (core.register_cli), nil when no script is loaded.
func (d *Daemon) LuaCLICommands() []LuaCLICommand {
	d.mu.Lock()
	l := d.lua
	d.mu.Unlock()
	if l == nil {
		return nil
	}
	return l.CLICommands()
}
