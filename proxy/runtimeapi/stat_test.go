package runtimeapi

import (
	"fmt"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"moonbus/proxy"
)

func TestShowInfo(t *testing.T) {
	h := baseHarness(t)
	out := h.do("show info")
	lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	var names []string
	vals := map[string]string{}
	for _, l := range lines {
		n, v, ok := strings.Cut(l, ": ")
		if !ok {
			t.Fatalf("bad line %q", l)
		}
		names = append(names, n)
		vals[n] = v
	}
	want := []string{"Name", "Version", "Release_date", "Nbthread", "Nbproc", "Process_num", "Pid", "Uptime", "Uptime_sec",
		"Start_time_sec", "Memmax_MB", "PoolAlloc_MB", "PoolUsed_MB", "PoolFailed", "Ulimit-n", "Maxsock", "Maxconn",
		"Hard_maxconn", "CurrConns", "CumConns", "CumReq"}
	if strings.Join(names[:len(want)], ",") != strings.Join(want, ",") {
		t.Fatalf("field order:\n%v", names)
	}
	pos := map[string]int{}
	for i, n := range names {
		pos[n] = i
	}
	for _, pair := range [][2]string{{"CumReq", "Tasks"}, {"Tasks", "Run_queue"}, {"Idle_pct", "node"}, {"node", "description"}, {"description", "Stopping"}, {"Stopping", "Jobs"}} {
		if pos[pair[0]] >= pos[pair[1]] {
			t.Fatalf("%s must come before %s:\n%v", pair[0], pair[1], names)
		}
	}
	if vals["Name"] != "Moonbus" || vals["Version"] != "3.0-moonbus-test" || vals["Release_date"] != "2026/01/01" || vals["Nbproc"] != "1" || vals["Stopping"] != "0" {
		t.Fatalf("values: %v", vals)
	}
	if !regexp.MustCompile(`^0d 0h00m\d\ds$`).MatchString(vals["Uptime"]) {
		t.Fatalf("Uptime %q", vals["Uptime"])
	}
	if vals["Pid"] == "0" || vals["Pid"] == "" {
		t.Fatalf("Pid %q", vals["Pid"])
	}
	if _, err := h.get("fe", "/"); err != nil {
		t.Fatal(err)
	}
	checkFor(t, 5*time.Second, func() error {
		out := h.do("show info")
		if !strings.Contains(out, "\nCumReq: 1\n") || !strings.Contains(out, "\nCumConns: 1\n") {
			return fmt.Errorf("counters not updated:\n%s", out)
		}
		return nil
	})
	if got := proxy.FormatUptime(90061 * time.Second); got != "1d 1h01m01s" {
		t.Fatalf("FormatUptime: %q", got)
	}
}

func TestShowStatCSV(t *testing.T) {
	h := baseHarness(t)
	out := h.do("show stat")
	header := "# " + strings.Join(proxy.StatColumns[:], ",") + ",-,"
	if !strings.HasPrefix(out, header+"\n") {
		t.Fatalf("header:\n%s", strings.SplitN(out, "\n", 2)[0])
	}
	if len(proxy.StatColumns) != 119 || proxy.StatColumns[118] != "cache_hint_hits" || proxy.StatColumns[103] != "srid" || proxy.StatColumns[38] != "check_duration" {
		t.Fatal("column list is not HAProxy's")
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	var keys []string
	for _, l := range lines[1:] {
		if !strings.HasSuffix(l, ",-,") {
			t.Fatalf("row does not end with the end-of-fixed-columns marker: %q", l)
		}
		f := splitCSV(l)
		keys = append(keys, f[0]+"/"+f[1])
	}
	// Frontend, servers, backend, per proxy in configuration order.
	if got := strings.Join(keys, " "); got != "fe/FRONTEND be/s1 be/s2 be/s3 be/BACKEND be2/t1 be2/BACKEND" {
		t.Fatalf("rows: %s", got)
	}
	rows := h.statRows("")
	fe, s1, s2, s3, be, t1 := rows["fe/FRONTEND"], rows["be/s1"], rows["be/s2"], rows["be/s3"], rows["be/BACKEND"], rows["be2/t1"]
	for _, tc := range []struct {
		row      map[string]string
		col, val string
	}{
		{fe, "status", "OPEN"}, {fe, "type", "0"}, {fe, "iid", "1"}, {fe, "pid", "1"}, {fe, "sid", ""}, {fe, "qcur", ""},
		{fe, "mode", "http"}, {fe, "weight", ""}, {fe, "req_tot", "0"}, {fe, "conn_tot", "0"}, {fe, "check_status", ""},
		{s1, "status", "no check"}, {s1, "type", "2"}, {s1, "iid", "2"}, {s1, "sid", "1"}, {s1, "weight", "1"}, {s1, "act", "1"},
		{s1, "bck", "0"}, {s1, "check_status", ""}, {s1, "chkfail", ""}, {s1, "chkdown", ""}, {s1, "downtime", ""},
		{s1, "lastchg", "0"}, {s1, "slim", ""}, {s1, "qlimit", ""}, {s1, "tracked", ""}, {s1, "lastsess", "-1"},
		{s1, "addr", h.eng.Proxy("be").Server("s1").AddrString()}, {s1, "mode", "http"}, {s1, "algo", ""}, {s1, "uweight", "1"},
		{s1, "check_rise", ""}, {s1, "srid", "0"}, {s1, "dreq", ""}, {s1, "ereq", ""},
		{s2, "status", "UP 1/3"}, {s2, "check_status", "INI"}, {s2, "check_desc", "Initializing"}, {s2, "check_rise", "2"},
		{s2, "check_fall", "3"}, {s2, "check_health", "2"}, {s2, "chkfail", "0"}, {s2, "chkdown", "0"}, {s2, "downtime", "0"},
		{s2, "weight", "10"}, {s2, "agent_status", ""},
		{s3, "status", "UP 1/3"}, {s3, "tracked", "be/s2"}, {s3, "check_status", ""},
		{be, "status", "UP"}, {be, "type", "1"}, {be, "weight", "12"}, {be, "act", "3"}, {be, "bck", "0"}, {be, "algo", "roundrobin"},
		{be, "sid", ""}, {be, "chkdown", "0"}, {be, "downtime", "0"}, {be, "uweight", "12"}, {be, "qcur", "0"}, {be, "lbtot", "0"},
		{t1, "weight", "4"},
	} {
		if got := tc.row[tc.col]; got != tc.val {
			t.Errorf("%s/%s %s = %q, want %q", tc.row["pxname"], tc.row["svname"], tc.col, got, tc.val)
		}
	}
	// Traffic shows in the counters.
	for i := 0; i < 4; i++ {
		if code, err := h.get("fe", "/"); err != nil || code != 200 {
			t.Fatalf("request: %d %v", code, err)
		}
	}
	checkFor(t, 5*time.Second, func() error {
		rows := h.statRows("")
		fe, be := rows["fe/FRONTEND"], rows["be/BACKEND"]
		if fe["req_tot"] != "4" || fe["hrsp_2xx"] != "4" || fe["stot"] != "4" || fe["conn_tot"] != "4" || be["lbtot"] != "4" || be["hrsp_2xx"] != "4" {
			return fmt.Errorf("fe req_tot=%s hrsp_2xx=%s stot=%s be lbtot=%s hrsp_2xx=%s", fe["req_tot"], fe["hrsp_2xx"], fe["stot"], be["lbtot"], be["hrsp_2xx"])
		}
		total := 0
		for _, s := range []string{"s1", "s2", "s3"} {
			n, _ := strconv.Atoi(rows["be/"+s]["lbtot"])
			total += n
			if n > 0 && rows["be/"+s]["lastsess"] == "-1" {
				return fmt.Errorf("%s: lastsess not set", s)
			}
		}
		if total != 4 {
			return fmt.Errorf("server lbtot sum %d", total)
		}
		return nil
	})
	// "clear counters all" zeroes them.
	h.expectTCP("clear counters all", "\n")
	rows = h.statRows("")
	if rows["fe/FRONTEND"]["req_tot"] != "0" || rows["be/BACKEND"]["lbtot"] != "0" {
		t.Fatalf("clear counters all: fe req_tot=%s be lbtot=%s", rows["fe/FRONTEND"]["req_tot"], rows["be/BACKEND"]["lbtot"])
	}
	// Lua's get_stats() table: the same keys, absent fields left out.
	m := h.eng.Proxy("be").Server("s1").StatRow(time.Now()).Map()
	if m["status"] != "no check" || m["sid"] != int64(1) {
		t.Fatalf("Map: %v", m)
	}
	if _, ok := m["check_status"]; ok {
		t.Fatal("Map holds an absent field")
	}
}

func TestShowStatFilters(t *testing.T) {
	h := baseHarness(t)
	keys := func(args string) string {
		out := h.do("show stat " + args)
		var k []string
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")[1:] {
			f := splitCSV(l)
			k = append(k, f[0]+"/"+f[1])
		}
		return strings.Join(k, " ")
	}
	for _, tc := range []struct{ args, want string }{
		{"be 4 -1", "be/s1 be/s2 be/s3"},
		{"be 2 -1", "be/BACKEND"},
		{"-1 1 -1", "fe/FRONTEND"},
		{"2 6 2", "be/s2 be/BACKEND"},
		{"#x 1 1", ""},
		{"be2 -1 -1", "be2/t1 be2/BACKEND"},
	} {
		if tc.args == "#x 1 1" {
			h.expect("show stat "+tc.args, "No such proxy.\n\n")
			continue
		}
		if got := keys(tc.args); got != tc.want {
			t.Errorf("show stat %s: %s, want %s", tc.args, got, tc.want)
		}
	}
	h.expectTCP("disable server be/s1", "\n")
	h.expectTCP("set server be/s2 health down", "\n")
	if got := keys("be 4 -1 no-maint"); got != "be/s2 be/s3" {
		t.Errorf("no-maint: %s", got)
	}
	if got := keys("be 4 -1 up"); got != "" {
		t.Errorf("up: %q", got)
	}
	h.expect("show stat typed", "'show stat typed' is not supported; use the CSV form.\n\n")
	h.expect("show stat be 4", "Usage: show stat [<iid|proxy> <type> <sid>] [up|no-maint]\n\n")
}

// TestServerStatuses drives each status text of §4.2/§4.3/§6.4.
func TestServerStatuses(t *testing.T) {
	a, hp := backend(t, nil), blackhole(t)
	h := startHarness(t, strings.NewReplacer("%A%", a, "%H%", hp).Replace(`
defaults
    mode tcp
    timeout connect 2s
    timeout client 5s
    timeout server 5s
backend be
    option httpchk
    default-server inter 1h
    server c1 %A% check port %H%
    server c2 %A% check port %H% init-state down
    server c3 %A% check port %H% init-state fully-down
    server n1 %A%
    server t1 %A% track c1
    server t2 %A% track t1
    server a1 %A% agent-check agent-port %H% agent-inter 1h
    server b1 %A% backup
`))
	status := func(s string) string { return h.statRows("")["be/"+s]["status"] }
	for _, tc := range []struct{ cmd, srv, want string }{
		{"", "c1", "UP 1/3"},
		{"", "c2", "DOWN 1/2"},
		{"", "c3", "DOWN"},
		{"", "n1", "no check"},
		{"", "t1", "UP 1/3"},
		{"", "a1", "no check"},
		{"set server be/c1 health up", "c1", "UP"},
		{"", "t2", "UP"},
		{"set server be/c1 health stopping", "c1", "NOLB"},
		{"", "t1", "NOLB"},
		{"set server be/c1 health down", "c1", "DOWN"},
		{"", "t2", "DOWN"},
		{"set server be/c1 state maint", "c1", "MAINT"},
		{"", "t1", "MAINT (via be/c1)"},
		{"", "t2", "MAINT (via be/t1)"},
		// Leaving maintenance: "start OK but check immediately".
		{"set server be/c1 state ready", "c1", "UP 1/3"},
		{"", "t2", "UP 1/3"},
		{"set server be/c1 state drain", "c1", "DRAIN 1/3"},
		{"set server be/c1 health up", "c1", "DRAIN"},
		{"", "t1", "DRAIN"},
		{"", "t2", "DRAIN"},
		{"set weight be/n1 0", "n1", "DRAIN"},
		{"set weight be/n1 1", "n1", "no check"},
		{"set server be/a1 agent down", "a1", "DOWN (agent)"},
		{"set server be/a1 agent up", "a1", "no check"},
		{"set server be/a1 state drain", "a1", "DRAIN (agent)"},
		{"disable health be/c2", "c2", "no check"},
		{"enable health be/c2", "c2", "DOWN 1/2"},
		{"set server be/c3 health up", "c3", "UP"},
		{"", "b1", "no check"},
	} {
		if tc.cmd != "" {
			h.expectTCP(tc.cmd, "\n")
		}
		if got := status(tc.srv); got != tc.want {
			t.Fatalf("after %q: %s status %q, want %q", tc.cmd, tc.srv, got, tc.want)
		}
	}
	rows := h.statRows("")
	if rows["be/b1"]["act"] != "0" || rows["be/b1"]["bck"] != "1" || rows["be/BACKEND"]["bck"] != "1" {
		t.Fatalf("backup columns: %v %v", rows["be/b1"]["bck"], rows["be/BACKEND"]["bck"])
	}
	if rows["be/c1"]["chkdown"] != "1" || rows["be/a1"]["agent_status"] != "INI" || rows["be/a1"]["agent_health"] != "1" {
		t.Fatalf("check columns: chkdown=%s agent_status=%s agent_health=%s", rows["be/c1"]["chkdown"], rows["be/a1"]["agent_status"], rows["be/a1"]["agent_health"])
	}
	// A backend whose usable servers all left is DOWN.
	for _, s := range []string{"c1", "c2", "c3", "n1", "a1", "b1"} {
		h.expectTCP("disable server be/"+s, "\n")
	}
	if got := h.statRows("")["be/BACKEND"]; got["status"] != "DOWN" || got["act"] != "0" || got["chkdown"] != "1" {
		t.Fatalf("backend: status=%s act=%s chkdown=%s", got["status"], got["act"], got["chkdown"])
	}
}

func TestServersState(t *testing.T) {
	h := baseHarness(t)
	be := h.eng.Proxy("be")
	hp := strconv.Itoa(be.Server("s2").CheckPort())
	addr := func(s string) (string, string) {
		host, port, _ := net.SplitHostPort(be.Server(s).AddrString())
		return host, port
	}
	h1, p1 := addr("s1")
	h2, p2 := addr("s2")
	out := h.do("show servers state be")
	re := regexp.MustCompile(`(?m)^(\d+ \S+ \d+ \S+ \S+ \d \d+ \d+ \d+) (\d+) (.*)$`)
	lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	if lines[0] != "1" || lines[1] != ServersStateHeader {
		t.Fatalf("header:\n%s", out)
	}
	want := []string{
		"2 be 1 s1 " + h1 + " 2 0 1 1|1 0 2 0 0 0 0 - " + p1 + " - 0 0 - - 0",
		"2 be 2 s2 " + h2 + " 2 0 10 10|1 0 2 6 0 0 0 - " + p2 + " - 0 " + hp + " - - 0",
		"2 be 3 s3 " + h2 + " 2 0 1 1|1 0 2 0 0 0 0 - " + p2 + " - 0 0 - - 0",
	}
	if len(lines) != 2+len(want) {
		t.Fatalf("lines:\n%s", out)
	}
	for i, w := range want {
		m := re.FindStringSubmatch(lines[2+i])
		if m == nil || m[1]+"|"+m[3] != w || m[2] != "0" && m[2] != "1" {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[2+i], w)
		}
	}
	h.expectTCP("disable server be/s1", "\n")
	h.expectTCP("set server be/s2 health down", "\n")
	out = h.do("show servers state")
	if !strings.Contains(out, "\n2 be 1 s1 "+h1+" 0 1 1 1 ") || !strings.Contains(out, "\n2 be 2 s2 "+h2+" 0 0 10 10 ") ||
		!strings.Contains(out, "\n2 be 3 s3 "+h2+" 0 0 1 1 ") || !strings.Contains(out, "\n3 be2 1 t1 ") {
		t.Fatalf("after changes:\n%s", out)
	}
	h.expect("show servers state nope", "Can't find backend.\n\n")
	h.expect("show backend", "# name\nbe\nbe2\n\n")
}

// TestDrainKeepsHealth: entering or leaving drain must not touch the health
// counter (HAProxy clears FMAINT only when it is set).
func TestDrainKeepsHealth(t *testing.T) {
	a := backend(t, nil)
	h := startHarness(t, "backend be\n    option httpchk\n    server c1 "+a+" check port "+blackhole(t)+" inter 1h\n")
	for _, tc := range []struct{ cmd, want string }{
		{"set server be/c1 health up", "UP"},
		{"set server be/c1 state drain", "DRAIN"},
		{"set server be/c1 state ready", "UP"},
		{"set server be/c1 health down", "DOWN"},
		// A DOWN server entering drain stays DOWN.
		{"set server be/c1 state drain", "DOWN"},
		{"enable server be/c1", "DOWN"},
	} {
		h.expectTCP(tc.cmd, "\n")
		if got := h.statRows("")["be/c1"]["status"]; got != tc.want {
			t.Fatalf("after %s: status %q, want %q", tc.cmd, got, tc.want)
		}
	}
}
