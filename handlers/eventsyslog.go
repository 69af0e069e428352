package handlers

import (
	"moonbus/bus"
	"moonbus/mailers"
)

// EventSyslogLevel returns the syslog level number an event's log line is
// sent at: err (3) for BACKEND_DOWN, warning (4) for SERVER_DOWN, info (6)
// otherwise — the levels NewEventLogSlog uses.
func EventSyslogLevel(e *bus.Event) int {
	switch e.Type {
	case bus.BackendDown:
		return mailers.LevelErr
	case bus.ServerDown:
		return mailers.LevelWarning
	}
	return mailers.LevelInfo
}

// EventSyslog sends each bus event as one logfmt line (FormatEvent) at
// EventSyslogLevel to a syslog-style sink, such as the daemon's global log
// targets (proxy.Engine.GlobalLog has the shape of send).
type EventSyslog struct {
	send func(level int, line string)
}

// NewEventSyslog returns an event log writing through send.
func NewEventSyslog(send func(level int, line string)) *EventSyslog {
	return &EventSyslog{send: send}
}

// Handle logs one event on the caller's goroutine (the subscription's
// delivery goroutine), so lines keep the events' order.
func (l *EventSyslog) Handle(e *bus.Event) {
	if e == nil {
		return
	}
	l.send(EventSyslogLevel(e), FormatEvent(e))
}
