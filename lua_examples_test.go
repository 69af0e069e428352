package moonbus

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The examples of the first seed article ("5 Ways to Extend HAProxy With
// Lua"), run end to end from deploy/examples/<name>/<name>.cfg with their Lua
// files as shipped. Only the listening ports are changed (each
// 127.0.0.1:<port> of the file gets a free port) so tests can run anywhere.

// startLuaDaemon is startDaemon with the debug flag (moonbus -d).
func startLuaDaemon(t *testing.T, cfgText string, debug bool) *testDaemon {
	t.Helper()
	return startDaemonWith(t, cfgText, Options{Debug: debug, Instance: "test"}, debug)
}

var loopbackPort = regexp.MustCompile(`127\.0\.0\.1[: ]\d+`)

// exampleConfig reads deploy/examples/<name>/<name>.cfg and gives every
// 127.0.0.1 port a free one ("127.0.0.1:<port>", and "127.0.0.1 <port>" as
// action arguments); it returns the text and the port map.
func exampleConfig(t *testing.T, name string) (string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile("deploy/examples/" + name + "/" + name + ".cfg")
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{}
	text := loopbackPort.ReplaceAllStringFunc(string(b), func(m string) string {
		sep, old := m[len("127.0.0.1"):len("127.0.0.1")+1], m[len("127.0.0.1:"):]
		if _, ok := ports[old]; !ok {
			ports[old] = freePort(t)
		}
		return "127.0.0.1" + sep + ports[old]
	})
	return text, ports
}

// freePort returns a loopback port nothing listens on right now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, p, _ := net.SplitHostPort(l.Addr().String())
	return p
}

func TestLuaSeedHello(t *testing.T) {
	text, _ := exampleConfig(t, "hello")
	d := startLuaDaemon(t, text, true)
	line := d.waitLog("Hello HAProxy!")
	if !strings.HasPrefix(line, "[debug] ") || !strings.Contains(line, ") : Hello HAProxy!.") {
		t.Fatalf("debug line %q", line)
	}
	// Without -d the debug line is not printed.
	quiet := startLuaDaemon(t, text2(t, "hello"), false)
	resp, _ := get(t, quiet.addr("fe_main"), "/")
	if resp.StatusCode != 200 || strings.Contains(quiet.out.String(), "Hello HAProxy!") {
		t.Fatalf("status %d, output %q", resp.StatusCode, quiet.out.String())
	}
}

// text2 returns the example's config with other free ports.
func text2(t *testing.T, name string) string {
	s, _ := exampleConfig(t, name)
	return s
}

func TestLuaSeedGreaterThan(t *testing.T) {
	text, _ := exampleConfig(t, "greater_than")
	d := startLuaDaemon(t, text, false)
	c := dialRaw(t, d.addr("fe_main"))
	// conn_rate counts each tracked request: the 101st exceeds 100.
	for i := 1; i <= 101; i++ {
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, body := c.response("GET")
		switch {
		case i <= 100 && (resp.StatusCode != 200 || body != "hello from the application\n"):
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		case i == 101 && resp.StatusCode != 403:
			t.Fatalf("request 101: %d, want 403 (rate 101 > threshold 100)", resp.StatusCode)
		}
	}
}

func TestLuaSeedLeastSessions(t *testing.T) {
	text, ports := exampleConfig(t, "least_sessions")
	// Real backends instead of the demo listen sections, so a request can
	// be held open on one of them; faster checks so servers are fully UP
	// ("UP", not "UP 1/3") within the test.
	release := make(chan struct{})
	var once sync.Once
	defer once.Do(func() { close(release) })
	entered := make(chan struct{}, 4)
	mk := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/hold" {
				entered <- struct{}{}
				<-release
			}
			io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	dc1, dc2 := mk("dc1"), mk("dc2")
	text = strings.Replace(text, "127.0.0.1:"+ports["9001"]+" check", hostOf(dc1)+" check inter 50ms", 1)
	text = strings.Replace(text, "127.0.0.1:"+ports["9002"]+" check", hostOf(dc2)+" check inter 50ms", 1)
	d := startLuaDaemon(t, text, true)
	fe := d.addr("www")
	for _, be := range []string{"www_dc1", "www_dc2"} {
		s := d.Engine().Proxy(be).Server("server1")
		waitFor(t, be+" fully UP", func() bool { return s.StatusText() == "UP" })
	}
	// Both empty: the first backend in order wins.
	if _, body := get(t, fe, "/"); body != "dc1" {
		t.Fatalf("idle: served by %q, want dc1", body)
	}
	// Hold a request on dc1: the next one goes to dc2.
	held := make(chan string, 1)
	go func() {
		c, err := net.Dial("tcp", fe)
		if err != nil {
			held <- err.Error()
			return
		}
		defer c.Close()
		fmt.Fprintf(c, "GET /hold HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		b, _ := io.ReadAll(c)
		held <- string(b)
	}()
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("held request never reached dc1")
	}
	if _, body := get(t, fe, "/"); body != "dc2" {
		t.Fatalf("with dc1 busy: served by %q, want dc2", body)
	}
	once.Do(func() { close(release) })
	if r := <-held; !strings.HasSuffix(r, "dc1") {
		t.Fatalf("held request: %q", r)
	}
	d.waitLog("Returning: www_dc2")
	d.waitLog("www_dc1: 1")
}

func TestLuaSeedURLEncode(t *testing.T) {
	text, _ := exampleConfig(t, "urlencode")
	d := startLuaDaemon(t, text, false)
	c := dialRaw(t, d.addr("fe_main"))
	c.send("GET / HTTP/1.1\r\nHost: shop.example\r\n\r\n")
	resp, _ := c.response("GET")
	if resp.StatusCode != 302 || resp.Header.Get("Location") != "http://shop.example/Vinyl+%26+Rare+Music/" {
		t.Fatalf("%d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Other paths are not redirected.
	c.send("GET /x HTTP/1.1\r\nHost: shop.example\r\n\r\n")
	if resp, body := c.response("GET"); resp.StatusCode != 200 || body != "hello from the application\n" {
		t.Fatalf("/x: %d %q", resp.StatusCode, body)
	}
}

func TestLuaSeedIPCheckerRandomService(t *testing.T) {
	// The example as shipped: the checker is a Lua service answering at
	// random, so both outcomes show up over enough requests.
	text, _ := exampleConfig(t, "ipchecker")
	d := startLuaDaemon(t, text, false)
	seen := map[int]int{}
	for i := 0; i < 40 && (seen[200] == 0 || seen[403] == 0); i++ {
		resp, body := get(t, d.addr("fe_main"), "/")
		seen[resp.StatusCode]++
		if resp.StatusCode == 200 && body != "hello from the application\n" {
			t.Fatalf("allowed request: body %q", body)
		}
	}
	if seen[200] == 0 || seen[403] == 0 || len(seen) != 2 {
		t.Fatalf("outcomes %v, want both 200 and 403", seen)
	}
}

func TestLuaSeedIPCheckerRealChecker(t *testing.T) {
	// The same action against a checker we control: the request line it
	// sends, then allow, deny, and a checker that is down.
	var mu sync.Mutex
	verdict, lastPath := "allow", ""
	checker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		lastPath = r.URL.Path
		io.WriteString(w, verdict)
	}))
	defer checker.Close()
	_, cport, _ := net.SplitHostPort(hostOf(checker))
	text, ports := exampleConfig(t, "ipchecker")
	text = strings.Replace(text, "lua.checkip 127.0.0.1 "+ports["5000"], "lua.checkip 127.0.0.1 "+cport, 1)
	d := startLuaDaemon(t, text, false)
	fe := d.addr("fe_main")
	if resp, body := get(t, fe, "/"); resp.StatusCode != 200 || body != "hello from the application\n" {
		t.Fatalf("allow: %d %q", resp.StatusCode, body)
	}
	mu.Lock()
	if lastPath != "/127.0.0.1" {
		t.Errorf("checker saw %q, want /127.0.0.1", lastPath)
	}
	verdict = "deny"
	mu.Unlock()
	if resp, _ := get(t, fe, "/"); resp.StatusCode != 403 {
		t.Fatalf("deny: %d", resp.StatusCode)
	}
	checker.Close()
	if resp, _ := get(t, fe, "/"); resp.StatusCode != 403 {
		t.Fatalf("checker down: %d", resp.StatusCode)
	}
	d.waitLog("Could not connect to IP Checker server (connect)")
}

func TestLuaSeedMagic8Ball(t *testing.T) {
	text, _ := exampleConfig(t, "magic8ball")
	d := startLuaDaemon(t, text, false)
	answers := []string{"Reply hazy", "Yes - definitely", "Don't count on it", "Outlook good", "Very doubtful"}
	resp, body := get(t, d.addr("fe_main"), "/magic")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html" || int(resp.ContentLength) != len(body) {
		t.Fatalf("%d %v %q", resp.StatusCode, resp.Header, body)
	}
	found := false
	for _, a := range answers {
		if strings.Contains(body, "<body>"+a+"</body>") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no answer in %q", body)
	}
	// The seed's line: "fe_main fe_main/<lua.magic8ball> 0/0/0/0/0 200 125 - - ---- 1/1/0/0/0 0/0 "GET /magic HTTP/1.1"".
	// Tr is the service's run time: a loaded test machine makes it a few ms.
	line := d.waitLog("fe_main fe_main/<lua.magic8ball> ")
	if !regexp.MustCompile(`fe_main fe_main/<lua\.magic8ball> 0/0/0/\d+/\d+ 200 \d+ - - ---- \d+/\d+/\d+/0/0 0/0 "GET /magic HTTP/1\.1"$`).MatchString(line) {
		t.Fatalf("log line %q", line)
	}
	// Other paths reach the application.
	if _, body := get(t, d.addr("fe_main"), "/"); body != "hello from the application\n" {
		t.Fatalf("/: %q", body)
	}
}

func TestLuaSeedLogWork(t *testing.T) {
	text, _ := exampleConfig(t, "log_work")
	d := startLuaDaemon(t, text, true)
	line := d.waitLog("Doing some task work!")
	if !strings.HasPrefix(line, "[debug] ") {
		t.Fatalf("task line %q", line)
	}
	// The task sleeps between runs: the daemon keeps serving.
	if resp, body := get(t, d.addr("fe_main"), "/"); resp.StatusCode != 200 || body != "hello\n" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if n := strings.Count(d.out.String(), "Doing some task work!"); n != 1 {
		t.Fatalf("%d task lines before the 10s sleep ends", n)
	}
}

func TestLuaQuickstart(t *testing.T) {
	b, err := os.ReadFile("deploy/quickstart.cfg")
	if err != nil {
		t.Fatal(err)
	}
	ports := map[string]string{}
	text := loopbackPort.ReplaceAllStringFunc(string(b), func(m string) string {
		old := m[len("127.0.0.1:"):]
		if _, ok := ports[old]; !ok {
			ports[old] = freePort(t)
		}
		return "127.0.0.1" + m[len("127.0.0.1"):len("127.0.0.1")+1] + ports[old]
	})
	d := startLuaDaemon(t, text, false)
	fe := d.addr("www")
	resp, body := get(t, fe, "/hello?name=you")
	if resp.StatusCode != 200 || body != "Hello you, from Lua on Moonbus!\n" {
		t.Fatalf("/hello: %d %q", resp.StatusCode, body)
	}
	servers := map[string]bool{}
	for i := 1; i <= 4; i++ {
		resp, body := get(t, fe, "/")
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "hello from app") {
			t.Fatalf("/: %d %q", resp.StatusCode, body)
		}
		if resp.Header.Get("X-Lua-Count") != fmt.Sprint(i) {
			t.Fatalf("request %d: x-lua-count %q", i, resp.Header.Get("X-Lua-Count"))
		}
		servers[resp.Header.Get("X-Lua-Server")] = true
	}
	if !servers["app1"] || !servers["app2"] {
		t.Fatalf("x-lua-server values %v", servers)
	}
	d.waitLog("www www/<lua.hello> ")
}
