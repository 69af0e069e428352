package healthcheck

import (
	"bufio"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustTCP(t *testing.T, lines ...[]string) *Rules {
	t.Helper()
	r, err := ParseTCPCheck(lines)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// lineServer answers each line it reads with reply(line).
func lineServer(t *testing.T, reply func(line string) string) string {
	return listen(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			if out := reply(strings.TrimRight(l, "\r\n")); out != "" {
				io.WriteString(c, out)
			}
		}
	})
}

func portOf(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

func TestTCPCheck(t *testing.T) {
	ctx := ctxT(t)
	echo := lineServer(t, func(l string) string {
		switch l {
		case "PING":
			return "+PONG\r\n"
		case "HELLO":
			return "\x01\x02OK\r\n"
		}
		return "-ERR unknown\r\n"
	})
	tests := []struct {
		name  string
		lines [][]string
		addr  string
		st    Status
		info  string
	}{
		{"send and expect string", [][]string{{"send", "PING\r\n"}, {"expect", "string", "+PONG"}}, echo, StatusL7OK, "(tcp-check)"},
		{"expect mismatch", [][]string{{"send", "BOGUS\r\n"}, {"expect", "min-recv", "4", "string", "+PONG"}}, echo, StatusL7RSP, "TCPCHK did not match content '+PONG' at step 3"},
		{"inverted expect", [][]string{{"send", "BOGUS\r\n"}, {"expect", "min-recv", "4", "!", "string", "+PONG"}}, echo, StatusL7OK, "(tcp-check)"},
		{"inverted expect matching", [][]string{{"send", "PING\r\n"}, {"expect", "!string", "PONG"}}, echo, StatusL7RSP, "TCPCHK matched unwanted content 'PONG' at step 3"},
		{"rstring", [][]string{{"send", "PING\r\n"}, {"expect", "rstring", `^\+PO.G`}}, echo, StatusL7OK, "(tcp-check)"},
		{"send-binary and expect binary", [][]string{{"send-binary", "48454c4c4f0d0a"}, {"expect", "binary", "01024f4b"}}, echo, StatusL7OK, "(tcp-check)"},
		{"rbinary on hex dump", [][]string{{"send-binary", "48454c4c4f0d0a"}, {"expect", "rbinary", "^0102"}}, echo, StatusL7OK, "(tcp-check)"},
		{"binary mismatch", [][]string{{"send", "PING\r\n"}, {"expect", "min-recv", "3", "binary", "ffff"}}, echo, StatusL7RSP, "TCPCHK did not match content (binary) at step 3"},
		{"comment rule and custom statuses", [][]string{{"send", "PING\r\n"}, {"comment", "want", "pong"}, {"expect", "min-recv", "4", "error-status", "L7STS", "string", "nope"}}, echo, StatusL7STS, "TCPCHK did not match content 'nope' at step 3 comment: want pong"},
		{"on-success and ok-status", [][]string{{"send", "PING\r\n"}, {"expect", "ok-status", "L6OK", "on-success", "all-good", "string", "PONG"}}, echo, StatusL6OK, "all-good"},
		{"explicit connect only", [][]string{{"connect"}}, echo, StatusL4OK, "(tcp-check)"},
		{"no rules: implicit connect", nil, echo, StatusL4OK, ""},
		{"refused at initial connect", [][]string{{"send", "PING\r\n"}}, closedPort(t), StatusL4CON, "Connection refused at initial connection step of tcp-check"},
		{"send only", [][]string{{"send", "PING\r\n"}}, echo, StatusL7OK, "(tcp-check)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec := &Spec{Rules: mustTCP(t, tc.lines...), Inter: 2 * time.Second}
			wantResult(t, runSpec(t, ctx, spec, tc.addr), tc.st, 0, tc.info)
		})
	}
}

func TestTCPCheckTimeoutsAndClose(t *testing.T) {
	ctx := ctxT(t)
	t.Run("expect timeout names the step", func(t *testing.T) {
		spec := &Spec{Rules: mustTCP(t, []string{"send", "PING\r\n"}, []string{"expect", "string", "+PONG"}), Inter: 200 * time.Millisecond}
		wantResult(t, runSpec(t, ctx, spec, silent(t)), StatusL7TOUT, 0, "at step 3 of tcp-check (expect string '+PONG')")
	})
	t.Run("mismatch without min-recv waits for more, then times out", func(t *testing.T) {
		addr := lineServer(t, func(string) string { return "-LOADING\r\n" })
		spec := &Spec{Rules: mustTCP(t, []string{"send", "PING\r\n"}, []string{"expect", "string", "+PONG"}), Inter: 200 * time.Millisecond}
		wantResult(t, runSpec(t, ctx, spec, addr), StatusL7TOUT, 0, "at step 3 of tcp-check (expect string '+PONG')")
	})
	t.Run("tout-status", func(t *testing.T) {
		spec := &Spec{Rules: mustTCP(t, []string{"expect", "tout-status", "L6TOUT", "string", "x"}), Inter: 150 * time.Millisecond}
		wantResult(t, runSpec(t, ctx, spec, silent(t)), StatusL6TOUT, 0, "at step 2 of tcp-check (expect string 'x')")
	})
	t.Run("peer closes: mismatch is final", func(t *testing.T) {
		addr := listen(t, func(c net.Conn) { io.WriteString(c, "220 hi\r\n") })
		spec := &Spec{Rules: mustTCP(t, []string{"expect", "string", "+PONG"}), Inter: time.Second}
		wantResult(t, runSpec(t, ctx, spec, addr), StatusL7RSP, 0, "TCPCHK did not match content '+PONG' at step 2")
	})
	t.Run("peer closes without data", func(t *testing.T) {
		addr := listen(t, nil)
		spec := &Spec{Rules: mustTCP(t, []string{"expect", "string", "x"}), Inter: time.Second}
		wantResult(t, runSpec(t, ctx, spec, addr), StatusL7RSP, 0, "TCPCHK got an empty response at step 2")
	})
}

func TestTCPCheckConnectSteps(t *testing.T) {
	ctx := ctxT(t)
	a := lineServer(t, func(string) string { return "A\r\n" })
	b := lineServer(t, func(string) string { return "B\r\n" })
	srvTLS := selfSigned(t)
	tlsAddr := listen(t, func(c net.Conn) {
		tc := tls.Server(c, srvTLS)
		br := bufio.NewReader(tc)
		if l, err := br.ReadString('\n'); err == nil && l == "PING\r\n" {
			io.WriteString(tc, "+PONG\r\n")
		}
	})
	rules := mustTCP(t,
		[]string{"connect", "port", strconv.Itoa(portOf(a))},
		[]string{"send", "x\r\n"},
		[]string{"expect", "string", "A"},
		[]string{"connect", "port", strconv.Itoa(portOf(b)), "comment", "second"},
		[]string{"send", "x\r\n"},
		[]string{"expect", "string", "B"},
		[]string{"connect", "port", strconv.Itoa(portOf(tlsAddr)), "ssl", "sni", "check.test"},
		[]string{"send", "PING\r\n"},
		[]string{"expect", "string", "+PONG"},
	)
	spec := &Spec{Rules: rules, Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, "127.0.0.1"), StatusL7OK, 0, "(tcp-check)")
	// Last step a TLS connect: L6OK.
	spec = &Spec{Rules: mustTCP(t, []string{"connect", "ssl"}), Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, tlsAddr), StatusL6OK, 0, "(tcp-check)")
	// A failing second connect names its step and port.
	dead := closedPort(t)
	spec = &Spec{Rules: mustTCP(t, []string{"connect", "port", strconv.Itoa(portOf(a))}, []string{"connect", "port", strconv.Itoa(portOf(dead))}), Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, "127.0.0.1"), StatusL4CON, 0, "Connection refused at step 2 of tcp-check (connect port "+strconv.Itoa(portOf(dead))+")")
	// "connect default" reuses the server's check-ssl.
	spec = &Spec{Rules: mustTCP(t, []string{"connect", "default"}, []string{"send", "PING\r\n"}, []string{"expect", "string", "PONG"}), SSL: true, Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, tlsAddr), StatusL7OK, 0, "(tcp-check)")
}

func TestParseTCPCheckErrors(t *testing.T) {
	tests := []struct {
		lines []string
		line  int
		want  string
	}{
		{[]string{"send PING", "connect"}, 0, "first step MUST also be a 'connect'"},
		{[]string{"frobnicate"}, 0, "unknown directive 'frobnicate'"},
		{[]string{"send"}, 0, "'tcp-check send' expects a string"},
		{[]string{"send-binary zz"}, 0, "invalid hexadecimal string 'zz'"},
		{[]string{"connect port x"}, 0, "invalid port 'x'"},
		{[]string{"connect proto h2"}, 0, "'proto' is not supported"},
		{[]string{"connect warp"}, 0, "unknown keyword 'warp'"},
		{[]string{"expect string-lf %[src]"}, 0, "'tcp-check expect string-lf' is not supported"},
		{[]string{"expect string a b"}, 0, "unexpected word 'b' after the pattern"},
		{[]string{"expect status 200"}, 0, "unknown match type 'status'"},
		{[]string{"expect binary xyz"}, 0, "invalid hexadecimal string 'xyz'"},
		{[]string{"expect min-recv"}, 0, "'min-recv' expects an argument"},
		{[]string{"expect status-code res.payload(0,3) string x"}, 0, "'status-code' is not supported"},
		{[]string{"set-var(check.x) int(1)"}, 0, "unknown directive 'set-var(check.x)'"},
		{[]string{"comment a", "send-lf %[src]"}, 1, "'tcp-check send-lf' is not supported"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			_, err := ParseTCPCheck(words(tc.lines...))
			var re *RuleError
			if !errors.As(err, &re) {
				t.Fatalf("error %v is not a *RuleError", err)
			}
			if re.Line != tc.line || !strings.Contains(re.Msg, tc.want) {
				t.Fatalf("got line %d %q, want line %d containing %q", re.Line, re.Msg, tc.line, tc.want)
			}
		})
	}
}
