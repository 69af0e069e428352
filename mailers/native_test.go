package mailers

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/internal/smtptest"
	"moonbus/mailers/mailerstest"
)

// syncBuffer is a log sink safe for the pipeline goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type nativeSetup struct {
	level     string
	logHealth bool
	groupWait time.Duration
	flap      *FlapPolicy
	servers   []*smtptest.Server
}

func nativeConfig(ns nativeSetup, backends ...string) *config.Config {
	sec := &config.Mailers{Name: "mymailers", Timeout: 5 * time.Second}
	for i, s := range ns.servers {
		sec.Mailers = append(sec.Mailers, &config.Mailer{Name: "smtp" + string(rune('1'+i)), Addr: s.Addr})
	}
	cfg := &config.Config{Mailers: []*config.Mailers{sec}}
	for _, be := range backends {
		cfg.Proxies = append(cfg.Proxies, &config.Proxy{
			Kind: config.KindBackend, Name: be, LogHealthChecks: ns.logHealth,
			EmailAlert: config.EmailAlert{Mailers: "mymailers", From: "haproxy@example.com", To: "ops@example.com",
				Level: ns.level, MyHostname: testHelo, GroupWait: ns.groupWait},
		})
	}
	return cfg
}

func startNative(t *testing.T, ns nativeSetup, logs *syncBuffer, backends ...string) *Native {
	t.Helper()
	if logs == nil {
		logs = &syncBuffer{}
	}
	flap := ns.flap
	if flap == nil {
		flap = &FlapPolicy{}
	}
	n, err := NewNative(nativeConfig(ns, backends...), NativeOptions{
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
		Flap:   flap,
		Retry:  RetryPolicy{Attempts: 4, Base: 20 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		n.Stop(ctx)
	})
	return n
}

func subjects(mails []smtptest.Mail) []string {
	var s []string
	for _, m := range mails {
		s = append(s, strings.TrimPrefix(m.Subject, "[Moonbus Alert] "))
	}
	return s
}

// DOWN and UP mails with HAProxy's exact texts, to every mailer of the
// section, in order.
func TestNativeDownUpMails(t *testing.T) {
	a, b := smtptest.Start(t, smtptest.Options{}), smtptest.Start(t, smtptest.Options{})
	n := startNative(t, nativeSetup{level: "notice", servers: []*smtptest.Server{a, b}}, nil, "be")
	n.Handle(downEvent(1, "be", "s1"))
	n.Handle(upEvent(2, "be", "s1"))
	for _, srv := range []*smtptest.Server{a, b} {
		mails := srv.WaitMails(2)
		if got := subjects(mails); len(got) != 2 || got[0] != wantDown || got[1] != wantUp {
			t.Errorf("subjects %q", got)
		}
		if strings.TrimSpace(mails[0].Body) != wantDown || strings.TrimSpace(mails[1].Body) != wantUp {
			t.Errorf("bodies %q / %q", mails[0].Body, mails[1].Body)
		}
	}
	waitFor(t, "counters", func() bool { return n.Counters().Sent == 4 })
	var out bytes.Buffer
	n.ShowAlerts(&out, 0)
	if strings.Count(out.String(), " sent ") != 4 || !strings.Contains(out.String(), "mailers/mymailers/smtp2") {
		t.Errorf("show alerts:\n%s", out.String())
	}
}

// With the default level (alert), UP (notice) and drain (notice) are not
// mailed; info with log-health-checks mails check changes, once per change.
func TestNativeLevels(t *testing.T) {
	t.Run("default level alert", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		n := startNative(t, nativeSetup{servers: []*smtptest.Server{srv}}, nil, "be")
		n.Handle(downEvent(1, "be", "s1"))
		n.Handle(upEvent(2, "be", "s1"))
		n.Handle(&bus.Event{Type: bus.ServerAdmin, Seq: 3, Server: &bus.ServerRef{Name: "s2", ProxyName: "be"},
			Admin: &bus.AdminChange{NewAdmin: bus.FDrain}})
		n.Handle(downEvent(4, "other", "s1")) // a backend without email-alert
		n.Handle(downEvent(5, "be", "s3"))
		mails := srv.WaitMails(2)
		got := subjects(mails)
		if len(got) != 2 || got[0] != wantDown || !strings.HasPrefix(got[1], "Server be/s3 is DOWN") {
			t.Errorf("subjects %q", got)
		}
	})
	t.Run("info with log-health-checks", func(t *testing.T) {
		srv := smtptest.Start(t, smtptest.Options{})
		n := startNative(t, nativeSetup{level: "info", logHealth: true, servers: []*smtptest.Server{srv}}, nil, "be")
		check := func(seq uint64, cur int) *bus.Event {
			return &bus.Event{Type: bus.ServerCheck, Seq: seq, Server: &bus.ServerRef{Name: "s1", ProxyName: "be"},
				Check: &bus.CheckResult{Result: "FAILED", Duration: 2,
					Reason: bus.CheckReason{Short: "L4CON", Desc: "Layer4 connection problem", Info: "Connection refused"},
					Health: bus.Health{Cur: cur, Rise: 2, Fall: 3}},
				Snapshot: &bus.Snapshot{Weight: 1}}
		}
		n.Handle(check(1, 3))
		n.Handle(check(2, 3)) // no change of the health counter: no mail
		n.Handle(check(3, 2))
		n.Handle(downEvent(4, "be", "s1"))
		mails := srv.WaitMails(3)
		want := []string{
			`Health check for server be/s1 failed, reason: Layer4 connection problem, info: "Connection refused", check duration: 2ms, status: 2/3 UP`,
			`Health check for server be/s1 failed, reason: Layer4 connection problem, info: "Connection refused", check duration: 2ms, status: 1/3 UP`,
			wantDown,
		}
		if got := subjects(mails); strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("subjects:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// A first attempt that fails (451 once, or a refused connection) is retried;
// nothing is lost, duplicated or reordered.
func TestNativeRetries(t *testing.T) {
	for _, tc := range []struct {
		name string
		prep func(*smtptest.Server)
	}{
		{"451 once", func(s *smtptest.Server) { s.FailData(1) }},
		{"first connection refused", func(s *smtptest.Server) { s.RefuseConns(1) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{Mode: smtptest.StartTLS, User: testUser, Password: testPass, Mechanisms: []string{"PLAIN"}})
			tc.prep(srv)
			cfg := nativeConfig(nativeSetup{level: "notice", servers: []*smtptest.Server{srv}}, "be")
			cfg.Mailers[0].Mailers[0].TLS = "starttls"
			cfg.Mailers[0].Mailers[0].Auth = "plain"
			cfg.Mailers[0].Mailers[0].User = testUser
			cfg.Mailers[0].Mailers[0].Password = testPass
			logs := &syncBuffer{}
			n, err := NewNative(cfg, NativeOptions{Logger: slog.New(slog.NewTextHandler(logs, nil)),
				TLSConfig: srv.ClientTLS(), Flap: &FlapPolicy{}, Retry: RetryPolicy{Attempts: 4, Base: 20 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			n.Start(context.Background())
			defer n.Stop(context.Background())
			n.Handle(downEvent(1, "be", "s1"))
			n.Handle(upEvent(2, "be", "s1"))
			n.Handle(downEvent(3, "be", "s1"))
			mails := srv.WaitMails(3)
			waitFor(t, "records", func() bool { return n.Counters().Sent == 3 })
			if got := subjects(srv.Received()); len(got) != 3 || got[0] != wantDown || got[1] != wantUp ||
				!strings.HasPrefix(got[2], "Server be/s1 is DOWN") {
				t.Errorf("subjects %q", got)
			}
			if mails[0].User != testUser {
				t.Errorf("not authenticated")
			}
			if c := n.Counters(); c.Retried != 1 || c.Failed != 0 {
				t.Errorf("counters %+v", c)
			}
			if !strings.Contains(logs.String(), "Can't send email alert to smtp1") {
				t.Errorf("no warning logged:\n%s", logs)
			}
			var out bytes.Buffer
			n.ShowAlerts(&out, 0)
			mailerstest.AssertNoSecretLeak(t, []string{testPass}, logs.String(), out.String())
		})
	}
}

// A Lua takeover silences the native mailer.
func TestNativeTakeover(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	logs := &syncBuffer{}
	n := startNative(t, nativeSetup{servers: []*smtptest.Server{srv}}, logs, "be")
	n.SetTakeover(true)
	n.SetTakeover(true)
	n.Handle(downEvent(1, "be", "s1"))
	n.Handle(downEvent(2, "be", "s2"))
	n.SetTakeover(false)
	n.Handle(downEvent(3, "be", "marker")) // same pipeline: it would come after the others
	mails := srv.WaitMails(1)
	if got := subjects(mails); len(got) != 1 || !strings.Contains(got[0], "be/marker") {
		t.Errorf("mails during takeover: %q", got)
	}
	if c := strings.Count(logs.String(), "took over"); c != 1 {
		t.Errorf("takeover logged %d times:\n%s", c, logs)
	}
}

// email-alert group-wait: one mail per backend per window.
func TestNativeGroupWait(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	n := startNative(t, nativeSetup{groupWait: 300 * time.Millisecond, servers: []*smtptest.Server{srv}}, nil, "be", "be2")
	n.Handle(downEvent(1, "be", "s1"))
	n.Handle(downEvent(2, "be", "s2"))
	n.Handle(downEvent(3, "be2", "s1"))
	mails := srv.WaitMails(2)
	var be, be2 *smtptest.Mail
	for i := range mails {
		if strings.Contains(mails[i].Subject, "be2/") {
			be2 = &mails[i]
		} else {
			be = &mails[i]
		}
	}
	if be == nil || be2 == nil {
		t.Fatalf("mails %q", subjects(mails))
	}
	lines := strings.Split(strings.TrimSpace(be.Body), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "Server be/s1 is DOWN") || !strings.HasPrefix(lines[1], "Server be/s2 is DOWN") ||
		!strings.HasSuffix(be.Subject, "(+1 more)") {
		t.Errorf("be mail %q:\n%s", be.Subject, be.Body)
	}
	if n := len(n.Pipelines()); n != 1 {
		t.Errorf("%d pipelines for identical settings, want 1", n)
	}
}

// Ten flaps of one server give a handful of mails, one of them "flapping".
func TestNativeFlapping(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	n := startNative(t, nativeSetup{servers: []*smtptest.Server{srv},
		flap: &FlapPolicy{Changes: 4, Window: time.Minute, Settle: time.Hour}}, nil, "be")
	seq := uint64(0)
	for range 10 {
		seq++
		n.Handle(downEvent(seq, "be", "s1"))
		seq++
		n.Handle(upEvent(seq, "be", "s1"))
	}
	n.Handle(downEvent(100, "be", "marker"))
	waitFor(t, "marker mail", func() bool {
		m := srv.Received()
		return len(m) > 0 && strings.Contains(m[len(m)-1].Subject, "be/marker")
	})
	got := subjects(srv.Received())
	flapping := 0
	for _, s := range got {
		if strings.Contains(s, "be/s1 is flapping") {
			flapping++
		}
	}
	if flapping != 1 || len(got) != 4 {
		t.Errorf("mails %q: want DOWN, DOWN, flapping, marker", got)
	}
}

func TestNewNativeConfig(t *testing.T) {
	cfg := nativeConfig(nativeSetup{}, "be")
	cfg.Proxies[0].EmailAlert.Mailers = "missing"
	if _, err := NewNative(cfg, NativeOptions{}); err == nil || !strings.Contains(err.Error(), "no such mailers section") {
		t.Errorf("missing section: %v", err)
	}
	cfg = nativeConfig(nativeSetup{level: "loud"}, "be")
	if _, err := NewNative(cfg, NativeOptions{}); err == nil {
		t.Error("bad level accepted")
	}
	cfg = nativeConfig(nativeSetup{}, "be")
	cfg.Proxies[0].EmailAlert.To = ""
	n, err := NewNative(cfg, NativeOptions{})
	if err != nil || n.Enabled() {
		t.Errorf("email-alert without to: enabled=%v err=%v", n.Enabled(), err)
	}
	n, err = NewNative(nil, NativeOptions{})
	if err != nil || n.Enabled() {
		t.Error("nil config")
	}
	n.Handle(downEvent(1, "be", "s1")) // no backends: nothing happens
}
