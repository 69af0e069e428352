package mailers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Sender delivers batches of alerts to one target. The pipeline calls Send
// from one goroutine per sender, one batch at a time, in order.
type Sender interface {
	// Target names the destination in records and logs, without secrets
	// ("webhook/ops", "mailers/m1/smtp1").
	Target() string
	// Send delivers one batch: one alert, or several when group-wait
	// gathered them. On failure it reports whether another attempt could
	// succeed; an error wrapping *RetryAfterError asks for that delay before
	// the next attempt. ctx is cancelled when the pipeline is stopped.
	Send(ctx context.Context, batch []*Alert) (retry bool, err error)
}

// FlapPolicy configures flap damping. The rule: when a subject (a server)
// changes operational state more than Changes times within Window, the
// pipeline sends one KindFlapping alert instead of the alert of that change,
// then suppresses every alert of the subject until it has made no state
// change for Settle; then it sends one KindSettled alert giving the final
// state and how many alerts were held back. Changes <= 0 disables damping.
type FlapPolicy struct {
	Changes int
	Window  time.Duration
	Settle  time.Duration
}

// DefaultFlapPolicy: more than 4 state changes within a minute is flapping;
// it has settled after a minute without change.
var DefaultFlapPolicy = FlapPolicy{Changes: 4, Window: time.Minute, Settle: time.Minute}

// RetryPolicy configures the retry stage: at most Attempts tries per batch and
// target; before try n+1 the pipeline waits Base·2^(n-1), at most Max, with
// jitter (a random value between half and all of it), or longer when the
// target asked for it (Retry-After, honoured up to MaxRetryAfter).
type RetryPolicy struct {
	Attempts      int
	Base          time.Duration
	Max           time.Duration
	MaxRetryAfter time.Duration
}

func (r RetryPolicy) withDefaults() RetryPolicy {
	if r.Attempts <= 0 {
		r.Attempts = 1
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 30 * time.Second
	}
	if r.Max < r.Base {
		r.Max = r.Base
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = 5 * time.Minute
	}
	return r
}

// Options configure a Pipeline.
type Options struct {
	// Name names the pipeline in logs and in the records of suppressed
	// alerts ("webhook/ops", "mailers/m1").
	Name string
	// Senders are the targets; every batch goes to each of them, each with
	// its own ordered queue and retries.
	Senders []Sender
	// Filter decides whether an alert is delivered, only observed, or
	// dropped; nil delivers everything.
	Filter func(*Alert) Verdict
	// GroupWait batches alerts: the first alert of a key opens a window of
	// this length, and every alert of that key arriving before it closes
	// goes into the same batch. 0 sends each alert at once.
	GroupWait time.Duration
	// Flap configures flap damping (zero value: disabled).
	Flap FlapPolicy
	// Retry configures the retry stage (zero value: one attempt).
	Retry RetryPolicy
	// Records is the number of records kept for `show alerts` (default 256).
	Records int
	// QueueLimit bounds the batches waiting per target (default 1024); when
	// full, the oldest is recorded as failed and dropped.
	QueueLimit int
	// Secrets are hidden in every log line, error and record.
	Secrets []string
	// Logger receives delivery failures and suppression notices (default:
	// slog.Default()).
	Logger *slog.Logger
}

// Pipeline is the alert pipeline of DESIGN §4.5, in the alertmanager style:
//
//  1. filter: Options.Filter says Deliver, Observe or Drop.
//  2. group: with GroupWait > 0, alerts of one key are gathered for one
//     window and leave as one batch; otherwise each alert is a batch.
//  3. dedup and flap damping: an alert whose ID was already seen within
//     DedupWindow is suppressed; a flapping subject is reduced to one
//     KindFlapping alert, then silence, then one KindSettled alert
//     (FlapPolicy). Observed alerts count as state changes here and are
//     then dropped.
//  4. retry: each sender has its own queue and goroutine, and delivers its
//     batches strictly in order: a batch is retried (RetryPolicy) before the
//     next one is tried, so an UP never overtakes the DOWN it follows.
//     With a Claimer (SetClaimer: NATS alert-dedup), each alert of a batch
//     is first claimed fleet-wide; the ones another instance sends are
//     recorded as suppressed.
//  5. record: each outcome (sent, failed, suppressed) goes into a bounded
//     ring read by Records and ShowAlerts, and into the counters.
//
// Submit never blocks: stages 1–3 run on the pipeline's goroutine, stage 4
// on one goroutine per sender. Start starts them, Stop ends them.
type Pipeline struct {
	opts   Options
	log    *slog.Logger
	redact *Redactor
	rec    *ring
	count  counters

	claimer atomic.Pointer[claimerBox] // fleet dedup (SetClaimer)

	mu      sync.Mutex
	in      []*Alert
	started bool
	closed  bool
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}

	// Owned by the pipeline goroutine.
	groups map[string]*group
	damp   *damper

	targets []*target
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

type group struct {
	deadline time.Time
	alerts   []*Alert
}

// New returns a pipeline; it delivers nothing until Start.
func New(opts Options) *Pipeline {
	if opts.Records <= 0 {
		opts.Records = 256
	}
	if opts.QueueLimit <= 0 {
		opts.QueueLimit = 1024
	}
	opts.Retry = opts.Retry.withDefaults()
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Pipeline{
		opts:   opts,
		log:    log.With("alerts", opts.Name),
		redact: NewRedactor(opts.Secrets...),
		rec:    newRing(opts.Records),
		wake:   make(chan struct{}, 1),
		quit:   make(chan struct{}),
		done:   make(chan struct{}),
		groups: map[string]*group{},
	}
	p.damp = newDamper(opts.Flap)
	for _, s := range opts.Senders {
		p.targets = append(p.targets, newTarget(p, s))
	}
	return p
}

// Name returns Options.Name.
func (p *Pipeline) Name() string { return p.opts.Name }

// Submit hands an alert to the pipeline. It never blocks. Alerts submitted
// before Start wait for it; alerts submitted after Stop are dropped.
func (p *Pipeline) Submit(a *Alert) {
	if a == nil {
		return
	}
	a.Time = time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.in = append(p.in, a)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// Start starts the pipeline's goroutines. ctx bounds their lifetime as Stop
// does. Starting twice is an error.
func (p *Pipeline) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.started || p.closed {
		p.mu.Unlock()
		return errors.New("mailers: pipeline " + p.opts.Name + " already started")
	}
	p.started = true
	p.mu.Unlock()
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p.cancel = cancel
	for _, t := range p.targets {
		p.wg.Add(1)
		go t.run(sctx)
	}
	go p.run()
	go func() {
		select {
		case <-ctx.Done():
			expired, c := context.WithCancel(context.Background())
			c()
			p.Stop(expired)
		case <-p.done:
		}
	}()
	return nil
}

// Stop stops accepting alerts, sends the batches still in group-wait windows
// at once, and waits until every queued batch is delivered or ctx ends; then
// it cancels what is left (recorded as failed). It returns ctx's error if the
// queues could not be drained in time.
func (p *Pipeline) Stop(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	started := p.started
	p.mu.Unlock()
	if !started {
		return nil
	}
	close(p.quit)
	<-p.done
	finished := make(chan struct{})
	go func() { p.wg.Wait(); close(finished) }()
	var err error
	select {
	case <-finished:
	case <-ctx.Done():
		err = ctx.Err()
		p.cancel()
		<-finished
	}
	p.cancel()
	return err
}

// Records returns up to n of the most recent records, oldest first; n <= 0
// returns all that are kept.
func (p *Pipeline) Records(n int) []Record { return p.rec.last(n) }

// ShowAlerts writes this pipeline's records in the `show alerts` format (see
// WriteRecords).
func (p *Pipeline) ShowAlerts(w io.Writer) error { return WriteRecords(w, p.Records(0)) }

// Counters returns the pipeline's totals.
func (p *Pipeline) Counters() Counters { return p.count.load() }

// run is the pipeline goroutine: filter, group, dedup and damping.
func (p *Pipeline) run() {
	defer close(p.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		p.mu.Lock()
		in := p.in
		p.in = nil
		p.mu.Unlock()
		for _, a := range in {
			p.accept(a)
		}
		now := time.Now()
		next := p.flushDue(now)
		if t, ok := p.damp.nextSettle(); ok && (next.IsZero() || t.Before(next)) {
			next = t
		}
		for _, a := range p.damp.settle(now) {
			p.dispatch(a.Key, []*Alert{a})
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if !next.IsZero() {
			timer.Reset(max(time.Until(next), time.Millisecond))
		}
		select {
		case <-p.wake:
		case <-timer.C:
		case <-p.quit:
			p.mu.Lock()
			in = p.in
			p.in = nil
			p.mu.Unlock()
			for _, a := range in {
				p.accept(a)
			}
			for k, g := range p.groups {
				delete(p.groups, k)
				p.release(k, g.alerts)
			}
			for _, t := range p.targets {
				t.close()
			}
			return
		}
	}
}

// accept runs the filter and group stages for one alert.
func (p *Pipeline) accept(a *Alert) {
	v := Deliver
	if p.opts.Filter != nil {
		v = p.opts.Filter(a)
	}
	switch v {
	case Drop:
		return
	case Observe:
		if a.State == "" || a.Subject == "" || p.opts.Flap.Changes <= 0 {
			return
		}
		a.observeOnly = true
	}
	if p.opts.GroupWait <= 0 {
		p.release(a.Key, []*Alert{a})
		return
	}
	g := p.groups[a.Key]
	if g == nil {
		g = &group{deadline: a.Time.Add(p.opts.GroupWait)}
		p.groups[a.Key] = g
	}
	g.alerts = append(g.alerts, a)
}

// flushDue releases the groups whose window has closed and returns the
// earliest deadline of those still open (zero if none).
func (p *Pipeline) flushDue(now time.Time) time.Time {
	var next time.Time
	for k, g := range p.groups {
		if !g.deadline.After(now) {
			delete(p.groups, k)
			p.release(k, g.alerts)
			continue
		}
		if next.IsZero() || g.deadline.Before(next) {
			next = g.deadline
		}
	}
	return next
}

// release runs dedup and damping over a batch and dispatches what is left.
func (p *Pipeline) release(key string, batch []*Alert) {
	out := batch[:0:0]
	for _, a := range batch {
		res, reason := p.damp.process(a)
		if reason != "" && !a.observeOnly {
			p.suppress(a, reason)
		}
		out = append(out, res...)
	}
	if len(out) > 0 {
		p.dispatch(key, out)
	}
}

func (p *Pipeline) suppress(a *Alert, reason string) {
	p.count.suppressed.Add(1)
	p.rec.add(Record{
		Time: time.Now(), Target: p.opts.Name, Status: StatusSuppressed, Alerts: 1,
		Kind: a.Kind, Key: a.Key, Text: p.redact.String(a.Text), Error: reason,
	})
	p.log.Debug("alert suppressed", "reason", reason, "text", p.redact.String(a.Text))
}

func (p *Pipeline) dispatch(key string, alerts []*Alert) {
	for _, t := range p.targets {
		t.push(&batch{key: key, alerts: alerts})
	}
}

// summary describes a batch for records and logs.
func summary(alerts []*Alert) (kind, text string) {
	if len(alerts) == 0 {
		return "", ""
	}
	kind, text = alerts[0].Kind, alerts[0].Text
	if len(alerts) > 1 {
		text += " (+" + strconv.Itoa(len(alerts)-1) + " more)"
	}
	return kind, text
}
