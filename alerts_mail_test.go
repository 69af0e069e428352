package moonbus

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"moonbus/bus"
	"moonbus/internal/smtptest"
	"moonbus/mailers"
	"moonbus/mailers/mailerstest"
)

// mailDaemon starts a daemon whose backend "be" (servers s1 and s2 on a
// healthy sickable backend, health checks every 10s so the CLI drives the
// state) mails through one mailer line. global and backend are extra lines.
func mailDaemon(t *testing.T, mailerLine, global, backend string) (*testDaemon, *sickable) {
	t.Helper()
	app := newSickable(t, "app")
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
`+global+`
mailers mta
    `+mailerLine+`
    timeout mail 5s
`+httpDefaults+`
backend be
    email-alert mailers mta
    email-alert from lb@example.com
    email-alert to ops@example.com
    email-alert myhostname lb1.example.com
    option httpchk GET /health
`+backend+`
    server s1 `+hostOf(app.srv)+` check inter 10s fastinter 10ms rise 2 fall 2
    server s2 `+hostOf(app.srv)+` check inter 10s fastinter 10ms rise 2 fall 2
`)
	waitFirstChecks(t, d, "be")
	return d, app
}

// waitFirstChecks waits for the first health check of every server of a
// backend, so that with a long inter no check races the CLI.
func waitFirstChecks(t *testing.T, d *testDaemon, be string) {
	t.Helper()
	for _, s := range d.Engine().Proxy(be).Servers() {
		waitFor(t, "first check of "+s.Name(), func() bool { return s.LastCheckStatus() != nil })
	}
}

// adm runs one command on the daemon's first stats socket.
func (d *testDaemon) adm(line string) string {
	d.t.Helper()
	addrs := d.CLIAddrs()
	if len(addrs) == 0 {
		d.t.Fatal("no stats socket")
	}
	return cli(d.t, "tcp", addrs[0], line)
}

const (
	downCLI = "Server be/s1 is DOWN, changed from CLI. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue"
	upCLI   = "Server be/s1 is UP, changed from CLI. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue"
)

// checkMail asserts the exact subject and body of a native alert mail.
func checkMail(t *testing.T, m smtptest.Mail, msg string) {
	t.Helper()
	if m.Subject != "[Moonbus Alert] "+msg {
		t.Errorf("subject %q, want %q", m.Subject, "[Moonbus Alert] "+msg)
	}
	if m.Body != msg+"\n" {
		t.Errorf("body %q, want %q", m.Body, msg+"\n")
	}
	if m.From != "lb@example.com" || len(m.To) != 1 || m.To[0] != "ops@example.com" || m.Helo != "lb1.example.com" {
		t.Errorf("envelope: helo %q from %q to %v", m.Helo, m.From, m.To)
	}
	if m.Header.Get("From") != "<lb@example.com>" && m.Header.Get("From") != "lb@example.com" {
		t.Errorf("From header %q", m.Header.Get("From"))
	}
	if m.Header.Get("Date") == "" {
		t.Error("no Date header")
	}
}

// The native mailer through the daemon: DOWN at alert and UP at notice
// (`email-alert level notice`), HAProxy's texts, in every transport and
// authentication variant of our mailer line.
func TestAlertsNativeMailDownAndUp(t *testing.T) {
	for _, c := range []struct {
		name     string
		opts     smtptest.Options
		mailer   string
		global   string
		wantTLS  bool
		wantUser string
	}{
		{name: "plain", mailer: "mailer smtp1 %ADDR%"},
		{name: "starttls-auth-plain", opts: smtptest.Options{Mode: smtptest.StartTLS, User: "alice", Password: "pl41n-s3cret", Mechanisms: []string{"PLAIN"}},
			mailer: "mailer smtp1 %ADDR% tls starttls auth plain user alice password pl41n-s3cret", global: "    ssl-server-verify none",
			wantTLS: true, wantUser: "alice"},
		{name: "implicit-auth-login", opts: smtptest.Options{Mode: smtptest.ImplicitTLS, User: "bob", Password: "l0gin-s3cret", Mechanisms: []string{"LOGIN"}},
			mailer: "mailer smtp1 %ADDR% tls implicit auth login user bob password l0gin-s3cret", global: "    ssl-server-verify none",
			wantTLS: true, wantUser: "bob"},
		{name: "plain-auth-cram-md5", opts: smtptest.Options{User: "carol", Password: "cr4m-s3cret", Mechanisms: []string{"CRAM-MD5"}},
			mailer:   "mailer smtp1 %ADDR% auth cram-md5 user carol password cr4m-s3cret",
			wantUser: "carol"},
	} {
		t.Run(c.name, func(t *testing.T) {
			srv := smtptest.Start(t, c.opts)
			d, _ := mailDaemon(t, strings.ReplaceAll(c.mailer, "%ADDR%", srv.Addr), c.global, "    email-alert level notice")
			if got := d.adm("set server be/s1 health down"); got != "\n" {
				t.Fatalf("health down: %q", got)
			}
			checkMail(t, srv.WaitMails(1)[0], downCLI)
			d.adm("set server be/s1 health up")
			mails := srv.WaitMails(2)
			checkMail(t, mails[1], upCLI)
			for _, m := range mails {
				if m.TLS != c.wantTLS || m.User != c.wantUser {
					t.Errorf("tls %v user %q, want %v %q", m.TLS, m.User, c.wantTLS, c.wantUser)
				}
			}
			// show alerts lists both sends (recorded once the SMTP
			// transaction is over).
			p := d.alerts.native.Pipelines()[0]
			waitFor(t, "two records", func() bool { return p.Counters().Sent == 2 })
			show := d.adm("show alerts")
			lines := strings.Split(strings.TrimSpace(show), "\n")
			if len(lines) != 3 || !strings.HasPrefix(lines[0], "# time target status attempts alerts kind text error") ||
				!strings.Contains(lines[1], " mailers/mta/smtp1 sent 1 1 SERVER_DOWN \""+downCLI+"\" \"\"") ||
				!strings.Contains(lines[2], " mailers/mta/smtp1 sent 1 1 SERVER_UP \""+upCLI+"\" \"\"") {
				t.Fatalf("show alerts:\n%s", show)
			}
			if c.opts.Password != "" {
				mailerstest.AssertNoSecretLeak(t, []string{c.opts.Password}, d.out.String(), show)
			}
		})
	}
}

// With the default level (alert) the UP mail is not sent; maintenance sends
// nothing (admin-only change).
func TestAlertsNativeMailDefaultLevel(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	d, _ := mailDaemon(t, "mailer smtp1 "+srv.Addr, "", "")
	d.adm("set server be/s1 health down")
	checkMail(t, srv.WaitMails(1)[0], downCLI)
	d.adm("set server be/s1 health up")
	d.adm("set server be/s2 state maint")
	d.adm("set server be/s2 state ready")
	d.adm("set server be/s1 health down")
	p := d.alerts.native.Pipelines()[0]
	waitFor(t, "two sends", func() bool { return p.Counters().Sent == 2 })
	mails := srv.Received()
	if len(mails) != 2 || mails[1].Subject != mails[0].Subject {
		t.Fatalf("mails: %+v", mails)
	}
	if c := p.Counters(); c.Failed != 0 {
		t.Fatalf("counters %+v", c)
	}
}

// A first attempt that fails (451) is retried; nothing is lost, duplicated
// or reordered behind it.
func TestAlertsNativeMailRetry(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.FailData(1)
	d, _ := mailDaemon(t, "mailer smtp1 "+srv.Addr, "", "    email-alert level notice")
	d.adm("set server be/s1 health down")
	d.adm("set server be/s1 health up")
	d.adm("set server be/s2 health down")
	p := d.alerts.native.Pipelines()[0]
	waitFor(t, "three sends", func() bool { return p.Counters().Sent == 3 })
	mails := srv.Received()
	if len(mails) != 3 {
		t.Fatalf("%d mails", len(mails))
	}
	checkMail(t, mails[0], downCLI)
	checkMail(t, mails[1], upCLI)
	checkMail(t, mails[2], "Server be/s2 is DOWN, changed from CLI. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue")
	if c := p.Counters(); c.Retried != 1 || c.Failed != 0 || c.Suppressed != 0 {
		t.Fatalf("counters %+v", c)
	}
	show := d.adm("show alerts")
	if !strings.Contains(show, " mailers/mta/smtp1 sent 2 1 SERVER_DOWN \""+downCLI) {
		t.Fatalf("show alerts:\n%s", show)
	}
	d.waitLog("Can't send email alert to smtp1: ")
}

// option log-health-checks adds the health-check mails at info.
func TestAlertsNativeMailHealthChecksAtInfo(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	app, other := newSickable(t, "app"), newSickable(t, "other")
	d := startDaemon(t, `
mailers mta
    mailer smtp1 `+srv.Addr+`
`+httpDefaults+`
backend be
    email-alert mailers mta
    email-alert from lb@example.com
    email-alert to ops@example.com
    email-alert level info
    option httpchk GET /health
    option log-health-checks
    server s1 `+hostOf(app.srv)+` check inter 100ms rise 2 fall 2
    server s2 `+hostOf(other.srv)+` check inter 10s fastinter 10ms rise 2 fall 2
`)
	s1 := d.Engine().Proxy("be").Server("s1")
	waitFor(t, "s1 fully up", func() bool { return s1.HealthInfo().Health == 3 })
	app.sick.Store(true)
	waitFor(t, "s1 down", func() bool { return s1.Op().String() == "STOPPED" })
	app.sick.Store(false)
	dur := `, info: "Service Unavailable", check duration: \d+ms`
	want := []*regexp.Regexp{
		regexp.MustCompile(`^Health check for server be/s1 failed, reason: Layer7 wrong status, code: 503` + dur + `, status: 1/2 UP$`),
		regexp.MustCompile(`^Server be/s1 is DOWN, reason: Layer7 wrong status, code: 503` + dur + `\. 1 active and 0 backup servers left\. 0 sessions active, 0 requeued, 0 remaining in queue$`),
		regexp.MustCompile(`^Health check for server be/s1 failed, reason: Layer7 wrong status, code: 503` + dur + `, status: 0/2 DOWN$`),
	}
	var msgs []string
	waitFor(t, "the failure mails", func() bool {
		msgs = msgs[:0]
		for _, m := range srv.Received() {
			if strings.Contains(m.Body, "fail") || strings.Contains(m.Body, "DOWN") {
				msgs = append(msgs, strings.TrimSuffix(m.Body, "\n"))
			}
		}
		return len(msgs) >= len(want)
	})
	for i, re := range want {
		if !re.MatchString(msgs[i]) {
			t.Errorf("mail %d: %q does not match %s", i, msgs[i], re)
		}
	}
	// The passing check that brings it back is mailed too.
	waitFor(t, "success mail", func() bool {
		for _, m := range srv.Received() {
			if strings.HasPrefix(m.Body, "Health check for server be/s1 succeeded, reason: Layer7 check passed, code: 200") {
				return true
			}
		}
		return false
	})
}

// A Lua script that calls core.use_native_mailers_config() takes over: the
// native mailer sees the events and stays quiet.
func TestAlertsLuaTakeoverSilencesNativeMailer(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	hook := startHook(t, nil)
	script := filepath.Join(t.TempDir(), "mailers.lua")
	if err := os.WriteFile(script, []byte("core.use_native_mailers_config()\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d, _ := mailDaemon(t, "mailer smtp1 "+srv.Addr, "    tune.lua.bool-sample-conversion normal\n    lua-load "+script+`
webhook ops
    url `+hook.URL+`/hook
    event SERVER_DOWN`, "    email-alert level notice")
	d.waitLog("the native mailer stays quiet")
	d.adm("set server be/s1 health down")
	hook.wait(1)
	waitFor(t, "the mailer's subscription to take the event", func() bool {
		for _, s := range d.Bus().Subscribers() {
			if s.Name == "mailers" {
				return s.Queued == 0 && s.Delivered > 0
			}
		}
		return false
	})
	if n := len(srv.Received()); n != 0 || srv.Conns() != 0 {
		t.Fatalf("native mailer sent %d mails (%d connections) after a Lua takeover", n, srv.Conns())
	}
	if c := d.alerts.native.Counters(); c != (mailers.Counters{}) {
		t.Fatalf("native counters %+v", c)
	}
	if ev := d.Bus().History(0); len(ev) == 0 || !hasType(ev, bus.ServerDown) {
		t.Fatal("no SERVER_DOWN in the bus history")
	}
}

func hasType(evs []*bus.Event, typ bus.Type) bool {
	for _, e := range evs {
		if e.Type == typ {
			return true
		}
	}
	return false
}

// Secrets (mailer password, webhook secret, authorization header, URL
// token) never appear in the daemon's output or in show alerts, whatever
// fails.
func TestAlertsSecretsNeverInOutput(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, User: "alice", Password: "the-right-one", Mechanisms: []string{"PLAIN", "LOGIN"}})
	hook := startHook(t, func(int) int { return 503 })
	secrets := []string{"m4iler-Pa55word", "hmac-S3cret-value", "Bearer-t0ken-xyz", "url-t0ken-987"}
	d, _ := mailDaemon(t, "mailer smtp1 "+srv.Addr+" tls starttls auth login user alice password "+secrets[0], `    ssl-server-verify none
webhook ops
    url `+hook.URL+`/hook?token=`+secrets[3]+`
    event SERVER_DOWN
    secret `+secrets[1]+`
    header Authorization "Bearer `+secrets[2]+`"
    retries 1`, "")
	d.adm("set server be/s1 health down")
	waitFor(t, "both senders to give up", func() bool {
		return d.alerts.native.Counters().Failed == 1 && d.alerts.webhooks[0].Pipeline().Counters().Failed == 1
	})
	if len(hook.requests()) != 2 {
		t.Fatalf("webhook attempts: %d", len(hook.requests()))
	}
	d.waitLog("Can't send email alert to smtp1")
	show := d.adm("show alerts")
	if !strings.Contains(show, "mailers/mta/smtp1 failed") || !strings.Contains(show, "webhook/ops failed 2") {
		t.Fatalf("show alerts:\n%s", show)
	}
	mailerstest.AssertNoSecretLeak(t, secrets, d.out.String(), show, d.adm("show events 20"))
}

// email-alert in defaults applies to the backends that follow; a backend
// without all three of mailers, from and to (here: to reset by its own
// defaults section) sends nothing.
func TestAlertsNativeMailFromDefaults(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	app := newSickable(t, "app")
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
mailers mta
    mailer smtp1 `+srv.Addr+`
defaults alerting
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
    email-alert mailers mta
    email-alert from lb@example.com
    email-alert to ops@example.com
    email-alert myhostname lb1.example.com
backend be
    option httpchk GET /health
    server s1 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
    server s2 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
defaults quiet
    mode http
    timeout connect 2s
    timeout client 5s
    timeout server 5s
backend other
    option httpchk GET /health
    server s1 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
`)
	waitFirstChecks(t, d, "be")
	waitFirstChecks(t, d, "other")
	d.adm("set server other/s1 health down")
	d.adm("set server be/s1 health down")
	checkMail(t, srv.WaitMails(1)[0], downCLI)
	if n := len(d.alerts.native.Pipelines()); n != 1 {
		t.Fatalf("%d pipelines", n)
	}
	p := d.alerts.native.Pipelines()[0]
	waitFor(t, "the record", func() bool { return p.Counters().Sent == 1 })
	if n := len(srv.Received()); n != 1 {
		t.Fatalf("%d mails", n)
	}
}
