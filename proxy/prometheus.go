package proxy

import (
	"bytes"
	"math"
	"net/url"
	"strconv"
	"time"

	"moonbus/bus"
)

// The prometheus-exporter service ("http-request use-service
// prometheus-exporter"): the text exposition format 0.0.4 with HAProxy's
// metric names and labels (proxy=, server=, and state=/code= where HAProxy
// 2.4+ splits a metric by state). The values are the counters behind
// "show stat" and "show info". Query parameters as HAProxy's exporter:
// "scope=global|frontend|backend|server|listener|sticktable|resolver|*"
// (repeatable; an empty value clears the selection) and "no-maint" (no
// metric for servers in maintenance). Moonbus's own metrics (moonbus_*:
// the event bus, and whatever StatsOptions.Metrics adds) belong to the
// global scope.
//
// Every metric is written for all objects before the next one (the format
// requires a family's samples to be grouped), reading the counters directly
// rather than building "show stat" rows, and the output is sent in pieces
// as it grows: a 10,000-server configuration renders in tens of
// milliseconds without a large buffer.

// StatsOptions are what the daemon adds to the stats page and the
// Prometheus exporter.
type StatsOptions struct {
	// Version and ReleaseDate are shown on the stats page (unless "stats
	// hide-version") and exported as haproxy_process_build_info.
	Version, ReleaseDate string
	// Metrics, when set, appends more metric families in the text format
	// (the daemon's alert counters) to the exporter's global scope.
	Metrics func(dst []byte) []byte
}

func init() {
	builtinServices["prometheus-exporter"] = builtinService{logName: "<PROMEX>", run: servePrometheus}
}

// Exporter scopes.
const (
	promGlobal = 1 << iota
	promFrontend
	promBackend
	promServer
	promListener
	promStick
	promResolver
	promAll = 1<<iota - 1
)

var promScopes = map[string]int{
	"global": promGlobal, "frontend": promFrontend, "backend": promBackend, "server": promServer,
	"listener": promListener, "sticktable": promStick, "resolver": promResolver, "*": promAll,
}

// promQuery is what the query string asks for.
type promQuery struct {
	scopes  int
	noMaint bool
}

// parsePromQuery reads the exporter's query string; it fails on an unknown
// scope.
func parsePromQuery(q []byte) (promQuery, bool) {
	pq := promQuery{scopes: promAll}
	seen := false
	for len(q) > 0 {
		var kv []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, nil
		}
		k, v, _ := bytes.Cut(kv, []byte("="))
		switch string(k) {
		case "scope":
			if !seen {
				pq.scopes, seen = 0, true
			}
			val, err := url.QueryUnescape(string(v))
			if err != nil {
				return pq, false
			}
			if val == "" {
				pq.scopes = 0
				continue
			}
			bit, ok := promScopes[val]
			if !ok {
				return pq, false
			}
			pq.scopes |= bit
		case "no-maint":
			pq.noMaint = true
		}
	}
	return pq, true
}

// servePrometheus is the prometheus-exporter service.
func servePrometheus(t *Txn) {
	t.fe.Counters.Intercepted.Add(1)
	t.tQueued, t.tConnect, t.connected = 0, 0, true
	a := t.HTTPApplet()
	q, _ := t.req.Query()
	pq, ok := parsePromQuery(q)
	if !ok {
		msg := "Unsupported scope or malformed query string\n"
		a.SetStatus(400, "")
		a.AddHeader("content-type", "text/plain")
		a.AddHeader("content-length", strconv.Itoa(len(msg)))
		_ = a.Send([]byte(msg))
		a.finish()
		return
	}
	a.SetStatus(200, "")
	a.AddHeader("content-type", "text/plain; version=0.0.4; charset=utf-8")
	a.AddHeader("cache-control", "no-cache")
	w := &promWriter{buf: make([]byte, 0, 48<<10), send: a.Send}
	t.s.e.writePrometheus(w, pq, time.Now())
	w.flush(true)
	a.finish()
}

// promWriter writes families and samples, sending the output in pieces.
type promWriter struct {
	buf  []byte
	send func([]byte) error
	err  error

	name, help, typ string
	started         bool
}

// family starts a metric family; its HELP and TYPE lines are written with
// its first sample, so a family without samples leaves nothing.
func (w *promWriter) family(name, help, typ string) {
	w.name, w.help, w.typ, w.started = name, help, typ, false
}

// sample writes one sample of the current family with label pairs.
func (w *promWriter) sample(v float64, kv ...string) {
	if !w.started {
		w.started = true
		w.buf = append(w.buf, "# HELP "...)
		w.buf = append(w.buf, w.name...)
		w.buf = append(w.buf, ' ')
		w.buf = appendPromEscaped(w.buf, w.help, false)
		w.buf = append(w.buf, "\n# TYPE "...)
		w.buf = append(w.buf, w.name...)
		w.buf = append(w.buf, ' ')
		w.buf = append(w.buf, w.typ...)
		w.buf = append(w.buf, '\n')
	}
	w.buf = append(w.buf, w.name...)
	if len(kv) > 0 {
		w.buf = append(w.buf, '{')
		for i := 0; i+1 < len(kv); i += 2 {
			if i > 0 {
				w.buf = append(w.buf, ',')
			}
			w.buf = append(w.buf, kv[i]...)
			w.buf = append(w.buf, "=\""...)
			w.buf = appendPromEscaped(w.buf, kv[i+1], true)
			w.buf = append(w.buf, '"')
		}
		w.buf = append(w.buf, '}')
	}
	w.buf = append(w.buf, ' ')
	w.buf = appendPromValue(w.buf, v)
	w.buf = append(w.buf, '\n')
	if len(w.buf) >= 32<<10 {
		w.flush(false)
	}
}

// raw appends preformatted families (StatsOptions.Metrics).
func (w *promWriter) raw(f func([]byte) []byte) {
	w.buf = f(w.buf)
	w.started = false
}

func (w *promWriter) flush(bool) {
	if len(w.buf) == 0 {
		return
	}
	if w.err == nil {
		w.err = w.send(w.buf)
	}
	w.buf = w.buf[:0]
}

// appendPromEscaped escapes a HELP text (\ and newline) or a label value
// (also ").
func appendPromEscaped(dst []byte, s string, label bool) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			dst = append(dst, `\\`...)
		case c == '\n':
			dst = append(dst, `\n`...)
		case c == '"' && label:
			dst = append(dst, `\"`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// appendPromValue writes a sample value: integers without a fraction.
func appendPromValue(dst []byte, v float64) []byte {
	switch {
	case math.IsNaN(v):
		return append(dst, "NaN"...)
	case math.IsInf(v, 1):
		return append(dst, "+Inf"...)
	case math.IsInf(v, -1):
		return append(dst, "-Inf"...)
	case v == math.Trunc(v) && math.Abs(v) < 1e15:
		return strconv.AppendInt(dst, int64(v), 10)
	}
	return strconv.AppendFloat(dst, v, 'g', -1, 64)
}

// writePrometheus writes every family the query selects.
func (e *Engine) writePrometheus(w *promWriter, q promQuery, now time.Time) {
	if q.scopes&promGlobal != 0 {
		e.promProcess(w, now)
	}
	if q.scopes&promFrontend != 0 {
		e.promFrontends(w, now)
	}
	if q.scopes&promBackend != 0 {
		e.promBackends(w, now)
	}
	if q.scopes&promServer != 0 {
		e.promServers(w, q.noMaint, now)
	}
	if q.scopes&promStick != 0 {
		e.promStickTables(w)
	}
	if q.scopes&promGlobal != 0 {
		e.promBus(w)
		if f := e.statsOpts.Metrics; f != nil {
			w.raw(f)
		}
	}
}

// promInfoDefs map "show info" fields to process metrics.
var promInfoDefs = [...]struct {
	field, name, help, typ string
	scale                  float64
}{
	{"Nbthread", "haproxy_process_nbthread", "Number of started threads (global.nbthread)", "gauge", 1},
	{"Nbproc", "haproxy_process_nbproc", "Number of started worker processes (historical, always 1)", "gauge", 1},
	{"Process_num", "haproxy_process_relative_process_id", "Relative worker process number (1)", "gauge", 1},
	{"Uptime_sec", "haproxy_process_uptime_seconds", "How long ago this worker process was started (seconds)", "gauge", 1},
	{"Start_time_sec", "haproxy_process_start_time_seconds", "Start time in seconds since the epoch", "gauge", 1},
	{"Memmax_MB", "haproxy_process_max_memory_bytes", "Worker process's hard limit on memory usage in bytes (0: none)", "gauge", 1 << 20},
	{"PoolAlloc_MB", "haproxy_process_pool_allocated_bytes", "Amount of memory allocated in pools (in bytes)", "gauge", 1 << 20},
	{"PoolUsed_MB", "haproxy_process_pool_used_bytes", "Amount of pool memory currently used (in bytes)", "gauge", 1 << 20},
	{"PoolFailed", "haproxy_process_pool_failures_total", "Number of failed pool allocations since this worker was started", "counter", 1},
	{"Ulimit-n", "haproxy_process_max_fds", "Hard system limit on the number of per-process file descriptors", "gauge", 1},
	{"Maxsock", "haproxy_process_max_sockets", "Hard limit on the number of per-process sockets", "gauge", 1},
	{"Maxconn", "haproxy_process_max_connections", "Hard limit on the number of per-process connections (configured or imposed by ulimit-n)", "gauge", 1},
	{"Hard_maxconn", "haproxy_process_hard_max_connections", "Hard limit on the number of per-process connections (imposed by global maxconn)", "gauge", 1},
	{"CurrConns", "haproxy_process_current_connections", "Current number of connections on this worker process", "gauge", 1},
	{"CumConns", "haproxy_process_connections_total", "Total number of connections on this worker process since started", "counter", 1},
	{"CumReq", "haproxy_process_requests_total", "Total number of requests on this worker process since started", "counter", 1},
	{"MaxSslConns", "haproxy_process_max_ssl_connections", "Hard limit on the number of per-process SSL endpoints (front+back), 0=unlimited", "gauge", 1},
	{"CurrSslConns", "haproxy_process_current_ssl_connections", "Current number of SSL endpoints on this worker process (front+back)", "gauge", 1},
	{"CumSslConns", "haproxy_process_ssl_connections_total", "Total number of SSL endpoints on this worker process since started (front+back)", "counter", 1},
	{"Maxpipes", "haproxy_process_max_pipes", "Hard limit on the number of pipes for splicing, 0=unlimited", "gauge", 1},
	{"PipesUsed", "haproxy_process_pipes_used_total", "Current number of pipes in use in this worker process", "counter", 1},
	{"PipesFree", "haproxy_process_pipes_free_total", "Current number of allocated and available pipes in this worker process", "counter", 1},
	{"ConnRate", "haproxy_process_current_connection_rate", "Number of front connections created on this worker process over the last second", "gauge", 1},
	{"ConnRateLimit", "haproxy_process_limit_connection_rate", "Hard limit for ConnRate (global.maxconnrate)", "gauge", 1},
	{"MaxConnRate", "haproxy_process_max_connection_rate", "Highest ConnRate reached on this worker process since started (in connections per second)", "gauge", 1},
	{"SessRate", "haproxy_process_current_session_rate", "Number of sessions created on this worker process over the last second", "gauge", 1},
	{"SessRateLimit", "haproxy_process_limit_session_rate", "Hard limit for SessRate (global.maxsessrate)", "gauge", 1},
	{"MaxSessRate", "haproxy_process_max_session_rate", "Highest SessRate reached on this worker process since started (in sessions per second)", "gauge", 1},
	{"SslRate", "haproxy_process_current_ssl_rate", "Number of SSL connections created on this worker process over the last second", "gauge", 1},
	{"SslRateLimit", "haproxy_process_limit_ssl_rate", "Hard limit for SslRate (global.maxsslrate)", "gauge", 1},
	{"MaxSslRate", "haproxy_process_max_ssl_rate", "Highest SslRate reached on this worker process since started (in connections per second)", "gauge", 1},
	{"CompressBpsIn", "haproxy_process_http_comp_bytes_in_total", "Number of bytes submitted to the HTTP compressor in this worker process over the last second", "counter", 1},
	{"CompressBpsOut", "haproxy_process_http_comp_bytes_out_total", "Number of bytes emitted by the HTTP compressor in this worker process over the last second", "counter", 1},
	{"CompressBpsRateLim", "haproxy_process_limit_http_comp", "Limit of CompressBpsOut beyond which HTTP compression is automatically disabled", "gauge", 1},
	{"Tasks", "haproxy_process_current_tasks", "Total number of tasks in the current worker process (goroutines)", "gauge", 1},
	{"Run_queue", "haproxy_process_current_run_queue", "Total number of active tasks+tasklets in the current worker process", "gauge", 1},
	{"Idle_pct", "haproxy_process_idle_time_percent", "Percentage of last second spent waiting in the current worker thread", "gauge", 1},
	{"Stopping", "haproxy_process_stopping", "1 if the worker process is currently stopping, otherwise zero", "gauge", 1},
	{"Jobs", "haproxy_process_jobs", "Current number of active jobs on the current worker process (frontend connections, master connections, listeners)", "gauge", 1},
	{"Unstoppable Jobs", "haproxy_process_unstoppable_jobs", "Current number of unstoppable jobs on the current worker process", "gauge", 1},
	{"Listeners", "haproxy_process_listeners", "Current number of active listeners on the current worker process", "gauge", 1},
	{"ActivePeers", "haproxy_process_active_peers", "Current number of verified active peers connections on the current worker process", "gauge", 1},
	{"ConnectedPeers", "haproxy_process_connected_peers", "Current number of peers having passed the connection step on the current worker process", "gauge", 1},
	{"DroppedLogs", "haproxy_process_dropped_logs_total", "Total number of dropped logs for current worker process since started", "counter", 1},
	{"BusyPolling", "haproxy_process_busy_polling_enabled", "1 if busy-polling is currently in use on the worker process, otherwise zero", "gauge", 1},
	{"FailedResolutions", "haproxy_process_failed_resolutions", "Total number of failed DNS resolutions in current worker process since started", "counter", 1},
	{"TotalBytesOut", "haproxy_process_bytes_out_total", "Total number of bytes emitted by current worker process since started", "counter", 1},
	{"TotalSplicedBytesOut", "haproxy_process_spliced_bytes_out_total", "Total number of bytes emitted by current worker process through a kernel pipe since started", "counter", 1},
	{"BytesOutRate", "haproxy_process_bytes_out_rate", "Number of bytes emitted by current worker process over the last second", "gauge", 1},
	{"CumRecvLogs", "haproxy_process_recv_logs_total", "Total number of log messages received by log-forwarding listeners on this worker process since started", "counter", 1},
}

// promProcess writes the haproxy_process_* families.
func (e *Engine) promProcess(w *promWriter, now time.Time) {
	info := e.Info(e.statsOpts.Version, e.statsOpts.ReleaseDate, now)
	get := func(name string) any {
		for _, f := range info {
			if f.Name == name {
				return f.Value
			}
		}
		return nil
	}
	for _, d := range promInfoDefs {
		v, ok := get(d.field).(int64)
		if !ok {
			continue
		}
		w.family(d.name, d.help, d.typ)
		w.sample(float64(v) * d.scale)
	}
	if node, _ := get("node").(string); node != "" {
		w.family("haproxy_process_node", "Node name", "gauge")
		w.sample(1, "node", node)
	}
	if desc, _ := get("description").(string); desc != "" {
		w.family("haproxy_process_description", "Node description", "gauge")
		w.sample(1, "desc", desc)
	}
	w.family("haproxy_process_build_info", "Build info", "gauge")
	w.sample(1, "version", e.statsOpts.Version)
}

// promBus writes Moonbus's event bus counters (DESIGN §4.3) when the
// engine publishes to a bus that counts.
func (e *Engine) promBus(w *promWriter) {
	b, ok := e.pub.(interface {
		Counters() []bus.TypeCounters
		SubscriberCount() int
	})
	if !ok {
		return
	}
	cs := b.Counters()
	fams := [...]struct {
		name, help string
		get        func(c *bus.TypeCounters) uint64
	}{
		{"moonbus_bus_events_published_total", "Events published on the bus, per event type", func(c *bus.TypeCounters) uint64 { return c.Published }},
		{"moonbus_bus_events_delivered_total", "Event deliveries to subscribers (handler calls started), per event type", func(c *bus.TypeCounters) uint64 { return c.Delivered }},
		{"moonbus_bus_events_dropped_total", "Events dropped by full drop-oldest subscriber queues, per event type", func(c *bus.TypeCounters) uint64 { return c.Dropped }},
		{"moonbus_bus_events_coalesced_total", "Events superseded in coalescing subscriber queues (state followers), per event type", func(c *bus.TypeCounters) uint64 { return c.Coalesced }},
	}
	for _, f := range fams {
		w.family(f.name, f.help, "counter")
		for i := range cs {
			w.sample(float64(f.get(&cs[i])), "type", cs[i].Type.String())
		}
	}
	w.family("moonbus_bus_subscribers", "Current number of bus subscriptions", "gauge")
	w.sample(float64(b.SubscriberCount()))
}

// promStickTables writes haproxy_sticktable_size and _used.
func (e *Engine) promStickTables(w *promWriter) {
	for i, n := range [...]string{"haproxy_sticktable_size", "haproxy_sticktable_used"} {
		help := "Stick table size"
		if i == 1 {
			help = "Number of entries used in this stick table"
		}
		w.family(n, help, "gauge")
		for _, p := range e.proxies {
			t := p.rules.table
			if t == nil {
				continue
			}
			in := t.Info()
			v := in.Size
			if i == 1 {
				v = in.Used
			}
			w.sample(float64(v), "name", p.name, "type", in.Type)
		}
	}
}
