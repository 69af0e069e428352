package config

// Proxy returns the frontend, backend or listen section named name, or nil.
func (c *Config) Proxy(name string) *Proxy {
	for _, px := range c.Proxies {
		if px.Name == name {
			return px
		}
	}
	return nil
}

// NamedDefaults returns the named defaults section that "from <name>" would
// use at the end of the configuration (the last one with that name), or nil.
// The runtime API "add backend <be> from <defaults>" needs it.
func (c *Config) NamedDefaults(name string) *Proxy {
	for i := len(c.Defaults) - 1; i >= 0; i-- {
		if d := c.Defaults[i]; d.Name == name && name != "" {
			return d
		}
	}
	return nil
}

// Server returns the server of p named name, or nil.
func (p *Proxy) Server(name string) *Server {
	return findServer(p, name)
}

// Clone returns a deep copy of p that shares no memory with it.
func (p *Proxy) Clone() *Proxy { return cloneProxy(p) }

// httpConnModeRank orders the HTTP connection modes, most closing last.
var httpConnModeRank = map[string]int{"": 0, "keep-alive": 0, "server-close": 1, "close": 2}

// EffectiveHTTPConnMode returns the HTTP connection mode used for a
// transaction that goes through frontend fe and backend be (either may be
// nil): the most closing of the two wins (close > server-close >
// keep-alive), as in HAProxy. The result is never "": it is "keep-alive"
// when neither proxy sets a mode.
func EffectiveHTTPConnMode(fe, be *Proxy) string {
	mode := "keep-alive"
	for _, px := range []*Proxy{fe, be} {
		if px != nil && httpConnModeRank[px.HTTPConnMode] > httpConnModeRank[mode] {
			mode = px.HTTPConnMode
		}
	}
	return mode
}
