package scripts

import "time"

// Host is what the Lua runtime needs from the daemon. The proxy engine
// implements it; tests use a fake. Every method may be called from any
// goroutine, while a Lua state lock is held, so implementations must not call
// back into the Runtime and must be quick.
type Host interface {
	// Proxies returns the live proxies in configuration order (frontends,
	// backends and listen sections; no defaults or internal proxies).
	Proxies() []ProxyObj
	// Getenv looks a name up in the daemon's configured environment (the
	// process environment as modified by setenv/presetenv/resetenv/unsetenv).
	Getenv(name string) (string, bool)
	// Info returns the "show info" fields for core.get_info(). Values are
	// integers (any Go integer type) or strings; empty fields are left out.
	Info() map[string]any
	// GetVar reads a "proc." variable (name includes the scope prefix, e.g.
	// "proc.foo"). Values follow the sample types: int64, bool, string,
	// []byte, net.IP, or nil.
	GetVar(name string) (any, bool)
	// HTTPClient returns the global httpclient.* settings.
	HTTPClient() HTTPClientSettings
}

// HTTPClientSettings mirrors the httpclient.* global directives.
type HTTPClientSettings struct {
	// ResolversPrefer is "ipv4" or "ipv6" (HAProxy's default is ipv6,
	// meaning both families are tried, IPv6 first).
	ResolversPrefer string
	// ResolversDisabled forbids name resolution: URLs must carry addresses.
	ResolversDisabled bool
	// Retries is the number of extra connection attempts (0 = none).
	Retries int
	// TimeoutConnect bounds each connection attempt; 0 means 5s.
	TimeoutConnect time.Duration
	// SSLVerifyNone disables server certificate verification.
	SSLVerifyNone bool
	// SSLCAFile is a PEM bundle of trusted CAs ("" = system roots).
	SSLCAFile string
}

// ProxyObj is one proxy (frontend, backend or listen section) as Lua sees it
// through core.proxies / core.frontends / core.backends and Server:get_proxy().
type ProxyObj interface {
	Name() string
	UUID() int
	// Cap returns "frontend", "backend" or "proxy" (both).
	Cap() string
	// Mode returns "tcp", "http", "syslog", "cli", "peers", "spop" or "unknown".
	Mode() string
	// Servers returns the servers in configuration order.
	Servers() []ServerObj
	// ServerByName returns nil when there is no such server.
	ServerByName(name string) ServerObj
	// SrvAct and SrvBck count active and backup servers usable for LB.
	SrvAct() int
	SrvBck() int
	// Stats returns the "show stat" line: the backend line when the proxy has
	// backend capability, else the frontend line. Absent fields are left out.
	Stats() map[string]any
	// Mailers returns the email-alert configuration, or nil when none.
	Mailers() *ProxyMailers
	Pause()
	Resume()
	Stop()
	ShutBackupSessions()
	// Listeners returns the bind lines' listeners in order.
	Listeners() []ListenerObj
	// StickTable returns the name of the proxy's stick-table, "" when none.
	StickTable() string
}

// ListenerObj is one listener of a proxy.
type ListenerObj interface {
	// Name returns the listener's name, "" when unnamed (Lua then sees
	// "sock-<n>", n counting from 1 in bind order).
	Name() string
	// Stats returns the listener's "show stat" line, nil when it has none.
	Stats() map[string]any
}

// ProxyMailers is the legacy email-alert configuration of a proxy, as
// Proxy:get_mailers() returns it.
type ProxyMailers struct {
	TrackServerHealth bool
	LogLevel          int
	// Mailservers maps mailer name to address ("a.b.c.d:port", IPv6
	// "addr:port" without brackets, or a unix socket path).
	Mailservers        map[string]string
	MailserversTimeout int // milliseconds
	SMTPHostname       string
	SMTPFrom           string
	SMTPTo             string
}

// ServerObj is one server as the Lua Server class sees it. Setters return ""
// on success or HAProxy's error text.
type ServerObj interface {
	Name() string
	PUID() int
	RID() int
	IsDraining() bool
	IsBackup() bool
	IsDynamic() bool
	CurSess() int
	PendConn() int
	MaxConn() int
	SetMaxConn(v string) string
	Weight() int
	SetWeight(v string) string
	// Addr returns "ip:port" (IPv6 without brackets), a unix path, or
	// "<unknown>".
	Addr() string
	// SetAddr changes the address; port is "" when not given.
	SetAddr(addr, port string) string
	Stats() map[string]any
	Proxy() ProxyObj
	ShutSess()
	SetDrain()
	SetMaint()
	SetReady()
	CheckEnable()
	CheckDisable()
	CheckForceUp()
	CheckForceNolb()
	CheckForceDown()
	AgentEnable()
	AgentDisable()
	AgentForceUp()
	AgentForceDown()
	// Tracking returns the tracked server, nil when none.
	Tracking() ServerObj
	// Trackers returns the servers tracking this one.
	Trackers() []ServerObj
	// Deleted reports that the server was removed; every Lua method then
	// returns nil.
	Deleted() bool
}

// Logger receives Lua log lines (core.log and friends) and the error lines of
// failed Lua entries. level is a syslog level (0 emerg .. 7 debug); msg has
// no trailing newline and non-printable bytes already replaced by '.'.
type Logger interface {
	Log(level int, msg string)
}

// nopHost is used when Options.Host is nil.
type nopHost struct{}

func (nopHost) Proxies() []ProxyObj                { return nil }
func (nopHost) Getenv(string) (string, bool)       { return "", false }
func (nopHost) Info() map[string]any               { return nil }
func (nopHost) GetVar(string) (any, bool)          { return nil, false }
func (nopHost) HTTPClient() (s HTTPClientSettings) { return s }
