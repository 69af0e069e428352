package mailers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"moonbus/mailers/mailerstest"
)

// recSender is a Sender at the edge of the pipeline: it records every
// attempt and lets the test decide its outcome.
type recSender struct {
	name string
	// fail decides the outcome of attempt number n (0-based, over all
	// batches); nil means success.
	fail func(n int, batch []*Alert) (bool, error)

	mu       sync.Mutex
	n        int
	attempts []time.Time
	got      [][]*Alert // successful batches, in order
}

func (s *recSender) Target() string { return s.name }

func (s *recSender) Send(_ context.Context, b []*Alert) (bool, error) {
	s.mu.Lock()
	n := s.n
	s.n++
	s.attempts = append(s.attempts, time.Now())
	s.mu.Unlock()
	if s.fail != nil {
		if retry, err := s.fail(n, b); err != nil {
			return retry, err
		}
	}
	s.mu.Lock()
	s.got = append(s.got, b)
	s.mu.Unlock()
	return false, nil
}

func (s *recSender) batches() [][]*Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]*Alert(nil), s.got...)
}

func (s *recSender) texts() []string {
	var out []string
	for _, b := range s.batches() {
		for _, a := range b {
			out = append(out, a.Text)
		}
	}
	return out
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func startPipeline(t *testing.T, o Options) *Pipeline {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := New(o)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Stop(ctx)
	})
	return p
}

func stateAlert(subject, state string, i int) *Alert {
	return &Alert{Key: "be", Subject: subject, State: state, Kind: "SERVER_" + state,
		Text: fmt.Sprintf("%s %s #%d", subject, state, i), Level: LevelAlert}
}

func TestPipelineDeliversInOrder(t *testing.T) {
	s := &recSender{name: "t"}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s}})
	for i := range 50 {
		p.Submit(&Alert{Key: "be", Text: fmt.Sprint(i)})
	}
	waitFor(t, "50 alerts", func() bool { return len(s.texts()) == 50 })
	for i, txt := range s.texts() {
		if txt != fmt.Sprint(i) {
			t.Fatalf("alert %d is %q: out of order", i, txt)
		}
	}
	if c := p.Counters(); c.Sent != 50 || c.Failed != 0 || c.Retried != 0 {
		t.Errorf("counters %+v", c)
	}
}

// A batch that fails is retried before the next one is tried: nothing is
// lost, duplicated or reordered.
func TestPipelineRetryKeepsOrder(t *testing.T) {
	s := &recSender{name: "t", fail: func(n int, _ []*Alert) (bool, error) {
		if n < 2 {
			return true, errors.New("451 try later")
		}
		return false, nil
	}}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s},
		Retry: RetryPolicy{Attempts: 5, Base: 20 * time.Millisecond}})
	p.Submit(stateAlert("be/s1", StateDown, 1))
	p.Submit(stateAlert("be/s1", StateUp, 2))
	p.Submit(stateAlert("be/s1", StateDown, 3))
	waitFor(t, "3 alerts", func() bool { return len(s.texts()) == 3 })
	want := []string{"be/s1 DOWN #1", "be/s1 UP #2", "be/s1 DOWN #3"}
	if got := s.texts(); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("delivered %q, want %q", got, want)
	}
	if c := p.Counters(); c.Sent != 3 || c.Retried != 2 || c.Failed != 0 {
		t.Errorf("counters %+v", c)
	}
	recs := p.Records(0)
	if len(recs) != 3 || recs[0].Attempts != 3 || recs[0].Status != StatusSent || recs[1].Attempts != 1 {
		t.Errorf("records %+v", recs)
	}
}

func TestPipelineGivesUp(t *testing.T) {
	s := &recSender{name: "t", fail: func(n int, b []*Alert) (bool, error) {
		if b[0].Text == "bad" {
			return n == 0, errors.New("550 no such user")
		}
		return false, nil
	}}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s},
		Retry: RetryPolicy{Attempts: 3, Base: time.Millisecond}})
	p.Submit(&Alert{Text: "bad"})
	p.Submit(&Alert{Text: "good"})
	waitFor(t, "good alert", func() bool { return len(s.texts()) == 1 })
	waitFor(t, "records", func() bool { return len(p.Records(0)) == 2 })
	recs := p.Records(0)
	if recs[0].Status != StatusFailed || recs[0].Attempts != 2 || !strings.Contains(recs[0].Error, "550") {
		t.Errorf("failed record %+v", recs[0])
	}
	if c := p.Counters(); c.Failed != 1 || c.Sent != 1 || c.Retried != 1 {
		t.Errorf("counters %+v", c)
	}
}

func TestPipelineRetryAfter(t *testing.T) {
	const wait = 300 * time.Millisecond
	s := &recSender{name: "t", fail: func(n int, _ []*Alert) (bool, error) {
		if n == 0 {
			return true, &RetryAfterError{After: wait, Err: errors.New("429 Too Many Requests")}
		}
		return false, nil
	}}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s},
		Retry: RetryPolicy{Attempts: 3, Base: time.Millisecond}})
	p.Submit(&Alert{Text: "x"})
	waitFor(t, "delivery", func() bool { return len(s.texts()) == 1 })
	s.mu.Lock()
	gap := s.attempts[1].Sub(s.attempts[0])
	s.mu.Unlock()
	if gap < wait {
		t.Errorf("retried after %s, before the %s the target asked for", gap, wait)
	}
}

func TestPipelineGroupWait(t *testing.T) {
	s := &recSender{name: "t"}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s}, GroupWait: 200 * time.Millisecond})
	for i := range 5 {
		p.Submit(&Alert{Key: "be1", Text: fmt.Sprint("a", i)})
	}
	p.Submit(&Alert{Key: "be2", Text: "b0"})
	waitFor(t, "2 batches", func() bool { return len(s.batches()) == 2 })
	for _, b := range s.batches() {
		switch b[0].Key {
		case "be1":
			if len(b) != 5 || b[0].Text != "a0" || b[4].Text != "a4" {
				t.Errorf("be1 batch: %d alerts", len(b))
			}
		case "be2":
			if len(b) != 1 {
				t.Errorf("be2 batch: %d alerts", len(b))
			}
		}
	}
	// A later alert opens a new window.
	p.Submit(&Alert{Key: "be1", Text: "late"})
	waitFor(t, "3rd batch", func() bool { return len(s.batches()) == 3 })
	if r := p.Records(0); r[0].Alerts+r[1].Alerts != 6 || !strings.Contains(r[0].Text+r[1].Text, "(+4 more)") {
		t.Errorf("records %+v", r)
	}
}

func TestPipelineDedup(t *testing.T) {
	s := &recSender{name: "t"}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s}})
	p.Submit(&Alert{ID: "lb1/7/SERVER_DOWN", Text: "one"})
	p.Submit(&Alert{ID: "lb1/7/SERVER_DOWN", Text: "one again"})
	p.Submit(&Alert{ID: "lb1/8/SERVER_UP", Text: "two"})
	waitFor(t, "records", func() bool { return len(p.Records(0)) == 3 })
	if got := s.texts(); len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Errorf("delivered %q", got)
	}
	if c := p.Counters(); c.Suppressed != 1 {
		t.Errorf("counters %+v", c)
	}
}

// Ten flaps (twenty state changes) in quick succession give the first
// changes, one FLAPPING alert, silence, then one SETTLED alert with the
// final state.
func TestPipelineFlapDamping(t *testing.T) {
	s := &recSender{name: "t"}
	pol := FlapPolicy{Changes: 4, Window: time.Minute, Settle: 300 * time.Millisecond}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s}, Flap: pol})
	for i := range 10 {
		p.Submit(stateAlert("be/s1", StateDown, 2*i))
		p.Submit(stateAlert("be/s1", StateUp, 2*i+1))
	}
	p.Submit(stateAlert("be/s2", StateDown, 0)) // another server is not affected
	waitFor(t, "settled alert", func() bool {
		for _, b := range s.batches() {
			if b[0].Kind == KindSettled {
				return true
			}
		}
		return false
	})
	var flapping, settled, normal int
	for _, b := range s.batches() {
		for _, a := range b {
			switch a.Kind {
			case KindFlapping:
				flapping++
				if a.Changes != 5 || !strings.Contains(a.Text, "be/s1 is flapping") {
					t.Errorf("flapping alert %+v", a)
				}
			case KindSettled:
				settled++
				if a.State != StateUp || a.Changes != 16 || !strings.Contains(a.Text, "now UP") {
					t.Errorf("settled alert %+v", a)
				}
			default:
				normal++
			}
		}
	}
	if flapping != 1 || settled != 1 || normal != 5 {
		t.Errorf("flapping=%d settled=%d normal=%d, want 1, 1, 5 (4 of be/s1, 1 of be/s2); got %q",
			flapping, settled, normal, s.texts())
	}
	if c := p.Counters(); c.Suppressed != 16 {
		t.Errorf("suppressed = %d, want 16", c.Suppressed)
	}
}

// Observed alerts (filtered out, e.g. UP below the mail level) still count
// as state changes, so a server flapping while only its DOWNs are mailed is
// damped too.
func TestPipelineObserveCountsForFlapping(t *testing.T) {
	s := &recSender{name: "t"}
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s},
		Flap: FlapPolicy{Changes: 4, Window: time.Minute, Settle: time.Hour},
		Filter: func(a *Alert) Verdict {
			if a.State == StateUp {
				return Observe
			}
			return Deliver
		}})
	for i := range 10 {
		p.Submit(stateAlert("be/s1", StateDown, 2*i))
		p.Submit(stateAlert("be/s1", StateUp, 2*i+1))
	}
	p.Submit(&Alert{Text: "marker"})
	waitFor(t, "marker", func() bool {
		txt := s.texts()
		return len(txt) > 0 && txt[len(txt)-1] == "marker"
	})
	got := s.texts()
	want := []string{"be/s1 DOWN #0", "be/s1 DOWN #2", got[2], "marker"}
	if len(got) != 4 || got[0] != want[0] || got[1] != want[1] || !strings.Contains(got[2], "flapping") {
		t.Errorf("delivered %q", got)
	}
}

func TestPipelineStopFlushesGroups(t *testing.T) {
	s := &recSender{name: "t"}
	p := New(Options{Name: "p", Senders: []Sender{s}, GroupWait: time.Hour, Logger: slog.New(slog.DiscardHandler)})
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	p.Submit(&Alert{Key: "be", Text: "pending"})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := s.texts(); len(got) != 1 {
		t.Errorf("delivered %q after Stop", got)
	}
	p.Submit(&Alert{Text: "after stop"}) // dropped, no panic
}

func TestPipelineStopAbandonsRetries(t *testing.T) {
	s := &recSender{name: "t", fail: func(int, []*Alert) (bool, error) { return true, errors.New("down") }}
	p := New(Options{Name: "p", Senders: []Sender{s}, Logger: slog.New(slog.DiscardHandler),
		Retry: RetryPolicy{Attempts: 100, Base: time.Hour}})
	p.Start(context.Background())
	p.Submit(&Alert{Text: "x"})
	waitFor(t, "first attempt", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.n > 0 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Stop = %v", err)
	}
	r := p.Records(0)
	if len(r) != 1 || r[0].Status != StatusFailed || !strings.Contains(r[0].Error, "stopped") {
		t.Errorf("records %+v", r)
	}
}

func TestShowAlertsFormatAndRedaction(t *testing.T) {
	const secret = "hunter2-very-secret"
	s := &recSender{name: "webhook/ops", fail: func(n int, _ []*Alert) (bool, error) {
		if n == 0 {
			return false, fmt.Errorf("POST https://h/x?token=%s: 401", secret)
		}
		return false, nil
	}}
	var logs bytes.Buffer
	p := startPipeline(t, Options{Name: "p", Senders: []Sender{s}, Secrets: []string{secret},
		Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	p.Submit(&Alert{Kind: "SERVER_DOWN", Text: "Server be/s1 is DOWN"})
	p.Submit(&Alert{Kind: "SERVER_UP", Text: `Server be/s1 is "UP"`})
	waitFor(t, "records", func() bool { return len(p.Records(0)) == 2 })
	var out bytes.Buffer
	if err := p.ShowAlerts(&out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || lines[0] != ShowAlertsHeader {
		t.Fatalf("show alerts:\n%s", out.String())
	}
	f := strings.Fields(lines[1])
	if _, err := time.Parse(time.RFC3339, f[0]); err != nil || f[1] != "webhook/ops" || f[2] != "failed" ||
		f[3] != "1" || f[4] != "1" || f[5] != "SERVER_DOWN" || !strings.Contains(lines[1], `"Server be/s1 is DOWN"`) ||
		!strings.Contains(lines[1], Redacted) {
		t.Errorf("failed line: %s", lines[1])
	}
	if !strings.HasSuffix(lines[2], ` sent 1 1 SERVER_UP "Server be/s1 is \"UP\"" ""`) {
		t.Errorf("sent line: %s", lines[2])
	}
	mailerstest.AssertNoSecretLeak(t, []string{secret}, out.String(), logs.String())
	// Merged view over several pipelines.
	out.Reset()
	ShowAlerts(&out, 1, p)
	if n := strings.Count(out.String(), "\n"); n != 2 {
		t.Errorf("show alerts 1: %d lines", n)
	}
}

func TestRedactor(t *testing.T) {
	r := NewRedactor("s3cr3t pass", "ab", "")
	got := r.String("x s3cr3t pass y s3cr3t+pass z czNjcjN0IHBhc3M= ab")
	if strings.Contains(got, "s3cr3t") || strings.Contains(got, "czNjcjN0") || !strings.HasSuffix(got, " ab") {
		t.Errorf("redacted: %q", got)
	}
	if (*Redactor)(nil).String("x") != "x" {
		t.Error("nil redactor")
	}
}

func TestBackoff(t *testing.T) {
	pol := RetryPolicy{Attempts: 10, Base: 100 * time.Millisecond, Max: time.Second}.withDefaults()
	for n, max := range map[int]time.Duration{1: 100, 2: 200, 3: 400, 4: 800, 5: 1000, 9: 1000} {
		max *= time.Millisecond
		for range 20 {
			d := backoff(pol, n)
			if d < max/2 || d > max {
				t.Fatalf("backoff(%d) = %s, want within [%s, %s]", n, d, max/2, max)
			}
		}
	}
}
