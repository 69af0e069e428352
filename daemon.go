// Package moonbus is the Moonbus daemon as a library: a Daemon value owns
// one running instance — the proxy engine, the event bus and every consumer
// wired to it — with New, Start, Reload and Stop, and no process-global
// state, so tests run several instances in one process. cmd/moonbus only
// turns flags and signals into calls on it.
package moonbus

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
	"moonbus/proxy/runtimeapi"
)

// Version is the Moonbus version.
const Version = "0.1.0-dev"

// Options configure a Daemon.
type Options struct {
	// Logger receives daemon messages; nil prints HAProxy-style lines on
	// Stderr.
	Logger *slog.Logger
	// Stdout and Stderr back "log stdout" / "log stderr"; nil = the process's.
	Stdout, Stderr io.Writer
	// Debug enables debug-level messages (moonbus -d).
	Debug bool
	// Instance names this instance on the bus (default: the first nats
	// section's instance, else the host name).
	Instance string
}

// Daemon is one running Moonbus instance.
type Daemon struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	cfg     *config.Config
	eng     *proxy.Engine
	lua     luaRuntime
	alerts  *alerts
	cli     *runtimeapi.Server
	bus     *bus.Bus
	fleet   *fleet
	started bool
	stopped bool
}

// New builds a daemon from a parsed configuration; nothing listens yet.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Instance = busInstance(opts, cfg); opts.Instance == "" {
		opts.Instance, _ = os.Hostname()
	}
	d := &Daemon{opts: opts, log: opts.Logger, cfg: cfg}
	if d.log == nil {
		d.log = slog.New(proxy.NewMessageHandler(opts.Stderr, opts.Debug))
	}
	d.bus = bus.New(bus.Options{Instance: opts.Instance, Logger: d.log})
	fl, err := d.newFleet(cfg, nil)
	if err != nil {
		d.bus.Close()
		return nil, err
	}
	eng, lua, err := d.build(cfg, nil)
	if err != nil {
		d.bus.Close()
		return nil, err
	}
	al, err := d.newAlerts(cfg)
	if err != nil {
		if lua != nil {
			lua.Close()
		}
		d.bus.Close()
		return nil, err
	}
	al.setClaimer(fl.claimer())
	d.eng, d.lua, d.alerts, d.fleet = eng, lua, al, fl
	d.cli = d.newCLI(cfg)
	return d, nil
}

// build creates the Lua host and the engine for cfg (nothing runs yet).
func (d *Daemon) build(cfg *config.Config, prev *proxy.Engine) (*proxy.Engine, luaRuntime, error) {
	lua, ext, err := d.newLua(cfg)
	if err != nil {
		return nil, nil, err
	}
	eng, err := proxy.New(cfg, proxy.Options{
		Logger:     d.log,
		Stdout:     d.opts.Stdout,
		Stderr:     d.opts.Stderr,
		Publisher:  d.bus,
		Extensions: ext,
		Previous:   prev,
		Stats:      d.statsOptions(),
	})
	if err != nil {
		if lua != nil {
			lua.Close()
		}
		return nil, nil, err
	}
	if lua != nil {
		lua.SetEngine(eng)
	}
	return eng, lua, nil
}

// Start binds the listeners and starts every component.
func (d *Daemon) Start(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return errors.New("daemon already started")
	}
	if err := d.eng.Start(); err != nil {
		return fmt.Errorf("starting proxies: %w", err)
	}
	if err := d.alerts.start(ctx, d.bus, d.lua != nil && d.lua.MailTakeover()); err != nil {
		_ = d.eng.Stop(ctx)
		return fmt.Errorf("starting alerts: %w", err)
	}
	if err := d.cli.Start(); err != nil {
		_ = d.eng.Stop(ctx)
		return fmt.Errorf("starting the runtime API: %w", err)
	}
	if d.lua != nil {
		if err := d.lua.Start(ctx); err != nil {
			_ = d.eng.Stop(ctx)
			return fmt.Errorf("starting Lua: %w", err)
		}
	}
	d.fleet.start(ctx, d)
	d.started = true
	return nil
}

// Reload builds a new instance from cfg, starts it on the same listening
// sockets, swaps it in and stops the old one. A configuration that fails to
// build is refused and the old one keeps serving.
func (d *Daemon) Reload(ctx context.Context, cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.started || d.stopped {
		return errors.New("daemon not running")
	}
	old, oldLua, oldAlerts := d.eng, d.lua, d.alerts
	eng, lua, err := d.build(cfg, old)
	if err != nil {
		return fmt.Errorf("reload refused, keeping the current configuration: %w", err)
	}
	al, err := d.newAlerts(cfg)
	if err != nil {
		if lua != nil {
			lua.Close()
		}
		return fmt.Errorf("reload refused, keeping the current configuration: %w", err)
	}
	fl, err := d.newFleet(cfg, d.fleet)
	if err != nil {
		if lua != nil {
			lua.Close()
		}
		return fmt.Errorf("reload refused, keeping the current configuration: %w", err)
	}
	al.setClaimer(fl.claimer())
	sockets := old.DetachListeners()
	if err := eng.StartInherit(sockets); err != nil {
		old.ResumeAccept()
		if lua != nil {
			lua.Close()
		}
		return fmt.Errorf("reload refused, keeping the current configuration: %w", err)
	}
	oldAlerts.unsubscribe()
	if err := al.start(ctx, d.bus, lua != nil && lua.MailTakeover()); err != nil {
		d.log.Error("alerts: " + err.Error())
	}
	if lua != nil {
		if err := lua.Start(ctx); err != nil {
			d.log.Error("Lua: " + err.Error())
		}
	}
	stopFleet := d.fleet.retire(fl)
	fl.start(ctx, d)
	oldCfg := d.cfg
	d.eng, d.lua, d.alerts, d.cfg, d.fleet = eng, lua, al, cfg, fl
	if !sameSockets(oldCfg.Global.StatsSockets, cfg.Global.StatsSockets) || lua != nil || oldLua != nil {
		d.cli.Stop()
		d.cli = d.newCLI(cfg)
		if err := d.cli.Start(); err != nil {
			d.log.Error("runtime API: " + err.Error())
		}
	}
	go func() {
		sctx, cancel := context.WithTimeout(context.Background(), hardStopAfter(cfg))
		defer cancel()
		_ = old.Stop(sctx)
		_ = oldAlerts.stop(sctx)
		_ = stopFleet(sctx)
		if oldLua != nil {
			oldLua.Close()
		}
	}()
	d.log.Info("Reloaded configuration.")
	return nil
}

// Stop stops accepting connections and waits for in-flight work until ctx
// is done; then it closes what remains.
func (d *Daemon) Stop(ctx context.Context) error {
	d.mu.Lock()
	if d.stopped {
		d.mu.Unlock()
		return nil
	}
	d.stopped = true
	eng, lua, al, cli, fl := d.eng, d.lua, d.alerts, d.cli, d.fleet
	d.mu.Unlock()
	cli.Stop()
	err := eng.Stop(ctx)
	if lua != nil {
		lua.Close()
	}
	if al != nil {
		_ = al.stop(ctx)
	}
	_ = fl.retire(nil)(ctx)
	d.bus.Close()
	return err
}

// Engine returns the running proxy engine.
func (d *Daemon) Engine() *proxy.Engine {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.eng
}

// Bus returns the daemon's event bus.
func (d *Daemon) Bus() *bus.Bus { return d.bus }

// Config returns the configuration in use.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// HardStopAfter returns the configured hard-stop-after (default 30s).
func (d *Daemon) HardStopAfter() time.Duration { return hardStopAfter(d.Config()) }

func hardStopAfter(cfg *config.Config) time.Duration {
	if cfg.Global.HardStopAfter > 0 {
		return cfg.Global.HardStopAfter
	}
	return 30 * time.Second
}
