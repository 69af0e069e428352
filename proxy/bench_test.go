package proxy

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"moonbus/config"
)

// rawBackend is a keep-alive HTTP/1.1 server that answers every request with
// a fixed 19-byte body and allocates nothing per request, so a benchmark's
// allocation count is the proxy's own.
func rawBackend(tb testing.TB) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Length: 19\r\nContent-Type: text/plain\r\n\r\nhello from backend\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReaderSize(c, 8192)
				for {
					// Read one request head (no body in benchmarks).
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

func benchEngine(b *testing.B, logs bool) string {
	backend := rawBackend(b)
	cfg := httpProxyConfig(backend)
	if !logs {
		cfg.Proxies[0].Logs = nil
	} else {
		cfg.Proxies[0].Logs = []*config.Log{{Target: "stdout", Format: "raw", Facility: "local0"}}
	}
	cfg.Global.Tune.Bufsize = 16384
	e, err := New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Stop(ctxTimeout(2 * time.Second)) })
	return e.ListenerAddr("fe", 0).String()
}

// benchClient sends keep-alive GETs and reads the fixed response.
func benchClient(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /bench HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n")
	br := bufio.NewReaderSize(c, 8192)
	cl := []byte("content-length: ")
	for i := 0; i < b.N; i++ {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := -1
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) <= 2 {
				break
			}
			if len(line) > len(cl) && bytes.EqualFold(line[:len(cl)], cl) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(line[len(cl):])))
			}
		}
		if _, err := br.Discard(n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkProxyKeepAlive measures one proxied keep-alive request (client,
// proxy and backend on loopback) and its allocations.
func BenchmarkProxyKeepAlive(b *testing.B) {
	addr := benchEngine(b, false)
	b.ReportAllocs()
	b.ResetTimer()
	benchClient(b, addr)
}

// BenchmarkProxyKeepAliveLogged is the same with an httplog line per request.
func BenchmarkProxyKeepAliveLogged(b *testing.B) {
	addr := benchEngine(b, true)
	b.ReportAllocs()
	b.ResetTimer()
	benchClient(b, addr)
}

// rulesConfig is a frontend with ten typical rules: ACLs, header rewrites,
// variables and use_backend by path.
const rulesConfig = `
global
    tune.bufsize 16384
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:0
    acl is_api path_beg /api /v2
    acl is_static path_end .css .js .png
    acl from_local src 127.0.0.0/8
    http-request deny if { hdr(user-agent) -m sub -i evilbot }
    http-request set-header X-Forwarded-Proto http
    http-request set-header X-Client %[src]
    http-request add-header X-Request-Start t=%[date()]
    http-request del-header X-Internal
    http-request set-var(txn.path) path
    http-request set-header X-Via moonbus if from_local
    use_backend be_api if is_api
    use_backend be_static if is_static
    default_backend be
backend be_api
    server s1 @BACKEND@
backend be_static
    server s1 @BACKEND@
backend be
    server s1 @BACKEND@
`

// BenchmarkProxyRules measures a proxied request through ten typical rules;
// steady state must allocate nothing.
func BenchmarkProxyRules(b *testing.B) {
	backend := rawBackend(b)
	cfg, err := config.Parse("bench.cfg", []byte(strings.ReplaceAll(rulesConfig, "@BACKEND@", backend)), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	e, err := New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Stop(ctxTimeout(2 * time.Second)) })
	addr := e.ListenerAddr("fe", 0).String()
	b.ReportAllocs()
	b.ResetTimer()
	benchClient(b, addr)
}
