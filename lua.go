package moonbus

import (
	"context"
	"errors"

	"moonbus/config"
	"moonbus/proxy"
)

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
}

// newLua loads the lua-load / lua-load-per-thread files of cfg. It returns a
// nil runtime and nil extensions when the configuration loads no script.
func (d *Daemon) newLua(cfg *config.Config) (luaRuntime, *proxy.Extensions, error) {
	if len(cfg.Global.Lua.Loads) == 0 {
		return nil, nil, nil
	}
	return nil, nil, errors.New("lua-load: the Lua host is not wired into the daemon yet")
}
