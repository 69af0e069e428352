package mailers

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// kindClaimer lets another instance send the alerts of the kinds in lost,
// and fails to decide for the kinds in broken.
type kindClaimer struct {
	lost, broken map[string]bool

	mu     sync.Mutex
	claims []string // target + " " + kind
}

func (c *kindClaimer) Claim(_ context.Context, target string, a *Alert) (bool, string, error) {
	c.mu.Lock()
	c.claims = append(c.claims, target+" "+a.Kind)
	c.mu.Unlock()
	switch {
	case c.broken[a.Kind]:
		return false, "", errors.New("not connected")
	case c.lost[a.Kind]:
		return false, "lb2", nil
	}
	return true, "lb1", nil
}

// With a Claimer, each alert of a batch is claimed per target: the alerts
// another instance sends are recorded as suppressed, the rest (and those
// that could not be claimed) are sent.
func TestPipelineClaimer(t *testing.T) {
	s := &recSender{name: "webhook/ops"}
	p := New(Options{Name: "webhook/ops", Senders: []Sender{s}, GroupWait: 50 * time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	c := &kindClaimer{lost: map[string]bool{"SERVER_UP": true}, broken: map[string]bool{"SERVER_ADMIN": true}}
	p.SetClaimer(c)
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	for _, k := range []string{"SERVER_DOWN", "SERVER_UP", "SERVER_ADMIN"} {
		p.Submit(&Alert{Kind: k, Text: k})
	}
	waitFor(t, "one batch", func() bool { return len(s.batches()) == 1 })
	if got := strings.Join(s.texts(), " "); got != "SERVER_DOWN SERVER_ADMIN" {
		t.Fatalf("sent %q", got)
	}
	var supp []Record
	for _, r := range p.Records(0) {
		if r.Status == StatusSuppressed {
			supp = append(supp, r)
		}
	}
	if len(supp) != 1 || supp[0].Kind != "SERVER_UP" || supp[0].Error != "fleet: sent by lb2" || supp[0].Target != "webhook/ops" {
		t.Fatalf("suppressed records %+v", supp)
	}
	if c := p.Counters(); c.Suppressed != 1 || c.Sent != 1 {
		t.Fatalf("counters %+v", c)
	}
	// Every alert lost: nothing is sent at all.
	p.Submit(&Alert{Kind: "SERVER_UP", Text: "up again"})
	waitFor(t, "suppressed", func() bool { return p.Counters().Suppressed == 2 })
	if n := len(s.batches()); n != 1 {
		t.Fatalf("%d batches sent", n)
	}
}
