package moonbus

import (
	"context"
	"errors"
	"strconv"
	"time"

	"moonbus/bus"
	"moonbus/bus/natsbridge"
	"moonbus/config"
	"moonbus/mailers"
	"moonbus/proxy/runtimeapi"
)

// fleet is the daemon's NATS side: one bridge per `nats` section (DESIGN
// §4.6). A reload keeps the bridges whose section did not change (and their
// connections), starts the new ones and stops the others.
type fleet struct {
	bridges []*natsbridge.Bridge
	fresh   []*natsbridge.Bridge // built for this configuration (not reused): to start
}

// busInstance is the instance name stamped on bus events: Options.Instance,
// else the first `nats` section's `instance`, else the host name (resolved
// by the caller).
func busInstance(opts Options, cfg *config.Config) string {
	if opts.Instance != "" {
		return opts.Instance
	}
	for _, n := range cfg.NATS {
		if n.Instance != "" {
			return n.Instance
		}
	}
	return ""
}

// newFleet builds the bridges of cfg, reusing those of prev whose section is
// unchanged. Nothing connects yet.
func (d *Daemon) newFleet(cfg *config.Config, prev *fleet) (*fleet, error) {
	f := &fleet{}
	for _, n := range cfg.NATS {
		if prev != nil {
			if b := prev.find(n.Name); b != nil && b.SameConfig(n, d.opts.Instance) {
				f.bridges = append(f.bridges, b)
				continue
			}
		}
		b, err := natsbridge.New(n, natsbridge.Options{
			Bus:      d.bus,
			Instance: d.opts.Instance,
			Logger:   d.log,
			Execute:  d.Execute,
		})
		if err != nil {
			return nil, &config.Error{Pos: n.Pos, Msg: err.Error()}
		}
		f.bridges = append(f.bridges, b)
		f.fresh = append(f.fresh, b)
	}
	return f, nil
}

func (f *fleet) find(name string) *natsbridge.Bridge {
	if f == nil {
		return nil
	}
	for _, b := range f.bridges {
		if b.Name() == name {
			return b
		}
	}
	return nil
}

// start starts the bridges built for this configuration. A bridge that
// cannot start is logged and skipped: the daemon serves without NATS.
func (f *fleet) start(ctx context.Context, d *Daemon) {
	for _, b := range f.fresh {
		if err := b.Start(ctx); err != nil {
			d.log.Error(err.Error())
		}
	}
	f.fresh = nil
}

// retire detaches the bridges of f that next does not keep (at once: the
// new ones take over) and returns a function that stops them.
func (f *fleet) retire(next *fleet) func(context.Context) error {
	if f == nil {
		return func(context.Context) error { return nil }
	}
	var old []*natsbridge.Bridge
	for _, b := range f.bridges {
		if next == nil || next.find(b.Name()) != b {
			b.Detach()
			old = append(old, b)
		}
	}
	return func(ctx context.Context) error {
		var errs []error
		for _, b := range old {
			errs = append(errs, b.Stop(ctx))
		}
		return errors.Join(errs...)
	}
}

// claimer returns the alert claimer of the first section with
// `alert-dedup on`, nil when there is none.
func (f *fleet) claimer() mailers.Claimer {
	if f == nil {
		return nil
	}
	for _, b := range f.bridges {
		if b.AlertDedup() {
			return fleetClaimer{b}
		}
	}
	return nil
}

// setClaimer makes every alert pipeline of a claim its alerts fleet-wide.
func (a *alerts) setClaimer(c mailers.Claimer) {
	for _, p := range a.pipelines() {
		p.SetClaimer(c)
	}
}

// fleetClaimer claims alerts in a bridge's key-value bucket.
type fleetClaimer struct{ b *natsbridge.Bridge }

// Claim implements mailers.Claimer. Alerts that say nothing about a server
// or backend are never arbitrated (sent by every instance).
func (c fleetClaimer) Claim(ctx context.Context, target string, a *mailers.Alert) (bool, string, error) {
	object, label, when, ok := alertIncident(target, a)
	if !ok {
		return true, "", nil
	}
	return c.b.Claim(ctx, object, label, when)
}

// alertIncident maps an alert to what the fleet claims: the object (target,
// server or backend, dimension) and the label of the incident in that
// dimension, at the time of the event. Dimensions follow the bus's
// coalescing slots: operational state (UP/DOWN), admin state (the new admin
// flags), server state, check result, lifecycle, address, backend state, and
// the pipeline's own flap alerts.
func alertIncident(target string, a *mailers.Alert) (object, label string, when time.Time, ok bool) {
	e := a.Event
	when = a.Time
	if e != nil && !e.When.IsZero() {
		when = e.When
	}
	subject, dim := a.Subject, ""
	switch {
	case a.Kind == mailers.KindFlapping || a.Kind == mailers.KindSettled:
		dim, label = "flap", a.Kind
	case e == nil:
		return "", "", when, false
	default:
		switch {
		case e.Type.Family() == "BACKEND" && e.Backend != nil:
			subject = e.Backend.ProxyName
		case e.Server != nil:
			subject = e.Server.ProxyName + "/" + e.Server.Name
		default:
			return "", "", when, false
		}
		label = e.Type.String()
		switch e.Type {
		case bus.ServerUp, bus.ServerDown:
			dim = "op"
		case bus.BackendUp, bus.BackendDown:
			dim = "backend"
		case bus.ServerAdd, bus.ServerDel:
			dim = "lifecycle"
		case bus.ServerAdmin:
			dim = "admin"
			if e.Admin != nil {
				label = e.Admin.NewAdmin.String()
			}
		case bus.ServerState:
			dim = "state"
			if e.State != nil {
				label = e.State.NewState
			}
		case bus.ServerCheck:
			dim = "check"
			if e.Check != nil {
				label = e.Check.Result + "/" + e.Check.Reason.Short + "/" + strconv.Itoa(e.Check.Health.Cur)
			}
		case bus.ServerInetAddr:
			dim = "addr"
			if e.Snapshot != nil {
				label = e.Snapshot.Addr
			}
		}
	}
	if subject == "" {
		return "", "", when, false
	}
	return target + "\x00" + subject + "\x00" + dim, label, when, true
}

// NATSStats returns the counters of every NATS bridge (runtime API
// `show nats`).
func (d *Daemon) NATSStats() []natsbridge.Stats {
	d.mu.Lock()
	f := d.fleet
	d.mu.Unlock()
	if f == nil {
		return nil
	}
	out := make([]natsbridge.Stats, 0, len(f.bridges))
	for _, b := range f.bridges {
		out = append(out, b.Stats())
	}
	return out
}

// natsCommands are the runtime API commands of the NATS bridges.
func (d *Daemon) natsCommands() []runtimeapi.Command {
	return []runtimeapi.Command{{
		Words: []string{"show", "nats"},
		Level: runtimeapi.LevelOperator,
		Usage: "show nats",
		Help:  "show the NATS bridges' state and counters",
		Handler: func(c *runtimeapi.Call) error {
			// One block per bridge, each starting with its "Name:" line
			// (a reply cannot hold an empty line).
			for _, s := range d.NATSStats() {
				if err := natsbridge.WriteStats(c, s); err != nil {
					return err
				}
			}
			return nil
		},
	}}
}

// natsFamilies are the bridge counters exported to Prometheus, per bridge
// (label nats="<section>"), in output order.
var natsFamilies = [...]struct {
	name, help, typ string
	get             func(s *natsbridge.Stats) uint64
}{
	{"moonbus_nats_connected", "1 while the NATS bridge is connected", "gauge", func(s *natsbridge.Stats) uint64 { return b2u(s.Status == "CONNECTED") }},
	{"moonbus_nats_events_published_total", "Events confirmed by NATS", "counter", func(s *natsbridge.Stats) uint64 { return s.Published }},
	{"moonbus_nats_events_queued", "Events waiting in the bridge's outbox", "gauge", func(s *natsbridge.Stats) uint64 { return uint64(s.Queued) }},
	{"moonbus_nats_events_buffered_total", "Events that arrived while NATS was unreachable", "counter", func(s *natsbridge.Stats) uint64 { return s.Buffered }},
	{"moonbus_nats_events_dropped_total", "Events dropped because the outbox was full", "counter", func(s *natsbridge.Stats) uint64 { return s.Dropped }},
	{"moonbus_nats_events_resent_total", "Events sent again after a lost confirmation", "counter", func(s *natsbridge.Stats) uint64 { return s.Resent }},
	{"moonbus_nats_reconnects_total", "Reconnections to NATS", "counter", func(s *natsbridge.Stats) uint64 { return s.Reconnects }},
	{"moonbus_nats_cli_requests_total", "Runtime API requests received over NATS", "counter", func(s *natsbridge.Stats) uint64 { return s.CLIRequests }},
	{"moonbus_nats_dedup_won_total", "Alert incidents this instance claimed and sent", "counter", func(s *natsbridge.Stats) uint64 { return s.ClaimsWon }},
	{"moonbus_nats_dedup_lost_total", "Alert incidents another instance sent (suppressed here)", "counter", func(s *natsbridge.Stats) uint64 { return s.ClaimsLost }},
	{"moonbus_nats_dedup_errors_total", "Alert claims that failed (alert sent anyway)", "counter", func(s *natsbridge.Stats) uint64 { return s.ClaimErrors }},
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// appendNATSMetrics appends the bridges' counters in the Prometheus text
// format (nothing without a nats section).
func (d *Daemon) appendNATSMetrics(dst []byte) []byte {
	stats := d.NATSStats()
	if len(stats) == 0 {
		return dst
	}
	for _, f := range natsFamilies {
		dst = append(dst, "# HELP "+f.name+" "+f.help+"\n# TYPE "+f.name+" "+f.typ+"\n"...)
		for i := range stats {
			dst = append(dst, f.name...)
			dst = append(dst, `{nats="`...)
			dst = appendLabelValue(dst, stats[i].Name)
			dst = append(dst, `"} `...)
			dst = strconv.AppendUint(dst, f.get(&stats[i]), 10)
			dst = append(dst, '\n')
		}
	}
	return dst
}
