package mailers

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"moonbus/bus"
	"moonbus/config"
)

// DefaultMailRetry is the retry policy of native mail: 5 attempts, waits of
// about 1s, 2s, 4s, 8s.
var DefaultMailRetry = RetryPolicy{Attempts: 5, Base: time.Second, Max: time.Minute}

// NativeOptions tune a Native beyond what the configuration says.
type NativeOptions struct {
	// Logger receives HAProxy's warnings and the pipeline's notices.
	Logger *slog.Logger
	// TLSConfig is the base TLS configuration for starttls/implicit mailers.
	TLSConfig *tls.Config
	// Flap overrides DefaultFlapPolicy (a zero Changes disables damping).
	Flap *FlapPolicy
	// Retry overrides DefaultMailRetry when Attempts > 0.
	Retry RetryPolicy
}

// Native is HAProxy's native mailer (reference §7) on the alert pipeline:
// for every backend whose email-alert mailers, from and to are all set, it
// turns the backend's server events into mails (NativeMessage decides which,
// at which level, with which text), keeps those at or below `email-alert
// level`, groups them per backend for `email-alert group-wait`, and sends
// them to every mailer of the section. Feed it SERVER_UP, SERVER_DOWN,
// SERVER_ADMIN and SERVER_CHECK events with Handle; it ignores the others.
type Native struct {
	log       *slog.Logger
	backends  map[string]*nativeProxy
	pipelines []*Pipeline
	takeover  atomic.Bool

	mu     sync.Mutex
	checks map[string]checkSeen
}

type nativeProxy struct {
	logHealth bool
	p         *Pipeline
}

type checkSeen struct {
	cur    int
	short  string
	result string
}

// nativeKey is what makes two proxies share one pipeline.
type nativeKey struct {
	section, from, to, host, prefix string
	groupWait                       time.Duration
	level                           int
}

// NewNative builds the native mailer from the configuration: every backend
// (or listen) proxy's EmailAlert settings and the mailers sections. Backends
// with identical settings share one pipeline; within it each backend is its
// own group. It is an error for an enabled email-alert to name a missing
// mailers section or an unknown level, or for a mailer line to be invalid.
func NewNative(cfg *config.Config, opts NativeOptions) (*Native, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	flap := DefaultFlapPolicy
	if opts.Flap != nil {
		flap = *opts.Flap
	}
	retry := DefaultMailRetry
	if opts.Retry.Attempts > 0 {
		retry = opts.Retry
	}
	n := &Native{log: log, backends: map[string]*nativeProxy{}, checks: map[string]checkSeen{}}
	if cfg == nil {
		return n, nil
	}
	sections := map[string]*config.Mailers{}
	for _, m := range cfg.Mailers {
		sections[m.Name] = m
	}
	byKey := map[nativeKey]*Pipeline{}
	var errs []error
	for _, px := range cfg.Proxies {
		ea := px.EmailAlert
		if !px.IsBackend() || ea.Mailers == "" || ea.From == "" || ea.To == "" {
			continue
		}
		sec := sections[ea.Mailers]
		if sec == nil {
			errs = append(errs, fmt.Errorf("proxy %s: email-alert mailers %s: no such mailers section", px.Name, ea.Mailers))
			continue
		}
		level, err := ParseLevel(ea.Level)
		if err != nil {
			errs = append(errs, fmt.Errorf("proxy %s: email-alert level: %w", px.Name, err))
			continue
		}
		key := nativeKey{ea.Mailers, ea.From, ea.To, ea.MyHostname, ea.SubjectPrefix, ea.GroupWait, level}
		p := byKey[key]
		if p == nil {
			var senders []Sender
			var secrets []string
			for _, m := range sec.Mailers {
				s, err := NewSMTPSender(SMTPOptions{
					Section: sec.Name, Mailer: m, Timeout: sec.Timeout,
					From: ea.From, To: ea.To, MyHostname: ea.MyHostname, SubjectPrefix: ea.SubjectPrefix,
					TLSConfig: opts.TLSConfig, Logger: log,
				})
				if err != nil {
					errs = append(errs, fmt.Errorf("mailers %s: %w", sec.Name, err))
					continue
				}
				senders = append(senders, s)
				secrets = append(secrets, m.Password)
			}
			lvl := level
			p = New(Options{
				Name:      "mailers/" + sec.Name + "@" + px.Name,
				Senders:   senders,
				Filter:    func(a *Alert) Verdict { return levelVerdict(a, lvl) },
				GroupWait: ea.GroupWait,
				Flap:      flap,
				Retry:     retry,
				Secrets:   secrets,
				Logger:    log,
			})
			byKey[key] = p
			n.pipelines = append(n.pipelines, p)
		}
		n.backends[px.Name] = &nativeProxy{logHealth: px.LogHealthChecks, p: p}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return n, nil
}

// levelVerdict is the email-alert level filter: an alert is sent when its
// level number is at most the configured one; others are only observed.
func levelVerdict(a *Alert, limit int) Verdict {
	if a.Level <= limit {
		return Deliver
	}
	return Observe
}

// Enabled reports whether at least one backend has email alerts.
func (n *Native) Enabled() bool { return len(n.backends) > 0 }

// SetTakeover tells Native that a Lua script called
// core.disable_legacy_mailers() or core.use_native_mailers_config(): from
// then on it stays quiet (it says so once in the log), so that the script's
// mails are not doubled. SetTakeover(false) turns it back on.
func (n *Native) SetTakeover(on bool) {
	if n.takeover.Swap(on) == on || !on {
		return
	}
	if n.Enabled() {
		n.log.Info("email-alert: a Lua script took over the mailers (core.disable_legacy_mailers or core.use_native_mailers_config); the native mailer stays quiet")
	}
}

// Handle turns one bus event into a mail alert, if it calls for one. It
// never blocks; call it from the bus delivery goroutine.
func (n *Native) Handle(e *bus.Event) {
	if e == nil || e.Server == nil || n.takeover.Load() {
		return
	}
	np := n.backends[e.Server.ProxyName]
	if np == nil {
		return
	}
	if e.Type == bus.ServerCheck {
		if !np.logHealth || e.Check == nil || !n.checkChanged(e) {
			return
		}
	}
	msg, level, ok := NativeMessage(e, np.logHealth)
	if !ok {
		return
	}
	a := &Alert{
		Key:     e.Server.ProxyName,
		Subject: serverName(e),
		ID:      EventID(e),
		Kind:    e.Type.String(),
		Level:   level,
		Text:    msg,
		Event:   e,
	}
	switch e.Type {
	case bus.ServerUp:
		a.State = StateUp
	case bus.ServerDown:
		a.State = StateDown
	}
	np.p.Submit(a)
}

// checkChanged reports whether a SERVER_CHECK event changes the health
// counter or the check status of its server (log-health-checks logs only
// those).
func (n *Native) checkChanged(e *bus.Event) bool {
	c := e.Check
	now := checkSeen{c.Health.Cur, c.Reason.Short, c.Result}
	key := serverName(e)
	if c.Agent {
		key += "#agent"
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	prev, seen := n.checks[key]
	n.checks[key] = now
	return !seen || prev != now
}

// Start starts every pipeline.
func (n *Native) Start(ctx context.Context) error {
	for _, p := range n.pipelines {
		if err := p.Start(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every pipeline, delivering what is queued until ctx ends.
func (n *Native) Stop(ctx context.Context) error {
	var errs []error
	for _, p := range n.pipelines {
		if err := p.Stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// Pipelines returns the pipelines, for `show alerts` and metrics.
func (n *Native) Pipelines() []*Pipeline { return n.pipelines }

// Counters returns the totals of every pipeline.
func (n *Native) Counters() Counters {
	var c Counters
	for _, p := range n.pipelines {
		c = c.Add(p.Counters())
	}
	return c
}

// ShowAlerts writes the records of every pipeline in the `show alerts`
// format (see WriteRecords); n <= 0 means all.
func (n *Native) ShowAlerts(w io.Writer, last int) error {
	return ShowAlerts(w, last, n.pipelines...)
}
