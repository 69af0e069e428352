package smtptest_test

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"moonbus/internal/smtptest"
)

const message = "From: a@example.com\r\n" +
	"To: b@example.com\r\n" +
	"Subject: =?utf-8?q?caf=C3=A9?= alert\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n" +
	"\r\n" +
	"line one is long enough to be soft=\r\n" +
	" broken\r\n" +
	"caf=C3=A9\r\n"

// cramClient is the client side of AUTH CRAM-MD5, which go-sasl lacks.
type cramClient struct{ user, pass string }

func (c cramClient) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

func (c cramClient) Next(challenge []byte) ([]byte, error) {
	mac := hmac.New(md5.New, []byte(c.pass))
	mac.Write(challenge)
	return []byte(c.user + " " + hex.EncodeToString(mac.Sum(nil))), nil
}

// dial connects to s as its mode wants and says EHLO client.test.
func dial(t *testing.T, s *smtptest.Server, mode smtptest.Mode) *smtp.Client {
	t.Helper()
	var c *smtp.Client
	var err error
	switch mode {
	case smtptest.StartTLS:
		c, err = smtp.DialStartTLS(s.Addr, s.ClientTLS())
	case smtptest.ImplicitTLS:
		c, err = smtp.DialTLS(s.Addr, s.ClientTLS())
	default:
		c, err = smtp.Dial(s.Addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	return c
}

func send(c *smtp.Client, to ...string) error {
	return c.SendMail("a@example.com", to, strings.NewReader(message))
}

func code(err error) int {
	var e *smtp.SMTPError
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

func TestModesAndAuth(t *testing.T) {
	for _, tc := range []struct {
		mode smtptest.Mode
		mech string
		auth sasl.Client
	}{
		{smtptest.Plain, "", nil},
		{smtptest.Plain, "CRAM-MD5", cramClient{"u", "p"}},
		{smtptest.StartTLS, "PLAIN", sasl.NewPlainClient("", "u", "p")},
		{smtptest.ImplicitTLS, "LOGIN", sasl.NewLoginClient("u", "p")},
	} {
		t.Run(string(tc.mode)+"/"+tc.mech, func(t *testing.T) {
			o := smtptest.Options{Mode: tc.mode, User: "u", Password: "p"}
			if tc.mech != "" {
				o.Mechanisms = []string{tc.mech}
			}
			s := smtptest.Start(t, o)
			if (s.ClientTLS() == nil) != (tc.mode == smtptest.Plain) {
				t.Fatalf("ClientTLS %v in mode %q", s.ClientTLS(), tc.mode)
			}
			c := dial(t, s, tc.mode)
			if tc.auth != nil {
				if err := send(c, "b@example.com"); code(err) != 502 {
					t.Fatalf("MAIL before AUTH: %v", err)
				}
				if err := c.Auth(tc.auth); err != nil {
					t.Fatal(err)
				}
			}
			if err := send(c, "b@example.com", "c@example.com"); err != nil {
				t.Fatal(err)
			}
			m := s.WaitMails(1)[0]
			wantUser := map[bool]string{true: "u"}[tc.auth != nil]
			if m.Helo != "client.test" || m.From != "a@example.com" || strings.Join(m.To, ",") != "b@example.com,c@example.com" ||
				m.User != wantUser || m.TLS != (tc.mode != smtptest.Plain) {
				t.Errorf("envelope: helo %q from %q to %q user %q tls %v", m.Helo, m.From, m.To, m.User, m.TLS)
			}
			if m.Subject != "café alert" || m.Header.Get("To") != "b@example.com" {
				t.Errorf("subject %q, header %v", m.Subject, m.Header)
			}
			if m.Body != "line one is long enough to be soft broken\ncafé\n" {
				t.Errorf("body %q", m.Body)
			}
			if m.RawBody != message[strings.Index(message, "\r\n\r\n")+4:] || string(m.Raw) != message {
				t.Errorf("raw body %q, raw %q", m.RawBody, m.Raw)
			}
		})
	}
}

func TestWrongPassword(t *testing.T) {
	for _, auth := range []sasl.Client{
		sasl.NewPlainClient("", "u", "bad"), sasl.NewLoginClient("u", "bad"), cramClient{"u", "bad"}, cramClient{"v", "p"},
	} {
		s := smtptest.Start(t, smtptest.Options{User: "u", Password: "p", Mechanisms: []string{"PLAIN", "LOGIN", "CRAM-MD5"}})
		if err := dial(t, s, smtptest.Plain).Auth(auth); code(err) != 535 {
			t.Errorf("%T: %v", auth, err)
		}
	}
}

func TestFailures(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	s.RefuseConns(1)
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Hello("client.test"); err == nil {
		t.Fatal("the first connection was not refused")
	}
	c.Close()
	s.FailData(1)
	s.RejectData(1)
	c = dial(t, s, smtptest.Plain)
	if err := send(c, "b@example.com"); code(err) != 451 {
		t.Fatalf("first DATA: %v", err)
	}
	if err := send(c, "b@example.com"); code(err) != 554 {
		t.Fatalf("second DATA: %v", err)
	}
	if err := send(c, "b@example.com"); err != nil {
		t.Fatalf("third DATA: %v", err)
	}
	if n := len(s.WaitMails(1)); n != 1 || len(s.Received()) != 1 || s.Conns() != 2 {
		t.Fatalf("%d mails, %d connections", n, s.Conns())
	}
}

func TestWaitMail(t *testing.T) {
	s := smtptest.Start(t, smtptest.Options{})
	c := dial(t, s, smtptest.Plain)
	go func() {
		for _, to := range []string{"x@example.com", "y@example.com"} {
			_ = send(c, to)
		}
	}()
	m := s.WaitMail("a mail to y", func(m smtptest.Mail) bool { return m.To[0] == "y@example.com" })
	if m.To[0] != "y@example.com" || len(s.Received()) != 2 {
		t.Fatalf("got %v among %d", m.To, len(s.Received()))
	}
}
