package moonbus

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/config"
)

// Lua wired into the rules engine, end to end through the daemon: lua.*
// fetches in ACLs, log-format strings and use_backend, converter chains,
// actions with argument counts checked at load, services in HTTP and TCP
// mode, timeouts, error lines, lua-load-per-thread and CLI commands.

// writeLua writes a script into a temporary directory and returns its path.
func writeLua(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

const luaHTTPDefaults = `
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
`

// appListen is a listen section answering "app <name>" (a local backend).
func appListen(name string) string {
	return fmt.Sprintf(`
listen %s
    bind 127.0.0.1:0
    http-request return status 200 content-type text/plain string "app %s"
`, name, name)
}

func TestLuaFetchInACLFormatAndUseBackend(t *testing.T) {
	lua := writeLua(t, "route.lua", `
core.register_fetches("pick", function(txn, prefix)
  local which = txn.f:req_hdr("x-dc") or "one"
  return prefix .. which
end)
core.register_fetches("is_vip", function(txn) return txn.f:req_hdr("x-vip") == "yes" end)
core.register_fetches("len", function(txn, s) return #s end)
core.register_converters("tag", function(s, a, b) return "[" .. a .. ":" .. s .. ":" .. b .. "]" end)
core.register_converters("twice", function(s) return s .. s end)
`)
	cfg := `
global
    tune.lua.bool-sample-conversion normal
    lua-load-per-thread ` + lua + luaHTTPDefaults + `
frontend fe
    bind 127.0.0.1:0
    acl vip lua.is_vip -m bool
    http-request deny deny_status 429 if { lua.len(abcdef) -m int gt 5 } { path /long }
    http-request return status 200 content-type text/plain lf-string "vip %[lua.pick(dc_)]" if vip
    http-request return status 200 content-type text/plain lf-string "%[str(x),lua.tag(a,b),upper,lua.twice]" if { path /conv }
    http-request set-var(txn.chain) str(abc),lua.twice,lua.tag(1,2)
    http-request return status 200 content-type text/plain lf-string "%[var(txn.chain)]" if { path /var }
    use_backend %[lua.pick(be_)]

backend be_one
    server s1 127.0.0.1:@ONE@

backend be_two
    server s1 127.0.0.1:@TWO@
` + appListen("one") + appListen("two")
	// The backends point at the two listen sections: bind them first.
	one, two := freePort(t), freePort(t)
	cfg = strings.ReplaceAll(cfg, "@ONE@", one)
	cfg = strings.ReplaceAll(cfg, "@TWO@", two)
	cfg = strings.Replace(cfg, "listen one\n    bind 127.0.0.1:0", "listen one\n    bind 127.0.0.1:"+one, 1)
	cfg = strings.Replace(cfg, "listen two\n    bind 127.0.0.1:0", "listen two\n    bind 127.0.0.1:"+two, 1)
	d := startLuaDaemon(t, cfg, false)
	fe := d.addr("fe")
	if _, body := get(t, fe, "/"); body != "app one" {
		t.Fatalf("use_backend default: %q", body)
	}
	if _, body := get(t, fe, "/", "X-Dc: two\r\n"); body != "app two" {
		t.Fatalf("use_backend two: %q", body)
	}
	if _, body := get(t, fe, "/", "X-Dc: nowhere\r\n"); !strings.Contains(body, "503") {
		t.Fatalf("unknown backend name: %q", body)
	}
	if _, body := get(t, fe, "/", "X-Vip: yes\r\n", "X-Dc: two\r\n"); body != "vip dc_two" {
		t.Fatalf("ACL + log-format: %q", body)
	}
	if resp, _ := get(t, fe, "/long"); resp.StatusCode != 429 {
		t.Fatalf("lua fetch with an argument in an ACL: %d", resp.StatusCode)
	}
	if _, body := get(t, fe, "/conv"); body != "[A:X:B][A:X:B]" {
		t.Fatalf("converter chain: %q", body)
	}
	if _, body := get(t, fe, "/var"); body != "[1:abcabc:2]" {
		t.Fatalf("set-var chain: %q", body)
	}
}

func TestLuaActionArgCountCheckedAtLoad(t *testing.T) {
	lua := writeLua(t, "act.lua", `core.register_action("needs2", {"http-req"}, function(txn, a, b) end, 2)`)
	text := `global
    lua-load ` + lua + luaHTTPDefaults + `
frontend fe
    bind 127.0.0.1:0
    http-request lua.needs2 only-one
    http-request return status 200
`
	cfg, err := config.Parse("test.cfg", []byte(text), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuf{}
	_, err = New(cfg, Options{Stdout: out, Stderr: out})
	if err == nil || !strings.Contains(err.Error(), "test.cfg:11") || !strings.Contains(err.Error(), "expect 2 arguments") {
		t.Fatalf("error %v", err)
	}
	// Registered for http-req only: refused in http-response.
	text = strings.Replace(text, "http-request lua.needs2 only-one", "http-response lua.needs2 a b", 1)
	cfg, _ = config.Parse("test.cfg", []byte(text), config.Options{})
	if _, err = New(cfg, Options{Stdout: out, Stderr: out}); err == nil || !strings.Contains(err.Error(), "lua.needs2") {
		t.Fatalf("wrong facility: %v", err)
	}
}

func TestLuaScriptErrorsAtLoad(t *testing.T) {
	bad := writeLua(t, "bad.lua", "core.register_fetches('x', function(txn)\n  return 1\n")
	cfg, err := config.Parse("test.cfg", []byte("global\n    lua-load "+bad+luaHTTPDefaults), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuf{}
	_, err = New(cfg, Options{Stdout: out, Stderr: out})
	if err == nil || !strings.Contains(err.Error(), "test.cfg:2") || !strings.Contains(err.Error(), "bad.lua") {
		t.Fatalf("syntax error: %v", err)
	}
	boom := writeLua(t, "boom.lua", "error('no way')\n")
	cfg, _ = config.Parse("test.cfg", []byte("global\n    lua-load "+boom+luaHTTPDefaults), config.Options{})
	if _, err = New(cfg, Options{Stdout: out, Stderr: out}); err == nil || !strings.Contains(err.Error(), "no way") {
		t.Fatalf("runtime error in body: %v", err)
	}
}

func TestLuaTCPServiceRefusedOnHTTPProxy(t *testing.T) {
	lua := writeLua(t, "svc.lua", `core.register_service("raw", "tcp", function(applet) applet:send("x") end)`)
	for _, rule := range []string{"http-request use-service lua.raw", "tcp-request content use-service lua.raw"} {
		text := "global\n    lua-load " + lua + luaHTTPDefaults + "frontend fe\n    bind 127.0.0.1:0\n    " + rule + "\n"
		cfg, err := config.Parse("test.cfg", []byte(text), config.Options{})
		if err != nil {
			t.Fatal(err)
		}
		out := &syncBuf{}
		if _, err := New(cfg, Options{Stdout: out, Stderr: out}); err == nil || !strings.Contains(err.Error(), "Lua TCP services cannot be used on HTTP proxies") {
			t.Fatalf("%s: %v", rule, err)
		}
	}
}

func TestLuaTCPServiceViaTCPRequestContent(t *testing.T) {
	lua := writeLua(t, "echo.lua", `
core.register_service("echo", "tcp", function(applet)
  applet:send("hello " .. applet.f:src() .. "\n")
  while true do
    local l = applet:getline()
    if l == "" or l == "quit\n" then break end
    applet:send("echo: " .. l)
  end
  applet:send("bye\n")
end)
`)
	d := startLuaDaemon(t, `
global
    log stdout format raw local0
    lua-load `+lua+`
defaults
    mode tcp
    log global
    option tcplog
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe_tcp
    bind 127.0.0.1:0
    tcp-request inspect-delay 1s
    tcp-request content use-service lua.echo
`, false)
	c := dialRaw(t, d.addr("fe_tcp"))
	c.send("one\ntwo\nquit\n")
	got, err := io.ReadAll(c.br)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello 127.0.0.1\necho: one\necho: two\nbye\n" {
		t.Fatalf("got %q", got)
	}
	d.waitLog("fe_tcp fe_tcp/<lua.echo> ")
}

func TestLuaRunawayFetchStoppedOthersFlow(t *testing.T) {
	lua := writeLua(t, "spin.lua", `
core.register_fetches("spin", function(txn) while true do end end)
core.register_fetches("fast", function(txn) return "fast" end)
`)
	d := startLuaDaemon(t, `
global
    tune.lua.session-timeout 600ms
    tune.lua.burst-timeout 0
    lua-load-per-thread `+lua+`
    nbthread 2
`+luaHTTPDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request return status 200 content-type text/plain lf-string "spun=%[lua.spin]" if { path /spin }
    http-request return status 200 content-type text/plain lf-string "%[lua.fast]" if { path /lua }
    http-request return status 200 content-type text/plain string "plain"
`, false)
	fe := d.addr("fe")
	var mu sync.Mutex
	var order []string
	note := func(s string) { mu.Lock(); order = append(order, s); mu.Unlock() }
	done := make(chan string, 1)
	start := time.Now()
	go func() {
		c, err := net.Dial("tcp", fe)
		if err != nil {
			done <- err.Error()
			return
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		fmt.Fprintf(c, "GET /spin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(c)
		note("spin")
		done <- string(b)
	}()
	// While the fetch spins in one state, requests without Lua and Lua
	// requests on the other state keep being served.
	for i := 0; i < 20; i++ {
		if _, body := get(t, fe, "/"); body != "plain" {
			t.Fatalf("plain: %q", body)
		}
	}
	note("plain")
	luaOK := 0
	for i := 0; i < 4; i++ {
		if _, body := get(t, fe, "/lua"); body == "fast" {
			luaOK++
		}
	}
	note("lua")
	resp := <-done
	if elapsed := time.Since(start); elapsed < 500*time.Millisecond || elapsed > 5*time.Second {
		t.Fatalf("spin answered after %v", elapsed)
	}
	if !strings.Contains(resp, "200") || !strings.HasSuffix(resp, "spun=-") {
		t.Fatalf("spin response %q", resp)
	}
	if luaOK != 4 {
		t.Fatalf("Lua requests served: %d of 4", luaOK)
	}
	mu.Lock()
	defer mu.Unlock()
	if order[0] != "plain" {
		t.Fatalf("order %v: plain requests must not wait for the runaway fetch", order)
	}
	d.waitLog("Lua sample-fetch 'spin': execution timeout.")
}

func TestLuaErrorLines(t *testing.T) {
	lua := writeLua(t, "err.lua", `
core.register_action("bad_action", {"http-req"}, function(txn) local x = nil; return x.field end)
core.register_converters("bad_conv", function(s) error("conv broke") end)
core.register_service("bad_svc", "http", function(applet) error("svc broke") end)
core.register_task(function() error("task broke") end)
`)
	d := startLuaDaemon(t, `
global
    lua-load `+lua+luaHTTPDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request lua.bad_action
    http-request set-header x-c %[str(a),lua.bad_conv]
    http-request use-service lua.bad_svc if { path /svc }
    http-request return status 200 string "still here" content-type text/plain
`, false)
	resp, body := get(t, d.addr("fe"), "/")
	if resp.StatusCode != 200 || body != "still here" {
		t.Fatalf("%d %q: a failing action continues", resp.StatusCode, body)
	}
	if resp, _ := get(t, d.addr("fe"), "/svc"); resp.StatusCode != 500 {
		t.Fatalf("failing service: %d", resp.StatusCode)
	}
	for _, want := range []string{
		"Lua function 'bad_action': [state-id 0] runtime error: ",
		"Lua converter 'bad_conv': [state-id 0] runtime error: ",
		"conv broke",
		"Lua applet http 'bad_svc': [state-id 0] runtime error: ",
		"Lua task: [state-id 0] runtime error: ",
	} {
		d.waitLog(want)
	}
	line := d.waitLog("Lua function 'bad_action'")
	if !strings.HasPrefix(line, "[ALERT]") || !strings.Contains(line, "attempt to index a non-table object(nil) with key 'field'") {
		t.Fatalf("action error line %q", line)
	}
}

func TestLuaLoadPerThread(t *testing.T) {
	lua := writeLua(t, "pt.lua", `
local count = 0
core.register_fetches("who", function(txn)
  count = count + 1
  return core.thread .. ":" .. count
end)
`)
	d := startLuaDaemon(t, `
global
    nbthread 3
    lua-load-per-thread `+lua+luaHTTPDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request return status 200 content-type text/plain lf-string "%[lua.who]"
`, false)
	seen := map[string]int{}
	for i := 0; i < 9; i++ {
		_, body := get(t, d.addr("fe"), "/")
		th, n, ok := strings.Cut(body, ":")
		if !ok {
			t.Fatalf("body %q", body)
		}
		seen[th]++
		// Each state keeps its own globals: counts grow per thread.
		if fmt.Sprint(seen[th]) != n {
			t.Fatalf("thread %s count %s, want %d (independent states)", th, n, seen[th])
		}
	}
	if len(seen) != 3 || seen["1"] != 3 || seen["2"] != 3 || seen["3"] != 3 {
		t.Fatalf("requests per thread state: %v", seen)
	}
}

func TestLuaSharedStateGlobalsAndBlockingCalls(t *testing.T) {
	// lua-load: one state, globals shared between a task and a fetch; a
	// service that sleeps does not hold the state.
	lua := writeLua(t, "shared.lua", `
ticks = 0
core.register_task(function()
  while true do ticks = ticks + 1; core.msleep(10) end
end)
core.register_fetches("ticks", function(txn) return ticks end)
core.register_service("slow", "http", function(applet)
  core.msleep(300)
  applet:start_response()
  applet:send("slow done")
end)
`)
	d := startLuaDaemon(t, `
global
    lua-load `+lua+luaHTTPDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request use-service lua.slow if { path /slow }
    http-request return status 200 content-type text/plain lf-string "%[lua.ticks]"
`, false)
	fe := d.addr("fe")
	waitFor(t, "the task to tick", func() bool {
		_, body := get(t, fe, "/")
		return body != "0" && body != ""
	})
	slow := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", fe)
		if err != nil {
			slow <- err.Error()
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(c)
		slow <- string(b)
	}()
	start := time.Now()
	_, body := get(t, fe, "/")
	if time.Since(start) > 250*time.Millisecond || body == "" {
		t.Fatalf("fetch waited %v for a sleeping service (%q)", time.Since(start), body)
	}
	if r := <-slow; !strings.Contains(r, "slow done") {
		t.Fatalf("slow: %q", r)
	}
}

func TestLuaCLICommands(t *testing.T) {
	lua := writeLua(t, "cli.lua", `
core.register_cli({"show", "greeting"}, "show greeting [<name>] : say hello", function(applet, w1, w2, name)
  applet:send(w1 .. "/" .. w2 .. ": hello " .. (name or "world") .. "\n")
  local p = applet:receive()
  if p ~= "" then applet:send("payload=" .. p) end
end)
core.register_cli({"boom"}, "boom", function(applet) error("cli broke") end)
`)
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := startLuaDaemon(t, "global\n    stats socket "+sock+" level admin\n    lua-load "+lua+luaHTTPDefaults, false)
	// Through the runtime API socket, as an operator would call it.
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "show greeting alice\n")
	reply, _ := io.ReadAll(c)
	c.Close()
	if string(reply) != "show/greeting: hello alice\n\n" {
		t.Fatalf("stats socket reply %q", reply)
	}
	cmds := d.LuaCLICommands()
	if len(cmds) != 2 || strings.Join(cmds[1].Words, " ") != "show greeting" || cmds[1].Usage != "show greeting [<name>] : say hello" {
		t.Fatalf("commands %+v", cmds)
	}
	var out bytes.Buffer
	if err := cmds[1].Run(context.Background(), []string{"show", "greeting", "bob"}, "", &out); err != nil || out.String() != "show/greeting: hello bob\n" {
		t.Fatalf("run: %v %q", err, out.String())
	}
	out.Reset()
	if err := cmds[1].Run(context.Background(), []string{"show", "greeting"}, "line1\n", &out); err != nil || out.String() != "show/greeting: hello world\npayload=line1\n" {
		t.Fatalf("payload: %v %q", err, out.String())
	}
	if err := cmds[0].Run(context.Background(), []string{"boom"}, "", &out); err == nil || !strings.Contains(err.Error(), "cli broke") {
		t.Fatalf("failing command: %v", err)
	}
	d.waitLog("Lua cli '<lua.cli.boom>': ")
}

// TestLuaServiceOutputLeavesBeforeItBlocks: a service's output is buffered
// (one write for a small response) but reaches the client before the
// service blocks (core.msleep, receive), as HAProxy sends when an applet
// yields; the rest follows when it ends.
func TestLuaServiceOutputLeavesBeforeItBlocks(t *testing.T) {
	lua := writeLua(t, "stream.lua", `
core.register_service("stream", "http", function(applet)
  applet:set_status(200)
  applet:start_response()
  applet:send("first\n")
  core.msleep(1500)
  applet:send("second\n")
end)
core.register_service("ask", "http", function(applet)
  applet:set_status(200)
  applet:add_header("content-length", "6")
  applet:start_response()
  applet:send("ready:")
  local body = applet:receive()
end)
`)
	d := startDaemon(t, `
global
    lua-load `+lua+`
`+luaHTTPDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request use-service lua.ask if { path /ask }
    http-request use-service lua.stream
`)
	c := dialRaw(t, d.addr("fe"))
	start := time.Now()
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(time.Second))
	var got strings.Builder
	for !strings.Contains(got.String(), "first\n") {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("first part not received before the service slept: %q, %v", got.String(), err)
		}
		got.WriteString(l)
	}
	if el := time.Since(start); el > time.Second {
		t.Fatalf("first part after %v", el)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for !strings.HasSuffix(got.String(), "0\r\n\r\n") {
		l, err := c.br.ReadString('\n')
		if err != nil {
			t.Fatalf("rest of the response: %q, %v", got.String(), err)
		}
		got.WriteString(l)
	}
	if !strings.Contains(got.String(), "second\n") {
		t.Fatalf("response: %q", got.String())
	}
	// The service reads the request body after answering: the client sees
	// the answer first, then sends its body.
	a := dialRaw(t, d.addr("fe"))
	a.send("POST /ask HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
	a.SetReadDeadline(time.Now().Add(time.Second))
	resp, err := http.ReadResponse(a.br, nil)
	if err != nil {
		t.Fatalf("answer not sent before the service waited for the body: %v", err)
	}
	buf := make([]byte, 6)
	if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "ready:" {
		t.Fatalf("body %q, %v", buf, err)
	}
	a.send("0\r\n\r\n")
}
