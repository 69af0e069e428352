package moonbus

import (
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"moonbus/bus"
	"moonbus/internal/promtest"
)

// statsBackend is an HTTP server answering "ok".
func statsBackend(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	t.Cleanup(srv.Close)
	return hostOf(srv)
}

// statsConfig is a daemon with a stats frontend (page, exporter) in front
// of a backend of three servers; extra is added to the stats frontend.
func statsConfig(backend, extra string) string {
	return `
global
    stats socket ipv4@127.0.0.1:0 level admin
    node lb-test
` + httpDefaults + `
frontend www
    bind 127.0.0.1:0
    default_backend app
frontend stats
    bind 127.0.0.1:0
    log stdout format raw local0
    option httplog
    stats enable
    stats uri /stats
    http-request use-service prometheus-exporter if { path /metrics }
` + extra + `
backend app
    server s1 ` + backend + `
    server s2 ` + backend + `
    server s3 ` + backend + ` backup
`
}

// serverRow returns the HTML table line of a server on the stats page.
func serverRow(t *testing.T, page, srv string) string {
	t.Helper()
	for _, row := range strings.Split(page, "<tr") {
		if strings.Contains(row, `<td class="name"`) && (strings.Contains(row, `">`+srv+`</td>`) || strings.Contains(row, `">`+srv+`<span`) ||
			strings.Contains(row, ">"+srv+"</td>")) {
			return "<tr" + row
		}
	}
	t.Fatalf("no row for %s in page:\n%s", srv, page)
	return ""
}

func TestStatsPageHTML(t *testing.T) {
	d := startDaemon(t, statsConfig(statsBackend(t), `
    stats refresh 5s
    stats show-legends
    stats show-node
    stats show-desc "the test instance"
`))
	for i := 0; i < 3; i++ {
		if resp, body := get(t, d.addr("www"), "/"); resp.StatusCode != 200 || body != "ok" {
			t.Fatalf("proxied request: %d %q", resp.StatusCode, body)
		}
	}
	resp, page := get(t, d.addr("stats"), "/stats")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Refresh") != "5" {
		t.Fatalf("page: %d %v", resp.StatusCode, resp.Header)
	}
	for _, want := range []string{`<table class="px" id="www">`, `<table class="px" id="app">`, `<table class="px" id="stats">`,
		"on lb-test", "the test instance", "version " + Version, ">Frontend<", ">Backend<", "cap: FE, mode: http"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	for _, s := range []string{"s1", "s2", "s3"} {
		if row := serverRow(t, page, s); !strings.Contains(row, "no check") {
			t.Errorf("%s: %s", s, row)
		}
	}
	if row := serverRow(t, page, "s3"); !strings.Contains(row, `<td class="st">-</td><td class="st">Y</td>`) {
		t.Errorf("s3 is a backup: %s", row)
	}
	if strings.Contains(page, `type="checkbox"`) {
		t.Error("admin checkboxes without 'stats admin'")
	}

	// The page follows the server states.
	admin := d.CLIAddrs()[0]
	cli(t, "tcp", admin, "set server app/s1 state maint")
	cli(t, "tcp", admin, "set server app/s2 state drain")
	_, page = get(t, d.addr("stats"), "/stats;norefresh")
	if row := serverRow(t, page, "s1"); !strings.HasPrefix(row, `<tr class="maint">`) || !strings.Contains(row, " MAINT</td>") {
		t.Errorf("s1 after maint: %s", row)
	}
	if row := serverRow(t, page, "s2"); !strings.HasPrefix(row, `<tr class="drain">`) || !strings.Contains(row, " DRAIN</td>") {
		t.Errorf("s2 after drain: %s", row)
	}
	resp, page = get(t, d.addr("stats"), "/stats;up;norefresh")
	if resp.Header.Get("Refresh") != "" {
		t.Errorf(";norefresh sent Refresh: %q", resp.Header.Get("Refresh"))
	}
	if strings.Contains(page, `">s1</td>`) || strings.Contains(page, `>s1<span`) {
		t.Error(";up shows the server in maintenance")
	}
	serverRow(t, page, "s2")

	// Anything else on the stats frontend is not the page.
	if resp, _ := get(t, d.addr("stats"), "/other"); resp.StatusCode != 503 {
		t.Errorf("/other on the stats frontend: %d", resp.StatusCode)
	}
	d.waitLog("stats stats/<STATS> ")
}

// TestStatsPageCSV: "<uri>;csv" is the "show stat" CSV.
func TestStatsPageCSV(t *testing.T) {
	d := startDaemon(t, statsConfig(statsBackend(t), ""))
	admin := d.CLIAddrs()[0]
	get(t, d.addr("www"), "/")
	cli(t, "tcp", admin, "set server app/s2 state maint")
	stable := func(line string) string {
		// The stats frontend's own counters move with the request that
		// reads them: compare its identity columns only.
		f := strings.Split(line, ",")
		if len(f) > 77 && f[0] == "stats" && f[1] == "FRONTEND" {
			return strings.Join([]string{f[0], f[1], f[17], f[26], f[27], f[32], f[75]}, ",")
		}
		return line
	}
	var page, stat string
	ok := false
	for i := 0; i < 20 && !ok; i++ { // a second may tick between the two reads (lastchg)
		resp, body := get(t, d.addr("stats"), "/stats;csv")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf(";csv: %d %v", resp.StatusCode, resp.Header)
		}
		page = body
		stat = strings.TrimSuffix(cli(t, "tcp", admin, "show stat"), "\n")
		pl, sl := strings.Split(page, "\n"), strings.Split(stat, "\n")
		ok = len(pl) == len(sl)
		for j := 0; ok && j < len(pl); j++ {
			ok = stable(pl[j]) == stable(sl[j])
		}
	}
	if !ok {
		t.Fatalf(";csv differs from show stat:\n%s\n---\n%s", page, stat)
	}
	if !strings.Contains(page, "\napp,s2,") || !strings.Contains(page, ",MAINT,") {
		t.Fatalf("csv:\n%s", page)
	}
	// ;up keeps the servers that are up, as "show stat up".
	_, up := get(t, d.addr("stats"), "/stats;csv;norefresh;up")
	if strings.Contains(up, "\napp,s2,") || !strings.Contains(up, "\napp,s1,") {
		t.Fatalf(";up:\n%s", up)
	}
}

// TestStatsPageScope: "stats scope" limits the page and its CSV.
func TestStatsPageScope(t *testing.T) {
	d := startDaemon(t, statsConfig(statsBackend(t), "    stats scope app\n    stats scope .\n    stats hide-version\n"))
	_, body := get(t, d.addr("stats"), "/stats;csv")
	var names []string
	for _, l := range strings.Split(strings.TrimSpace(body), "\n")[1:] {
		names = append(names, strings.SplitN(l, ",", 3)[0]+"/"+strings.SplitN(l, ",", 3)[1])
	}
	if got := strings.Join(names, " "); got != "stats/FRONTEND app/s1 app/s2 app/s3 app/BACKEND" {
		t.Fatalf("scoped csv: %s", got)
	}
	_, page := get(t, d.addr("stats"), "/stats")
	if strings.Contains(page, `id="www"`) || !strings.Contains(page, `id="app"`) || strings.Contains(page, "version "+Version) {
		t.Fatal("scope or hide-version not honoured")
	}
}

func TestStatsPageAuth(t *testing.T) {
	d := startDaemon(t, statsConfig(statsBackend(t), `
    stats auth admin:s3cret
    stats auth ops:other
    stats realm "Moonbus Stats"
    stats http-request deny if { req.hdr(x-evil) -m found }
    stats http-request allow if { req.hdr(x-bypass) -m str 1 }
`))
	basic := func(user, pass string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass)) + "\r\n"
	}
	resp, _ := get(t, d.addr("stats"), "/stats")
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Basic realm="Moonbus Stats"` {
		t.Fatalf("no credentials: %d %v", resp.StatusCode, resp.Header)
	}
	if resp, _ := get(t, d.addr("stats"), "/stats;csv", basic("admin", "wrong")); resp.StatusCode != 401 {
		t.Fatalf("wrong password: %d", resp.StatusCode)
	}
	if resp, _ := get(t, d.addr("stats"), "/stats", basic("ops", "other")); resp.StatusCode != 200 {
		t.Fatalf("second user: %d", resp.StatusCode)
	}
	if resp, body := get(t, d.addr("stats"), "/stats;csv", basic("admin", "s3cret")); resp.StatusCode != 200 || !strings.HasPrefix(body, "# pxname") {
		t.Fatalf("good credentials: %d %q", resp.StatusCode, body)
	}
	// "stats http-request" rules run before the implicit auth rule.
	if resp, _ := get(t, d.addr("stats"), "/stats", "X-Bypass: 1\r\n"); resp.StatusCode != 200 {
		t.Fatalf("stats http-request allow: %d", resp.StatusCode)
	}
	if resp, _ := get(t, d.addr("stats"), "/stats", basic("admin", "s3cret"), "X-Evil: 1\r\n"); resp.StatusCode != 403 {
		t.Fatalf("stats http-request deny: %d", resp.StatusCode)
	}
	// The exporter is an explicit use-service: not behind the page's auth.
	if resp, _ := get(t, d.addr("stats"), "/metrics"); resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
}

// TestStatsPageOnBackend: a backend's stats page answers the requests
// routed to it whose path matches; the others reach its servers.
func TestStatsPageOnBackend(t *testing.T) {
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request deny if { path /admin/stats/blocked }
    default_backend app
backend app
    stats enable
    stats uri /admin/stats
    server s1 `+statsBackend(t)+`
`)
	if resp, body := get(t, d.addr("fe"), "/"); resp.StatusCode != 200 || body != "ok" {
		t.Fatalf("proxied: %d %q", resp.StatusCode, body)
	}
	resp, page := get(t, d.addr("fe"), "/admin/stats")
	if resp.StatusCode != 200 || !strings.Contains(page, `id="app"`) {
		t.Fatalf("backend stats page: %d", resp.StatusCode)
	}
	serverRow(t, page, "s1")
	if resp, _ := get(t, d.addr("fe"), "/admin/stats/blocked"); resp.StatusCode != 403 {
		t.Fatalf("http-request deny before the page: %d", resp.StatusCode)
	}
	// The default prefix is "/haproxy?stats".
	d2 := startDaemon(t, httpDefaults+`
listen l
    bind 127.0.0.1:0
    stats enable
    server s1 `+statsBackend(t)+`
`)
	if resp, body := get(t, d2.addr("l"), "/haproxy?stats;csv"); resp.StatusCode != 200 || !strings.Contains(body, "\nl,s1,") {
		t.Fatalf("default uri: %d %q", resp.StatusCode, body)
	}
}

// post sends a form to the stats page and returns the response.
func post(t *testing.T, addr, path, form string, hdrs ...string) *http.Response {
	t.Helper()
	c := dialRaw(t, addr)
	defer c.Close()
	c.send(fmt.Sprintf("POST %s HTTP/1.1\r\nHost: test\r\n%sContent-Type: application/x-www-form-urlencoded\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		path, strings.Join(hdrs, ""), len(form), form))
	resp, _ := c.response("POST")
	return resp
}

func TestStatsPageAdmin(t *testing.T) {
	backend := statsBackend(t)
	d := startDaemon(t, statsConfig(backend, `
    stats admin if LOCALHOST
frontend ro
    bind 127.0.0.1:0
    stats enable
    stats uri /
    stats admin if { src 10.0.0.0/8 }
`))
	e := d.Engine()
	app := e.Proxy("app")
	s1, s2 := app.Server("s1"), app.Server("s2")
	bid := fmt.Sprint(app.UUID())

	// The page shows the form.
	_, page := get(t, d.addr("stats"), "/stats")
	if row := serverRow(t, page, "s1"); !strings.Contains(row, `<input type="checkbox" name="s" value="s1">`) ||
		!strings.Contains(page, `<input type="hidden" name="b" value="#`+bid+`">`) || !strings.Contains(page, `<option value="maint">`) {
		t.Fatalf("no admin form: %s", row)
	}

	resp := post(t, d.addr("stats"), "/stats", "s=s1&s=s2&action=maint&b=%23"+bid)
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/stats;st=DONE" {
		t.Fatalf("maint: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !s1.Admin().IsMaint() || !s2.Admin().IsMaint() {
		t.Fatalf("admin states %v %v", s1.Admin(), s2.Admin())
	}
	waitFor(t, "SERVER_ADMIN with the stats page cause", func() bool {
		for _, ev := range d.Bus().History(0) {
			if ev.Type == bus.ServerAdmin && ev.Server.Name == "s1" && ev.Admin != nil && ev.Admin.Cause == "'disable' on stats page" {
				return true
			}
		}
		return false
	})
	d.waitLog("Server app/s1 is going DOWN for maintenance ('disable' on stats page)")
	_, page = get(t, d.addr("stats"), "/stats;st=DONE")
	if !strings.Contains(page, "Action processed successfully.") || !strings.Contains(serverRow(t, page, "s1"), "MAINT") {
		t.Fatal("result message or new state missing")
	}

	// By name, with page options kept; an unknown server makes it partial.
	resp = post(t, d.addr("stats"), "/stats;up;norefresh", "action=ready&b=app&s=s1&s=nosuch")
	if loc := resp.Header.Get("Location"); loc != "/stats;up;norefresh;st=PART" {
		t.Fatalf("ready: %q", loc)
	}
	if s1.Admin().IsMaint() || !s2.Admin().IsMaint() {
		t.Fatal("ready not applied to s1 only")
	}
	// Health actions on a server without check: hdown stops it, with
	// HAProxy's "changed from Web interface" cause; dhlth does not apply.
	if loc := post(t, d.addr("stats"), "/stats", "action=hdown&b=app&s=s1").Header.Get("Location"); loc != "/stats;st=DONE" {
		t.Fatalf("hdown: %q", loc)
	}
	d.waitLog("Server app/s1 is DOWN, changed from Web interface")
	if loc := post(t, d.addr("stats"), "/stats", "action=dhlth&b=app&s=s1").Header.Get("Location"); loc != "/stats;st=NONE" {
		t.Fatalf("dhlth without check: %q", loc)
	}
	for form, code := range map[string]string{
		"action=bogus&b=app&s=s1":      "ERRP",
		"action=ready&b=nosuch&s=s1":   "ERRP",
		"action=ready&b=%23999&s=s1":   "ERRP",
		"action=ready&b=app":           "NONE",
		"b=app&s=s1":                   "ERRP",
		"action=ready&b=www&s=s1":      "ERRP",
		"action=ready&s=s1&b=app&s=s2": "DONE",
	} {
		if loc := post(t, d.addr("stats"), "/stats", form).Header.Get("Location"); loc != "/stats;st="+code {
			t.Errorf("%s: %q, want %s", form, loc, code)
		}
	}
	if s2.Admin().IsMaint() {
		t.Fatal("s2 still in maintenance")
	}

	// Without admin rights (condition false): DENY and nothing changes.
	resp = post(t, d.addr("ro"), "/", "s=s1&action=maint&b=app")
	if resp.StatusCode != 303 || resp.Header.Get("Location") != "/;st=DENY" || s1.Admin().IsMaint() {
		t.Fatalf("non-admin post: %d %q %v", resp.StatusCode, resp.Header.Get("Location"), s1.Admin())
	}
	if _, page := get(t, d.addr("ro"), "/"); strings.Contains(page, `type="checkbox"`) {
		t.Fatal("form shown without admin rights")
	}
	// A form bigger than the buffer is refused.
	big := "action=maint&b=app" + strings.Repeat("&s=s1", 4000)
	if loc := post(t, d.addr("stats"), "/stats", big).Header.Get("Location"); loc != "/stats;st=EXCD" || s1.Admin().IsMaint() {
		t.Fatalf("oversized form: %q", loc)
	}
}

// metrics scrapes the exporter and parses it strictly.
func metrics(t *testing.T, addr, query string) map[string]*promtest.Family {
	t.Helper()
	resp, body := get(t, addr, "/metrics"+query)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/plain; version=0.0.4; charset=utf-8" {
		t.Fatalf("/metrics%s: %d %v", query, resp.StatusCode, resp.Header)
	}
	fams, err := promtest.Parse(body)
	if err != nil {
		t.Fatalf("/metrics%s: %v", query, err)
	}
	return fams
}

func TestPrometheusExporter(t *testing.T) {
	var hooks atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hooks.Add(1) }))
	defer hook.Close()
	d := startDaemon(t, statsConfig(statsBackend(t), "")+`
webhook ops
    url `+hook.URL+`/hook
    event SERVER_DOWN
`)
	for i := 0; i < 3; i++ {
		get(t, d.addr("www"), "/")
	}
	cli(t, "tcp", d.CLIAddrs()[0], "set server app/s2 state maint")
	var fams map[string]*promtest.Family
	// A response is accounted just after it is sent: wait for the third.
	waitFor(t, "3 responses accounted", func() bool {
		fams = metrics(t, d.addr("stats"), "")
		v, _ := fams["haproxy_backend_http_responses_total"].Get("proxy", "app", "code", "2xx")
		return v == 3
	})
	check := func(fam string, want float64, kv ...string) {
		t.Helper()
		if v, ok := fams[fam].Get(kv...); !ok || v != want {
			t.Errorf("%s%v = %v (present %v), want %v", fam, kv, v, ok, want)
		}
	}
	check("haproxy_frontend_http_requests_total", 3, "proxy", "www")
	check("haproxy_frontend_http_responses_total", 3, "proxy", "www", "code", "2xx")
	check("haproxy_frontend_connections_total", 3, "proxy", "www")
	check("haproxy_frontend_sessions_total", 3, "proxy", "www")
	check("haproxy_backend_http_responses_total", 3, "proxy", "app", "code", "2xx")
	check("haproxy_backend_sessions_total", 3, "proxy", "app")
	check("haproxy_backend_active_servers", 1, "proxy", "app")
	check("haproxy_backend_status", 1, "proxy", "app", "state", "UP")
	check("haproxy_server_status", 1, "proxy", "app", "server", "s2", "state", "MAINT")
	check("haproxy_server_status", 0, "proxy", "app", "server", "s2", "state", "UP")
	check("haproxy_server_status", 1, "proxy", "app", "server", "s1", "state", "UP")
	if v, _ := fams["haproxy_process_requests_total"].Get(); v < 4 { // 3 proxied + the scrapes
		t.Errorf("process requests %v", v)
	}
	check("haproxy_process_build_info", 1, "version", Version)
	check("haproxy_process_node", 1, "node", "lb-test")
	if v, _ := fams["haproxy_server_sessions_total"].Get("server", "s1"); v < 1 {
		t.Errorf("s1 sessions %v", v)
	}
	if fams["haproxy_process_uptime_seconds"] == nil || fams["haproxy_process_start_time_seconds"] == nil {
		t.Error("process uptime/start time missing")
	}
	if f := fams["haproxy_frontend_http_requests_total"]; f.Type != "counter" || f.Help == "" {
		t.Errorf("TYPE/HELP: %q %q", f.Type, f.Help)
	}
	if v, _ := fams["moonbus_bus_events_published_total"].Get("type", "SERVER_ADMIN"); v < 1 {
		t.Errorf("bus SERVER_ADMIN published %v", v)
	}
	// The webhook pipeline's counters come through the daemon's hook.
	waitFor(t, "webhook post", func() bool { return hooks.Load() > 0 })
	waitFor(t, "moonbus_alerts_sent_total", func() bool {
		v, _ := metrics(t, d.addr("stats"), "?scope=global")["moonbus_alerts_sent_total"].Get()
		return v >= 1
	})

	// scope= and no-maint.
	for q, want := range map[string]string{
		"?scope=backend":                 "backend",
		"?scope=server&scope=frontend":   "frontend server",
		"?scope=global":                  "moonbus process",
		"?scope=*&scope=":                "",
		"?scope=&scope=server&no-maint=": "server",
	} {
		kinds := map[string]bool{}
		for n := range metrics(t, d.addr("stats"), q) {
			if k := strings.SplitN(n, "_", 3); k[0] == "moonbus" {
				kinds[k[0]] = true
			} else {
				kinds[k[1]] = true
			}
		}
		var got []string
		for _, k := range []string{"backend", "frontend", "moonbus", "process", "server"} {
			if kinds[k] {
				got = append(got, k)
			}
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s: families %v, want %s", q, got, want)
		}
	}
	if _, ok := metrics(t, d.addr("stats"), "?scope=server&no-maint")["haproxy_server_status"].Get("server", "s2"); ok {
		t.Error("no-maint kept s2")
	}
	if resp, _ := get(t, d.addr("stats"), "/metrics?scope=nope"); resp.StatusCode != 400 {
		t.Errorf("unknown scope: %d", resp.StatusCode)
	}
	d.waitLog("stats stats/<PROMEX> ")
}

// TestQuickstartStats: deploy/quickstart.cfg serves the stats page and the
// metrics on its stats frontend (ports rewritten to free ones).
func TestQuickstartStats(t *testing.T) {
	b, err := os.ReadFile("deploy/quickstart.cfg")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "bind 127.0.0.1:8404") {
		t.Fatal("the quick start no longer binds 127.0.0.1:8404")
	}
	ports := map[string]string{}
	text := loopbackPort.ReplaceAllStringFunc(string(b), func(m string) string {
		old := m[len("127.0.0.1:"):]
		if _, ok := ports[old]; !ok {
			ports[old] = freePort(t)
		}
		return "127.0.0.1" + m[len("127.0.0.1"):len("127.0.0.1")+1] + ports[old]
	})
	d := startLuaDaemon(t, text, false)
	get(t, d.addr("www"), "/")
	stats := "127.0.0.1:" + ports["8404"]
	resp, page := get(t, stats, "/stats")
	if resp.StatusCode != 200 || resp.Header.Get("Refresh") != "10" || !strings.Contains(page, `id="app"`) {
		t.Fatalf("/stats: %d %v", resp.StatusCode, resp.Header)
	}
	for _, s := range []string{"app1", "app2"} {
		serverRow(t, page, s)
	}
	fams := metrics(t, stats, "")
	if v, _ := fams["haproxy_frontend_http_requests_total"].Get("proxy", "www"); v != 1 {
		t.Fatalf("www requests: %v", v)
	}
	if v, _ := fams["haproxy_backend_active_servers"].Get("proxy", "app"); v != 2 {
		t.Fatalf("app active servers: %v", v)
	}
	if _, body := get(t, stats, "/stats;csv"); !strings.Contains(body, "\napp,app1,") {
		t.Fatalf("csv: %q", body)
	}
}
