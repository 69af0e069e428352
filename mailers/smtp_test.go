package mailers

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"moonbus/config"
	"moonbus/internal/smtptest"
	"moonbus/mailers/mailerstest"
)

const (
	testUser = "alerts@example.com"
	testPass = "Pa55-w0rd-not-for-logs"
	testHelo = "lb1.example.com"
)

func newTestSender(t *testing.T, srv *smtptest.Server, tlsMode, auth, pass string, logs *bytes.Buffer) *SMTPSender {
	t.Helper()
	if logs == nil {
		logs = &bytes.Buffer{}
	}
	s, err := NewSMTPSender(SMTPOptions{
		Section: "mymailers",
		Mailer:  &config.Mailer{Name: "smtp1", Addr: srv.Addr, TLS: tlsMode, Auth: auth, User: testUser, Password: pass},
		Timeout: 5 * time.Second,
		From:    "haproxy@example.com", To: "ops@example.com",
		MyHostname: testHelo, TLSConfig: srv.ClientTLS(),
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func downAlert() *Alert {
	return &Alert{Key: "be", Subject: "be/s1", State: StateDown, Kind: "SERVER_DOWN", Level: LevelAlert, Text: wantDown}
}

func TestSMTPSenderVariants(t *testing.T) {
	tests := []struct {
		mode, auth string
		mechs      []string
	}{
		{"none", "", nil},
		{"none", "plain", []string{"PLAIN"}},
		{"none", "login", []string{"LOGIN"}},
		{"none", "cram-md5", []string{"CRAM-MD5"}},
		{"starttls", "", nil},
		{"starttls", "plain", []string{"PLAIN", "LOGIN"}},
		{"starttls", "login", []string{"PLAIN", "LOGIN"}},
		{"starttls", "cram-md5", []string{"CRAM-MD5", "PLAIN"}},
		{"implicit", "", nil},
		{"implicit", "plain", []string{"PLAIN"}},
		{"implicit", "login", []string{"LOGIN"}},
	}
	for _, tc := range tests {
		t.Run(tc.mode+"/"+tc.auth, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.Mode(tc.mode), User: testUser, Password: testPass, Mechanisms: tc.mechs})
			var logs bytes.Buffer
			s := newTestSender(t, srv, tc.mode, tc.auth, testPass, &logs)
			before := time.Now().Truncate(time.Second)
			if retry, err := s.Send(context.Background(), []*Alert{downAlert()}); err != nil {
				t.Fatalf("Send: retry=%v err=%v\nlogs: %s", retry, err, logs.String())
			}
			m := srv.WaitMails(1)[0]
			if m.Subject != "[Moonbus Alert] "+wantDown {
				t.Errorf("Subject:\n got %q\nwant %q", m.Subject, "[Moonbus Alert] "+wantDown)
			}
			if strings.TrimRight(m.Body, "\n") != wantDown {
				t.Errorf("body:\n got %q\nwant %q", m.Body, wantDown)
			}
			if m.From != "haproxy@example.com" || len(m.To) != 1 || m.To[0] != "ops@example.com" {
				t.Errorf("envelope from %q to %q", m.From, m.To)
			}
			if m.Header.Get("From") != "<haproxy@example.com>" && m.Header.Get("From") != "haproxy@example.com" {
				t.Errorf("From: %q", m.Header.Get("From"))
			}
			if !strings.Contains(m.Header.Get("To"), "ops@example.com") {
				t.Errorf("To: %q", m.Header.Get("To"))
			}
			d, err := time.Parse(DateLayout, m.Header.Get("Date"))
			if err != nil || d.Before(before) || d.After(time.Now()) {
				t.Errorf("Date %q: %v", m.Header.Get("Date"), err)
			}
			if m.Helo != testHelo {
				t.Errorf("EHLO %q, want %q", m.Helo, testHelo)
			}
			if wantTLS := tc.mode != "none"; m.TLS != wantTLS {
				t.Errorf("TLS = %v, want %v", m.TLS, wantTLS)
			}
			if wantUser := map[bool]string{true: testUser, false: ""}[tc.auth != ""]; m.User != wantUser {
				t.Errorf("authenticated as %q, want %q", m.User, wantUser)
			}
		})
	}
}

func TestSMTPSenderBatch(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	s := newTestSender(t, srv, "none", "", "", nil)
	up := &Alert{Kind: "SERVER_UP", Text: wantUp}
	if _, err := s.Send(context.Background(), []*Alert{downAlert(), up}); err != nil {
		t.Fatal(err)
	}
	m := srv.WaitMails(1)[0]
	if m.Subject != "[Moonbus Alert] "+wantDown+" (+1 more)" || m.Body != wantDown+"\n"+wantUp+"\n" {
		t.Errorf("subject %q body %q", m.Subject, m.Body)
	}
}

// Failures: the classification of each, the HAProxy warning, and no
// password anywhere in logs or errors.
func TestSMTPSenderFailures(t *testing.T) {
	var logs bytes.Buffer
	var errs []string
	t.Run("wrong password", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, User: testUser, Password: "the-right-one", Mechanisms: []string{"PLAIN", "LOGIN"}})
		for _, auth := range []string{"plain", "login"} {
			s := newTestSender(t, srv, "starttls", auth, testPass, &logs)
			retry, err := s.Send(context.Background(), []*Alert{downAlert()})
			if err == nil || retry {
				t.Fatalf("%s: retry=%v err=%v", auth, retry, err)
			}
			errs = append(errs, err.Error())
		}
	})
	t.Run("wrong password cram-md5 in clear", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{User: testUser, Password: "the-right-one", Mechanisms: []string{"CRAM-MD5", "PLAIN"}})
		s := newTestSender(t, srv, "none", "plain", testPass, &logs)
		_, err := s.Send(context.Background(), []*Alert{downAlert()})
		if err == nil {
			t.Fatal("no error")
		}
		errs = append(errs, err.Error())
	})
	t.Run("451 is retryable", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		srv.FailData(1)
		s := newTestSender(t, srv, "none", "", testPass, &logs)
		retry, err := s.Send(context.Background(), []*Alert{downAlert()})
		if err == nil || !retry || !strings.Contains(err.Error(), "451") {
			t.Fatalf("retry=%v err=%v", retry, err)
		}
		errs = append(errs, err.Error())
	})
	t.Run("554 is not", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		srv.RejectData(1)
		s := newTestSender(t, srv, "none", "", testPass, &logs)
		retry, err := s.Send(context.Background(), []*Alert{downAlert()})
		if err == nil || retry {
			t.Fatalf("retry=%v err=%v", retry, err)
		}
	})
	t.Run("connection refused is retryable", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		s, err := NewSMTPSender(SMTPOptions{Section: "m", Mailer: &config.Mailer{Name: "smtp1", Addr: addr,
			Auth: "plain", User: testUser, Password: testPass}, From: "a@example.com", To: "b@example.com",
			Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		retry, err := s.Send(context.Background(), []*Alert{downAlert()})
		if err == nil || !retry {
			t.Fatalf("retry=%v err=%v", retry, err)
		}
		errs = append(errs, err.Error())
	})
	t.Run("untrusted certificate is not", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.ImplicitTLS})
		s, err := NewSMTPSender(SMTPOptions{Section: "m", Mailer: &config.Mailer{Name: "smtp1", Addr: srv.Addr, TLS: "implicit"},
			From: "a@example.com", To: "b@example.com", Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err != nil {
			t.Fatal(err)
		}
		if retry, err := s.Send(context.Background(), []*Alert{downAlert()}); err == nil || retry {
			t.Fatalf("retry=%v err=%v", retry, err)
		}
	})
	if !strings.Contains(logs.String(), "Can't send email alert to smtp1: ") {
		t.Errorf("no HAProxy warning in logs:\n%s", logs.String())
	}
	mailerstest.AssertNoSecretLeak(t, []string{testPass, "\x00" + testUser + "\x00" + testPass},
		append(errs, logs.String())...)
}

func TestNewSMTPSenderErrors(t *testing.T) {
	base := func() SMTPOptions {
		return SMTPOptions{Section: "m", Mailer: &config.Mailer{Name: "x", Addr: "127.0.0.1:25"}, From: "a@b", To: "c@d",
			Logger: slog.New(slog.DiscardHandler)}
	}
	cases := map[string]func(*SMTPOptions){
		"bad addr":     func(o *SMTPOptions) { o.Mailer.Addr = "nowhere" },
		"bad port":     func(o *SMTPOptions) { o.Mailer.Addr = "127.0.0.1:99999" },
		"bad tls":      func(o *SMTPOptions) { o.Mailer.TLS = "maybe" },
		"bad auth":     func(o *SMTPOptions) { o.Mailer.Auth = "ntlm" },
		"auth no user": func(o *SMTPOptions) { o.Mailer.Auth = "plain" },
		"no to":        func(o *SMTPOptions) { o.To = "" },
	}
	for name, mod := range cases {
		o := base()
		mod(&o)
		if _, err := NewSMTPSender(o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	o := base()
	o.Mailer.Addr = "ipv4@127.0.0.1:2525"
	s, err := NewSMTPSender(o)
	if err != nil || s.port != 2525 || s.Target() != "mailers/m/x" || s.prefix != DefaultSubjectPrefix || s.timeout != DefaultMailTimeout {
		t.Errorf("defaults: %+v %v", s, err)
	}
}
