package scripts

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
)

// The Lua test harness with a real engine: every testdata/<name>_test.lua
// that has a testdata/<name>_test.cfg sibling is loaded (lua-load, shared
// state) into a runtime whose extensions are given to a real proxy.Engine
// built from the .cfg, started on 127.0.0.1. Global functions named Test*
// then run as subtests in task context with the same "t" object as
// TestLuaFiles; they drive the engine with core.tcp() / core.httpclient()
// and check what the script's fetches, actions and services saw.
//
// Globals set for the tests: ADDR (frontend name → "ip:port" of its first
// listener) and BACKEND ("ip:port" of an HTTP server that echoes the
// request: "METHOD URI\n" then one "name: value" line per header, with an
// X-Backend: echo response header). In the .cfg, @BACKEND@ is replaced by
// that address.

// startEngineRuntime builds the runtime and the engine for a test file;
// mods adjust the runtime options.
func startEngineRuntime(t testing.TB, luaFile, cfgText string, perThread bool, mods ...func(*Options)) (*Runtime, *recLogger, *proxy.Engine) {
	t.Helper()
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var names []string
		for n := range r.Header {
			names = append(names, n)
		}
		sort.Strings(names)
		w.Header().Set("X-Backend", "echo")
		fmt.Fprintf(w, "%s %s\n", r.Method, r.RequestURI)
		for _, n := range names {
			for _, v := range r.Header[n] {
				fmt.Fprintf(w, "%s: %s\n", strings.ToLower(n), v)
			}
		}
		if len(body) > 0 {
			fmt.Fprintf(w, "body: %s\n", body)
		}
	}))
	t.Cleanup(echo.Close)
	backend := strings.TrimPrefix(echo.URL, "http://")
	cfg, err := config.Parse(filepath.Base(luaFile)+".cfg", []byte(strings.ReplaceAll(cfgText, "@BACKEND@", backend)), config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	host := NewEngineHost(cfg, "test", "2026/01/01")
	b := bus.New(bus.Options{Instance: "test"})
	t.Cleanup(b.Close)
	opts := DefaultOptions()
	opts.Bus = b
	opts.Threads = 2
	logger := &recLogger{}
	opts.Logger, opts.Stderr, opts.Stdout = logger, &syncBuffer{}, &syncBuffer{}
	opts.Host = host
	opts.Loads = []Load{{File: luaFile, Pos: "test.cfg:1", PerThread: perThread}}
	opts.BoolSampleConversion = "normal"
	for _, m := range mods {
		m(&opts)
	}
	rt, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	eng, err := proxy.New(cfg, proxy.Options{Extensions: rt.Extensions(), Stdout: io.Discard, Stderr: io.Discard, Publisher: b})
	if err != nil {
		t.Fatalf("engine: %v", err)
	}
	rt.SetEngine(eng)
	if err := eng.Start(); err != nil {
		t.Fatalf("engine start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = eng.Stop(ctx)
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if perThread {
		return rt, logger, eng
	}
	_ = rt.Shared().Do(context.Background(), func(L *lua.LState) error {
		addrs := L.NewTable()
		for _, p := range eng.Proxies() {
			if a := eng.ListenerAddr(p.Name(), 0); a != nil {
				addrs.RawSetString(p.Name(), lua.LString(a.String()))
			}
		}
		L.SetGlobal("ADDR", addrs)
		L.SetGlobal("BACKEND", lua.LString(backend))
		return nil
	})
	return rt, logger, eng
}

func TestLuaEngineFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*_test.lua")
	if err != nil {
		t.Fatal(err)
	}
	ran := 0
	for _, file := range files {
		cfgFile := strings.TrimSuffix(file, ".lua") + ".cfg"
		cfgText, err := os.ReadFile(cfgFile)
		if err != nil {
			continue
		}
		ran++
		t.Run(filepath.Base(file), func(t *testing.T) {
			rt, logger, _ := startEngineRuntime(t, file, string(cfgText), false)
			runLuaTestFunctions(t, rt, &luaT{logger: logger}, file)
		})
	}
	if ran == 0 {
		t.Fatal("no engine Lua test files")
	}
}

// runLuaTestFunctions runs every global Test* function of the shared state
// as a subtest, in task context.
func runLuaTestFunctions(t *testing.T, rt *Runtime, proto *luaT, file string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st := rt.Shared()
	tests := map[string]*lua.LFunction{}
	_ = st.Do(ctx, func(L *lua.LState) error {
		L.G.Global.ForEach(func(k, v lua.LValue) {
			if name, ok := k.(lua.LString); ok && strings.HasPrefix(string(name), "Test") {
				if fn, ok := v.(*lua.LFunction); ok {
					tests[string(name)] = fn
				}
			}
		})
		return nil
	})
	names := make([]string, 0, len(tests))
	for n := range tests {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) == 0 {
		t.Fatalf("%s defines no Test function", file)
	}
	for _, name := range names {
		fn := tests[name]
		t.Run(name, func(t *testing.T) {
			lt := &luaT{t: t, host: proto.host, logger: proto.logger}
			cctx, ccancel := context.WithTimeout(ctx, 20*time.Second)
			defer ccancel()
			_, err := rt.Call(cctx, Invocation{
				Kind:  CtxTask,
				Name:  name,
				State: st,
				Fn:    fn,
				Args:  func(*lua.LState) []lua.LValue { return []lua.LValue{st.newObj(testingTClass, lt)} },
			})
			if err != nil && !lt.fatal {
				t.Errorf("%s: %v", name, err)
			}
		})
	}
}
