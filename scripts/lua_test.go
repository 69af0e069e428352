package scripts

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// The Lua test harness: every testdata/*_test.lua file is loaded with
// lua-load into a runtime backed by the fake host, and each global function
// named Test* runs as a subtest, in task context, with a "t" object:
//
//	t:error(msg...)   report a failure and go on
//	t:fatal(msg...)   report a failure and stop the test function
//	t:log(msg...)     log
//	t:name()          the subtest name
//	t:run_as(ctx, fn, ...)  run fn in a nested entry of context ctx ("body",
//	                  "init", "task", "action", "sample-fetch", "converter",
//	                  "service", "event", "cli"); returns true, results... or
//	                  false, error text ("yield not allowed" when aborted)
//	t:server_calls(px, srv)  admin calls recorded by the fake server
//	t:logs()          lines received by the Logger so far ("<level> <msg>")
//
// The chunk receives as ... : a scripted TCP server address, an HTTP test
// server base URL, a unix socket path serving HTTP, an address where nothing
// listens, and the address of an HTTPS test server.

const testingTClass = "testing.T"

type luaT struct {
	t      *testing.T
	host   *fakeHost
	logger *recLogger
	fatal  bool
}

func init() {
	registerClass(&class{
		name: testingTClass,
		methods: map[string]Method{
			"error":        tError,
			"fatal":        tFatal,
			"log":          tLog,
			"name":         func(st *State, L *lua.LState) int { return pushStr(L, checkObj[*luaT](L, 1, testingTClass).t.Name()) },
			"run_as":       tRunAs,
			"server_calls": tServerCalls,
			"logs":         tLogs,
		},
	})
}

func joinArgs(L *lua.LState, from int) string {
	var parts []string
	for i := from; i <= L.GetTop(); i++ {
		parts = append(parts, luaToString(L, L.Get(i)))
	}
	return strings.Join(parts, " ")
}

func where(L *lua.LState) string {
	if dbg, ok := L.GetStack(1); ok {
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil {
			return fmt.Sprintf("%s:%d: ", dbg.Source, dbg.CurrentLine)
		}
	}
	return ""
}

func tError(st *State, L *lua.LState) int {
	lt := checkObj[*luaT](L, 1, testingTClass)
	lt.t.Errorf("%s%s", where(L), joinArgs(L, 2))
	return 0
}

func tFatal(st *State, L *lua.LState) int {
	lt := checkObj[*luaT](L, 1, testingTClass)
	lt.t.Errorf("%s%s", where(L), joinArgs(L, 2))
	lt.fatal = true
	L.RaiseError("t:fatal")
	return 0
}

func tLog(st *State, L *lua.LState) int {
	lt := checkObj[*luaT](L, 1, testingTClass)
	lt.t.Logf("%s%s", where(L), joinArgs(L, 2))
	return 0
}

func tLogs(st *State, L *lua.LState) int {
	lt := checkObj[*luaT](L, 1, testingTClass)
	t := L.NewTable()
	for _, l := range lt.logger.snapshot() {
		t.Append(lua.LString(l))
	}
	L.Push(t)
	return 1
}

func tServerCalls(st *State, L *lua.LState) int {
	lt := checkObj[*luaT](L, 1, testingTClass)
	pxName, srvName := L.CheckString(2), L.CheckString(3)
	for _, px := range lt.host.proxies {
		if px.name == pxName {
			if s := px.server(srvName); s != nil {
				return pushStr(L, s.calls.String())
			}
		}
	}
	L.Push(lua.LNil)
	return 1
}

func parseContext(s string) (Context, bool) {
	for i, n := range ctxNames {
		if n == s {
			return Context(i), true
		}
	}
	return 0, false
}

// tRunAs runs a function in a nested entry of another context, on a fresh
// coroutine of the same state (the lock is already held).
func tRunAs(st *State, L *lua.LState) int {
	checkObj[*luaT](L, 1, testingTClass)
	kind, ok := parseContext(L.CheckString(2))
	if !ok {
		L.ArgError(2, "unknown context")
	}
	fn := L.CheckFunction(3)
	var args []lua.LValue
	for i := 4; i <= L.GetTop(); i++ {
		args = append(args, L.Get(i))
	}
	th, cancel := st.L.NewThread()
	if cancel != nil {
		defer cancel()
	}
	prev := st.cur
	e := &entry{st: st, kind: kind, name: "run_as", L: th, parent: context.Background()}
	if prev != nil {
		e.log = prev.log
	}
	st.cur = e
	th.Push(fn)
	for _, a := range args {
		th.Push(a)
	}
	err := th.PCall(len(args), lua.MultRet, nil)
	st.cur = prev
	switch {
	case e.done:
		L.Push(lua.LTrue)
		for _, v := range e.doneVals {
			L.Push(v)
		}
		return 1 + len(e.doneVals)
	case e.yieldAbort:
		L.Push(lua.LFalse)
		L.Push(lua.LString("yield not allowed"))
		return 2
	case err != nil:
		L.Push(lua.LFalse)
		L.Push(lua.LString(luaErrorText(err)))
		return 2
	}
	n := th.GetTop()
	L.Push(lua.LTrue)
	for i := 1; i <= n; i++ {
		L.Push(th.Get(i))
	}
	return n + 1
}

// testEnv holds the servers the Lua tests talk to.
type testEnv struct {
	tcpAddr  string
	httpURL  string
	unixPath string
	refused  string
	tlsAddr  string
}

func (e testEnv) args() []string {
	return []string{e.tcpAddr, e.httpURL, e.unixPath, e.refused, e.tlsAddr}
}

// startScriptedTCP starts a TCP server whose behaviour is chosen by the first
// line the client sends.
func startScriptedTCP(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				r := bufio.NewReader(c)
				cmd, err := r.ReadString('\n')
				if err != nil {
					return
				}
				switch strings.TrimSpace(cmd) {
				case "LINES":
					_, _ = io.WriteString(c, "a\r\nb\rc\r\n\r\nd\n\rlast")
				case "ALL":
					_, _ = io.WriteString(c, strings.Repeat("x", 100000))
				case "COUNT":
					_, _ = io.WriteString(c, "0123456789")
				case "ECHO":
					for {
						l, err := r.ReadString('\n')
						if err != nil {
							return
						}
						if _, err := io.WriteString(c, "echo:"+l); err != nil {
							return
						}
					}
				case "CLOSE":
					if tc, ok := c.(*net.TCPConn); ok {
						_ = tc.SetLinger(0)
					}
				case "SLOW":
					time.Sleep(500 * time.Millisecond)
					_, _ = io.WriteString(c, "late\n")
				case "SMTP":
					smtpDialog(c, r)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// smtpDialog plays the server side of the plain SMTP dialogue of mailers.lua.
func smtpDialog(c net.Conn, r *bufio.Reader) {
	w := func(s string) { _, _ = io.WriteString(c, s+"\r\n") }
	w("220 fake ESMTP")
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			return
		}
		l = strings.TrimRight(l, "\r\n")
		switch {
		case strings.HasPrefix(l, "HELO"):
			w("250-fake")
			w("250 ok")
		case strings.HasPrefix(l, "MAIL FROM"), strings.HasPrefix(l, "RCPT TO"):
			w("250 ok")
		case l == "DATA":
			w("354 go ahead")
			for {
				d, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if d == ".\r\n" {
					break
				}
			}
			w("250 queued")
		case l == "QUIT":
			w("221 bye")
			return
		}
	}
}

func httpTestHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Add("X-Multi", "a")
		w.Header().Add("X-Multi", "b")
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-Custom-In", strings.Join(r.Header.Values("X-Custom"), ","))
		w.Header().Set("X-Accept-Encoding", r.Header.Get("Accept-Encoding"))
		w.WriteHeader(201)
		_, _ = w.Write(b)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("0123456789", 5400))
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "slow")
	})
	return mux
}

func startTestEnv(t *testing.T) testEnv {
	t.Helper()
	hs := httptest.NewServer(httpTestHandler())
	t.Cleanup(hs.Close)
	tlsSrv := httptest.NewTLSServer(httpTestHandler())
	t.Cleanup(tlsSrv.Close)
	unixPath := filepath.Join(t.TempDir(), "http.sock")
	uln, err := net.Listen("unix", unixPath)
	if err != nil {
		t.Fatal(err)
	}
	us := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "unix ok host="+r.Host)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = us.Serve(uln) }()
	t.Cleanup(func() { _ = us.Close() })
	// an address where nothing listens
	rl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := rl.Addr().String()
	rl.Close()
	return testEnv{tcpAddr: startScriptedTCP(t), httpURL: hs.URL, unixPath: unixPath, refused: refused,
		tlsAddr: tlsSrv.Listener.Addr().String()}
}

// newTestRuntime builds a runtime over the fake host with captured output.
func newTestRuntime(t *testing.T, host *fakeHost, mod func(*Options)) (*Runtime, *recLogger, *syncBuffer) {
	t.Helper()
	opts := DefaultOptions()
	opts.Threads = 2
	logger := &recLogger{}
	stderr := &syncBuffer{}
	opts.Logger = logger
	opts.Stderr = stderr
	opts.Stdout = &syncBuffer{}
	if host != nil {
		opts.Host = host
	}
	if mod != nil {
		mod(&opts)
	}
	rt, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = rt.Close() })
	return rt, logger, stderr
}

func TestLuaFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*_test.lua")
	if err != nil || len(files) == 0 {
		t.Fatalf("no Lua test files: %v", err)
	}
	env := startTestEnv(t)
	for _, file := range files {
		if _, err := os.Stat(strings.TrimSuffix(file, ".lua") + ".cfg"); err == nil {
			continue // run by TestLuaEngineFiles against a real engine
		}
		t.Run(filepath.Base(file), func(t *testing.T) {
			host := newFakeHost()
			rt, logger, _ := newTestRuntime(t, host, func(o *Options) {
				o.Loads = []Load{{File: file, Args: env.args(), Pos: "test.cfg:1"}}
				o.BoolSampleConversion = "normal"
			})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := rt.Start(ctx); err != nil {
				t.Fatalf("Start: %v", err)
			}
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
					lt := &luaT{t: t, host: host, logger: logger}
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
		})
	}
}
