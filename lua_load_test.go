package moonbus

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"moonbus/config"
)

// Loading directives and tune.lua.* settings through the daemon.

func TestLuaLoadArgsPrependPathRequireOpenlibs(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "greet.lua"), []byte(`return { word = function() return "hi" end }`), 0o644); err != nil {
		t.Fatal(err)
	}
	lua := writeLua(t, "main.lua", `
local args = table.pack(...)
local greet = require("greet")
local libs = (os == nil and "no-os" or "os") .. "," .. (io == nil and "no-io" or "io") .. "," .. type(string.format)
core.register_fetches("info", function(txn)
  return args.n .. ":" .. args[1] .. ":" .. args[2] .. ":" .. greet.word() .. ":" .. libs
end)
`)
	d := startLuaDaemon(t, `
global
    tune.lua.openlibs string,table,package
    lua-prepend-path `+dir+`/?.lua
    lua-load `+lua+` first second
    tune.lua.maxmem 64
    tune.lua.forced-yield 5000
`+luaHTTPDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request return status 200 content-type text/plain lf-string "%[lua.info]"
`, false)
	if _, body := get(t, d.addr("fe"), "/"); body != "2:first:second:hi:no-os,no-io,function" {
		t.Fatalf("body %q", body)
	}
}

func TestLuaBoolSampleConversion(t *testing.T) {
	lua := writeLua(t, "b.lua", `core.register_fetches("t", function(txn) return type(txn.f:always_true()) end)`)
	for _, c := range []struct{ setting, want string }{{"", "number"}, {"tune.lua.bool-sample-conversion pre-3.1-bug", "number"}, {"tune.lua.bool-sample-conversion normal", "boolean"}} {
		d := startLuaDaemon(t, "global\n    "+c.setting+"\n    lua-load "+lua+luaHTTPDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request return status 200 content-type text/plain lf-string "%[lua.t]"
`, false)
		if _, body := get(t, d.addr("fe"), "/"); body != c.want {
			t.Errorf("%q: %q, want %q", c.setting, body, c.want)
		}
		warned := strings.Contains(d.out.String(), "'tune.lua.bool-sample-conversion' is not set")
		if warned != (c.setting == "") {
			t.Errorf("%q: warning printed = %v", c.setting, warned)
		}
	}
}

func TestLuaLogTargets(t *testing.T) {
	lua := writeLua(t, "log.lua", `
core.register_action("say", {"http-req"}, function(txn) core.Warning("proxy line"); txn:Info("txn line") end)
core.register_init(function() core.Alert("global line") end)
`)
	cases := []struct {
		name, global       string
		inStdout, inStderr []string
	}{
		// Loggers on (default): proxy lines go to the proxy's logger, the
		// init line (no proxy) to the global one; auto stderr stays quiet.
		{"default", "    log stdout format raw local0\n", []string{"proxy line", "txn line", "global line"}, nil},
		// Loggers off: everything is copied to stderr instead.
		{"loggers-off", "    log stdout format raw local0\n    tune.lua.log.loggers off\n", nil, []string{"[warning] ", "proxy line", "[alert] ", "global line"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			stdout, stderr := &syncBuf{}, &syncBuf{}
			cfg, err := config.Parse("test.cfg", []byte("global\n"+c.global+"    lua-load "+lua+luaHTTPDefaults+`
    log global
frontend fe
    bind 127.0.0.1:0
    http-request lua.say
    http-request return status 200
`), config.Options{})
			if err != nil {
				t.Fatal(err)
			}
			dm, err := New(cfg, Options{Stdout: stdout, Stderr: stderr, Instance: "test"})
			if err != nil {
				t.Fatal(err)
			}
			if err := dm.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			defer dm.Stop(context.Background())
			d := &testDaemon{Daemon: dm, t: t, out: stdout}
			get(t, d.addr("fe"), "/")
			for _, w := range c.inStdout {
				waitFor(t, "stdout line "+w, func() bool { return strings.Contains(stdout.String(), w) })
			}
			for _, w := range c.inStderr {
				waitFor(t, "stderr line "+w, func() bool { return strings.Contains(stderr.String(), w) })
			}
			if c.inStderr == nil && strings.Contains(stderr.String(), "proxy line") {
				t.Fatalf("stderr copy with loggers on: %q", stderr.String())
			}
			if c.inStdout == nil && strings.Contains(stdout.String(), "proxy line") {
				t.Fatalf("logger line with loggers off: %q", stdout.String())
			}
		})
	}
}

func TestLuaReload(t *testing.T) {
	v1 := writeLua(t, "v1.lua", `core.register_fetches("ver", function(txn) return "v1" end)`)
	v2 := writeLua(t, "v2.lua", `core.register_fetches("ver", function(txn) return "v2" end)`)
	text := func(file string) string {
		return "global\n    lua-load " + file + luaHTTPDefaults + `
frontend fe
    bind 127.0.0.1:` + "@PORT@" + `
    http-request return status 200 content-type text/plain lf-string "%[lua.ver]"
`
	}
	port := freePort(t)
	d := startLuaDaemon(t, strings.Replace(text(v1), "@PORT@", port, 1), false)
	if _, body := get(t, d.addr("fe"), "/"); body != "v1" {
		t.Fatalf("before reload: %q", body)
	}
	cfg, err := config.Parse("test.cfg", []byte(strings.Replace(text(v2), "@PORT@", port, 1)), config.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, d.addr("fe"), "/"); body != "v2" {
		t.Fatalf("after reload: %q", body)
	}
	// A broken script is refused and the running one keeps serving.
	bad := writeLua(t, "bad.lua", "this is not lua")
	cfg, _ = config.Parse("test.cfg", []byte(strings.Replace(text(bad), "@PORT@", port, 1)), config.Options{})
	if err := d.Reload(context.Background(), cfg); err == nil {
		t.Fatal("reload with a broken script must fail")
	}
	if _, body := get(t, d.addr("fe"), "/"); body != "v2" {
		t.Fatalf("after refused reload: %q", body)
	}
}
