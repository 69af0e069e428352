package handlers

import (
	"testing"

	"moonbus/bus"
	"moonbus/config"
)

// The webhook section as the config parser models it: "${VAR}" expansion in
// url and header values, event families, the secret. (DESIGN's "backend
// <name>" filter line cannot be written inside a webhook section today: the
// parser takes "backend" for the start of a backend section.)
func TestWebhookFromConfigText(t *testing.T) {
	h := startHookServer(t, nil)
	text := `
webhook ops
    url "${HOOK_URL}/hook?token=${TOK}"
    event SERVER_DOWN BACKEND
    header Authorization "Bearer ${TOK}"
    secret s3cret-value
    timeout 2s
    retries 3
`
	cfg, err := config.Parse("moonbus.cfg", []byte(text),
		config.Options{Env: map[string]string{"HOOK_URL": h.URL, "TOK": "tok-123"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Webhooks) != 1 {
		t.Fatalf("%d webhooks", len(cfg.Webhooks))
	}
	w := startWebhook(t, cfg.Webhooks[0], nil, nil)
	w.Handle(whEvent(bus.ServerUp, 1, "be", "s1"))
	w.Handle(whEvent(bus.ServerDown, 2, "be", "s1"))
	whWaitFor(t, "request", func() bool { return len(h.requests()) == 1 })
	r := h.requests()[0]
	if r.URI != "/hook?token=tok-123" || r.Header.Get("Authorization") != "Bearer tok-123" {
		t.Errorf("uri %q headers %v", r.URI, r.Header)
	}
	if want := Sign([]byte("s3cret-value"), r.Header.Get(HeaderTimestamp), r.Body); r.Header.Get(HeaderSignature) != want {
		t.Errorf("signature %q, want %q", r.Header.Get(HeaderSignature), want)
	}
	if whDecode(t, r.Body)["seq"] != float64(2) {
		t.Errorf("body %s", r.Body)
	}
}
