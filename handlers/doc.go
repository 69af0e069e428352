// Package handlers holds the Go consumers of bus events: the webhook
// notifier of DESIGN §5 (Webhook, built on the mailers alert pipeline), the
// event log (EventLog, one logfmt line per event on a writer or slog;
// EventSyslog, the same lines to syslog-style targets such as the global
// "log" lines) and auto-weight (AutoWeight, the backend keyword
// "auto-weight checks|latency [floor <pct>]", acting on the live proxy
// engine through proxy.Server.SetAutoWeight). Each consumer exposes
// Handle(*bus.Event), which never blocks for long and is called from the
// consumer's bus delivery goroutine, plus Start(ctx) and Stop(ctx) where it
// owns goroutines; the daemon subscribes them to the bus.
package handlers
