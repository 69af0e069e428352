package runtimeapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
)

// harness is a running engine with its bus and runtime API.
type harness struct {
	t     testing.TB
	eng   *proxy.Engine
	bus   *bus.Bus
	api   *Server
	admin string // TCP address of the admin socket
	unix  string // path of the admin unix socket
	oper  string // TCP address of an operator socket
	user  string // TCP address of a user socket
}

// startHarness parses cfg (a configuration without the global section),
// starts the engine, a bus and the runtime API with an admin TCP socket, an
// admin unix socket, an operator and a user socket.
func startHarness(t testing.TB, cfg string, extra ...Command) *harness {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "admin.sock")
	text := "global\n" +
		"    stats socket ipv4@127.0.0.1:0 level admin\n" +
		"    stats socket " + sock + " mode 600 level admin\n" +
		"    stats socket ipv4@127.0.0.1:0 level operator\n" +
		"    stats socket 127.0.0.1:0 level user\n" +
		"    stats timeout 5s\n" + cfg
	c, err := config.Parse("test.cfg", []byte(text), config.Options{})
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	if c.Global.Tune.Bufsize == 0 {
		c.Global.Tune.Bufsize = 16384
	}
	b := bus.New(bus.Options{Instance: "test"})
	e, err := proxy.New(c, proxy.Options{Publisher: b, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		b.Close()
		t.Fatalf("engine: %v", err)
	}
	if err := e.Start(); err != nil {
		b.Close()
		t.Fatalf("engine start: %v", err)
	}
	api := New(Options{Engine: func() *proxy.Engine { return e }, Bus: b, Sockets: c.Global.StatsSockets,
		Timeout: c.Global.StatsTimeout, Version: "3.0-moonbus-test", ReleaseDate: "2026/01/01", Extra: extra, Maxconn: 64})
	if err := api.Start(); err != nil {
		t.Fatalf("runtime API start: %v", err)
	}
	t.Cleanup(func() {
		api.Stop()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = e.Stop(ctx)
		b.Close()
	})
	addrs := api.Addrs()
	return &harness{t: t, eng: e, bus: b, api: api, admin: addrs[0].String(), unix: sock, oper: addrs[2].String(), user: addrs[3].String()}
}

// cli sends one line on a new connection of the given network and returns
// everything the server wrote before closing.
func cli(t testing.TB, network, addr, line string) string {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		t.Fatalf("write: %v", err)
	}
	out, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("read %q: %v", line, err)
	}
	return string(out)
}

// do runs one line on the admin TCP socket and checks the framing: the
// reply ends with an empty line and holds no empty line before.
func (h *harness) do(line string) string {
	h.t.Helper()
	out := cli(h.t, "tcp", h.admin, line)
	checkFraming(h.t, line, out)
	return out
}

// doUnix runs one line on the admin unix socket.
func (h *harness) doUnix(line string) string {
	h.t.Helper()
	out := cli(h.t, "unix", h.unix, line)
	checkFraming(h.t, line, out)
	return out
}

// expect runs line on both the TCP and the unix socket and compares the
// replies with want.
func (h *harness) expect(line, want string) {
	h.t.Helper()
	if got := h.do(line); got != want {
		h.t.Fatalf("%s (tcp):\n got %q\nwant %q", line, got, want)
	}
	if got := h.doUnix(line); got != want {
		h.t.Fatalf("%s (unix):\n got %q\nwant %q", line, got, want)
	}
}

// expectTCP runs line on the admin TCP socket only (for commands that
// change state) and compares the reply with want.
func (h *harness) expectTCP(line, want string) {
	h.t.Helper()
	if got := h.do(line); got != want {
		h.t.Fatalf("%s:\n got %q\nwant %q", line, got, want)
	}
}

// checkFraming verifies that every command reply ends with an empty line:
// the output is a sequence of non-empty lines, each reply closed by one
// empty line.
func checkFraming(t testing.TB, line, out string) {
	t.Helper()
	if out == "" {
		return
	}
	if !strings.HasSuffix(out, "\n\n") && out != "\n" {
		t.Fatalf("%s: reply does not end with an empty line: %q", line, out)
	}
	if !strings.Contains(line, ";") && strings.Contains(out, "\n\n\n") {
		t.Fatalf("%s: empty line inside a reply: %q", line, out)
	}
}

// checkFor polls f until it returns nil or the deadline passes.
func checkFor(t testing.TB, total time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("timed out: %v", err)
}

// backend starts an HTTP server answering "ok" (or what handler says).
func backend(t testing.TB, handler http.HandlerFunc) string {
	t.Helper()
	if handler == nil {
		handler = func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }
	}
	s := httptest.NewServer(handler)
	t.Cleanup(s.Close)
	return strings.TrimPrefix(s.URL, "http://")
}

// get sends one request through the frontend listener.
func (h *harness) get(fe, path string) (int, error) {
	a := h.eng.ListenerAddr(fe, 0)
	if a == nil {
		return 0, fmt.Errorf("no listener for %s", fe)
	}
	cl := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	r, err := cl.Get("http://" + a.String() + path)
	if err != nil {
		return 0, err
	}
	io.Copy(io.Discard, r.Body)
	r.Body.Close()
	return r.StatusCode, nil
}

// statRows runs "show stat" and returns the rows keyed by "px/sv", each as
// a map from column name to value.
func (h *harness) statRows(args string) map[string]map[string]string {
	h.t.Helper()
	out := h.do(strings.TrimSpace("show stat " + args))
	lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	if !strings.HasPrefix(lines[0], "# pxname,svname,") {
		h.t.Fatalf("show stat: bad header %q", lines[0])
	}
	cols := strings.Split(strings.TrimPrefix(lines[0], "# "), ",")
	rows := map[string]map[string]string{}
	for _, l := range lines[1:] {
		f := splitCSV(l)
		if len(f) != len(cols) {
			h.t.Fatalf("show stat: %d fields, header has %d: %q", len(f), len(cols), l)
		}
		m := map[string]string{}
		for i, c := range cols {
			m[c] = f[i]
		}
		rows[f[0]+"/"+f[1]] = m
	}
	return rows
}

// splitCSV splits one CSV line with HAProxy's quoting.
func splitCSV(l string) []string {
	var out []string
	var b strings.Builder
	q := false
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case q && c == '"' && i+1 < len(l) && l[i+1] == '"':
			b.WriteByte('"')
			i++
		case c == '"':
			q = !q
		case c == ',' && !q:
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String())
}

// recorder collects bus events.
type recorder struct {
	mu  sync.Mutex
	evs []*bus.Event
}

func record(h *harness, types ...bus.Type) *recorder {
	r := &recorder{}
	sub := h.bus.Subscribe("test-recorder", bus.Filter{Types: types}, bus.DropOldest, func(e *bus.Event) {
		r.mu.Lock()
		r.evs = append(r.evs, e)
		r.mu.Unlock()
	}, bus.QueueLen(100000))
	h.t.Cleanup(sub.Unsub)
	return r
}

// wait returns the first n events once they arrived.
func (r *recorder) wait(t testing.TB, n int) []*bus.Event {
	t.Helper()
	var out []*bus.Event
	checkFor(t, 5*time.Second, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if len(r.evs) < n {
			return fmt.Errorf("%d events, want %d", len(r.evs), n)
		}
		out = append([]*bus.Event(nil), r.evs...)
		return nil
	})
	return out
}

// take returns the events received so far and forgets them.
func (r *recorder) take() []*bus.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

// interactive is a prompt-mode client.
type interactive struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialInteractive(t testing.TB, network, addr string) *interactive {
	t.Helper()
	c, err := net.DialTimeout(network, addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &interactive{t: t, c: c, br: bufio.NewReader(c)}
}

// send writes a line and reads until the given suffix.
func (i *interactive) send(line, until string) string {
	i.t.Helper()
	if _, err := io.WriteString(i.c, line+"\n"); err != nil {
		i.t.Fatalf("write: %v", err)
	}
	return i.readUntil(until)
}

func (i *interactive) readUntil(suffix string) string {
	i.t.Helper()
	var b strings.Builder
	for !strings.HasSuffix(b.String(), suffix) {
		c, err := i.br.ReadByte()
		if err != nil {
			i.t.Fatalf("read (have %q, want suffix %q): %v", b.String(), suffix, err)
		}
		b.WriteByte(c)
	}
	return b.String()
}

// bindOf returns an admin stats socket line for addr.
func bindOf(addr string) *config.Bind { return &config.Bind{Addrs: []string{addr}, Level: "admin"} }

// blackhole returns the port of a TCP listener that accepts connections and
// never answers: health checks against it never complete, so check state
// only changes through the runtime API during a test.
func blackhole(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func matches(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

func regexpQuote(s string) string { return regexp.QuoteMeta(s) }
