package scripts

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The examples of the first seed article ("5 Ways to Extend HAProxy With
// Lua"), loaded unmodified from deploy/examples, driven through Call with a
// minimal fake TXN (the real TXN class belongs to the proxy).

// fakeTxn builds a Lua table standing for a TXN: get_var/set_var over vars,
// and txn.f:src().
func fakeTxn(L *lua.LState, mu *sync.Mutex, vars map[string]lua.LValue, src string) *lua.LTable {
	txn := L.NewTable()
	txn.RawSetString("get_var", L.NewFunction(func(L *lua.LState) int {
		mu.Lock()
		defer mu.Unlock()
		v, ok := vars[L.CheckString(2)]
		if !ok {
			v = lua.LNil
		}
		L.Push(v)
		return 1
	}))
	txn.RawSetString("set_var", L.NewFunction(func(L *lua.LState) int {
		mu.Lock()
		defer mu.Unlock()
		vars[L.CheckString(2)] = L.Get(3)
		L.Push(lua.LTrue)
		return 1
	}))
	f := L.NewTable()
	f.RawSetString("src", L.NewFunction(func(L *lua.LState) int { L.Push(lua.LString(src)); return 1 }))
	txn.RawSetString("f", f)
	return txn
}

func TestSeedHelloDebug(t *testing.T) {
	for _, debug := range []bool{true, false} {
		_, _, stderr := newTestRuntime(t, nil, func(o *Options) {
			o.Loads = []Load{{File: "../deploy/examples/hello/hello.lua"}}
			o.Logger = nil
			o.Debug = debug
		})
		has := strings.Contains(stderr.String(), "[debug] ") && strings.Contains(stderr.String(), ") : Hello HAProxy!.\n")
		if has != debug {
			t.Errorf("debug=%v: stderr %q", debug, stderr.String())
		}
	}
}

func TestSeedLogWorkTask(t *testing.T) {
	rt, _, stderr := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: "../deploy/examples/log_work/log_work.lua"}}
		o.Logger = nil
		o.Debug = true
	})
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	const line = ") : Doing some task work!.\n"
	waitFor(t, 5*time.Second, "the task's first debug line", func() bool { return strings.Contains(stderr.String(), line) })
	// The task is now in core.sleep(10): the state is free for other calls,
	// and the loop does not spin.
	if err := rt.Shared().Do(context.Background(), func(*lua.LState) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(stderr.String(), line); n != 1 {
		t.Fatalf("%d lines, want 1 before the 10s sleep ends", n)
	}
	done := make(chan struct{})
	go func() { _ = rt.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not interrupt core.sleep")
	}
}

func TestSeedGreaterThanFetch(t *testing.T) {
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: "../deploy/examples/greater_than/greater_than.lua"}}
		o.Threads = 2
	})
	f := rt.Registry().Fetches["greater_than"]
	if f == nil {
		t.Fatal("lua.greater_than not registered")
	}
	var mu sync.Mutex
	for _, tc := range []struct {
		rate, threshold lua.LValue
		want            bool
	}{
		{lua.LNumber(150), lua.LNumber(100), true},
		{lua.LString("99"), lua.LNumber(100), false},
	} {
		vars := map[string]lua.LValue{"txn.conn_rate": tc.rate, "txn.connrate_threshold": tc.threshold}
		rets, err := rt.Call(context.Background(), Invocation{
			Kind: CtxFetch, Func: f, Caller: 0, NRet: lua.MultRet,
			Args: func(L *lua.LState) []lua.LValue {
				return []lua.LValue{fakeTxn(L, &mu, vars, ""), lua.LString("txn.conn_rate"), lua.LString("txn.connrate_threshold")}
			},
		})
		if err != nil || len(rets) != 1 || ToSample(rets[0]) != tc.want {
			t.Errorf("greater_than(%v, %v) = %v, %v; want %v", tc.rate, tc.threshold, rets, err, tc.want)
		}
	}
}

func TestSeedURLEncodeConverter(t *testing.T) {
	rt, _, _ := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: "../deploy/examples/urlencode/urlencode.lua", PerThread: true}}
		o.Threads = 2
	})
	f := rt.Registry().Converters["urlencode"]
	for caller := 0; caller < 2; caller++ {
		rets, err := rt.Call(context.Background(), Invocation{
			Kind: CtxConverter, Func: f, Caller: caller, NRet: lua.MultRet,
			Args: func(*lua.LState) []lua.LValue { return []lua.LValue{lua.LString("Vinyl & Rare Music")} },
		})
		if err != nil || len(rets) != 1 || ToSample(rets[0]) != "Vinyl+%26+Rare+Music" {
			t.Fatalf("urlencode: %v %v", rets, err)
		}
	}
	// nil input: the converter returns nothing, so no sample.
	rets, err := rt.Call(context.Background(), Invocation{Kind: CtxConverter, Func: f, NRet: lua.MultRet,
		Args: func(*lua.LState) []lua.LValue { return []lua.LValue{lua.LNil} }})
	if err != nil || len(rets) != 0 {
		t.Fatalf("urlencode(nil): %v %v", rets, err)
	}
}

func TestSeedIPCheckerAction(t *testing.T) {
	var verdict atomic.Value
	verdict.Store("allow")
	var lastPath atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lastPath.Store(r.URL.Path)
		_, _ = io.WriteString(w, verdict.Load().(string))
	}))
	defer srv.Close()
	host, port, _ := net.SplitHostPort(srv.Listener.Addr().String())

	rt, logger, _ := newTestRuntime(t, nil, func(o *Options) {
		o.Loads = []Load{{File: "../deploy/examples/ipchecker/ipchecker.lua"}}
	})
	a := rt.Registry().Actions["checkip"]
	if a == nil || a.NbArgs != 2 || a.Facilities[0] != "http-req" {
		t.Fatalf("action: %+v", a)
	}
	run := func(p string) lua.LValue {
		var mu sync.Mutex
		vars := map[string]lua.LValue{}
		_, err := rt.Call(context.Background(), Invocation{
			Kind: CtxAction, Func: a.Func, NRet: 1,
			Args: func(L *lua.LState) []lua.LValue {
				return []lua.LValue{fakeTxn(L, &mu, vars, "192.0.2.7"), lua.LString(host), lua.LString(p)}
			},
		})
		if err != nil {
			t.Fatalf("checkip: %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		return vars["req.blocked"]
	}
	if got := run(port); got != lua.LFalse {
		t.Errorf("allow: req.blocked = %v", got)
	}
	if p, _ := lastPath.Load().(string); p != "/192.0.2.7" {
		t.Errorf("request path %q", p)
	}
	verdict.Store("deny")
	if got := run(port); got != lua.LTrue {
		t.Errorf("deny: req.blocked = %v", got)
	}
	// Nothing listens: blocked, and the Alert is logged.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	_, dead, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	if got := run(dead); got != lua.LTrue {
		t.Errorf("refused: req.blocked = %v", got)
	}
	if !strings.Contains(strings.Join(logger.snapshot(), "\n"), "1 Could not connect to IP Checker server (connect)") {
		t.Errorf("alert not logged: %q", logger.snapshot())
	}
}
