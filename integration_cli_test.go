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
