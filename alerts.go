package moonbus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/handlers"
	"moonbus/mailers"
)

// alerts are the bus consumers that tell people or act for them: the native
// mailer, the webhooks, auto-weight and the event log. They are rebuilt on
// reload (the old ones finish their queues).
type alerts struct {
	native     *mailers.Native
	webhooks   []*handlers.Webhook
	autoWeight *handlers.AutoWeight
	eventLog   func(*bus.Event)
	subs       []*bus.Subscription
	cancel     context.CancelFunc // silences auto-weight at once (reload)
}

// newAlerts builds the consumers of a configuration.
func (d *Daemon) newAlerts(cfg *config.Config) (*alerts, error) {
	a := &alerts{}
	n, err := mailers.NewNative(cfg, mailers.NativeOptions{Logger: d.log, TLSConfig: mailTLS(cfg)})
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
	if aw := handlers.NewAutoWeight(cfg, d.Engine, handlers.AutoWeightOptions{Logger: d.log}); aw.Enabled() {
		a.autoWeight = aw
	}
	a.eventLog = d.eventLog(cfg)
	return a, nil
}

// mailTLS is the TLS configuration of the mailers' starttls/implicit
// connections: the system roots, or no verification at all with the global
// "ssl-server-verify none" (which HAProxy applies to every outgoing TLS
// connection to a server).
func mailTLS(cfg *config.Config) *tls.Config {
	if cfg.Global.SSLServerVerify == "none" {
		return &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true} //nolint:gosec // asked for by the configuration
	}
	return nil
}

// eventLog returns the handler of the global "event-log" keyword (every bus
// event as one logfmt line, handlers.FormatEvent), nil when it is not set:
// stdout and stderr write lines to the daemon's outputs, global sends them
// to the global "log" targets at handlers.EventSyslogLevel.
func (d *Daemon) eventLog(cfg *config.Config) func(*bus.Event) {
	switch cfg.Global.EventLog {
	case "stdout":
		return handlers.NewEventLog(d.opts.Stdout).Handle
	case "stderr":
		return handlers.NewEventLog(d.opts.Stderr).Handle
	case "global":
		if len(cfg.Global.Logs) == 0 {
			d.log.Warn("event-log global: the global section has no 'log' line, events are not logged")
			return nil
		}
		return handlers.NewEventSyslog(func(level int, line string) {
			if eng := d.Engine(); eng != nil {
				eng.GlobalLog(level, line)
			}
		}).Handle
	}
	return nil
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
	if aw := a.autoWeight; aw != nil {
		actx, cancel := context.WithCancel(ctx)
		a.cancel = cancel
		if err := aw.Start(actx); err != nil {
			return err
		}
		a.subs = append(a.subs, b.Subscribe("auto-weight", aw.Filter(), bus.Coalesce, aw.Handle))
	}
	if a.eventLog != nil {
		a.subs = append(a.subs, b.Subscribe("event-log", bus.Filter{}, bus.DropOldest, a.eventLog))
	}
	return nil
}

// unsubscribe stops feeding the consumers and silences auto-weight without
// waiting (reload: the new ones take over; the daemon's lock may be held).
func (a *alerts) unsubscribe() {
	for _, s := range a.subs {
		s.Unsub()
	}
	if a.cancel != nil {
		a.cancel()
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
	if a.autoWeight != nil {
		errs = append(errs, a.autoWeight.Stop(ctx))
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
