package mailers

import (
	"context"
	"time"
)

// Claimer arbitrates alerts between the instances of a fleet (NATS
// `alert-dedup on`): before a target sends a batch, each of its alerts is
// claimed, and only the alerts this instance won are sent.
type Claimer interface {
	// Claim reports whether this instance sends alert a to target; when it
	// does not, owner names the instance that does. An error means no
	// decision could be made: the alert is sent anyway (fail open) and the
	// error is logged.
	Claim(ctx context.Context, target string, a *Alert) (send bool, owner string, err error)
}

// ReasonFleet is the suppression reason recorded for an alert another
// instance sends: "fleet: sent by <instance>".
const ReasonFleet = "fleet: sent by "

type claimerBox struct{ c Claimer }

// SetClaimer makes the pipeline claim every alert with c before sending it
// (nil: no claims). It may be called at any time; batches already being
// sent are not affected.
func (p *Pipeline) SetClaimer(c Claimer) {
	if c == nil {
		p.claimer.Store(nil)
		return
	}
	p.claimer.Store(&claimerBox{c})
}

// claim keeps the alerts of b this instance sends, recording the others as
// suppressed; nil when none is left.
func (t *target) claim(ctx context.Context, b *batch) *batch {
	box := t.p.claimer.Load()
	if box == nil {
		return b
	}
	kept := make([]*Alert, 0, len(b.alerts))
	for _, a := range b.alerts {
		send, owner, err := box.c.Claim(ctx, t.name, a)
		if err != nil {
			t.p.log.Warn("fleet alert dedup unavailable, sending anyway", "target", t.name, "error", t.p.redact.Error(err))
			kept = append(kept, a)
			continue
		}
		if send {
			kept = append(kept, a)
			continue
		}
		t.p.count.suppressed.Add(1)
		t.p.rec.add(Record{
			Time: time.Now(), Target: t.name, Status: StatusSuppressed, Alerts: 1,
			Kind: a.Kind, Key: a.Key, Text: t.p.redact.String(a.Text), Error: ReasonFleet + owner,
		})
		t.p.log.Debug("alert suppressed", "reason", ReasonFleet+owner, "target", t.name)
	}
	switch len(kept) {
	case 0:
		return nil
	case len(b.alerts):
		return b
	}
	return &batch{key: b.key, alerts: kept}
}
