package proxy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/config"
)

// syncBuf is a goroutine-safe buffer for captured log output.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEngine starts an engine on a hand-built config.
func testEngine(t *testing.T, cfg *config.Config) (*Engine, *syncBuf) {
	t.Helper()
	out := &syncBuf{}
	if cfg.Global.Tune.Bufsize == 0 {
		cfg.Global.Tune.Bufsize = 16384
	}
	e, err := New(cfg, Options{Stdout: out, Stderr: out})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := e.Start(); err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
	})
	return e, out
}

func httpProxyConfig(backends ...string) *config.Config {
	be := &config.Proxy{Kind: config.KindBackend, Name: "be", Mode: "http", Retries: 3,
		Timeouts: config.Timeouts{Connect: 2 * time.Second, Server: 5 * time.Second}}
	for i, b := range backends {
		p := config.NewServerParams()
		be.Servers = append(be.Servers, &config.Server{Name: fmt.Sprintf("s%d", i+1), Addr: b, Params: p})
	}
	fe := &config.Proxy{Kind: config.KindFrontend, Name: "fe", Mode: "http", Retries: 3, DefaultBackend: "be",
		Binds:     []*config.Bind{{Addrs: []string{"127.0.0.1:0"}}},
		Timeouts:  config.Timeouts{Client: 5 * time.Second},
		LogFormat: "%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r",
		Logs:      []*config.Log{{Target: "stdout", Format: "raw", Facility: "local0"}}}
	return &config.Config{Proxies: []*config.Proxy{fe, be}}
}

func TestProxyGET(t *testing.T) {
	var hits int
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits++
		mu.Unlock()
		w.Header().Set("X-Seen-XFF", r.Header.Get("X-Forwarded-For"))
		io.WriteString(w, "hello "+r.URL.Path)
	}))
	defer srv.Close()
	cfg := httpProxyConfig(strings.TrimPrefix(srv.URL, "http://"))
	e, out := testEngine(t, cfg)
	addr := e.ListenerAddr("fe", 0).String()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		fmt.Fprintf(c, "GET /x%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != fmt.Sprintf("hello /x%d", i) {
			t.Fatalf("body %q", b)
		}
	}
	deadline := time.Now().Add(3 * time.Second)
	for !strings.Contains(out.String(), `"GET /x2 HTTP/1.1"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no log line; output:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Log(out.String())
}

// ctxTimeout returns a context that expires after d (its timer releases it).
func ctxTimeout(d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	time.AfterFunc(d, cancel)
	return ctx
}
