package mailers

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"
)

// batch is what the group stage hands to each target.
type batch struct {
	key    string
	alerts []*Alert
}

// target is the retry and record stages for one sender: an ordered queue
// served by one goroutine.
type target struct {
	p    *Pipeline
	s    Sender
	name string

	mu     sync.Mutex
	queue  []*batch
	closed bool
	wake   chan struct{}
}

func newTarget(p *Pipeline, s Sender) *target {
	return &target{p: p, s: s, name: s.Target(), wake: make(chan struct{}, 1)}
}

func (t *target) push(b *batch) {
	t.mu.Lock()
	var dropped *batch
	if len(t.queue) >= t.p.opts.QueueLimit {
		dropped = t.queue[0]
		t.queue = t.queue[1:]
	}
	t.queue = append(t.queue, b)
	t.mu.Unlock()
	if dropped != nil {
		t.record(dropped, StatusFailed, 0, "queue full: dropped to make room for newer alerts")
		t.p.count.failed.Add(1)
		t.p.log.Warn("alert queue full, oldest batch dropped", "target", t.name)
	}
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

func (t *target) close() {
	t.mu.Lock()
	t.closed = true
	t.mu.Unlock()
	select {
	case t.wake <- struct{}{}:
	default:
	}
}

// pop returns the next batch, waiting for one; false once the target is
// closed and drained.
func (t *target) pop() (*batch, bool) {
	for {
		t.mu.Lock()
		if len(t.queue) > 0 {
			b := t.queue[0]
			t.queue[0] = nil
			t.queue = t.queue[1:]
			t.mu.Unlock()
			return b, true
		}
		closed := t.closed
		t.mu.Unlock()
		if closed {
			return nil, false
		}
		<-t.wake
	}
}

func (t *target) run(ctx context.Context) {
	defer t.p.wg.Done()
	for {
		b, ok := t.pop()
		if !ok {
			return
		}
		t.deliver(ctx, b)
	}
}

// deliver sends one batch, retrying as the policy allows, and records the
// outcome. It returns only when the batch is sent or given up, which is what
// keeps a target's batches in order.
func (t *target) deliver(ctx context.Context, b *batch) {
	if b = t.claim(ctx, b); b == nil {
		return // every alert is sent by another instance of the fleet
	}
	pol := t.p.opts.Retry
	for attempt := 1; ; attempt++ {
		if ctx.Err() != nil {
			t.fail(b, attempt-1, "not sent: alerts stopped")
			return
		}
		retry, err := t.safeSend(ctx, b)
		if err == nil {
			t.p.count.sent.Add(1)
			t.record(b, StatusSent, attempt, "")
			return
		}
		msg := t.p.redact.Error(err)
		if !retry || attempt >= pol.Attempts || ctx.Err() != nil {
			t.p.log.Warn("alert delivery failed, giving up", "target", t.name, "attempts", attempt, "error", msg)
			t.fail(b, attempt, msg)
			return
		}
		delay := backoff(pol, attempt)
		if ra := retryAfter(err); ra > delay {
			delay = min(ra, pol.MaxRetryAfter)
		}
		t.p.log.Info("alert delivery failed, will retry", "target", t.name, "attempt", attempt,
			"retry_in", delay.Round(time.Millisecond).String(), "error", msg)
		t.p.count.retried.Add(1)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			t.fail(b, attempt, msg+"; not retried: alerts stopped")
			return
		}
	}
}

// safeSend calls the sender, turning a panic into a non-retryable error.
func (t *target) safeSend(ctx context.Context, b *batch) (retry bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			t.p.log.Error("alert sender panicked", "target", t.name, "panic", t.p.redact.String(toString(r)))
			retry, err = false, errPanic
		}
	}()
	return t.s.Send(ctx, b.alerts)
}

func (t *target) fail(b *batch, attempts int, msg string) {
	t.p.count.failed.Add(1)
	t.record(b, StatusFailed, attempts, msg)
}

func (t *target) record(b *batch, status string, attempts int, errText string) {
	kind, text := summary(b.alerts)
	t.p.rec.add(Record{
		Time: time.Now(), Target: t.name, Status: status, Attempts: attempts, Alerts: len(b.alerts),
		Kind: kind, Key: b.key, Text: t.p.redact.String(text), Error: t.p.redact.String(errText),
	})
}

// backoff returns the wait before attempt n+1: Base·2^(n-1) capped at Max,
// then a random value between half and all of it.
func backoff(pol RetryPolicy, n int) time.Duration {
	d := pol.Base
	for i := 1; i < n && d < pol.Max; i++ {
		d *= 2
	}
	d = min(d, pol.Max)
	half := d / 2
	return half + rand.N(half+1)
}

type panicError struct{}

func (panicError) Error() string { return "sender panicked" }

var errPanic error = panicError{}

func toString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case error:
		return x.Error()
	}
	return "non-error panic value"
}
