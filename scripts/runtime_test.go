package scripts

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// writeScript writes a Lua file into a temporary directory.
func writeScript(t testing.TB, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func callFunc(t *testing.T, rt *Runtime, kind Context, f *Func, caller int, args ...lua.LValue) ([]lua.LValue, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return rt.Call(ctx, Invocation{Kind: kind, Func: f, Caller: caller, NRet: lua.MultRet,
		Args: func(*lua.LState) []lua.LValue { return args }})
}

func TestRunawayFetchStoppedOthersKeepWorking(t *testing.T) {
	script := writeScript(t, "spin.lua", `
core.register_fetches("spin", function(txn) while true do end end)
core.register_fetches("spin_pcall", function(txn)
  while true do pcall(function() while true do end end) end
end)
core.register_converters("spin", function(v) local x = 0 while true do x = x + 1 end end)
local body_co = coroutine.wrap(function() while true do end end)
core.register_fetches("spin_co", function(txn) body_co() end)
core.register_fetches("ok", function(txn, a) return "ok:" .. a end)
counter = 0
core.register_task(function() while true do counter = counter + 1; core.msleep(5) end end)
core.register_fetches("counter", function() return counter end)
`)
	for _, tc := range []struct {
		name           string
		session, burst time.Duration
		want           error
		text           string
	}{
		{"burst", 2 * time.Second, 80 * time.Millisecond, ErrBurstTimeout, "burst timeout"},
		{"execution", 80 * time.Millisecond, 2 * time.Second, ErrExecutionTimeout, "execution timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, logger, stderr := newTestRuntime(t, newFakeHost(), func(o *Options) {
				o.Loads = []Load{{File: script}}
				o.SessionTimeout, o.BurstTimeout = tc.session, tc.burst
			})
			if err := rt.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			reg := rt.Registry()
			for _, c := range []struct {
				kind Context
				f    *Func
				pfx  string
			}{
				{CtxFetch, reg.Fetches["spin"], "Lua sample-fetch 'spin'"},
				{CtxFetch, reg.Fetches["spin_pcall"], "Lua sample-fetch 'spin_pcall'"},
				{CtxConverter, reg.Converters["spin"], "Lua converter 'spin'"},
				{CtxFetch, reg.Fetches["spin_co"], "Lua sample-fetch 'spin_co'"},
			} {
				_, err := callFunc(t, rt, c.kind, c.f, 0, lua.LNil)
				var ce *CallError
				if !errors.As(err, &ce) || !errors.Is(err, tc.want) {
					t.Fatalf("%s: got %v, want %v", c.pfx, err, tc.want)
				}
				want := c.pfx + ": " + tc.text + "."
				if ce.Msg != want {
					t.Errorf("message %q, want %q", ce.Msg, want)
				}
				if !strings.Contains(strings.Join(logger.snapshot(), "\n"), "3 "+want) {
					t.Errorf("not logged at err level: %q", logger.snapshot())
				}
				if !strings.Contains(stderr.String(), "[ALERT]") || !strings.Contains(stderr.String(), want) {
					t.Errorf("no alert on stderr: %q", stderr.String())
				}
				// The same state keeps serving other entries.
				rets, err := callFunc(t, rt, CtxFetch, reg.Fetches["ok"], 0, lua.LNil, lua.LString("x"))
				if err != nil || len(rets) != 1 || rets[0].String() != "ok:x" {
					t.Fatalf("ok fetch after timeout: %v %v", rets, err)
				}
			}
			// The background task of the same state still progresses.
			first := counterValue(t, rt)
			waitFor(t, 5*time.Second, "task progress", func() bool { return counterValue(t, rt) > first+2 })
		})
	}
}

func counterValue(t *testing.T, rt *Runtime) float64 {
	rets, err := callFunc(t, rt, CtxFetch, rt.Registry().Fetches["counter"], 0, lua.LNil)
	if err != nil || len(rets) != 1 {
		t.Fatalf("counter: %v", err)
	}
	return float64(rets[0].(lua.LNumber))
}

func TestTimeoutCountsRunTimeOnly(t *testing.T) {
	script := writeScript(t, "sleepy.lua", `
core.register_action("sleepy", {"http-req"}, function(txn)
  for i = 1, 6 do core.msleep(50) end
  return act.DONE
end)
core.register_action("busy", {"http-req"}, function(txn)
  local deadline = os.clock() + 10
  while os.clock() < deadline do end
end)
`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: script}}
		o.SessionTimeout = 150 * time.Millisecond
		o.BurstTimeout = 0
	})
	out := &Outcome{}
	rets, err := rt.Call(context.Background(), Invocation{Kind: CtxAction, Func: rt.Registry().Actions["sleepy"].Func, NRet: 1, Outcome: out,
		Args: func(*lua.LState) []lua.LValue { return []lua.LValue{lua.LNil} }})
	if err != nil || len(rets) != 1 || rets[0] != lua.LNumber(4) {
		t.Fatalf("300ms of sleeping under a 150ms session timeout must succeed: %v %v", rets, err)
	}
	_, err = rt.Call(context.Background(), Invocation{Kind: CtxAction, Func: rt.Registry().Actions["busy"].Func,
		Args: func(*lua.LState) []lua.LValue { return []lua.LValue{lua.LNil} }})
	if !errors.Is(err, ErrExecutionTimeout) || err.Error() != "Lua function 'busy': execution timeout." {
		t.Fatalf("busy action: %v", err)
	}
}

func TestBlockingCallsReleaseSharedState(t *testing.T) {
	script := writeScript(t, "two.lua", `
local function worker(name)
  core.Info(name .. " start")
  core.msleep(500)
  core.Info(name .. " end")
end
core.register_task(worker, "A")
core.register_task(worker, "B")
`)
	rt, logger, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "both tasks to end", func() bool { return len(logger.snapshot()) == 4 })
	lines := logger.snapshot()
	// Both tasks started before either ended: the first one released the
	// state lock while sleeping.
	for _, l := range lines[:2] {
		if !strings.HasSuffix(l, " start") {
			t.Fatalf("a task ended before the other started (lock held while sleeping): %q", lines)
		}
	}
}

func TestQueueWaitReleasesLockProgress(t *testing.T) {
	// pop_wait would deadlock if it kept the lock: the producer task could
	// never run. Success is progress, not timing.
	script := writeScript(t, "pc.lua", `
q = core.queue()
done = core.queue()
core.register_task(function() local v = q:pop_wait(); done:push(v) end)
core.register_task(function() core.yield(); q:push("hello") end)
core.register_fetches("done", function() return done:pop() end)
`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "consumer to receive", func() bool {
		rets, err := callFunc(t, rt, CtxFetch, rt.Registry().Fetches["done"], 0)
		return err == nil && len(rets) == 1 && rets[0].String() == "hello"
	})
}

func TestPerThreadStatesIsolation(t *testing.T) {
	per := writeScript(t, "per.lua", `
loads = (loads or 0) + 1
calls = 0
MY_THREAD = core.thread
core.register_fetches("whoami", function() calls = calls + 1; return core.thread .. ":" .. calls .. ":" .. loads end)
`)
	shared := writeScript(t, "shared.lua", `
core.register_fetches("shared_thread", function() return core.thread end)
`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) {
		o.Threads = 3
		o.Loads = []Load{{File: per, PerThread: true}, {File: shared}}
	})
	if n := len(rt.PerThread()); n != 3 {
		t.Fatalf("%d per-thread states", n)
	}
	f := rt.Registry().Fetches["whoami"]
	if f.Shared() {
		t.Fatal("per-thread fetch reported as shared")
	}
	for i, want := range []string{"1:1:1", "2:1:1", "3:1:1", "1:2:1"} {
		rets, err := callFunc(t, rt, CtxFetch, f, i)
		if err != nil || rets[0].String() != want {
			t.Fatalf("caller %d: %v %v, want %s", i, rets, err, want)
		}
	}
	// round-robin covers every state
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		rets, _ := callFunc(t, rt, CtxFetch, f, -1)
		seen[strings.SplitN(rets[0].String(), ":", 2)[0]] = true
	}
	if len(seen) != 3 {
		t.Fatalf("round-robin reached %v", seen)
	}
	for i, st := range rt.PerThread() {
		_ = st.Do(context.Background(), func(L *lua.LState) error {
			if v := L.GetGlobal("MY_THREAD"); v != lua.LNumber(i+1) {
				t.Errorf("state %d: core.thread = %v", i+1, v)
			}
			return nil
		})
	}
	rets, err := callFunc(t, rt, CtxFetch, rt.Registry().Fetches["shared_thread"], 2)
	if err != nil || rets[0] != lua.LNumber(0) {
		t.Fatalf("shared core.thread: %v %v", rets, err)
	}
}

func TestRegistryContents(t *testing.T) {
	rt, _, stderr := newTestRuntime(t, newFakeHost(), func(o *Options) {
		o.Loads = []Load{{File: "testdata/core_test.lua", Args: []string{"a", "b", "c", "d"}}}
	})
	reg := rt.Registry()
	if reg.Fetches["body_fetch"] == nil || reg.Converters["body_conv"] == nil {
		t.Fatal("fetch/converter missing")
	}
	a := reg.Actions["body_action"]
	if a == nil || a.NbArgs != 1 || strings.Join(a.Facilities, ",") != "http-req,tcp-req" {
		t.Fatalf("action: %+v", a)
	}
	s := reg.Services["body.svc.http"]
	if s == nil || s.Mode != "http" || s.Name != "<lua.body.svc.http>" {
		t.Fatalf("service: %+v", s)
	}
	c := reg.CLI["show lua thing"]
	if c == nil || c.Usage != "show the thing" || c.Name != "<lua.cli.show.lua.thing>" || len(c.Words) != 3 {
		t.Fatalf("cli: %+v", c)
	}
	f := reg.Filters["body_filter"]
	if f == nil {
		t.Fatal("filter missing")
	}
	if tbl, ok := f.Extra(rt.Shared()).(*lua.LTable); !ok || tbl.RawGetString("id").String() != "f" {
		t.Fatalf("filter class: %v", f.Extra(rt.Shared()))
	}
	if strings.Contains(stderr.String(), "more than once") {
		t.Fatalf("unexpected warning: %s", stderr.String())
	}
}

func TestRegisterTwiceWarns(t *testing.T) {
	script := writeScript(t, "twice.lua", `
core.register_fetches("f", function() return 1 end)
core.register_fetches("f", function() return 2 end)
core.register_action("a", {"http-req"}, function() end)
core.register_action("a", {"http-res"}, function() end)
`)
	rt, _, stderr := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	for _, want := range []string{
		"Trying to register sample-fetch 'lua.f' more than once.",
		"Trying to register action 'lua.a' more than once.",
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("missing warning %q in %q", want, stderr.String())
		}
	}
	rets, err := callFunc(t, rt, CtxFetch, rt.Registry().Fetches["f"], 0)
	if err != nil || rets[0] != lua.LNumber(2) {
		t.Fatalf("second registration must replace: %v %v", rets, err)
	}
	if got := strings.Join(rt.Registry().Actions["a"].Facilities, ","); got != "http-req,http-res" {
		t.Fatalf("facilities %s", got)
	}
}

func TestLoadErrors(t *testing.T) {
	syntax := writeScript(t, "syntax.lua", "local x = = 1\n")
	runtimeErr := writeScript(t, "boom.lua", "error('boom')\n")
	both := writeScript(t, "both.lua", `core.register_fetches("x", function() end)`)
	partial := writeScript(t, "partial.lua", `if core.thread == 1 then core.register_fetches("only1", function() end) end`)
	badCron := writeScript(t, "cron.lua", "\n\ncore.register_cron('61 * * * *', function() end)\n")
	for _, tc := range []struct {
		name  string
		loads []Load
		want  []string
	}{
		{"syntax", []Load{{File: syntax, Pos: "app.cfg:7"}}, []string{"parsing [app.cfg:7] : error in Lua file '" + syntax + "'", "syntax.lua line:1"}},
		{"runtime", []Load{{File: runtimeErr, Pos: "app.cfg:8"}}, []string{"parsing [app.cfg:8] : Lua runtime error: " + runtimeErr + ":1: boom"}},
		{"missing", []Load{{File: "/nonexistent.lua", Pos: "app.cfg:9"}}, []string{"parsing [app.cfg:9] : error in Lua file '/nonexistent.lua': cannot open"}},
		{"shared+perthread", []Load{{File: both}, {File: both, PerThread: true}}, []string{"Lua function 'x' is referenced both ins shared Lua context"}},
		{"not in all threads", []Load{{File: partial, PerThread: true}}, []string{"Lua function 'only1' is not referenced in all thread."}},
		{"bad cron spec", []Load{{File: badCron, Pos: "app.cfg:10"}}, []string{"parsing [app.cfg:10] : Lua runtime error:", "cron.lua:3: register_cron: invalid spec '61 * * * *'"}},
		{"bad openlibs", nil, []string{"unknown Lua library 'sockets'"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := DefaultOptions()
			opts.Threads = 2
			opts.Stderr = &syncBuffer{}
			opts.Loads = tc.loads
			if tc.loads == nil {
				opts.OpenLibs = "string,sockets"
			}
			rt, err := New(opts)
			if err == nil {
				rt.Close()
				t.Fatal("New succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestInitErrorFailsStart(t *testing.T) {
	script := writeScript(t, "init.lua", `core.register_init(function() local t = nil; return t.x end)`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	err := rt.Start(context.Background())
	if err == nil || !strings.HasPrefix(err.Error(), "Lua init: runtime error: '") {
		t.Fatalf("Start: %v", err)
	}
	script2 := writeScript(t, "init2.lua", `core.register_init(function() core.msleep(1) end)`)
	rt2, _, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script2}} })
	if err := rt2.Start(context.Background()); !errors.Is(err, ErrYieldNotAllowed) || !strings.HasPrefix(err.Error(), "Lua init: yield not allowed") {
		t.Fatalf("Start with a yielding init: %v", err)
	}
}

func TestOpenLibsNone(t *testing.T) {
	script := writeScript(t, "libs.lua", `
assert(string == nil and table == nil and os == nil and io == nil and require == nil)
assert(coroutine ~= nil and pairs ~= nil and core ~= nil)
core.register_fetches("libs", function() return type(math) end)
`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: script}}
		o.OpenLibs = "none"
	})
	rets, err := callFunc(t, rt, CtxFetch, rt.Registry().Fetches["libs"], 0)
	if err != nil || rets[0].String() != "nil" {
		t.Fatalf("%v %v", rets, err)
	}
	rt2, _, _ := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: writeScript(t, "libs2.lua", `assert(string and math and not os and not io); core.register_fetches("p", function() return table.pack(1,2).n end)`)}}
		o.OpenLibs = "string, math,table"
	})
	rets, err = callFunc(t, rt2, CtxFetch, rt2.Registry().Fetches["p"], 0)
	if err != nil || rets[0] != lua.LNumber(2) {
		t.Fatalf("%v %v", rets, err)
	}
}

func TestPrependPath(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mymod.lua"), []byte(`return {answer = 42}`), 0o600); err != nil {
		t.Fatal(err)
	}
	script := writeScript(t, "req.lua", `ANSWER = require("mymod").answer`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) {
		o.PrependPaths = []PrependPath{{Path: filepath.Join(dir, "?.lua")}}
		o.Loads = []Load{{File: script}}
	})
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error {
		if L.GetGlobal("ANSWER") != lua.LNumber(42) {
			t.Errorf("require through prepended path failed")
		}
		if !strings.HasPrefix(L.GetField(L.GetGlobal("package"), "path").String(), filepath.Join(dir, "?.lua")+";") {
			t.Errorf("package.path not prepended")
		}
		return nil
	})
}

func TestMailTakeover(t *testing.T) {
	for _, fn := range []string{"use_native_mailers_config", "disable_legacy_mailers"} {
		rt, _, _ := newTestRuntime(t, nil, func(o *Options) {
			o.Loads = []Load{{File: writeScript(t, "m.lua", "core."+fn+"()")}}
		})
		if !rt.MailTakeover() {
			t.Errorf("%s did not record the takeover", fn)
		}
	}
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: writeScript(t, "n.lua", "x = 1")}} })
	if rt.MailTakeover() {
		t.Error("takeover without a call")
	}
}

func TestCloseStopsSpinningTask(t *testing.T) {
	script := writeScript(t, "forever.lua", `
core.register_task(function() while true do end end)
core.register_task(function() while true do core.sleep(100) end end)
`)
	rt, _, stderr := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: script}}
		o.TaskTimeout, o.BurstTimeout = 0, 0
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = rt.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the tasks")
	}
	if strings.Contains(stderr.String(), "Lua task") {
		t.Errorf("shutdown must not log task errors: %s", stderr.String())
	}
	if _, err := callFunc(t, rt, CtxFetch, &Func{Name: "x", shared: &funcRef{st: rt.Shared(), fn: &lua.LFunction{}}}, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Call after Close: %v", err)
	}
}

func TestYieldInFetchIsLoggedAndFails(t *testing.T) {
	script := writeScript(t, "y.lua", `
core.register_fetches("sleepy", function() core.msleep(1) return "x" end)
core.register_converters("sleepy", function(v) core.sleep(1) return v end)
core.register_action("final", {"http-after-res"}, function() core.yield() end)
core.register_fetches("err", function() error("kaboom") end)
`)
	rt, _, stderr := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	reg := rt.Registry()
	_, err := callFunc(t, rt, CtxFetch, reg.Fetches["sleepy"], 0)
	if err == nil || err.Error() != "Lua sample-fetch 'sleepy': yield not allowed." {
		t.Fatalf("fetch: %v", err)
	}
	_, err = callFunc(t, rt, CtxConverter, reg.Converters["sleepy"], 0, lua.LString("v"))
	if err == nil || err.Error() != "Lua converter 'sleepy': yield functions like core.tcp() or core.sleep() are not allowed." {
		t.Fatalf("converter: %v", err)
	}
	_, err = rt.Call(context.Background(), Invocation{Kind: CtxAction, Func: reg.Actions["final"].Func, NoYield: true})
	if err == nil || err.Error() != "Lua function 'final': yield not allowed." {
		t.Fatalf("final action: %v", err)
	}
	_, err = callFunc(t, rt, CtxFetch, reg.Fetches["err"], 0)
	if err == nil || !strings.HasPrefix(err.Error(), "Lua sample-fetch 'err': [state-id 0] runtime error: ") || !strings.Contains(err.Error(), "y.lua:5: kaboom from ") {
		t.Fatalf("runtime error: %v", err)
	}
	for _, want := range []string{"yield not allowed.", "kaboom"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
}

func TestCoreLogStderrRules(t *testing.T) {
	script := writeScript(t, "log.lua", `core.register_fetches("log", function() core.Info("hello\1") core.Debug("dbg") end)`)
	for _, tc := range []struct {
		name        string
		logger      bool
		stderrMode  string
		debug       bool
		wantStderr  []string
		avoidStderr []string
	}{
		{"auto with logger", true, "auto", false, nil, []string{"hello"}},
		{"auto without logger", false, "auto", false, []string{"[info] ", ") : hello."}, []string{"dbg"}},
		{"debug mode", false, "auto", true, []string{"[debug] ", ") : dbg"}, nil},
		{"on", true, "on", false, []string{"hello."}, nil},
		{"off", false, "off", false, nil, []string{"hello"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, logger, stderr := newTestRuntime(t, nil, func(o *Options) {
				o.Loads = []Load{{File: script}}
				o.LogStderr = tc.stderrMode
				o.Debug = tc.debug
				if !tc.logger {
					o.Logger = nil
				}
			})
			if _, err := callFunc(t, rt, CtxFetch, rt.Registry().Fetches["log"], 0); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.wantStderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q lacks %q", stderr.String(), w)
				}
			}
			for _, w := range tc.avoidStderr {
				if strings.Contains(stderr.String(), w) {
					t.Errorf("stderr %q has %q", stderr.String(), w)
				}
			}
			if tc.logger && len(logger.snapshot()) != 2 {
				t.Errorf("logger got %q", logger.snapshot())
			}
		})
	}
}

func TestStrftime(t *testing.T) {
	zone := time.FixedZone("CET", 3600)
	ts := time.Date(2026, 1, 4, 7, 5, 9, 0, zone) // a Sunday
	for _, tc := range []struct{ f, want string }{
		{"%a %A %b %B", "Sun Sunday Jan January"},
		{"%d %e %j %m %y %Y %C", "04  4 004 01 26 2026 20"},
		{"%H %I %M %S %p", "07 07 05 09 AM"},
		{"%T %R %D %F", "07:05:09 07:05 01/04/26 2026-01-04"},
		{"%z %Z", "+0100 CET"},
		{"%u %w %U %W %V %G", "7 0 01 00 01 2026"},
		{"%c", "Sun Jan  4 07:05:09 2026"},
		{"100%%", "100%"},
	} {
		got, err := Strftime(tc.f, ts, false)
		if err != nil || got != tc.want {
			t.Errorf("Strftime(%q) = %q, %v; want %q", tc.f, got, err, tc.want)
		}
	}
	if got, _ := Strftime("%Z %z", ts.UTC(), true); got != "GMT +0000" {
		t.Errorf("utc: %q", got)
	}
	if _, err := Strftime("%E", ts, false); err == nil {
		t.Error("unknown conversion accepted")
	}
	if got, _ := Strftime("%I %p", time.Date(2026, 1, 1, 0, 30, 0, 0, time.UTC), true); got != "12 AM" {
		t.Errorf("midnight: %q", got)
	}
}

func TestCallArgsAndResultsCallback(t *testing.T) {
	script := writeScript(t, "tbl.lua", `core.register_fetches("tbl", function(txn, a, b) return {sum = a + b}, "second" end)`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	var sum lua.LValue
	rets, err := rt.Call(context.Background(), Invocation{
		Kind: CtxFetch, Func: rt.Registry().Fetches["tbl"], NRet: 1,
		Args: func(L *lua.LState) []lua.LValue {
			txn := L.NewTable()
			return []lua.LValue{txn, lua.LNumber(2), lua.LNumber(3)}
		},
		Results: func(L *lua.LState, rets []lua.LValue) { sum = rets[0].(*lua.LTable).RawGetString("sum") },
	})
	if err != nil || len(rets) != 1 || sum != lua.LNumber(5) {
		t.Fatalf("%v %v %v", rets, err, sum)
	}
	if ToSample(lua.LNumber(3.9)) != int64(3) || ToSample(lua.LTrue) != true || ToSample(lua.LString("s")) != "s" || ToSample(lua.LNil) != false {
		t.Fatal("ToSample")
	}
	_, err = rt.Call(context.Background(), Invocation{Kind: CtxFetch, Func: rt.Registry().Fetches["tbl"],
		Args: func(*lua.LState) []lua.LValue { panic("host bug") }})
	if err == nil || !strings.Contains(err.Error(), "host bug") {
		t.Fatalf("panicking Args: %v", err)
	}
}

func TestErrorLogPrefixes(t *testing.T) {
	script := writeScript(t, "errs.lua", `
core.register_service("tcpsvc", "tcp", function(applet) error("svc") end)
core.register_service("httpsvc", "http", function(applet) error("svc") end)
core.register_cli({"do", "it"}, "usage", function(applet) error("cli") end)
boom = function() error("boom") end
`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	reg := rt.Registry()
	var boom *lua.LFunction
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error { boom = L.GetGlobal("boom").(*lua.LFunction); return nil })
	for _, tc := range []struct {
		inv  Invocation
		want string
	}{
		{Invocation{Kind: CtxService, Mode: reg.Services["tcpsvc"].Mode, Func: reg.Services["tcpsvc"].Func}, "Lua applet tcp '<lua.tcpsvc>': [state-id 0] runtime error: "},
		{Invocation{Kind: CtxService, Mode: reg.Services["httpsvc"].Mode, Func: reg.Services["httpsvc"].Func}, "Lua applet http '<lua.httpsvc>': [state-id 0] runtime error: "},
		{Invocation{Kind: CtxCLI, Func: reg.CLI["do it"].Func}, "Lua cli '<lua.cli.do.it>': [state-id 0] runtime error: "},
		{Invocation{Kind: CtxTask, State: rt.Shared(), Fn: boom}, "Lua task: [state-id 0] runtime error: "},
		{Invocation{Kind: CtxEvent, State: rt.Shared(), Fn: boom}, "Lua event_hdl: [state-id 0] runtime error: "},
		{Invocation{Kind: CtxAction, Name: "act", State: rt.Shared(), Fn: boom}, "Lua function 'act': [state-id 0] runtime error: "},
	} {
		_, err := rt.Call(context.Background(), tc.inv)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || !strings.HasSuffix(err.Error(), ".") {
			t.Errorf("got %v, want prefix %q", err, tc.want)
		}
	}
}

func TestStateOf(t *testing.T) {
	script := writeScript(t, "s.lua", `core.register_fetches("f", function() return 1 end)`)
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script, PerThread: true}}; o.Threads = 2 })
	for i := 0; i < 2; i++ {
		var got *State
		_, err := rt.Call(context.Background(), Invocation{Kind: CtxFetch, Func: rt.Registry().Fetches["f"], Caller: i,
			Args: func(L *lua.LState) []lua.LValue { got = rt.StateOf(L); return nil }})
		if err != nil || got != rt.PerThread()[i] || got.ID() != i+1 {
			t.Fatalf("caller %d: state %v, err %v", i, got, err)
		}
	}
	foreign := lua.NewState()
	defer foreign.Close()
	if rt.StateOf(foreign) != nil {
		t.Fatal("foreign LState")
	}
}

func TestLegacyAttributesWarnOnce(t *testing.T) {
	script := writeScript(t, "legacy.lua", `
core.register_fetches("legacy", function()
  local px = core.backends.www_dc1
  local s = px.servers.server1
  return px.name .. px.name .. px.uuid .. s.name .. s.name .. s.puid
end)
`)
	rt, _, stderr := newTestRuntime(t, newFakeHost(), func(o *Options) { o.Loads = []Load{{File: script}} })
	for i := 0; i < 2; i++ {
		rets, err := callFunc(t, rt, CtxFetch, rt.Registry().Fetches["legacy"], 0)
		if err != nil || rets[0].String() != "www_dc1www_dc12server1server11" {
			t.Fatalf("%v %v", rets, err)
		}
	}
	for _, attr := range []string{"Proxy 'name'", "Proxy 'uuid'", "Server 'name'", "Server 'puid'"} {
		if n := strings.Count(stderr.String(), "the "+attr+" attribute is deprecated"); n != 1 {
			t.Errorf("%s warned %d times", attr, n)
		}
	}
	f := rt.Registry().Fetches["legacy"]
	if sts := f.States(); len(sts) != 1 || sts[0] != rt.Shared() {
		t.Errorf("States: %v", sts)
	}
}
