package moonbus

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"moonbus/internal/smtptest"
)

// deploy/examples/mailers: email alerts from Lua (HAProxy's mailers.lua
// style) against an in-process SMTP server speaking real SMTP (go-smtp).

// waitSubject waits for a mail whose Subject header matches re and returns
// it.
func waitSubject(t *testing.T, s *smtptest.Server, re string) smtptest.Mail {
	t.Helper()
	rx := regexp.MustCompile(re)
	return s.WaitMail("a mail matching "+re, func(m smtptest.Mail) bool { return rx.MatchString(m.Header.Get("Subject")) })
}

func TestLuaMailersExample(t *testing.T) {
	t.Run("use_native_mailers_config", func(t *testing.T) { testLuaMailers(t, "") })
	// The 2.8-era script called core.disable_legacy_mailers() instead.
	t.Run("disable_legacy_mailers", func(t *testing.T) {
		b, err := os.ReadFile("deploy/examples/mailers/mailers.lua")
		if err != nil {
			t.Fatal(err)
		}
		src := strings.Replace(string(b), "\ncore.use_native_mailers_config()\n", "\ncore.disable_legacy_mailers()\n", 1)
		if src == string(b) {
			t.Fatal("the example no longer calls core.use_native_mailers_config()")
		}
		testLuaMailers(t, writeLua(t, "mailers28.lua", src))
	})
}

// testLuaMailers runs the mailers example, with another script when lua is
// not empty.
func testLuaMailers(t *testing.T, lua string) {
	smtpd := smtptest.Start(t, smtptest.Options{})
	var sick atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			w.WriteHeader(503)
		}
	}))
	defer app.Close()
	text, ports := exampleConfig(t, "mailers")
	text = strings.ReplaceAll(text, "127.0.0.1:"+ports["2525"], smtpd.Addr)
	text = strings.Replace(text, "server app1 127.0.0.1:"+ports["8081"]+" check", "server app1 "+hostOf(app)+" check inter 50ms rise 2 fall 2", 1)
	text = strings.Replace(text, "email-alert level notice", "email-alert level info", 1)
	if lua != "" {
		text = strings.Replace(text, "lua-load deploy/examples/mailers/mailers.lua", "lua-load "+lua, 1)
	}
	d := startLuaDaemon(t, text, false)
	admin := "127.0.0.1:" + ports["9999"]
	app1 := d.Engine().Proxy("app").Server("app1")
	waitFor(t, "app1 fully up", func() bool { cs := app1.LastCheckStatus(); return cs != nil && cs.Health.Cur == 3 })

	// A forced DOWN: an ALERT with the CLI cause.
	cli(t, "tcp", admin, "set server app/app2 health down")
	m := waitSubject(t, smtpd, `^\[HAProxy Alert\] Server app/app2 is DOWN`)
	want := "Server app/app2 is DOWN (changed from CLI). 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue"
	if m.Header.Get("Subject") != "[HAProxy Alert] "+want || m.RawBody != want+"\r\n" {
		t.Fatalf("mail %q body %q", m.Header.Get("Subject"), m.RawBody)
	}
	if m.From != "lb@example.com" || len(m.To) != 1 || m.To[0] != "ops@example.com" || m.Helo != "lb1.example.com" ||
		m.Header.Get("From") != "lb@example.com" || m.Header.Get("To") != "ops@example.com" {
		t.Fatalf("envelope %q %v helo %q, headers %v", m.From, m.To, m.Helo, m.Header)
	}
	if _, err := m.Header.Date(); err != nil {
		t.Fatalf("Date header %q: %v", m.Header.Get("Date"), err)
	}
	cli(t, "tcp", admin, "set server app/app2 health up")
	waitSubject(t, smtpd, `^\[HAProxy Alert\] Server app/app2 is UP \(changed from CLI\)\. 2 active`)

	// Entering drain: a NOTICE.
	cli(t, "tcp", admin, "set server app/app2 state drain")
	waitSubject(t, smtpd, `^\[HAProxy Alert\] Server app/app2 enters drain state\. 1 active and 0 backup servers left\.`)

	// Check-driven: the check reports (INFO, option log-health-checks) and
	// the state change with the check's reason.
	sick.Store(true)
	waitSubject(t, smtpd, `^\[HAProxy Alert\] Health check for server app/app1 failed, reason: Layer7 wrong status, code: 503, check duration: \d+ms, status: 1/2 UP$`)
	waitSubject(t, smtpd, `^\[HAProxy Alert\] Server app/app1 is DOWN, reason: Layer7 wrong status, code: 503, check duration: \d+ms\. 0 active and 0 backup servers left\.`)
	sick.Store(false)
	waitSubject(t, smtpd, `^\[HAProxy Alert\] Server app/app1 is UP, reason: Layer7 check passed, code: 200, check duration: \d+ms\. 1 active and 0 backup servers left\.`)

	// A server added at runtime is followed (SERVER_ADD).
	cli(t, "tcp", admin, "add server app/app3 "+hostOf(app))
	waitFor(t, "the script follows app3", func() bool {
		for _, st := range d.LuaEventStats() {
			if st.Server == "app/app3" && st.Active {
				return true
			}
		}
		return false
	})
	cli(t, "tcp", admin, "enable server app/app3")
	cli(t, "tcp", admin, "set server app/app3 state drain")
	waitSubject(t, smtpd, `^\[HAProxy Alert\] Server app/app3 enters drain state\.`)

	// The script took over: the native mailer sent nothing.
	for _, m := range smtpd.Received() {
		if s := m.Header.Get("Subject"); !strings.HasPrefix(s, "[HAProxy Alert] ") {
			t.Fatalf("a mail not sent by the script: %q", s)
		}
	}
	if strings.Contains(d.out.String(), "Can't send email alert") {
		t.Fatalf("send failures:\n%s", d.out.String())
	}
}
