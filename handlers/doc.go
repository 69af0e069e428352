// Package handlers holds the Go consumers of bus events: the webhook
// notifier of DESIGN §5 (Webhook, built on the mailers alert pipeline), the
// event log (EventLog, one line per event) and auto-weight. Each consumer
// exposes Handle(*bus.Event), which never blocks for long and is called from
// the consumer's bus delivery goroutine, plus Start(ctx) and Stop(ctx); the
// daemon subscribes them to the bus.
package handlers
