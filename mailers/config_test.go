package mailers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"moonbus/config"
	"moonbus/internal/smtptest"
)

// The whole chain from configuration text: the config parser's model of a
// mailers section with our tls/auth extensions and of email-alert settings
// inherited from defaults, then Native, then real SMTP with STARTTLS and
// AUTH PLAIN.
func TestNativeFromConfigText(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, User: testUser, Password: testPass, Mechanisms: []string{"PLAIN"}})
	text := fmt.Sprintf(`
mailers mymailers
    mailer smtp1 %s tls starttls auth plain user %s password "%s"
    timeout mail 5s

defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    email-alert mailers mymailers
    email-alert from haproxy@example.com
    email-alert to ops@example.com
    email-alert level notice
    email-alert myhostname %s
    email-alert subject-prefix "[LB1]"

backend be
    server s1 127.0.0.1:8081 check

backend quiet
    email-alert level alert
    server s1 127.0.0.1:8082 check
`, srv.Addr, testUser, testPass, testHelo)
	cfg, err := config.Parse("moonbus.cfg", []byte(text), config.Options{Env: map[string]string{}})
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	n, err := NewNative(cfg, NativeOptions{Logger: slog.New(slog.NewTextHandler(logs, nil)), TLSConfig: srv.ClientTLS()})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Stop(ctx)
	}()
	n.Handle(downEvent(1, "be", "s1"))
	n.Handle(upEvent(2, "quiet", "s1")) // notice > alert: not mailed for this backend
	n.Handle(upEvent(3, "be", "s1"))
	mails := srv.WaitMails(2)
	if mails[0].Subject != "[LB1] "+wantDown || mails[1].Subject != "[LB1] "+wantUp {
		t.Errorf("subjects %q / %q", mails[0].Subject, mails[1].Subject)
	}
	if m := mails[0]; m.User != testUser || !m.TLS || m.Helo != testHelo || m.From != "haproxy@example.com" {
		t.Errorf("mail %+v", m)
	}
	if strings.Contains(logs.String(), testPass) {
		t.Error("password in logs")
	}
}
