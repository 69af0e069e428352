package moonbus

import (
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// The Lua event framework through the daemon: a recorder script subscribes
// globally, per server, to dynamic servers (from a SERVER_ADD handler) and
// to check events; the runtime API changes the servers; the script's CLI
// command "luaev dump <label>" returns, per subscription, one line per
// callback: "<event> <data serialized with sorted keys> <sub> <when>".

const evRecorderLua = `
local t0 = os.time()
local lines = {}
subs = {}

local function ser(v)
  if type(v) == "table" then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = tostring(k) end
    table.sort(keys)
    local parts = {}
    for _, k in ipairs(keys) do parts[#parts + 1] = k .. "=" .. ser(v[k]) end
    return "{" .. table.concat(parts, ",") .. "}"
  end
  return tostring(v)
end

local function rec(label)
  lines[label] = lines[label] or {}
  return function(event, data, sub, when)
    local w = "when-bad:" .. tostring(when)
    if type(when) == "number" and when >= t0 and when <= os.time() then w = "when-ok" end
    local s = tostring(sub):match("^EventSub: ") and "sub-ok" or "sub-bad"
    table.insert(lines[label], event .. " " .. ser(data) .. " " .. s .. " " .. w)
  end
end

local global = rec("g")
local added = rec("added")
subs.g = core.event_sub({"SERVER", "BACKEND"}, function(event, data, sub, when)
  if data.proxy_name == "chk" then return end -- checked below, per server
  global(event, data, sub, when)
  -- As the seed's follow-up: follow servers added at runtime.
  if event == "SERVER_ADD" and data.reference ~= nil then
    subs.added = data.reference:event_sub({"SERVER"}, added)
  end
end)

local once = rec("once")
subs.once = core.event_sub({"SERVER_ADMIN"}, function(event, data, sub, when)
  once(event, data, sub, when)
  sub:unsub()
end)

core.register_init(function()
  subs.s1 = core.backends.be.servers.s1:event_sub({"SERVER"}, rec("s1"))
  subs.c1 = core.backends.chk.servers.c1:event_sub({"SERVER_CHECK", "SERVER_STATE", "SERVER_UP", "SERVER_DOWN"}, rec("c1"))
end)

core.register_cli({"luaev", "dump"}, "luaev dump <label>", function(applet, _, _, label)
  for _, l in ipairs(lines[label] or {}) do applet:send(l .. "\n") end
end)

core.register_cli({"luaev", "unsub"}, "luaev unsub <label>", function(applet, _, _, label)
  subs[label]:unsub()
  applet:send("unsubscribed " .. label .. "\n")
end)
`

// evBlackhole returns the port of a listener that accepts connections and
// never answers: a check against it stays pending (no check event).
func evBlackhole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// evHarness is a daemon running the recorder.
type evHarness struct {
	*testDaemon
	t     *testing.T
	admin string
	seen  map[string]int // lines already returned per label
}

func (h *evHarness) do(cmd string) string {
	h.t.Helper()
	return cli(h.t, "tcp", h.admin, cmd)
}

// dump returns the recorded lines of a label.
func (h *evHarness) dump(label string) []string {
	h.t.Helper()
	out := strings.TrimSuffix(h.do("luaev dump "+label), "\n")
	out = strings.TrimSuffix(out, "\n")
	if out == "" {
		return nil
	}
	return strings.Split(out, "\n")
}

// next waits until the label has n new lines and returns them.
func (h *evHarness) next(label string, n int) []string {
	h.t.Helper()
	var l []string
	waitFor(h.t, strconv.Itoa(n)+" new events on "+label, func() bool {
		l = h.dump(label)
		return len(l) >= h.seen[label]+n
	})
	got := l[h.seen[label]:]
	h.seen[label] = len(l)
	return got
}

// none asserts that the label has no new line (call it once a later event
// on another subscription proves the change was published).
func (h *evHarness) none(label string) {
	h.t.Helper()
	if l := h.dump(label); len(l) != h.seen[label] {
		h.t.Fatalf("%s: unexpected events:\n%s", label, strings.Join(l[h.seen[label]:], "\n"))
	}
}

func expectLines(t *testing.T, step string, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("%s:\n got:\n%s\nwant:\n%s", step, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// evAdmin renders an admin map with the given keys true.
func evAdmin(set ...string) string {
	var parts []string
	for _, k := range []string{"CMAINT", "DRAIN", "FDRAIN", "FMAINT", "IDRAIN", "IMAINT", "MAINT", "RMAINT"} {
		v := "false"
		for _, s := range set {
			if s == k {
				v = "true"
			}
		}
		parts = append(parts, k+"="+v)
	}
	return "{" + strings.Join(parts, ",") + "}"
}

func TestLuaEventsThroughTheRuntimeAPI(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer app.Close()
	var sick atomic.Bool
	chk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			w.WriteHeader(503)
		}
	}))
	defer chk.Close()
	lua := writeLua(t, "recorder.lua", evRecorderLua)
	d := startLuaDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
    tune.lua.bool-sample-conversion normal
    lua-load `+lua+`
`+luaHTTPDefaults+`
backend be
    option httpchk GET /health
    server s1 `+hostOf(app)+` check port `+evBlackhole(t)+` inter 1h
    server s2 `+hostOf(app)+`
backend chk
    option httpchk GET /health
    server c1 `+hostOf(chk)+` check inter 50ms rise 2 fall 2
`, false)
	h := &evHarness{testDaemon: d, t: t, admin: d.CLIAddrs()[0], seen: map[string]int{}}
	be := d.Engine().Proxy("be")
	uuid := strconv.Itoa(be.UUID())
	// srv renders the common fields of a server of "be".
	srv := func(name string, puid int, ref bool) string {
		s := "name=" + name + ",proxy_name=be,proxy_uuid=" + uuid + ",puid=" + strconv.Itoa(puid)
		if ref {
			s += ",reference=Server: " + name
		}
		return s + ",rid=0"
	}
	const tail = " sub-ok when-ok"
	admin := func(s string, old, new []string) string {
		return "SERVER_ADMIN {admin={cause=,new_admin=" + evAdmin(new...) + ",old_admin=" + evAdmin(old...) + ",requeued=0}," + s + "}" + tail
	}
	state := func(s string, adm bool, cause, old, new string) string {
		return "SERVER_STATE {" + s + ",state={admin=" + strconv.FormatBool(adm) + ",cause=" + cause + ",new_state=" + new + ",old_state=" + old + ",requeued=0}}" + tail
	}
	plain := func(ev, s string) string { return ev + " {" + s + "}" + tail }
	s1, s2 := srv("s1", 1, true), srv("s2", 2, true)
	maint := []string{"FMAINT", "MAINT"}

	// Admin change: maintenance, on the server's and the global subscription.
	h.do("set server be/s1 state maint")
	want := []string{admin(s1, nil, maint), plain("SERVER_DOWN", s1), state(s1, true, "", "RUNNING", "STOPPED")}
	expectLines(t, "maint (s1)", h.next("s1", 3), want...)
	expectLines(t, "maint (global)", h.next("g", 3), want...)
	expectLines(t, "once", h.next("once", 1), want[0])
	h.do("set server be/s1 state ready")
	want = []string{admin(s1, maint, nil), plain("SERVER_UP", s1), state(s1, true, "", "STOPPED", "RUNNING")}
	expectLines(t, "ready (s1)", h.next("s1", 3), want...)
	expectLines(t, "ready (global)", h.next("g", 3), want...)

	// Forced health: no admin event, the CLI cause, no check table.
	if out := h.do("set server be/s1 health down"); out != "\n" {
		t.Fatalf("health down: %q", out)
	}
	want = []string{plain("SERVER_DOWN", s1), state(s1, false, "changed from CLI", "RUNNING", "STOPPED")}
	expectLines(t, "health down (s1)", h.next("s1", 2), want...)
	expectLines(t, "health down (global)", h.next("g", 2), want...)
	h.do("set server be/s1 health up")
	want = []string{plain("SERVER_UP", s1), state(s1, false, "changed from CLI", "STOPPED", "RUNNING")}
	expectLines(t, "health up (s1)", h.next("s1", 2), want...)
	expectLines(t, "health up (global)", h.next("g", 2), want...)

	// Another server: the global subscription only; drain flags.
	h.do("set server be/s2 state drain")
	h.do("set server be/s2 state ready")
	expectLines(t, "drain (global)", h.next("g", 2),
		admin(s2, nil, []string{"DRAIN", "FDRAIN"}), admin(s2, []string{"DRAIN", "FDRAIN"}, nil))
	h.none("s1")
	h.none("once") // unsubscribed itself after its first event

	// The backend loses its last server: BACKEND_DOWN, then BACKEND_UP.
	h.do("set server be/s2 state maint")
	h.do("set server be/s1 state maint")
	bk := "{active=0,backup=0,proxy_name=be,proxy_uuid=" + uuid + ",reference=Proxy: be}"
	expectLines(t, "backend down (global)", h.next("g", 7),
		admin(s2, nil, maint), plain("SERVER_DOWN", s2), state(s2, true, "", "RUNNING", "STOPPED"),
		admin(s1, nil, maint), plain("SERVER_DOWN", s1), state(s1, true, "", "RUNNING", "STOPPED"),
		"BACKEND_DOWN "+bk+tail)
	h.next("s1", 3)
	h.do("set server be/s1 state ready")
	got := h.next("g", 4)
	if len(got) != 4 {
		t.Fatalf("ready: %d events:\n%s", len(got), strings.Join(got, "\n"))
	}
	expectLines(t, "backend up (global)", got[len(got)-1:], "BACKEND_UP "+strings.Replace(bk, "active=0", "active=1", 1)+tail)
	h.next("s1", 3)
	h.do("set server be/s2 state ready")
	h.next("g", 3)

	// Dynamic servers: SERVER_ADD, the script follows the new server, then
	// SERVER_DEL (no reference).
	if out := h.do("add server be/s3 " + hostOf(app)); !strings.Contains(out, "New server registered.") {
		t.Fatalf("add server: %q", out)
	}
	s3 := srv("s3", 3, true)
	expectLines(t, "add (global)", h.next("g", 1), plain("SERVER_ADD", s3))
	waitFor(t, "the script subscribes s3", func() bool {
		for _, st := range d.LuaEventStats() {
			if st.Server == "be/s3" && st.Active {
				return true
			}
		}
		return false
	})
	h.do("enable server be/s3")
	want = []string{admin(s3, maint, nil), plain("SERVER_UP", s3), state(s3, true, "", "STOPPED", "RUNNING")}
	expectLines(t, "enable s3 (added)", h.next("added", 3), want...)
	expectLines(t, "enable s3 (global)", h.next("g", 3), want...)
	h.do("set server be/s3 state maint")
	h.next("added", 3)
	h.next("g", 3)
	if out := h.do("del server be/s3"); !strings.Contains(out, "Server deleted.") {
		t.Fatalf("del server: %q", out)
	}
	del := plain("SERVER_DEL", srv("s3", 3, false))
	expectLines(t, "del (added)", h.next("added", 1), del)
	expectLines(t, "del (global)", h.next("g", 1), del)

	// An address change: SERVER_INETADDR with the common fields only.
	h.do("set server be/s2 addr 127.0.0.2 port 8080")
	expectLines(t, "inetaddr (global)", h.next("g", 1), plain("SERVER_INETADDR", s2))

	// unsub() from another context (a CLI command): the per-server
	// subscription stops, the global one goes on.
	if out := h.do("luaev unsub s1"); out != "unsubscribed s1\n\n" {
		t.Fatalf("unsub: %q", out)
	}
	h.do("set server be/s1 state drain")
	h.next("g", 1)
	h.none("s1")
	h.none("once")

	// Check-driven transitions, on the check subscription of chk/c1: skip
	// the start-up checks, then the first failure.
	c1 := d.Engine().Proxy("chk").Server("c1")
	waitFor(t, "c1 fully up", func() bool { cs := c1.LastCheckStatus(); return cs != nil && cs.Health.Cur == 3 })
	start := len(h.dump("c1"))
	sick.Store(true)
	waitFor(t, "c1 down", func() bool { return c1.Op().String() == "STOPPED" })
	sick.Store(false)
	waitFor(t, "c1 up", func() bool { return c1.Op().String() == "RUNNING" })
	var lines []string
	waitFor(t, "c1 events", func() bool {
		lines = h.dump("c1")[start:]
		return len(lines) >= 8 && strings.HasPrefix(lines[len(lines)-1], "SERVER_CHECK")
	})
	chkUUID := strconv.Itoa(d.Engine().Proxy("chk").UUID())
	dur := regexp.MustCompile(`duration=\d+`)
	for i := range lines {
		lines[i] = dur.ReplaceAllString(lines[i], "duration=D")
	}
	c := "name=c1,proxy_name=chk,proxy_uuid=" + chkUUID + ",puid=1,reference=Server: c1,rid=0"
	fail := func(cur int) string {
		return "{agent=false,duration=D,health={cur=" + strconv.Itoa(cur) + ",fall=2,rise=2},reason={code=503,desc=Layer7 wrong status,short=L7STS},result=FAILED}"
	}
	pass := func(cur int) string {
		return "{agent=false,duration=D,health={cur=" + strconv.Itoa(cur) + ",fall=2,rise=2},reason={code=200,desc=Layer7 check passed,short=L7OK},result=PASSED}"
	}
	expectLines(t, "check-driven down and up", lines,
		"SERVER_CHECK {check="+fail(2)+","+c+"}"+tail,
		"SERVER_DOWN {"+c+"}"+tail,
		"SERVER_STATE {"+c+",state={admin=false,cause=,check="+fail(0)+",new_state=STOPPED,old_state=RUNNING,requeued=0}}"+tail,
		"SERVER_CHECK {check="+fail(0)+","+c+"}"+tail,
		"SERVER_CHECK {check="+pass(1)+","+c+"}"+tail,
		"SERVER_UP {"+c+"}"+tail,
		"SERVER_STATE {"+c+",state={admin=false,cause=,check="+pass(3)+",new_state=RUNNING,old_state=STOPPED,requeued=0}}"+tail,
		"SERVER_CHECK {check="+pass(3)+","+c+"}"+tail,
	)
	// Every Lua subscription kept up: nothing dropped.
	for _, st := range d.LuaEventStats() {
		if st.Dropped != 0 {
			t.Errorf("%s dropped %d events", st.Name, st.Dropped)
		}
	}
}
