package proxy

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/internal/promtest"
)

// promEngine builds (does not start) an engine from configuration text.
func promEngine(tb testing.TB, text string) *Engine {
	tb.Helper()
	cfg, err := config.Parse("prom.cfg", []byte(text), config.Options{})
	if err != nil {
		tb.Fatalf("config: %v", err)
	}
	e, err := New(cfg, Options{Stats: StatsOptions{Version: "9.9.9"}})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	return e
}

// promDump renders the exporter's output for a query string.
func promDump(tb testing.TB, e *Engine, query string) string {
	tb.Helper()
	q, ok := parsePromQuery([]byte(query))
	if !ok {
		tb.Fatalf("query %q refused", query)
	}
	var out strings.Builder
	w := &promWriter{send: func(b []byte) error { out.Write(b); return nil }}
	e.writePrometheus(w, q, time.Now())
	w.flush(true)
	return out.String()
}

const promTestConfig = `
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend fe
    bind 127.0.0.1:0
    maxconn 77
    default_backend app
backend app
    stick-table type ip size 100
    server s1 127.0.0.1:1 weight 10
    server s2 127.0.0.1:2 backup maxconn 5
    server s3 127.0.0.1:3 disabled
    server s4 127.0.0.1:5
listen raw
    mode tcp
    bind 127.0.0.1:0
    server r1 127.0.0.1:4 check
`

func TestPromQuery(t *testing.T) {
	cases := []struct {
		q       string
		scopes  int
		noMaint bool
		ok      bool
	}{
		{"", promAll, false, true},
		{"scope=server", promServer, false, true},
		{"scope=frontend&scope=backend", promFrontend | promBackend, false, true},
		{"scope=*&scope=", 0, false, true},
		{"scope=&scope=global", promGlobal, false, true},
		{"scope=", 0, false, true},
		{"no-maint&scope=server", promServer, true, true},
		{"scope=bogus", 0, false, false},
		{"scope=%2A", promAll, false, true},
	}
	for _, c := range cases {
		q, ok := parsePromQuery([]byte(c.q))
		if ok != c.ok || (ok && (q.scopes != c.scopes || q.noMaint != c.noMaint)) {
			t.Errorf("%q: got %+v %v, want scopes %b noMaint %v ok %v", c.q, q, ok, c.scopes, c.noMaint, c.ok)
		}
	}
}

func TestPrometheusFamilies(t *testing.T) {
	e := promEngine(t, promTestConfig)
	be := e.Proxy("app")
	be.Server("s1").Counters.Hrsp[1].Add(7)
	be.Server("s1").Counters.Bin.Add(1234)
	e.Proxy("fe").Counters.ReqTot.Add(3)
	be.Server("s4").SetAdmin(bus.FDrain, 0, "")
	fams, err := promtest.Parse(promDump(t, e, ""))
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		fam string
		kv  []string
		v   float64
	}{
		{"haproxy_process_nbproc", nil, 1},
		{"haproxy_process_build_info", []string{"version", "9.9.9"}, 1},
		{"haproxy_frontend_limit_sessions", []string{"proxy", "fe"}, 77},
		{"haproxy_frontend_http_requests_total", []string{"proxy", "fe"}, 3},
		{"haproxy_frontend_status", []string{"proxy", "fe", "state", "UP"}, 1},
		{"haproxy_frontend_status", []string{"proxy", "fe", "state", "DOWN"}, 0},
		{"haproxy_backend_active_servers", []string{"proxy", "app"}, 1},
		{"haproxy_backend_backup_servers", []string{"proxy", "app"}, 1},
		{"haproxy_backend_status", []string{"proxy", "app", "state", "UP"}, 1},
		{"haproxy_backend_agg_server_status", []string{"proxy", "app", "state", "MAINT"}, 1},
		{"haproxy_backend_agg_server_status", []string{"proxy", "app", "state", "DRAIN"}, 1},
		{"haproxy_server_status", []string{"proxy", "app", "server", "s1", "state", "UP"}, 1},
		{"haproxy_server_status", []string{"proxy", "app", "server", "s4", "state", "DRAIN"}, 1},
		{"haproxy_server_status", []string{"proxy", "app", "server", "s2", "state", "UP"}, 1},
		{"haproxy_server_status", []string{"proxy", "app", "server", "s3", "state", "MAINT"}, 1},
		{"haproxy_server_status", []string{"proxy", "app", "server", "s3", "state", "UP"}, 0},
		{"haproxy_server_weight", []string{"proxy", "app", "server", "s1"}, 10},
		{"haproxy_server_limit_sessions", []string{"proxy", "app", "server", "s2"}, 5},
		{"haproxy_server_backup", []string{"proxy", "app", "server", "s2"}, 1},
		{"haproxy_server_http_responses_total", []string{"proxy", "app", "server", "s1", "code", "2xx"}, 7},
		{"haproxy_server_bytes_in_total", []string{"proxy", "app", "server", "s1"}, 1234},
		{"haproxy_sticktable_size", []string{"name", "app", "type", "ip"}, 100},
	}
	for _, w := range want {
		v, ok := fams[w.fam].Get(w.kv...)
		if !ok || v != w.v {
			t.Errorf("%s%v = %v (present %v), want %v", w.fam, w.kv, v, ok, w.v)
		}
	}
	if fams["haproxy_server_limit_sessions"] == nil || len(fams["haproxy_server_limit_sessions"].Samples) != 1 {
		t.Errorf("limit_sessions only for servers with maxconn: %+v", fams["haproxy_server_limit_sessions"])
	}
	// TCP proxies have no HTTP families; r1 has a check, the others none.
	if _, ok := fams["haproxy_backend_http_requests_total"].Get("proxy", "raw"); ok {
		t.Error("HTTP metric for a TCP backend")
	}
	if f := fams["haproxy_server_check_status"]; f == nil || len(f.Samples) != len(promCheckStates) {
		t.Errorf("check_status: %+v", f)
	}
	if _, ok := fams["haproxy_server_check_failures_total"].Get("server", "s1"); ok {
		t.Error("check_failures_total for a server without check")
	}
	if f := fams["haproxy_server_status"]; f.Type != "gauge" || f.Help == "" {
		t.Errorf("status family %q %q", f.Type, f.Help)
	}
}

func TestPrometheusScopes(t *testing.T) {
	e := promEngine(t, promTestConfig)
	prefixes := func(out string) map[string]bool {
		fams, err := promtest.Parse(out)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for n := range fams {
			m[strings.SplitN(n, "_", 3)[1]] = true
		}
		return m
	}
	if got := prefixes(promDump(t, e, "scope=server")); len(got) != 1 || !got["server"] {
		t.Errorf("scope=server: %v", got)
	}
	if got := prefixes(promDump(t, e, "scope=frontend&scope=backend")); len(got) != 2 || !got["frontend"] || !got["backend"] {
		t.Errorf("scope=frontend&scope=backend: %v", got)
	}
	if out := promDump(t, e, "scope=*&scope="); out != "" {
		t.Errorf("empty scope: %q", out)
	}
	out := promDump(t, e, "scope=server&no-maint")
	if strings.Contains(out, `server="s3"`) || !strings.Contains(out, `server="s1"`) {
		t.Errorf("no-maint kept s3 or dropped s1")
	}
}

func TestPromEscaping(t *testing.T) {
	got := string(appendPromEscaped(nil, "a\\b\"c\nd", true))
	if got != `a\\b\"c\nd` {
		t.Errorf("label: %s", got)
	}
	got = string(appendPromEscaped(nil, "a\\b\"c\nd", false))
	if got != `a\\b"c\nd` {
		t.Errorf("help: %s", got)
	}
	for v, want := range map[float64]string{3: "3", -1: "-1", 0.25: "0.25", 1e20: "1e+20"} {
		if got := string(appendPromValue(nil, v)); got != want {
			t.Errorf("%v: %s", v, got)
		}
	}
}

// bigConfig returns a configuration with n servers over n/100 backends.
func bigConfig(n int) string {
	var b strings.Builder
	b.WriteString("defaults\n    mode http\n    timeout connect 1s\n    timeout client 1s\n    timeout server 1s\n")
	b.WriteString("frontend fe\n    bind 127.0.0.1:0\n    default_backend be0\n")
	for i := 0; i < n; i++ {
		if i%100 == 0 {
			fmt.Fprintf(&b, "backend be%d\n", i/100)
		}
		fmt.Fprintf(&b, "    server s%d 10.%d.%d.%d:80\n", i, i>>16&255, i>>8&255, i&255)
	}
	return b.String()
}

// BenchmarkPrometheus10kServers renders the whole exporter output of a
// configuration with 10,000 servers (100 backends).
func BenchmarkPrometheus10kServers(b *testing.B) {
	e := promEngine(b, bigConfig(10000))
	q, _ := parsePromQuery(nil)
	var n int
	w := &promWriter{buf: make([]byte, 0, 48<<10), send: func(p []byte) error { n += len(p); return nil }}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n = 0
		e.writePrometheus(w, q, time.Now())
		w.flush(true)
	}
	b.ReportMetric(float64(n), "bytes/op-output")
}

func TestPrometheus10kServersParses(t *testing.T) {
	if testing.Short() {
		t.Skip("large configuration")
	}
	e := promEngine(t, bigConfig(10000))
	start := time.Now()
	out := promDump(t, e, "")
	d := time.Since(start)
	fams, err := promtest.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(fams["haproxy_server_weight"].Samples); n != 10000 {
		t.Fatalf("%d server weight samples", n)
	}
	t.Logf("10k servers: %d bytes in %v", len(out), d)
}
