package scripts

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// End-to-end request-path benchmarks against a real engine: keep-alive
// requests answered by "http-request return", with and without a Lua fetch
// in the answer (the cost the Lua fetch adds per request), and by a Lua
// HTTP service.

const benchReqLua = `
core.register_fetches("pick", function(txn)
  local p = txn.f:path()
  if p == "/api" then return "be_api" end
  return "be"
end)
core.register_service("hello", "http", function(applet)
  local body = "hello from lua!\n"
  applet:add_header("content-length", #body)
  applet:start_response()
  applet:send(body)
end)
`

func benchEngine(b *testing.B, rule string) string {
	b.Helper()
	dir := b.TempDir()
	file := filepath.Join(dir, "bench_req.lua")
	if err := os.WriteFile(file, []byte(benchReqLua), 0o644); err != nil {
		b.Fatal(err)
	}
	cfg := `
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:0
    ` + rule + "\n"
	_, _, eng := startEngineRuntime(b, file, cfg, true)
	return eng.ListenerAddr("fe", 0).String()
}

func benchRequests(b *testing.B, addr string) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Error(err)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req := []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		for pb.Next() {
			if _, err := c.Write(req); err != nil {
				b.Error(err)
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// BenchmarkRequestNoLua is the baseline: a local answer without Lua.
func BenchmarkRequestNoLua(b *testing.B) {
	benchRequests(b, benchEngine(b, `http-request return status 200 content-type text/plain string "be"`))
}

// BenchmarkRequestLuaFetchPerThread answers with the result of a Lua fetch
// (lua-load-per-thread), as use_backend %[lua.pick] would use it.
func BenchmarkRequestLuaFetchPerThread(b *testing.B) {
	benchRequests(b, benchEngine(b, `http-request return status 200 content-type text/plain lf-string "%[lua.pick]"`))
}

// BenchmarkRequestLuaService answers with a Lua HTTP service.
func BenchmarkRequestLuaService(b *testing.B) {
	benchRequests(b, benchEngine(b, `http-request use-service lua.hello`))
}
