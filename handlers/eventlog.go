package handlers

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"moonbus/bus"
	"moonbus/mailers"
)

// EventLog writes each bus event as one log line, for people who alert from
// logs. With NewEventLog the line is logfmt (see FormatEvent); with
// NewEventLogSlog the same keys become slog attributes of a record whose
// message is the event's human text, at level WARN for SERVER_DOWN, ERROR
// for BACKEND_DOWN and INFO otherwise.
type EventLog struct {
	mu  sync.Mutex
	w   io.Writer
	log *slog.Logger
	buf []byte
}

// NewEventLog returns an event log writing logfmt lines to w.
func NewEventLog(w io.Writer) *EventLog { return &EventLog{w: w} }

// NewEventLogSlog returns an event log writing to a slog logger.
func NewEventLogSlog(l *slog.Logger) *EventLog { return &EventLog{log: l} }

// Start does nothing; it is there for the uniform consumer lifecycle.
func (l *EventLog) Start(context.Context) error { return nil }

// Stop does nothing; it is there for the uniform consumer lifecycle.
func (l *EventLog) Stop(context.Context) error { return nil }

// Handle logs one event. It writes synchronously on the caller's goroutine
// (the event log's own bus delivery goroutine), so events keep their order.
func (l *EventLog) Handle(e *bus.Event) {
	if e == nil {
		return
	}
	if l.log != nil {
		level := slog.LevelInfo
		switch e.Type {
		case bus.ServerDown:
			level = slog.LevelWarn
		case bus.BackendDown:
			level = slog.LevelError
		}
		var attrs []slog.Attr
		for _, f := range eventLogFields(e) {
			if f.k != "time" && f.k != "msg" {
				attrs = append(attrs, slog.String(f.k, f.v))
			}
		}
		l.log.LogAttrs(context.Background(), level, mailers.Describe(e), attrs...)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = appendEventLine(l.buf[:0], e)
	l.buf = append(l.buf, '\n')
	l.w.Write(l.buf)
}

// FormatEvent returns the logfmt line of an event, without newline:
//
//	time=<RFC 3339 ms UTC> type=<TYPE> seq=<n> instance=<id>
//	[server=<be>/<srv> puid=<n>]
//	[old_state=<S> new_state=<S> admin=<bool> requeued=<n> [cause=<text>]]
//	[old_admin=<flags> new_admin=<flags> [admin_cause=<text>]]
//	[check=<short> result=<R> code=<n> duration_ms=<n> health=<cur>/<rise>/<fall> [agent=true] [info=<text>]]
//	[backend=<name> active=<n> backup=<n>]
//	msg=<human text, HAProxy's log text for state changes>
//
// in that order; values with spaces, quotes, '=' or nothing are Go-quoted.
// time is the event's When (now when it is zero).
func FormatEvent(e *bus.Event) string { return string(appendEventLine(nil, e)) }

type logField struct{ k, v string }

func eventLogFields(e *bus.Event) []logField {
	when := e.When
	if when.IsZero() {
		when = time.Now()
	}
	f := []logField{
		{"time", when.UTC().Format("2006-01-02T15:04:05.000Z07:00")},
		{"type", e.Type.String()},
		{"seq", strconv.FormatUint(e.Seq, 10)},
		{"instance", e.Instance},
	}
	if s := e.Server; s != nil {
		f = append(f, logField{"server", s.ProxyName + "/" + s.Name}, logField{"puid", strconv.Itoa(s.PUID)})
	}
	check := e.Check
	if st := e.State; st != nil {
		f = append(f, logField{"old_state", st.OldState}, logField{"new_state", st.NewState},
			logField{"admin", strconv.FormatBool(st.Admin)}, logField{"requeued", strconv.Itoa(st.Requeued)})
		if st.Cause != "" {
			f = append(f, logField{"cause", st.Cause})
		}
		if check == nil {
			check = st.Check
		}
	}
	if a := e.Admin; a != nil {
		f = append(f, logField{"old_admin", a.OldAdmin.String()}, logField{"new_admin", a.NewAdmin.String()})
		if a.Cause != "" {
			f = append(f, logField{"admin_cause", a.Cause})
		}
	}
	if c := check; c != nil {
		f = append(f, logField{"check", c.Reason.Short}, logField{"result", c.Result},
			logField{"code", strconv.Itoa(c.Reason.Code)}, logField{"duration_ms", strconv.Itoa(c.Duration)},
			logField{"health", strconv.Itoa(c.Health.Cur) + "/" + strconv.Itoa(c.Health.Rise) + "/" + strconv.Itoa(c.Health.Fall)})
		if c.Agent {
			f = append(f, logField{"agent", "true"})
		}
		if c.Reason.Info != "" {
			f = append(f, logField{"info", c.Reason.Info})
		}
	}
	if b := e.Backend; b != nil {
		f = append(f, logField{"backend", b.ProxyName}, logField{"active", strconv.Itoa(b.Active)},
			logField{"backup", strconv.Itoa(b.Backup)})
	}
	return append(f, logField{"msg", mailers.Describe(e)})
}

func appendEventLine(b []byte, e *bus.Event) []byte {
	for i, f := range eventLogFields(e) {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, f.k...)
		b = append(b, '=')
		if f.v == "" || strings.ContainsAny(f.v, " \"=\\\t\r\n") || !logPrintable(f.v) {
			b = strconv.AppendQuote(b, f.v)
		} else {
			b = append(b, f.v...)
		}
	}
	return b
}

func logPrintable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
