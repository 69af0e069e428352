package moonbus

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cli sends one command line to a stats socket and returns the reply up to
// the empty line.
func cli(t *testing.T, network, addr, line string) string {
	t.Helper()
	c, err := net.Dial(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "%s\n", line)
	b, _ := io.ReadAll(bufio.NewReader(c))
	return string(b)
}

func TestRuntimeAPIThroughTheDaemon(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer srv.Close()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
    stats socket `+sock+` mode 600 level operator
    set-var proc.answer int(42)
    set-var-fmt proc.greeting "hello %[var(proc.answer)]"
`+httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    http-request return status 200 lf-string "%[var(proc.answer)]" if { path /answer }
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
    server s2 `+hostOf(srv)+`
`)
	addrs := d.CLIAddrs()
	if len(addrs) != 2 {
		t.Fatalf("stats sockets: %v", addrs)
	}
	tcp := addrs[0]
	if got := cli(t, "tcp", tcp, "get weight be/s1"); got != "1 (initial 1)\n\n" {
		t.Fatalf("get weight: %q", got)
	}
	if got := cli(t, "tcp", tcp, "set server be/s1 state maint; show servers state be"); !strings.Contains(got, "\n2 be 1 s1 127.0.0.1 0 1 ") {
		t.Fatalf("chained: %q", got)
	}
	if d.Engine().Proxy("be").Server("s1").Admin() == 0 {
		t.Fatal("maint not applied")
	}
	if got := cli(t, "unix", sock, "disable server be/s2"); got != "Permission denied\n\n" {
		t.Fatalf("operator socket: %q", got)
	}
	if got := cli(t, "unix", sock, "get var proc.greeting"); !strings.Contains(got, "hello 42") {
		t.Fatalf("global set-var-fmt: %q", got)
	}
	if _, body := get(t, d.addr("fe"), "/answer"); body != "42" {
		t.Fatalf("proc var in a rule: %q", body)
	}
	if got := cli(t, "tcp", tcp, "show alerts"); !strings.HasPrefix(got, "#") {
		t.Fatalf("show alerts: %q", got)
	}
	got := cli(t, "tcp", tcp, "show stat")
	if !strings.HasPrefix(got, "# pxname,svname,qcur,") || !strings.Contains(got, "\nbe,s1,") || !strings.Contains(got, ",MAINT,") {
		t.Fatalf("show stat:\n%s", got)
	}
	var sb strings.Builder
	if err := d.Execute("admin", "show backend", &sb); err != nil || sb.String() != "# name\nbe\n\n" {
		t.Fatalf("Execute: %q %v", sb.String(), err)
	}
}

// TestForceHealthWithoutChecks: "set server health" stops and starts a
// server that has no health check, as HAProxy does; traffic follows, and
// "disable health" returns it to the unchecked (UP) state.
func TestForceHealthWithoutChecks(t *testing.T) {
	mk := func(name string) *httptest.Server {
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) }))
	}
	a, b := mk("a"), mk("b")
	defer a.Close()
	defer b.Close()
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
`+httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    server a `+hostOf(a)+`
    server b `+hostOf(b)+`
`)
	admin := d.CLIAddrs()[0]
	status := func(srv string) string {
		for _, l := range strings.Split(cli(t, "tcp", admin, "show stat"), "\n") {
			if f := strings.Split(l, ","); len(f) > 17 && f[0] == "be" && f[1] == srv {
				return f[17]
			}
		}
		return "?"
	}
	served := func() map[string]int {
		m := map[string]int{}
		for i := 0; i < 6; i++ {
			_, body := get(t, d.addr("fe"), "/")
			m[body]++
		}
		return m
	}
	if got := cli(t, "tcp", admin, "set server be/a health down"); got != "\n" {
		t.Fatalf("set server health down: %q", got)
	}
	if st := status("a"); st != "DOWN" {
		t.Fatalf("status after health down: %q, want DOWN", st)
	}
	if m := served(); m["a"] != 0 || m["b"] != 6 {
		t.Fatalf("traffic with a forced down: %v", m)
	}
	cli(t, "tcp", admin, "set server be/a health up")
	if st := status("a"); st != "no check" {
		t.Fatalf("status after health up: %q, want no check", st)
	}
	if m := served(); m["a"] != 3 || m["b"] != 3 {
		t.Fatalf("traffic after health up: %v", m)
	}
	cli(t, "tcp", admin, "set server be/a health down")
	cli(t, "tcp", admin, "disable health be/a")
	if st := status("a"); st != "no check" {
		t.Fatalf("status after disable health: %q, want no check", st)
	}
}
