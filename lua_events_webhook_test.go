package moonbus

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// The second seed article ("Your Starter Guide to Using the HAProxy Lua
// Event Framework"): deploy/examples/backend_down_webhook, driven through
// the runtime API exactly as the article does, against an httptest webhook.

// evHook is the webhook endpoint: it records every request.
type evHook struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []evHookReq
}

type evHookReq struct {
	method, path, body string
}

func startEvHook(t *testing.T) *evHook {
	h := &evHook{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.reqs = append(h.reqs, evHookReq{r.Method, r.URL.Path, string(b)})
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *evHook) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.reqs)
}

func (h *evHook) get(i int) evHookReq {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.reqs[i]
}

// evExampleFile reads an example configuration and gives its loopback
// ports free ones, as exampleConfig does.
func evExampleFile(t *testing.T, path string) (string, map[string]string) {
	t.Helper()
	b, err := os.ReadFile(path)
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

// waitHandled waits until the Lua subscription of a server has finished n
// handler calls (so whatever the handler does, e.g. a webhook, is done).
func waitHandled(t *testing.T, d *testDaemon, server string, n uint64) {
	t.Helper()
	waitFor(t, server+" handler done", func() bool {
		for _, st := range d.LuaEventStats() {
			if st.Server == server && st.Finished >= n {
				return true
			}
		}
		return false
	})
}

// checkBackendDown checks the article's JSON body.
func checkBackendDown(t *testing.T, r evHookReq, before time.Time) {
	t.Helper()
	var body struct {
		Type string `json:"type"`
		Name string `json:"name"`
		When int64  `json:"when"`
	}
	if r.method != "POST" || r.path != "/hook" {
		t.Fatalf("request %s %s", r.method, r.path)
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	if body.Type != "backend_down" || body.Name != "test" || body.When < before.Unix() || body.When > time.Now().Unix() {
		t.Fatalf("body %q", r.body)
	}
}

func TestLuaSeedWebhook(t *testing.T) {
	hook := startEvHook(t)
	t.Setenv("DEMO_WEBHOOK_URL", hook.srv.URL+"/hook")
	text, ports := exampleConfig(t, "backend_down_webhook")
	// Keep the forced DOWN for the whole test (checks would bring the
	// server back after rise x inter).
	text = strings.ReplaceAll(text, " check\n", " check inter 1h\n")
	d := startLuaDaemon(t, text, false)
	admin := "127.0.0.1:" + ports["9999"]
	start := time.Now()

	// 3. webserver1 DOWN by forcing its health: one server left, no request.
	if out := cli(t, "tcp", admin, "set server test/webserver1 health down"); out != "\n" {
		t.Fatalf("health down: %q", out)
	}
	waitHandled(t, d, "test/webserver1", 1)
	if n := hook.count(); n != 0 {
		t.Fatalf("%d webhook requests with webserver2 still UP", n)
	}
	// 5. webserver2 in maintenance: the backend has no server, one request.
	cli(t, "tcp", admin, "set server test/webserver2 state maint")
	waitFor(t, "the webhook request", func() bool { return hook.count() == 1 })
	checkBackendDown(t, hook.get(0), start)

	// What's next: a server added at runtime to a tracked backend is
	// followed too (SERVER_ADD, then its own SERVER_DOWN).
	if out := cli(t, "tcp", admin, "add server test/webserver3 127.0.0.1:"+ports["8081"]); !strings.Contains(out, "New server registered.") {
		t.Fatalf("add server: %q", out)
	}
	waitFor(t, "the script follows webserver3", func() bool {
		for _, st := range d.LuaEventStats() {
			if st.Server == "test/webserver3" && st.Active {
				return true
			}
		}
		return false
	})
	cli(t, "tcp", admin, "enable server test/webserver3")
	waitFor(t, "webserver3 UP", func() bool { return d.Engine().Proxy("test").SrvAct() == 1 })
	if hook.count() != 1 {
		t.Fatalf("%d requests", hook.count())
	}
	cli(t, "tcp", admin, "set server test/webserver3 state maint")
	waitFor(t, "the second webhook request", func() bool { return hook.count() == 2 })
	checkBackendDown(t, hook.get(1), start)
	waitHandled(t, d, "test/webserver3", 1)
	if hook.count() != 2 {
		t.Fatalf("%d requests", hook.count())
	}
	if strings.Contains(d.out.String(), "Error when making request") {
		t.Fatalf("the script saw a failed request:\n%s", d.out.String())
	}
}

func TestLuaSeedWebhookBasic(t *testing.T) {
	hook := startEvHook(t)
	t.Setenv("DEMO_WEBHOOK_URL", hook.srv.URL+"/hook")
	text, ports := evExampleFile(t, "deploy/examples/backend_down_webhook/backend_down_webhook_basic.cfg")
	text = strings.ReplaceAll(text, " check\n", " check inter 1h\n")
	d := startLuaDaemon(t, text, false)
	admin := "127.0.0.1:" + ports["9999"]
	start := time.Now()
	cli(t, "tcp", admin, "set server test/webserver1 health down")
	waitHandled(t, d, "test/webserver1", 1)
	if n := hook.count(); n != 0 {
		t.Fatalf("%d webhook requests with webserver2 still UP", n)
	}
	cli(t, "tcp", admin, "set server test/webserver2 state maint")
	waitFor(t, "the webhook request", func() bool { return hook.count() == 1 })
	checkBackendDown(t, hook.get(0), start)
}

// TestLuaSeedWebhookWithoutChecks runs the article's steps on servers
// without health checks, as the article's configuration has them: HAProxy
// forces the health of such servers too.
func TestLuaSeedWebhookWithoutChecks(t *testing.T) {
	hook := startEvHook(t)
	t.Setenv("DEMO_WEBHOOK_URL", hook.srv.URL+"/hook")
	text, ports := exampleConfig(t, "backend_down_webhook")
	text = strings.ReplaceAll(text, " check\n", "\n")
	d := startLuaDaemon(t, text, false)
	admin := "127.0.0.1:" + ports["9999"]
	cli(t, "tcp", admin, "set server test/webserver1 health down")
	if d.Engine().Proxy("test").Server("webserver1").Op().String() != "STOPPED" {
		t.Fatal("'set server health down' did not stop a server without checks")
	}
	waitHandled(t, d, "test/webserver1", 1)
	cli(t, "tcp", admin, "set server test/webserver2 state maint")
	waitFor(t, "the webhook request", func() bool { return hook.count() == 1 })
}
