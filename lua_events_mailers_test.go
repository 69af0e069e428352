package moonbus

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"
)

// deploy/examples/mailers: email alerts from Lua (HAProxy's mailers.lua
// style) against an in-process SMTP server speaking real SMTP (go-smtp).

// evSMTP records the mails it receives.
type evSMTP struct {
	addr  string
	mu    sync.Mutex
	mails []evMail
}

type evMail struct {
	helo, from string
	to         []string
	msg        *mail.Message
	body       string
}

type evSMTPSession struct {
	s    *evSMTP
	helo string
	cur  evMail
}

func (ss *evSMTPSession) Reset()        { ss.cur = evMail{} }
func (ss *evSMTPSession) Logout() error { return nil }
func (ss *evSMTPSession) Mail(from string, _ *smtp.MailOptions) error {
	ss.cur.from = from
	return nil
}
func (ss *evSMTPSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.cur.to = append(ss.cur.to, to)
	return nil
}
func (ss *evSMTPSession) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return err
	}
	b, err := io.ReadAll(m.Body)
	if err != nil {
		return err
	}
	ss.cur.msg, ss.cur.body, ss.cur.helo = m, string(b), ss.helo
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, ss.cur)
	ss.s.mu.Unlock()
	return nil
}

func startEvSMTP(t *testing.T) *evSMTP {
	t.Helper()
	s := &evSMTP{}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &evSMTPSession{s: s, helo: c.Hostname()}, nil
	}))
	srv.Domain = "smtp.test"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.addr = ln.Addr().String()
	return s
}

// waitSubject waits for a mail whose subject matches re and returns it.
func (s *evSMTP) waitSubject(t *testing.T, re string) evMail {
	t.Helper()
	rx := regexp.MustCompile(re)
	var found evMail
	waitFor(t, "a mail matching "+re, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, m := range s.mails {
			if rx.MatchString(m.msg.Header.Get("Subject")) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

func (s *evSMTP) all() []evMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]evMail(nil), s.mails...)
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
	smtpd := startEvSMTP(t)
	var sick atomic.Bool
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			w.WriteHeader(503)
		}
	}))
	defer app.Close()
	text, ports := exampleConfig(t, "mailers")
	text = strings.ReplaceAll(text, "127.0.0.1:"+ports["2525"], smtpd.addr)
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
	m := smtpd.waitSubject(t, `^\[HAProxy Alert\] Server app/app2 is DOWN`)
	want := "Server app/app2 is DOWN (changed from CLI). 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue"
	if m.msg.Header.Get("Subject") != "[HAProxy Alert] "+want || m.body != want+"\r\n" {
		t.Fatalf("mail %q body %q", m.msg.Header.Get("Subject"), m.body)
	}
	if m.from != "lb@example.com" || len(m.to) != 1 || m.to[0] != "ops@example.com" || m.helo != "lb1.example.com" ||
		m.msg.Header.Get("From") != "lb@example.com" || m.msg.Header.Get("To") != "ops@example.com" {
		t.Fatalf("envelope %q %v helo %q, headers %v", m.from, m.to, m.helo, m.msg.Header)
	}
	if _, err := m.msg.Header.Date(); err != nil {
		t.Fatalf("Date header %q: %v", m.msg.Header.Get("Date"), err)
	}
	cli(t, "tcp", admin, "set server app/app2 health up")
	smtpd.waitSubject(t, `^\[HAProxy Alert\] Server app/app2 is UP \(changed from CLI\)\. 2 active`)

	// Entering drain: a NOTICE.
	cli(t, "tcp", admin, "set server app/app2 state drain")
	smtpd.waitSubject(t, `^\[HAProxy Alert\] Server app/app2 enters drain state\. 1 active and 0 backup servers left\.`)

	// Check-driven: the check reports (INFO, option log-health-checks) and
	// the state change with the check's reason.
	sick.Store(true)
	smtpd.waitSubject(t, `^\[HAProxy Alert\] Health check for server app/app1 failed, reason: Layer7 wrong status, code: 503, check duration: \d+ms, status: 1/2 UP$`)
	smtpd.waitSubject(t, `^\[HAProxy Alert\] Server app/app1 is DOWN, reason: Layer7 wrong status, code: 503, check duration: \d+ms\. 0 active and 0 backup servers left\.`)
	sick.Store(false)
	smtpd.waitSubject(t, `^\[HAProxy Alert\] Server app/app1 is UP, reason: Layer7 check passed, code: 200, check duration: \d+ms\. 1 active and 0 backup servers left\.`)

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
	smtpd.waitSubject(t, `^\[HAProxy Alert\] Server app/app3 enters drain state\.`)

	// The script took over: the native mailer sent nothing.
	for _, m := range smtpd.all() {
		if s := m.msg.Header.Get("Subject"); !strings.HasPrefix(s, "[HAProxy Alert] ") {
			t.Fatalf("a mail not sent by the script: %q", s)
		}
	}
	if strings.Contains(d.out.String(), "Can't send email alert") {
		t.Fatalf("send failures:\n%s", d.out.String())
	}
}
