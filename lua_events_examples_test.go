package moonbus

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"moonbus/bus"
)

// deploy/examples/check_weight and deploy/examples/cron through the daemon,
// and core.register_cron's bad spec failing the configuration check.

// linesSince returns the output lines written after offset.
func linesSince(d *testDaemon, offset int) string { return d.out.String()[offset:] }

func TestLuaCheckWeightExample(t *testing.T) {
	var sick atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" && sick.Load() {
			w.WriteHeader(503)
		}
	}))
	defer app.Close()
	text, ports := exampleConfig(t, "check_weight")
	text = strings.Replace(text, "server app1 127.0.0.1:"+ports["8081"]+" weight 30 check inter 1s", "server app1 "+hostOf(app)+" weight 30 check inter 50ms", 1)
	d := startLuaDaemon(t, text, false)
	app1 := d.Engine().Proxy("app").Server("app1")
	waitFor(t, "app1 fully up at its full weight", func() bool {
		cs := app1.LastCheckStatus()
		return cs != nil && cs.Health.Cur == 4 && app1.UWeight() == 30
	})
	// Startup checks may still be on their way to the script; wait until
	// its subscription is idle.
	waitFor(t, "idle subscription", func() bool {
		for _, st := range d.LuaEventStats() {
			if st.Server == "app/app1" {
				return st.Queued == 0 && st.Started == st.Finished
			}
		}
		return false
	})
	off := len(d.out.String())
	sick.Store(true)
	// Each failure lowers the weight while the server is still UP, then it
	// goes DOWN.
	waitFor(t, "weight lowered twice", func() bool {
		out := linesSince(d, off)
		return strings.Contains(out, "check_weight: app/app1 weight 30 -> 20 (check health 3, rise 2, fall 3)") &&
			strings.Contains(out, "check_weight: app/app1 weight 20 -> 10 (check health 2, rise 2, fall 3)")
	})
	waitFor(t, "app1 DOWN", func() bool { return app1.Op().String() == "STOPPED" })
	if app1.UWeight() != 10 {
		t.Fatalf("weight while DOWN: %d", app1.UWeight())
	}
	sick.Store(false)
	waitFor(t, "full weight back", func() bool {
		return strings.Contains(linesSince(d, off), "check_weight: app/app1 weight 10 -> 30 (check health 4, rise 2, fall 3)")
	})
	if app1.UWeight() != 30 || d.Engine().Proxy("app").Server("app2").UWeight() != 30 {
		t.Fatalf("weights %d %d", app1.UWeight(), d.Engine().Proxy("app").Server("app2").UWeight())
	}
}

func TestLuaCronExample(t *testing.T) {
	text, _ := exampleConfig(t, "cron")
	d := startLuaDaemon(t, text, false)
	line := d.waitLog("[cron] app: 2 active, 0 backup servers usable")
	if !strings.HasPrefix(line, "[info] ") {
		t.Fatalf("cron line %q", line)
	}
	// It runs again at the next trigger.
	waitFor(t, "a second run", func() bool {
		return strings.Count(d.out.String(), "[cron] app: 2 active, 0 backup servers usable") >= 2
	})
}

// TestLuaCronBadSpecFailsCheck: building the daemon is what "moonbus -c"
// does; a bad spec fails it with the spec and the lua-load line.
func TestLuaCronBadSpecFailsCheck(t *testing.T) {
	lua := writeLua(t, "badcron.lua", `core.register_cron("@every 5 lightyears", function() end)`)
	cfg, err := configParse("global\n    lua-load " + lua + "\n")
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(cfg, Options{Stdout: &syncBuf{}, Stderr: &syncBuf{}})
	if err == nil {
		t.Fatal("a bad cron spec passed the check")
	}
	msg := err.Error()
	if !strings.Contains(msg, "parsing [test.cfg:2]") || !strings.Contains(msg, "badcron.lua:1:") ||
		!strings.Contains(msg, "register_cron: invalid spec '@every 5 lightyears'") {
		t.Fatalf("error %q", msg)
	}
}

// TestLuaEventsReloadNoDuplicates: after a reload only the new
// configuration's handlers run; a refused reload keeps the old ones.
func TestLuaEventsReloadNoDuplicates(t *testing.T) {
	text := func(tag string) string {
		lua := writeLua(t, tag+".lua", `core.event_sub({"SERVER_ADMIN"}, function(event, data)
  core.Info("`+tag+` saw " .. event .. " " .. data.name)
end)`)
		return "global\n    lua-load " + lua + luaHTTPDefaults + "backend be\n    server s1 127.0.0.1:9\n"
	}
	d := startLuaDaemon(t, text("v1"), false)
	s1 := d.Engine().Proxy("be").Server("s1")
	s1.SetAdmin(bus.FDrain, 0, "")
	d.waitLog("v1 saw SERVER_ADMIN s1")
	cfg, err := configParse(text("v2"))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	// A refused reload (broken script) changes nothing.
	bad, _ := configParse("global\n    lua-load " + writeLua(t, "bad.lua", "not lua") + "\n")
	if err := d.Reload(context.Background(), bad); err == nil {
		t.Fatal("broken script accepted")
	}
	d.Engine().Proxy("be").Server("s1").SetAdmin(0, bus.FDrain, "")
	d.waitLog("v2 saw SERVER_ADMIN s1")
	if n := strings.Count(d.out.String(), "v1 saw SERVER_ADMIN s1"); n != 1 {
		t.Fatalf("the old configuration's handler ran %d times:\n%s", n, d.out.String())
	}
}
