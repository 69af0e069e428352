package natsbridge

import (
	"errors"
	"fmt"
	"strings"

	"moonbus/bus"
)

// Subjects of the bridge (DESIGN §4.6), every name escaped with
// bus.EscapeToken so that '.', ' ', '*', '>' and '%' in an instance, proxy
// or server name can neither split a token nor act as a wildcard:
//
//	<prefix>.event.<instance>.<TYPE>.<proxy>.<server>   SERVER_* events
//	<prefix>.event.<instance>.<TYPE>.<proxy>            BACKEND_* events
//	<prefix>.cli.<instance>                             runtime API, one instance
//	<prefix>.cli                                        runtime API, every instance
//
// The event subject is the bus's internal subject (bus.Subject,
// "event.<TYPE>.<proxy>[.<server>]") with "<prefix>." in front and the
// instance token inserted after "event", so a NATS subscription pattern and a
// bus.SubscribeSubject pattern select the same events.

// EventSubject returns the NATS subject of e for a bridge with this prefix
// and instance name.
func EventSubject(prefix, instance string, e *bus.Event) string {
	internal := bus.Subject(e) // "event.<TYPE>..."
	rest := strings.TrimPrefix(internal, "event.")
	var sb strings.Builder
	sb.Grow(len(prefix) + len(instance) + len(internal) + 8)
	sb.WriteString(prefix)
	sb.WriteString(".event.")
	sb.WriteString(bus.EscapeToken(instance))
	sb.WriteByte('.')
	sb.WriteString(rest)
	return sb.String()
}

// CLISubject returns the runtime API subject of one instance.
func CLISubject(prefix, instance string) string {
	return prefix + ".cli." + bus.EscapeToken(instance)
}

// CLIFleetSubject returns the runtime API subject every instance of the
// prefix answers.
func CLIFleetSubject(prefix string) string { return prefix + ".cli" }

// EventsPattern returns the subject pattern of every event published under
// prefix (the JetStream stream's subject).
func EventsPattern(prefix string) string { return prefix + ".event.>" }

// SubjectParts is a decoded event subject.
type SubjectParts struct {
	Prefix   string
	Instance string
	Type     bus.Type
	Proxy    string
	Server   string
	// HasServer tells a server event subject (six tokens) from a backend
	// event subject (five tokens); Server may be "" in a server subject.
	HasServer bool
}

// ErrNotEventSubject is wrapped by ParseEventSubject errors.
var ErrNotEventSubject = errors.New("natsbridge: not an event subject")

// ParseEventSubject decodes a subject built by EventSubject (the prefix is a
// single token): it splits the tokens and reverses the escaping, so
// ParseEventSubject(EventSubject(p, i, e)) gives back p, i, e's type, proxy
// and server names byte for byte. Errors wrap ErrNotEventSubject (or
// bus.ErrBadEscape for a malformed escape).
func ParseEventSubject(subject string) (SubjectParts, error) {
	var p SubjectParts
	toks := strings.Split(subject, ".")
	if len(toks) != 5 && len(toks) != 6 {
		return p, fmt.Errorf("%w: %q: %d tokens", ErrNotEventSubject, subject, len(toks))
	}
	if toks[1] != "event" || toks[0] == "" {
		return p, fmt.Errorf("%w: %q", ErrNotEventSubject, subject)
	}
	t, ok := bus.ParseType(toks[3])
	if !ok {
		return p, fmt.Errorf("%w: %q: unknown event type %q", ErrNotEventSubject, subject, toks[3])
	}
	p.Prefix, p.Type = toks[0], t
	var err error
	if p.Instance, err = bus.UnescapeToken(toks[2]); err != nil {
		return p, fmt.Errorf("%w: instance: %w", ErrNotEventSubject, err)
	}
	if p.Proxy, err = bus.UnescapeToken(toks[4]); err != nil {
		return p, fmt.Errorf("%w: proxy: %w", ErrNotEventSubject, err)
	}
	if len(toks) == 6 {
		p.HasServer = true
		if p.Server, err = bus.UnescapeToken(toks[5]); err != nil {
			return p, fmt.Errorf("%w: server: %w", ErrNotEventSubject, err)
		}
	}
	return p, nil
}
