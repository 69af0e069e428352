package runtimeapi

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"moonbus/config"
)

const baseCfg = `
defaults
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    balance roundrobin
    option httpchk
    server s1 %A%
    server s2 %B% check port %H% inter 1h weight 10
    server s3 %B% track s2
backend be2
    balance static-rr
    server t1 %A% weight 4
`

func baseHarness(t *testing.T, extra ...Command) *harness {
	a, b := backend(t, nil), backend(t, nil)
	cfg := strings.NewReplacer("%A%", a, "%B%", b, "%H%", blackhole(t)).Replace(baseCfg)
	return startHarness(t, cfg, extra...)
}

func TestFramingAndEscapes(t *testing.T) {
	h := baseHarness(t)
	h.expect("echo hello world", "hello world\n\n")
	h.expect(`echo a\;b; echo c`, "a;b\n\nc\n\n")
	h.expect(`echo a\ \ b\\c`, "a  b\\c\n\n")
	h.expect("show cli level; show cli level", "admin\n\nadmin\n\n")
	h.expect("show version", "3.0-moonbus-test\n\n")
	// A silent command replies with the empty line alone.
	h.expect("user", "\n")
	// The connection closes after one line in non-interactive mode, even
	// when the client sends more.
	c, err := net.Dial("tcp", h.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "echo one\necho two\n")
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(c)
	if string(out) != "one\n\n" {
		t.Fatalf("non-interactive: got %q", out)
	}
	// A last line without a newline is executed when the client shuts
	// down its side.
	c2, err := net.Dial("tcp", h.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	io.WriteString(c2, "echo eof")
	c2.(*net.TCPConn).CloseWrite()
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	out, _ = io.ReadAll(c2)
	if string(out) != "eof\n\n" {
		t.Fatalf("line at EOF: got %q", out)
	}
}

func TestUnknownCommandAndHelp(t *testing.T) {
	h := baseHarness(t)
	out := h.do("foo bar")
	const noMatch = "Unknown command: 'foo'. Please enter one of the following commands only:\n"
	if !strings.HasPrefix(out, noMatch) || !strings.Contains(out, "\n  help [<command>]                        : list matching or all commands\n") {
		t.Fatalf("unknown command:\n%s", out)
	}
	if !strings.Contains(out, "  disable server <bk>/<srv>               : disable a server for maintenance (use 'set server' instead)\n") {
		t.Fatalf("admin commands missing from the list at admin level:\n%s", out)
	}
	out = h.do("show foo")
	const partial = "Unknown command: 'show', but maybe one of the following ones is a better match:\n"
	if !strings.HasPrefix(out, partial) {
		t.Fatalf("partial match:\n%s", out)
	}
	for _, l := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(out, partial), "\n\n"), "\n") {
		if !strings.HasPrefix(l, "  show ") {
			t.Fatalf("partial match lists %q", l)
		}
	}
	out = h.do("help")
	if !strings.HasPrefix(out, "The following commands are valid at this level:\n  add server ") {
		t.Fatalf("help:\n%s", out)
	}
	// Sorted, and the user level does not see admin commands.
	user := cli(t, "tcp", h.user, "help")
	if strings.Contains(user, "disable server") || !strings.Contains(user, "  show stat ") {
		t.Fatalf("help at user level:\n%s", user)
	}
	lines := strings.Split(strings.TrimSuffix(user, "\n\n"), "\n")[1:]
	for i := 1; i < len(lines); i++ {
		if lines[i-1] > lines[i] {
			t.Fatalf("help not sorted: %q before %q", lines[i-1], lines[i])
		}
	}
	out = h.do("help set")
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")[1:] {
		if !strings.HasPrefix(l, "  set ") {
			t.Fatalf("help set lists %q", l)
		}
	}
}

func TestLevels(t *testing.T) {
	h := baseHarness(t)
	for _, tc := range []struct{ addr, line, want string }{
		{h.user, "show cli level", "user\n\n"},
		{h.oper, "show cli level", "operator\n\n"},
		{h.admin, "show cli level", "admin\n\n"},
		{h.user, "disable server be/s1", "Permission denied\n\n"},
		{h.oper, "disable server be/s1", "Permission denied\n\n"},
		{h.oper, "set weight be/s1 2", "Permission denied\n\n"},
		{h.user, "show sess", "Permission denied\n\n"},
		{h.user, "operator", "Permission denied\n\n"},
		{h.oper, "clear counters all", "Permission denied\n\n"},
		{h.oper, "clear counters", "\n"},
		{h.admin, "operator; show cli level; disable server be/s1", "\noperator\n\nPermission denied\n\n"},
		{h.admin, "user; show cli level; operator", "\nuser\n\nPermission denied\n\n"},
		{h.oper, "user; show cli level", "\nuser\n\n"},
		{h.user, "get weight be/s1", "1 (initial 1)\n\n"},
	} {
		if got := cli(t, "tcp", tc.addr, tc.line); got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.line, got, tc.want)
		}
	}
	if s := h.eng.Proxy("be").Server("s1"); s.Admin() != 0 {
		t.Fatalf("a refused command changed the server: admin %v", s.Admin())
	}
}

func TestPromptModes(t *testing.T) {
	h := baseHarness(t)
	for _, network := range []string{"tcp", "unix"} {
		addr := h.admin
		if network == "unix" {
			addr = h.unix
		}
		c := dialInteractive(t, network, addr)
		if got := c.send("prompt", "\n> "); got != "\n> " {
			t.Fatalf("prompt: got %q", got)
		}
		if got := c.send("show cli level", "> "); got != "admin\n\n> " {
			t.Fatalf("command in prompt mode: got %q", got)
		}
		if got := c.send("", "> "); got != "> " {
			t.Fatalf("empty line: got %q", got)
		}
		if got := c.send("echo a; echo b", "> "); got != "a\n\nb\n\n> " {
			t.Fatalf("chained: got %q", got)
		}
		if got := c.send("prompt i", "\n"); got != "\n" {
			t.Fatalf("prompt i: got %q", got)
		}
		if got := c.send("echo no prompt", "\n\n"); got != "no prompt\n\n" {
			t.Fatalf("interactive without prompt: got %q", got)
		}
		if got := c.send("prompt timed", "]> "); !regexp.MustCompile(`^\n\[0:00:00:\d\d\]> $`).MatchString(got) {
			t.Fatalf("prompt timed: got %q", got)
		}
		if got := c.send("prompt p", "> "); got != "\n> " {
			t.Fatalf("prompt p: got %q", got)
		}
		// quit closes without a reply.
		io.WriteString(c.c, "quit\n")
		rest, _ := io.ReadAll(c.br)
		if len(rest) != 0 {
			t.Fatalf("quit replied %q", rest)
		}
	}
	// "prompt" toggles back to non-interactive: the connection closes
	// after that line.
	c := dialInteractive(t, "tcp", h.admin)
	c.send("prompt", "> ")
	io.WriteString(c.c, "prompt\n")
	rest, _ := io.ReadAll(c.br)
	if string(rest) != "\n" {
		t.Fatalf("prompt toggle: got %q", rest)
	}
}

func TestPayload(t *testing.T) {
	echoPayload := Command{Words: []string{"test", "payload"}, Level: LevelOperator, Usage: "test payload", Help: "print the payload",
		Handler: func(c *Call) error {
			c.Printf("args=%q has=%v\n", c.Args[2:], c.HasPayload)
			c.Write([]byte(strings.ReplaceAll(c.Payload, "\n", "|") + "\n"))
			return nil
		}}
	h := baseHarness(t, echoPayload)
	c, err := net.Dial("tcp", h.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "echo first; test payload x <<\nline 1\n\nline 3\n\n")
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	out, _ := io.ReadAll(c)
	if want := "first\n\nargs=[\"x\"] has=true\nline 1|\n\n"; string(out) != want {
		t.Fatalf("payload: got %q, want %q", out, want)
	}
	// Custom terminator; the payload may then contain empty lines.
	got := cli(t, "tcp", h.admin, "test payload <<END\na\n\nb\nEND")
	if want := "args=[] has=true\na||b|\n\n"; got != want {
		t.Fatalf("payload with pattern: got %q, want %q", got, want)
	}
	// In prompt mode, "+ " is shown while the payload is read.
	ic := dialInteractive(t, "unix", h.unix)
	ic.send("prompt", "> ")
	io.WriteString(ic.c, "test payload <<\n")
	if got := ic.readUntil("+ "); got != "+ " {
		t.Fatalf("payload prompt: %q", got)
	}
	io.WriteString(ic.c, "p1\n")
	ic.readUntil("+ ")
	io.WriteString(ic.c, "\n")
	if got := ic.readUntil("> "); got != "args=[] has=true\np1|\n\n> " {
		t.Fatalf("payload in prompt mode: %q", got)
	}
	// Execute takes the payload from the following lines of its input.
	var b bytes.Buffer
	if err := h.api.Execute("admin", "test payload a <<\nx\ny\n", &b); err != nil {
		t.Fatal(err)
	}
	if want := "args=[\"a\"] has=true\nx|y|\n\n"; b.String() != want {
		t.Fatalf("Execute payload: got %q, want %q", b.String(), want)
	}
	// 128 kB limit.
	big := strings.Repeat("x", 1000)
	var sb strings.Builder
	sb.WriteString("test payload <<\n")
	for i := 0; i < 140; i++ {
		sb.WriteString(big + "\n")
	}
	c3, err := net.Dial("tcp", h.admin)
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	go io.WriteString(c3, sb.String()+"\n")
	_ = c3.SetDeadline(time.Now().Add(5 * time.Second))
	out, _ = io.ReadAll(c3)
	if string(out) != tooLargeMsg+"\n" {
		t.Fatalf("payload too large: got %q", out)
	}
}

func TestIdleTimeout(t *testing.T) {
	s := New(Options{Sockets: []*config.Bind{bindOf("127.0.0.1:0")}, Timeout: 100 * time.Millisecond})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	c := dialInteractive(t, "tcp", s.Addrs()[0].String())
	c.send("prompt", "> ")
	start := time.Now()
	if _, err := io.ReadAll(c.br); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("idle connection kept for %v", el)
	}
	// Without an engine, commands that need one say so.
	if got := cli(t, "tcp", s.Addrs()[0].String(), "show info"); got != "No configuration is running.\n\n" {
		t.Fatalf("no engine: %q", got)
	}
}

func TestExecute(t *testing.T) {
	h := baseHarness(t)
	var b bytes.Buffer
	if err := h.api.Execute("user", "show cli level; disable server be/s1; quit; echo never", &b); err != nil {
		t.Fatal(err)
	}
	if b.String() != "user\n\nPermission denied\n\n" {
		t.Fatalf("Execute: %q", b.String())
	}
	if err := h.api.Execute("root", "help", &b); err == nil {
		t.Fatal("Execute accepted an unknown level")
	}
}

func TestUnixSocketMode(t *testing.T) {
	h := baseHarness(t)
	fi, err := os.Stat(h.unix)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket mode %v", fi.Mode())
	}
	h.api.Stop()
	if _, err := os.Stat(h.unix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket file left after Stop: %v", err)
	}
	if _, err := net.Dial("tcp", h.admin); err == nil {
		t.Fatal("TCP socket still accepting after Stop")
	}
}

func TestStartErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, addr := range []string{ln.Addr().String(), "udp@127.0.0.1:1", "127.0.0.1"} {
		s := New(Options{Sockets: []*config.Bind{bindOf(addr)}})
		if err := s.Start(); err == nil {
			s.Stop()
			t.Errorf("Start on %s succeeded", addr)
		}
		s.Stop()
	}
}
