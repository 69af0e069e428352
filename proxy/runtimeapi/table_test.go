package runtimeapi

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestTablesAndVars(t *testing.T) {
	a := backend(t, nil)
	h := startHarness(t, `
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:0
    stick-table type ip size 100 expire 30s store http_req_cnt,conn_cnt
    http-request track-sc0 src
    default_backend be
backend be
    server s1 `+a+`
`)
	for i := 0; i < 3; i++ {
		if code, err := h.get("fe", "/"); err != nil || code != 200 {
			t.Fatalf("request: %d %v", code, err)
		}
	}
	entry := regexp.MustCompile(`^0x[0-9a-f]+: key=127\.0\.0\.1 use=0 exp=\d+ shard=\d+ conn_cnt=3 http_req_cnt=3$`)
	checkFor(t, 5*time.Second, func() error {
		out := h.do("show table fe")
		lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
		if len(lines) != 2 || lines[0] != "# table: fe, type: ip, size:100, used:1" || !entry.MatchString(lines[1]) {
			return fmt.Errorf("show table fe:\n%s", out)
		}
		return nil
	})
	h.expect("show table", "# table: fe, type: ip, size:100, used:1\n\n")
	h.expect("show table fe data.http_req_cnt gt 5", "# table: fe, type: ip, size:100, used:1\n\n")
	if out := h.do("show table fe data.http_req_cnt eq 3 key 127.0.0.1"); strings.Count(out, "\n") != 3 {
		t.Fatalf("filter and key:\n%s", out)
	}
	if out := h.do("show table fe key 127.0.0.2"); out != "# table: fe, type: ip, size:100, used:1\n\n" {
		t.Fatalf("missing key:\n%s", out)
	}
	for _, tc := range []struct{ line, want string }{
		{"show table nope", "No such table\n\n"},
		{"show table fe foo", "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n\n"},
		{"show table fe key", "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>\n\n"},
		{"show table fe key nothing", "invalid IPv4 key 'nothing'\n\n"},
		{"show table fe data.gpc0 gt 1", "Data type not stored in this table\n\n"},
		{"clear table", "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>\n\n"},
		{"clear table nope", "No such table\n\n"},
	} {
		h.expect(tc.line, tc.want)
	}
	if got := cli(t, "tcp", h.user, "show table"); got != "Permission denied\n\n" {
		t.Fatalf("show table at user level: %q", got)
	}
	if got := cli(t, "tcp", h.oper, "clear table fe"); got != "Permission denied\n\n" {
		t.Fatalf("clear table at operator level: %q", got)
	}
	h.expectTCP("clear table fe key 127.0.0.1", "\n")
	h.expect("show table", "# table: fe, type: ip, size:100, used:0\n\n")
	h.get("fe", "/")
	checkFor(t, 5*time.Second, func() error {
		if out := h.do("show table"); out != "# table: fe, type: ip, size:100, used:1\n\n" {
			return fmt.Errorf("%q", out)
		}
		return nil
	})
	h.expectTCP("clear table fe data.http_req_cnt gt 5", "\n")
	h.expect("show table", "# table: fe, type: ip, size:100, used:1\n\n")
	// An entry a connection still tracks is not cleared: the client has its
	// reply before the proxy closes the connection, so retry until then.
	checkFor(t, 5*time.Second, func() error {
		h.expectTCP("clear table fe", "\n")
		if out := h.do("show table"); out != "# table: fe, type: ip, size:100, used:0\n\n" {
			return fmt.Errorf("%q", out)
		}
		return nil
	})

	// Process-wide variables.
	for _, tc := range []struct{ line, want string }{
		{"set var proc.x int(12)", "\n"},
		{"get var proc.x", "proc.x: type=sint value=<12>\n\n"},
		{"set var proc.s expr str(hello),upper", "\n"},
		{"get var proc.s", "proc.s: type=str value=<HELLO>\n\n"},
		{"set var proc.f fmt %[var(proc.x)]-x", "\n"},
		{"get var proc.f", "proc.f: type=str value=<12-x>\n\n"},
		{"get var", "Missing process-wide variable identifier.\n\n"},
		{"get var txn.x", "Only process-wide variables ('proc.' scope) are accessible from the CLI.\n\n"},
		{"get var nodot", "invalid variable name 'nodot'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'\n\n"},
		{"get var proc.nope", "Variable not found.\n\n"},
		{"set var proc.y", "Missing either 'expr', 'fmt' or expression.\n\n"},
		{"set var proc.y fmt", "Missing either 'expr', 'fmt' or expression.\n\n"},
	} {
		h.expectTCP(tc.line, tc.want)
	}
	if out := h.do("set var proc.y nosuchfetch"); !strings.HasPrefix(out, "failed to parse sample expression 'nosuchfetch': ") {
		t.Fatalf("bad expression: %q", out)
	}
	if got := cli(t, "tcp", h.user, "get var proc.x"); got != "Permission denied\n\n" {
		t.Fatalf("get var at user level: %q", got)
	}
}
