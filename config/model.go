package config

import (
	"fmt"
	"time"
)

// Pos is a place in a configuration file.
type Pos struct {
	File string `json:"file,omitempty"`
	Line int    `json:"line,omitempty"`
}

// String renders the position as HAProxy does in its messages: "file:line".
func (p Pos) String() string { return fmt.Sprintf("%s:%d", p.File, p.Line) }

// Line is one tokenized statement kept for a later stage to compile (rules,
// ACLs, use_backend, check rules...). Words[0] is the first word of the
// statement after the section keyword prefix has been removed as documented on
// the field that holds the line.
type Line struct {
	Pos
	Words []string `json:"words"`
}

// Diag is a non-fatal message produced while parsing (a warning or a notice).
type Diag struct {
	Pos
	Level string `json:"level"` // "warning", "notice" (.notice) or "diag" (.diag)
	Msg   string `json:"msg"`
}

// String renders the message as HAProxy prints warnings, without the
// "[WARNING] (pid) : " prefix the logger adds: "parsing [file:line] : msg".
func (d Diag) String() string {
	if d.Line == 0 {
		return d.Msg
	}
	return fmt.Sprintf("parsing [%s] : %s", d.Pos, d.Msg)
}

// Error is a fatal configuration error. Its text follows HAProxy's style:
// "parsing [file:line] : <message>".
type Error struct {
	Pos
	Msg string
}

// Error renders the error as HAProxy does, without the "[ALERT] (pid) : "
// prefix the logger adds: "parsing [file:line] : msg".
func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg // file-level problems (unreadable file) carry the file name in Msg
	}
	return fmt.Sprintf("parsing [%s] : %s", e.Pos, e.Msg)
}

// ErrorList is returned when several fatal errors were found. Parsing goes on
// after an error so that one run reports them all, as haproxy -c does.
type ErrorList []*Error

// Unwrap gives errors.As and errors.Is access to each *Error.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// Error renders one error per line, in the order they were found.
func (l ErrorList) Error() string {
	s := ""
	for i, e := range l {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

// Config is the whole parsed configuration. Defaults inheritance is already
// resolved: every proxy in Proxies carries the values of the defaults section it
// inherits from, with its own lines applied on top.
type Config struct {
	Files      []string          `json:"files"`
	Global     Global            `json:"global"`
	Defaults   []*Proxy          `json:"defaults,omitempty"` // every defaults section, in file order
	Proxies    []*Proxy          `json:"proxies,omitempty"`  // frontends, backends and listens in file order
	Resolvers  []*Resolvers      `json:"resolvers,omitempty"`
	Mailers    []*Mailers        `json:"mailers,omitempty"`
	Userlists  []*Userlist       `json:"userlists,omitempty"`
	HTTPErrors []*HTTPErrors     `json:"http_errors,omitempty"`
	Webhooks   []*Webhook        `json:"webhooks,omitempty"`
	NATS       []*NATS           `json:"nats,omitempty"`
	Env        map[string]string `json:"-"` // the environment after setenv/presetenv/resetenv/unsetenv
	Warnings   []Diag            `json:"warnings,omitempty"`
}

// Global holds the global section.
type Global struct {
	Pos
	Maxconn         int           `json:"maxconn,omitempty"`
	Nbthread        int           `json:"nbthread,omitempty"`
	Pidfile         string        `json:"pidfile,omitempty"`
	Node            string        `json:"node,omitempty"`
	Description     string        `json:"description,omitempty"`
	HardStopAfter   time.Duration `json:"hard_stop_after,omitempty"`
	Logs            []*Log        `json:"logs,omitempty"`
	LogSendHostname *string       `json:"log_send_hostname,omitempty"`
	LogTag          string        `json:"log_tag,omitempty"`
	StatsSockets    []*Bind       `json:"stats_sockets,omitempty"`
	StatsTimeout    time.Duration `json:"stats_timeout,omitempty"` // filled with the default 10s
	SpreadChecks    int           `json:"spread_checks,omitempty"`
	ZeroWarning     bool          `json:"zero_warning,omitempty"`
	SetVars         []Line        `json:"set_vars,omitempty"` // "set-var proc.x <expr>" / "set-var-fmt proc.x <fmt>": Words = [keyword, variable name, expression words...] ("set-var(proc.x) expr" is accepted and normalized to that form)
	Lua             Lua           `json:"lua"`
	Tune            Tune          `json:"tune"`
	HTTPClient      HTTPClient    `json:"httpclient"`

	// Added by the config package.
	StatsMaxconn    int           `json:"stats_maxconn,omitempty"`     // "stats maxconn", default 10
	MaxSpreadChecks time.Duration `json:"max_spread_checks,omitempty"` // "max-spread-checks", 0 = unset
	CABase          string        `json:"ca_base,omitempty"`           // "ca-base": directory for relative ca-file paths
	CRTBase         string        `json:"crt_base,omitempty"`          // "crt-base": directory for relative crt paths
	SSLServerVerify string        `json:"ssl_server_verify,omitempty"` // "ssl-server-verify none|required"; "" = required
	EventLog        string        `json:"event_log,omitempty"`         // "event-log stdout|stderr|global" (ours): every bus event as one log line; "" = off
	ZeroWarningPos  Pos           `json:"-"`
}

// Lua holds the lua-* and tune.lua.* directives.
type Lua struct {
	Loads                []LuaLoad     `json:"loads,omitempty"` // lua-load and lua-load-per-thread, in order
	PrependPaths         []LuaPath     `json:"prepend_paths,omitempty"`
	SessionTimeout       time.Duration `json:"session_timeout,omitempty"` // filled with the default 4s; 0 = explicitly disabled
	TaskTimeout          time.Duration `json:"task_timeout,omitempty"`    // default 0 = none
	ServiceTimeout       time.Duration `json:"service_timeout,omitempty"` // filled with the default 4s; 0 = explicitly disabled
	BurstTimeout         time.Duration `json:"burst_timeout,omitempty"`   // filled with the default 1s; 0 = disabled; BurstTimeoutSet = given in the config
	BurstTimeoutSet      bool          `json:"burst_timeout_set,omitempty"`
	ForcedYield          int           `json:"forced_yield,omitempty"` // 0 = not set: the default depends on the state kind
	MaxMemMB             int           `json:"maxmem_mb,omitempty"`
	LogLoggers           string        `json:"log_loggers,omitempty"`            // "on" (default) or "off"
	LogStderr            string        `json:"log_stderr,omitempty"`             // "auto" (default), "on", "off"
	BoolSampleConversion string        `json:"bool_sample_conversion,omitempty"` // "normal", "pre-3.1-bug", or "" when not set
	OpenLibs             string        `json:"openlibs,omitempty"`               // "all" (default), "none" or a comma list
}

// LuaLoad is one lua-load or lua-load-per-thread line.
type LuaLoad struct {
	Pos
	File      string   `json:"path"` // the script (json "path": "file" is the position's)
	Args      []string `json:"args,omitempty"`
	PerThread bool     `json:"per_thread,omitempty"`
}

// LuaPath is one lua-prepend-path line.
type LuaPath struct {
	Pos
	Path string `json:"path"`
	Kind string `json:"kind"` // "path" or "cpath"
}

// Tune holds the tune.* keywords other than tune.lua.*.
type Tune struct {
	Bufsize       int               `json:"bufsize,omitempty"` // default 16384
	Maxrewrite    int               `json:"maxrewrite,omitempty"`
	HTTPMaxHdr    int               `json:"http_maxhdr,omitempty"` // default 101
	StickCounters int               `json:"stick_counters,omitempty"`
	Fastpath      string            `json:"fastpath,omitempty"` // tune.moonbus.fastpath on|off; "" = the default
	Other         map[string]string `json:"other,omitempty"`    // accepted tune.* keywords we do not act on
}

// HTTPClient holds the httpclient.* global keywords.
type HTTPClient struct {
	ResolversPrefer   string        `json:"resolvers_prefer,omitempty"` // "ipv4" or "ipv6"
	ResolversID       string        `json:"resolvers_id,omitempty"`
	ResolversDisabled bool          `json:"resolvers_disabled,omitempty"`
	Retries           int           `json:"retries,omitempty"`
	TimeoutConnect    time.Duration `json:"timeout_connect,omitempty"`
	SSLVerify         string        `json:"ssl_verify,omitempty"`
	SSLCAFile         string        `json:"ssl_ca_file,omitempty"`
}

// Log is one "log" line (global or proxy).
type Log struct {
	Pos
	Target   string `json:"target"`           // "stdout", "stderr", "127.0.0.1:514", "/dev/log", "udp@..."...
	Len      int    `json:"len,omitempty"`    // default 1024
	Format   string `json:"format,omitempty"` // rfc3164 (default), rfc5424, raw, local, short, priority, timed, iso
	Facility string `json:"facility"`
	Level    string `json:"level,omitempty"` // max level, default debug (everything)
	MinLevel string `json:"min_level,omitempty"`
	Sample   string `json:"sample,omitempty"` // "sample <ranges>:<size>", as written
}

// ProxyKind tells which section a proxy came from.
type ProxyKind string

// Proxy kinds.
const (
	KindDefaults ProxyKind = "defaults"
	KindFrontend ProxyKind = "frontend"
	KindBackend  ProxyKind = "backend"
	KindListen   ProxyKind = "listen"
)

// IsFrontend reports whether the proxy accepts connections.
func (p *Proxy) IsFrontend() bool { return p.Kind == KindFrontend || p.Kind == KindListen }

// IsBackend reports whether the proxy has servers to balance over.
func (p *Proxy) IsBackend() bool { return p.Kind == KindBackend || p.Kind == KindListen }

// Proxy is a defaults, frontend, backend or listen section.
type Proxy struct {
	Pos
	Kind        ProxyKind `json:"kind"`
	Name        string    `json:"name,omitempty"`
	From        string    `json:"from,omitempty"` // named defaults given with "from" ("" = the most recent defaults section above it, if any)
	Mode        string    `json:"mode"`           // "http" or "tcp" (default tcp)
	Disabled    bool      `json:"disabled,omitempty"`
	ID          int       `json:"id,omitempty"`
	Description string    `json:"description,omitempty"`

	Binds    []*Bind `json:"binds,omitempty"`
	Maxconn  int     `json:"maxconn,omitempty"`
	Fullconn int     `json:"fullconn,omitempty"`

	Timeouts Timeouts `json:"timeouts"`
	Retries  int      `json:"retries"` // default 3

	// Options.
	Redispatch         bool        `json:"redispatch,omitempty"`
	RedispatchInterval int         `json:"redispatch_interval,omitempty"` // -1 (redispatch on the last retry) when "option redispatch" has no interval
	AllBackups         bool        `json:"allbackups,omitempty"`
	ForwardFor         *ForwardFor `json:"forwardfor,omitempty"`
	HTTPConnMode       string      `json:"http_conn_mode,omitempty"` // "" (not set = keep-alive), "keep-alive", "server-close", "close"; see EffectiveHTTPConnMode
	DontLogNull        bool        `json:"dontlognull,omitempty"`
	LogHealthChecks    bool        `json:"log_health_checks,omitempty"`
	HTTPBufferRequest  bool        `json:"http_buffer_request,omitempty"`
	LogSeparateErrors  bool        `json:"log_separate_errors,omitempty"`
	OtherOptions       []string    `json:"other_options,omitempty"` // accepted options without behaviour here

	// OtherKeywords holds accepted proxy keywords that only tune (backlog,
	// http-reuse, rate-limit...): Words include the keyword itself.
	OtherKeywords []Line `json:"other_keywords,omitempty"`

	// Logging. LogFormat is set by option httplog/tcplog/httpslog too (the
	// equivalent format string); the last one wins.
	LogFormat    string `json:"log_format,omitempty"`
	LogFormatPos Pos    `json:"log_format_pos,omitzero"`
	// LogOption tells where LogFormat came from: "httplog", "httplog clf",
	// "httpslog", "tcplog", "tcplog clf", or "" for log-format (or nothing).
	LogOption      string `json:"log_option,omitempty"`
	LogTag         string `json:"log_tag,omitempty"`
	LogFormatSD    string `json:"log_format_sd,omitempty"`
	ErrorLogFormat string `json:"error_log_format,omitempty"`
	LogGlobal      bool   `json:"log_global,omitempty"`
	Logs           []*Log `json:"logs,omitempty"`
	NoLog          bool   `json:"no_log,omitempty"`

	// Switching and rules. Each Line keeps the words after the keyword(s):
	// for "http-request set-header X y if z" Words is ["set-header","X","y","if","z"];
	// for "use_backend b if c" Words is ["b","if","c"]; for "acl n path /x"
	// Words is ["n","path","/x"]; for "tcp-request content accept" Words is ["accept"].
	DefaultBackend          string        `json:"default_backend,omitempty"`
	DefaultBackendPos       Pos           `json:"-"`
	UseBackends             []Line        `json:"use_backend,omitempty"`
	UseServers              []Line        `json:"use_server,omitempty"`
	ACLs                    []Line        `json:"acls,omitempty"`
	HTTPRequest             []Line        `json:"http_request,omitempty"`
	HTTPResponse            []Line        `json:"http_response,omitempty"`
	HTTPAfterResponse       []Line        `json:"http_after_response,omitempty"`
	TCPRequestConnection    []Line        `json:"tcp_request_connection,omitempty"`
	TCPRequestSession       []Line        `json:"tcp_request_session,omitempty"`
	TCPRequestContent       []Line        `json:"tcp_request_content,omitempty"`
	TCPRequestInspectDelay  time.Duration `json:"tcp_request_inspect_delay,omitempty"`
	TCPResponseContent      []Line        `json:"tcp_response_content,omitempty"`
	TCPResponseInspectDelay time.Duration `json:"tcp_response_inspect_delay,omitempty"`
	Redirects               []Line        `json:"redirects,omitempty"` // "redirect location ..." lines: Words after "redirect"
	Captures                []Line        `json:"captures,omitempty"`  // "capture request header X len 10": Words after "capture"
	MonitorURI              string        `json:"monitor_uri,omitempty"`
	UniqueIDFormat          string        `json:"unique_id_format,omitempty"`
	UniqueIDHeader          string        `json:"unique_id_header,omitempty"`

	StickTable *StickTable `json:"stick_table,omitempty"`

	// Error pages: status code -> file path (errorfile), and errorfiles references.
	ErrorFiles     map[int]string `json:"errorfiles,omitempty"`
	ErrorFilesRefs []Line         `json:"errorfiles_refs,omitempty"` // "errorfiles <name> [code...]": Words after the keyword

	// Backend side.
	Balance         *Balance      `json:"balance,omitempty"`   // nil: no "balance" line (the runtime picks the version default)
	HashType        string        `json:"hash_type,omitempty"` // words of "hash-type" joined by spaces ("consistent sdbm avalanche"); "" = map-based
	DefaultServer   *ServerParams `json:"default_server,omitempty"`
	Servers         []*Server     `json:"servers,omitempty"`
	ServerTemplates []Line        `json:"server_templates,omitempty"`

	// Health checks (backend side).
	CheckKind      string   `json:"check_kind,omitempty"` // "", "httpchk", "tcp-check", "smtpchk", "redis-check", "pgsql-check", "ssl-hello-chk", "mysql-check", "ldap-check"
	CheckArgs      []string `json:"check_args,omitempty"` // the words after "option httpchk"/"option smtpchk"/"option pgsql-check user x" ...
	HTTPCheckRules []Line   `json:"http_check,omitempty"` // "http-check ..." lines: Words after "http-check"
	TCPCheckRules  []Line   `json:"tcp_check,omitempty"`  // "tcp-check ..." lines: Words after "tcp-check"

	EmailAlert EmailAlert  `json:"email_alert"`
	AutoWeight *AutoWeight `json:"auto_weight,omitempty"`

	// Added by the config package.
	Stats       *StatsPage `json:"stats,omitempty"`        // any "stats" line of the proxy (or its defaults)
	Cookie      *Line      `json:"cookie,omitempty"`       // "cookie <name> [insert|rewrite|prefix] ...": Words after "cookie"
	StickRules  []Line     `json:"stick_rules,omitempty"`  // "stick on|match|store-request|store-response ...": Words after "stick"
	MonitorFail []Line     `json:"monitor_fail,omitempty"` // "monitor fail if|unless ...": Words after "monitor fail"
}

// StatsPage holds the "stats" keywords of a proxy. Any of them enables the
// statistics page, as in HAProxy.
type StatsPage struct {
	Pos
	Enabled     bool          `json:"enabled"`
	URI         string        `json:"uri"`                    // default "/haproxy?stats"
	Refresh     time.Duration `json:"refresh,omitempty"`      // "stats refresh"
	Realm       string        `json:"realm,omitempty"`        // "stats realm"
	Auths       []StatsAuth   `json:"auths,omitempty"`        // "stats auth user:password", repeatable
	Admin       []Line        `json:"admin,omitempty"`        // "stats admin if|unless cond": Words after "admin"
	HTTPRequest []Line        `json:"http_request,omitempty"` // "stats http-request ...": Words after "http-request"
	Scopes      []string      `json:"scopes,omitempty"`       // "stats scope <name>"
	ShowLegends bool          `json:"show_legends,omitempty"`
	ShowModules bool          `json:"show_modules,omitempty"`
	HideVersion bool          `json:"hide_version,omitempty"`
	ShowNode    *string       `json:"show_node,omitempty"` // "stats show-node [name]": "" = global node name
	ShowDesc    *string       `json:"show_desc,omitempty"` // "stats show-desc [text]": "" = global description
}

// StatsAuth is one "stats auth <user>:<password>" line.
type StatsAuth struct {
	User     string `json:"user"`
	Password string `json:"-"`
}

// Timeouts of a proxy. Zero means unset.
type Timeouts struct {
	Connect       time.Duration `json:"connect,omitempty"`
	Client        time.Duration `json:"client,omitempty"`
	Server        time.Duration `json:"server,omitempty"`
	HTTPRequest   time.Duration `json:"http_request,omitempty"`
	HTTPKeepAlive time.Duration `json:"http_keep_alive,omitempty"`
	Queue         time.Duration `json:"queue,omitempty"`
	Tunnel        time.Duration `json:"tunnel,omitempty"`
	Tarpit        time.Duration `json:"tarpit,omitempty"`
	ClientFin     time.Duration `json:"client_fin,omitempty"`
	ServerFin     time.Duration `json:"server_fin,omitempty"`
	Check         time.Duration `json:"check,omitempty"`
}

// ForwardFor is "option forwardfor [except <net>] [header <name>] [if-none]".
type ForwardFor struct {
	Except string `json:"except,omitempty"`
	Header string `json:"header,omitempty"` // default X-Forwarded-For
	IfNone bool   `json:"if_none,omitempty"`
}

// Balance is the "balance" line.
type Balance struct {
	Pos
	Algo string   `json:"algo"`           // roundrobin, static-rr, leastconn, first, source, uri, url_param, hdr, random, rdp-cookie, hash
	Arg  string   `json:"arg,omitempty"`  // hdr(<name>) name, url_param name, random draws, hash expression
	Opts []string `json:"opts,omitempty"` // remaining words (uri: whole/len N/depth N/path-only; hdr: use_domain_only; url_param: check_post)
}

// Bind is a "bind" line, or a "stats socket" line in global.
type Bind struct {
	Pos
	Addrs       []string `json:"addrs"` // one per comma-separated address, as written ("127.0.0.1:8080", ":80", "/run/x.sock", "ipv4@127.0.0.1:9999")
	Name        string   `json:"name,omitempty"`
	ID          int      `json:"id,omitempty"`
	SSL         bool     `json:"ssl,omitempty"`
	Crts        []string `json:"crts,omitempty"`
	CrtList     string   `json:"crt_list,omitempty"`
	ALPN        []string `json:"alpn,omitempty"`
	CAFile      string   `json:"ca_file,omitempty"`
	Verify      string   `json:"verify,omitempty"`
	SSLMinVer   string   `json:"ssl_min_ver,omitempty"`
	SSLMaxVer   string   `json:"ssl_max_ver,omitempty"`
	AcceptProxy bool     `json:"accept_proxy,omitempty"`
	Maxconn     int      `json:"maxconn,omitempty"`
	V4V6        bool     `json:"v4v6,omitempty"`
	V6Only      bool     `json:"v6only,omitempty"`
	// Unix sockets and stats sockets.
	Level          string   `json:"level,omitempty"` // user, operator (default), admin
	Mode           uint32   `json:"mode,omitempty"`  // file permissions, parsed from octal
	User           string   `json:"user,omitempty"`
	Group          string   `json:"group,omitempty"`
	SeverityOutput string   `json:"severity_output,omitempty"`
	Other          []string `json:"other,omitempty"` // accepted parameters without behaviour here
}

// Server is a "server" line.
type Server struct {
	Pos
	Name   string       `json:"name"`
	Addr   string       `json:"addr"` // as written: "10.0.0.1:80", "host", "/path", "ipv4@1.2.3.4:80"
	Params ServerParams `json:"params"`
}

// ServerParams are the keywords of server and default-server lines. The parser
// applies default-server values first, then the server's own words. Fields
// keep HAProxy's defaults when not given (see NewServerParams).
type ServerParams struct {
	Check          bool          `json:"check,omitempty"`
	Inter          time.Duration `json:"inter,omitempty"`     // default 2s
	FastInter      time.Duration `json:"fastinter,omitempty"` // 0 = inter
	DownInter      time.Duration `json:"downinter,omitempty"` // 0 = inter
	Rise           int           `json:"rise"`                // default 2
	Fall           int           `json:"fall"`                // default 3
	Port           int           `json:"port,omitempty"`      // check port
	Addr           string        `json:"addr,omitempty"`      // check address
	CheckSSL       bool          `json:"check_ssl,omitempty"`
	CheckSNI       string        `json:"check_sni,omitempty"`
	CheckALPN      string        `json:"check_alpn,omitempty"`
	CheckSendProxy bool          `json:"check_send_proxy,omitempty"`

	AgentCheck bool          `json:"agent_check,omitempty"`
	AgentPort  int           `json:"agent_port,omitempty"`
	AgentInter time.Duration `json:"agent_inter,omitempty"` // default 2s
	AgentAddr  string        `json:"agent_addr,omitempty"`
	AgentSend  string        `json:"agent_send,omitempty"`

	Weight   int    `json:"weight"` // default 1, 0..256
	Maxconn  int    `json:"maxconn,omitempty"`
	Maxqueue int    `json:"maxqueue,omitempty"`
	Minconn  int    `json:"minconn,omitempty"`
	Backup   bool   `json:"backup,omitempty"`
	Disabled bool   `json:"disabled,omitempty"`
	ID       int    `json:"id,omitempty"`
	Cookie   string `json:"cookie,omitempty"`

	Slowstart     time.Duration `json:"slowstart,omitempty"`
	Track         string        `json:"track,omitempty"`          // "[<be>/]<srv>"
	OnMarkedDown  string        `json:"on_marked_down,omitempty"` // "shutdown-sessions"
	OnMarkedUp    string        `json:"on_marked_up,omitempty"`   // "shutdown-backup-sessions"
	Observe       string        `json:"observe,omitempty"`        // layer4, layer7
	OnError       string        `json:"on_error,omitempty"`       // fastinter, fail-check (default), sudden-death, mark-down
	ErrorLimit    int           `json:"error_limit,omitempty"`    // default 10
	InitState     string        `json:"init_state,omitempty"`
	InitAddr      string        `json:"init_addr,omitempty"`
	Resolvers     string        `json:"resolvers,omitempty"`
	ResolvePrefer string        `json:"resolve_prefer,omitempty"`

	SSL         bool     `json:"ssl,omitempty"`
	Verify      string   `json:"verify,omitempty"` // none, required
	SNI         string   `json:"sni,omitempty"`    // a sample expression
	ALPN        string   `json:"alpn,omitempty"`
	CAFile      string   `json:"ca_file,omitempty"`
	Crt         string   `json:"crt,omitempty"`
	SendProxy   bool     `json:"send_proxy,omitempty"`
	SendProxyV2 bool     `json:"send_proxy_v2,omitempty"`
	Other       []string `json:"other,omitempty"` // accepted keywords without behaviour here
}

// NewServerParams returns the parameters a server has before any keyword.
func NewServerParams() ServerParams {
	return ServerParams{Inter: 2 * time.Second, AgentInter: 2 * time.Second, Rise: 2, Fall: 3, Weight: 1, ErrorLimit: 10}
}

// StickTable is a "stick-table" line.
type StickTable struct {
	Pos
	Type    string        `json:"type"` // ip, ipv4, ipv6, integer, string, binary
	Len     int           `json:"len,omitempty"`
	Size    int64         `json:"size"`
	Expire  time.Duration `json:"expire,omitempty"`
	NoPurge bool          `json:"nopurge,omitempty"`
	Peers   string        `json:"peers,omitempty"`
	Store   []StoreItem   `json:"store,omitempty"`
	Other   []string      `json:"other,omitempty"` // recv-only, write-to, srvkey, brates-factor: as written
}

// StoreItem is one data type of a stick table: "conn_rate(10s)" gives
// {Name:"conn_rate", Period:10s}; "gpc(3)" gives {Name:"gpc", Count:3}.
type StoreItem struct {
	Name   string        `json:"name"`
	Period time.Duration `json:"period,omitempty"`
	Count  int           `json:"count,omitempty"`
}

// EmailAlert holds the email-alert keywords of a proxy.
type EmailAlert struct {
	Mailers       string        `json:"mailers,omitempty"`
	MailersPos    Pos           `json:"-"` // where "email-alert mailers" was set
	From          string        `json:"from,omitempty"`
	To            string        `json:"to,omitempty"`
	Level         string        `json:"level,omitempty"` // default "alert"
	MyHostname    string        `json:"myhostname,omitempty"`
	GroupWait     time.Duration `json:"group_wait,omitempty"`
	SubjectPrefix string        `json:"subject_prefix,omitempty"` // default "[Moonbus Alert]"
}

// AutoWeight is our "auto-weight checks|latency [floor <pct>]" backend keyword.
type AutoWeight struct {
	Pos
	Mode  string `json:"mode"`  // "checks" or "latency"
	Floor int    `json:"floor"` // percent, default 10
}

// Resolvers is a "resolvers" section.
type Resolvers struct {
	Pos
	Name                string                   `json:"name"`
	Nameservers         []Nameserver             `json:"nameservers,omitempty"`
	ParseResolvConf     bool                     `json:"parse_resolv_conf,omitempty"`
	Timeouts            map[string]time.Duration `json:"timeouts,omitempty"` // resolve, retry
	Hold                map[string]time.Duration `json:"hold,omitempty"`
	ResolveRetries      int                      `json:"resolve_retries,omitempty"`
	AcceptedPayloadSize int                      `json:"accepted_payload_size,omitempty"`
}

// Nameserver is one "nameserver <name> <addr>" line.
type Nameserver struct {
	Pos
	Name string `json:"name"`
	Addr string `json:"addr"`
}

// Mailers is a "mailers" section.
type Mailers struct {
	Pos
	Name    string        `json:"name"`
	Timeout time.Duration `json:"timeout,omitempty"` // "timeout mail", default 10s
	Mailers []*Mailer     `json:"mailers,omitempty"`
}

// Mailer is one "mailer" line with our TLS and AUTH extensions.
type Mailer struct {
	Pos
	Name     string `json:"name"`
	Addr     string `json:"addr"`
	TLS      string `json:"tls,omitempty"`  // none (default), starttls, implicit
	Auth     string `json:"auth,omitempty"` // plain, login, cram-md5
	User     string `json:"user,omitempty"`
	Password string `json:"-"`
}

// Userlist is a "userlist" section.
type Userlist struct {
	Pos
	Name   string       `json:"name"`
	Groups []*UserGroup `json:"groups,omitempty"`
	Users  []*User      `json:"users,omitempty"`
}

// UserGroup is a "group <name> [users a,b]" line.
type UserGroup struct {
	Name  string   `json:"name"`
	Users []string `json:"users,omitempty"`
}

// User is a "user <name> [password <hash>|insecure-password <pw>] [groups a,b]" line.
type User struct {
	Name     string   `json:"name"`
	Password string   `json:"-"`
	Insecure bool     `json:"insecure,omitempty"`
	Groups   []string `json:"groups,omitempty"`
}

// HTTPErrors is an "http-errors" section: status code -> file.
type HTTPErrors struct {
	Pos
	Name  string         `json:"name"`
	Files map[int]string `json:"files"`
}

// Webhook is our "webhook" section (DESIGN §5).
type Webhook struct {
	Pos
	Name      string        `json:"name"`
	URL       string        `json:"url"`
	Events    []string      `json:"events,omitempty"` // types or families; empty = every event
	Backends  []string      `json:"backends,omitempty"`
	Headers   [][2]string   `json:"headers,omitempty"`
	Secret    string        `json:"-"`
	Template  string        `json:"template,omitempty"`
	Timeout   time.Duration `json:"timeout,omitempty"` // default 5s
	Retries   int           `json:"retries"`           // default 5
	GroupWait time.Duration `json:"group_wait,omitempty"`
}

// NATS is our "nats" section (DESIGN §5).
type NATS struct {
	Pos
	Name         string        `json:"name"`
	URLs         []string      `json:"urls"`
	Instance     string        `json:"instance,omitempty"` // "" = the host name (resolved by the consumer)
	Prefix       string        `json:"prefix,omitempty"`   // default moonbus
	Publish      []string      `json:"publish,omitempty"`  // filled with the default SERVER BACKEND
	CLI          bool          `json:"cli,omitempty"`
	Stream       string        `json:"stream,omitempty"`
	StreamMaxAge time.Duration `json:"stream_max_age,omitempty"`
	AlertDedup   bool          `json:"alert_dedup,omitempty"`
	User         string        `json:"user,omitempty"`
	Password     string        `json:"-"`
	Token        string        `json:"-"`
	Creds        string        `json:"creds,omitempty"`
	TLSCA        string        `json:"tls_ca,omitempty"`
	TLSCert      string        `json:"tls_cert,omitempty"`
	TLSKey       string        `json:"tls_key,omitempty"`
	NKey         string        `json:"nkey,omitempty"` // path of an nkey seed file
}
