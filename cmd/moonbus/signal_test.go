package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the moonbus command in a child
// process, so signals are tested on a real process.
func TestMain(m *testing.M) {
	if os.Getenv("MOONBUS_AS_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func startChild(t *testing.T, cfgPath string) (*exec.Cmd, *lockedBuf) {
	cmd := exec.Command(os.Args[0], "-f", cfgPath)
	cmd.Env = append(os.Environ(), "MOONBUS_AS_MAIN=1")
	out := &lockedBuf{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Loading success.") {
		if time.Now().After(deadline) {
			t.Fatalf("child did not start:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cmd, out
}

func TestSIGTERMFinishesInFlightWork(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "finished")
	}))
	defer srv.Close()
	addr := freePort(t)
	p := writeCfg(t, fmt.Sprintf(`
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind %s
    default_backend be
backend be
    server s1 %s
`, addr, strings.TrimPrefix(srv.URL, "http://")))
	cmd, out := startChild(t, p)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(100 * time.Millisecond) // let the request reach the backend
	cmd.Process.Signal(syscall.SIGTERM)
	// New connections are refused once the listener is closed.
	deadline := time.Now().Add(5 * time.Second)
	for {
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			break
		}
		nc.Close()
		if time.Now().After(deadline) {
			t.Fatal("still accepting after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("in-flight request lost: %v\n%s", err, out.String())
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "finished" {
		t.Fatalf("body %q", b)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, out.String())
	}
}

func TestSIGHUPReload(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "v-"+r.Header.Get("X-Ver")) }))
	defer srv.Close()
	addr, addr2 := freePort(t), freePort(t)
	cfg := func(ver string, extra string) string {
		return fmt.Sprintf(`
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
frontend fe
    bind %s
    default_backend be%s
%s
backend be%s
    server s1 %s
`, addr, ver, extra, ver, strings.TrimPrefix(srv.URL, "http://"))
	}
	p := writeCfg(t, cfg("1", ""))
	cmd, out := startChild(t, p)
	os.WriteFile(p, []byte(cfg("2", "frontend fe2\n    bind "+addr2+"\n    default_backend be2\n")), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "Reloaded configuration.") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, a := range []string{addr, addr2} {
		resp, err := http.Get("http://" + a + "/")
		if err != nil {
			t.Fatalf("%s after reload: %v", a, err)
		}
		resp.Body.Close()
	}
	// A broken config is refused and the old one keeps serving.
	os.WriteFile(p, []byte("frontend broken\n    bogus keyword\n"), 0o644)
	cmd.Process.Signal(syscall.SIGHUP)
	deadline = time.Now().Add(5 * time.Second)
	for !strings.Contains(out.String(), "keeping the current one") {
		if time.Now().After(deadline) {
			t.Fatalf("broken reload not reported:\n%s", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp, err := http.Get("http://" + addr + "/"); err != nil {
		t.Fatalf("old config stopped serving: %v", err)
	} else {
		resp.Body.Close()
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
}
