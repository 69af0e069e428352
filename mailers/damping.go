package mailers

import (
	"fmt"
	"time"
)

// The dedup stage remembers the last dedupSize alert IDs, each for
// DedupWindow: an event delivered twice within that time is suppressed, while
// a sequence number reused much later (a restarted bus) is not.
const (
	dedupSize   = 4096
	DedupWindow = 10 * time.Minute
)

// Suppression reasons, as recorded in Record.Error.
const (
	ReasonDuplicate = "duplicate"
	ReasonFlapping  = "flapping"
)

// damper is the dedup and flap-damping stage. It is owned by the pipeline
// goroutine and needs no lock.
type damper struct {
	policy FlapPolicy

	ids   map[string]time.Time
	order []string // ring of remembered IDs
	pos   int

	subjects  map[string]*subject
	nflap     int       // subjects flapping now
	lastSweep time.Time // last time quiet subjects were forgotten
}

type subject struct {
	key        string
	state      string      // last observed StateUp/StateDown
	changes    []time.Time // state changes within the window
	last       time.Time   // time of the last state change
	flapping   bool
	suppressed int
	event      *Alert // last alert seen, for the settled alert
}

func newDamper(p FlapPolicy) *damper {
	if p.Changes > 0 {
		if p.Window <= 0 {
			p.Window = DefaultFlapPolicy.Window
		}
		if p.Settle <= 0 {
			p.Settle = p.Window
		}
	}
	return &damper{
		policy:   p,
		ids:      map[string]time.Time{},
		order:    make([]string, dedupSize),
		subjects: map[string]*subject{},
	}
}

// seen reports whether id was seen within DedupWindow before now,
// remembering it otherwise.
func (d *damper) seen(id string, now time.Time) bool {
	if t, ok := d.ids[id]; ok {
		if now.Sub(t) < DedupWindow {
			return true
		}
		d.ids[id] = now
		return false
	}
	if old := d.order[d.pos]; old != "" {
		delete(d.ids, old)
	}
	d.order[d.pos] = id
	d.pos = (d.pos + 1) % len(d.order)
	d.ids[id] = now
	return false
}

// process runs one alert through dedup and damping. It returns the alerts to
// deliver in its place (none, itself, or a KindFlapping alert) and, when the
// alert itself is withheld, the reason.
func (d *damper) process(a *Alert) (out []*Alert, reason string) {
	if a.ID != "" && d.seen(a.ID, a.Time) {
		return nil, ReasonDuplicate
	}
	if d.policy.Changes <= 0 || a.Subject == "" {
		if a.observeOnly {
			return nil, ""
		}
		return []*Alert{a}, ""
	}
	s := d.subjects[a.Subject]
	if s == nil {
		s = &subject{key: a.Key}
		d.subjects[a.Subject] = s
	}
	s.event = a
	if a.State != "" && a.State != s.state {
		s.state = a.State
		s.last = a.Time
		cut := a.Time.Add(-d.policy.Window)
		kept := s.changes[:0]
		for _, t := range s.changes {
			if t.After(cut) {
				kept = append(kept, t)
			}
		}
		s.changes = append(kept, a.Time)
		if !s.flapping && len(s.changes) > d.policy.Changes {
			s.flapping = true
			d.nflap++
			s.suppressed = 0
			if !a.observeOnly {
				s.suppressed = 1
			}
			return []*Alert{d.flapAlert(a, len(s.changes))}, ReasonFlapping
		}
	}
	if s.flapping {
		if a.observeOnly {
			return nil, ""
		}
		s.suppressed++
		return nil, ReasonFlapping
	}
	if a.observeOnly {
		return nil, ""
	}
	return []*Alert{a}, ""
}

func (d *damper) flapAlert(a *Alert, changes int) *Alert {
	return &Alert{
		Key:     a.Key,
		Subject: a.Subject,
		Kind:    KindFlapping,
		Level:   LevelAlert,
		Text: fmt.Sprintf("Server %s is flapping: %d state changes within %s, alerts held back until it is stable for %s",
			a.Subject, changes, d.policy.Window, d.policy.Settle),
		Event:   a.Event,
		Changes: changes,
		Time:    a.Time,
	}
}

// nextSettle returns when the earliest flapping subject may settle.
func (d *damper) nextSettle() (time.Time, bool) {
	var next time.Time
	if d.nflap == 0 {
		return next, false
	}
	for _, s := range d.subjects {
		if s.flapping {
			t := s.last.Add(d.policy.Settle)
			if next.IsZero() || t.Before(next) {
				next = t
			}
		}
	}
	return next, !next.IsZero()
}

// settle ends the flapping episodes that have been quiet for Settle and
// returns one KindSettled alert for each. It also forgets subjects that have
// been quiet for a whole window, so the map does not grow without bound.
func (d *damper) settle(now time.Time) []*Alert {
	if d.policy.Changes <= 0 {
		return nil
	}
	sweep := len(d.subjects) > 1024 && now.Sub(d.lastSweep) > d.policy.Window
	if d.nflap == 0 && !sweep {
		return nil
	}
	if sweep {
		d.lastSweep = now
	}
	var out []*Alert
	for name, s := range d.subjects {
		if s.flapping {
			if now.Sub(s.last) < d.policy.Settle {
				continue
			}
			s.flapping = false
			d.nflap--
			s.changes = s.changes[:0]
			lvl := LevelNotice
			if s.state == StateDown {
				lvl = LevelAlert
			}
			a := &Alert{
				Key:     s.key,
				Subject: name,
				State:   s.state,
				Kind:    KindSettled,
				Level:   lvl,
				Text: fmt.Sprintf("Server %s stopped flapping and is now %s (%d alerts held back)",
					name, s.state, s.suppressed),
				Changes: s.suppressed,
				Time:    now,
			}
			if s.event != nil {
				a.Event = s.event.Event
			}
			out = append(out, a)
			continue
		}
		if sweep && now.Sub(s.last) > d.policy.Window {
			delete(d.subjects, name)
		}
	}
	return out
}
