package moonbus

import (
	"context"
	"errors"
	"fmt"
	"io"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/handlers"
	"moonbus/mailers"
)

// alerts are the bus consumers that tell people: the native mailer and the
// webhooks. They are rebuilt on reload (the old ones finish their queues).
type alerts struct {
	native   *mailers.Native
	webhooks []*handlers.Webhook
	subs     []*bus.Subscription
}

// newAlerts builds the alert consumers of a configuration.
func (d *Daemon) newAlerts(cfg *config.Config) (*alerts, error) {
	a := &alerts{}
	n, err := mailers.NewNative(cfg, mailers.NativeOptions{Logger: d.log})
	if err != nil {
		return nil, fmt.Errorf("mailers: %w", err)
	}
	if n.Enabled() {
		a.native = n
	}
	for _, w := range cfg.Webhooks {
		wh, err := handlers.NewWebhook(w, handlers.WebhookOptions{Logger: d.log})
		if err != nil {
			return nil, &config.Error{Pos: w.Pos, Msg: fmt.Sprintf("webhook '%s' : %v", w.Name, err)}
		}
		a.webhooks = append(a.webhooks, wh)
	}
	return a, nil
}

// start subscribes the consumers to the bus. State followers coalesce per
// server instead of dropping events (DESIGN §4.3).
func (a *alerts) start(ctx context.Context, b *bus.Bus, takeover bool) error {
	if a.native != nil {
		a.native.SetTakeover(takeover)
		if err := a.native.Start(ctx); err != nil {
			return err
		}
		a.subs = append(a.subs, b.Subscribe("mailers", bus.Filter{Types: []bus.Type{bus.ServerUp, bus.ServerDown, bus.ServerAdmin, bus.ServerCheck}}, bus.Coalesce, a.native.Handle))
	}
	for _, w := range a.webhooks {
		if err := w.Start(ctx); err != nil {
			return err
		}
		a.subs = append(a.subs, b.Subscribe(w.Target(), bus.Filter{}, bus.Coalesce, w.Handle))
	}
	return nil
}

// unsubscribe stops feeding the consumers (reload: the new ones take over).
func (a *alerts) unsubscribe() {
	for _, s := range a.subs {
		s.Unsub()
	}
}

// stop unsubscribes and drains the pipelines until ctx is done.
func (a *alerts) stop(ctx context.Context) error {
	a.unsubscribe()
	var errs []error
	if a.native != nil {
		errs = append(errs, a.native.Stop(ctx))
	}
	for _, w := range a.webhooks {
		errs = append(errs, w.Stop(ctx))
	}
	return errors.Join(errs...)
}

// pipelines returns every alert pipeline (for "show alerts").
func (a *alerts) pipelines() []*mailers.Pipeline {
	var out []*mailers.Pipeline
	if a.native != nil {
		out = append(out, a.native.Pipelines()...)
	}
	for _, w := range a.webhooks {
		out = append(out, w.Pipeline())
	}
	return out
}

// ShowAlerts writes the recent alerts of every sender (runtime API
// "show alerts [<n>]").
func (d *Daemon) ShowAlerts(w io.Writer, n int) error {
	d.mu.Lock()
	a := d.alerts
	d.mu.Unlock()
	if a == nil {
		return mailers.ShowAlerts(w, n)
	}
	return mailers.ShowAlerts(w, n, a.pipelines()...)
}
