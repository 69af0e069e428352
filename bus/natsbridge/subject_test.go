package natsbridge

import (
	"errors"
	"strings"
	"testing"

	"moonbus/bus"
)

func serverEvent(typ bus.Type, proxy, server string) *bus.Event {
	return &bus.Event{Type: typ, Server: &bus.ServerRef{Name: server, PUID: 1, ProxyName: proxy, ProxyUUID: 3}}
}

func TestEventSubject(t *testing.T) {
	for _, tc := range []struct {
		instance string
		e        *bus.Event
		want     string
	}{
		{"lb1", serverEvent(bus.ServerDown, "be", "s1"), "moonbus.event.lb1.SERVER_DOWN.be.s1"},
		{"lb1", &bus.Event{Type: bus.BackendDown, Backend: &bus.BackendInfo{ProxyName: "be"}}, "moonbus.event.lb1.BACKEND_DOWN.be"},
		{"lb.1 x", serverEvent(bus.ServerUp, "a.b c", "*>%"), "moonbus.event.lb%2E1%20x.SERVER_UP.a%2Eb%20c.%2A%3E%25"},
		{"", serverEvent(bus.ServerUp, "be", ""), "moonbus.event.%.SERVER_UP.be.%"},
	} {
		got := EventSubject("moonbus", tc.instance, tc.e)
		if got != tc.want {
			t.Errorf("EventSubject(%q, %v) = %q, want %q", tc.instance, tc.e.Server, got, tc.want)
		}
		if err := bus.ValidSubject(got, false); err != nil {
			t.Errorf("%q: %v", got, err)
		}
	}
	if got := CLISubject("mb", "lb 1"); got != "mb.cli.lb%201" {
		t.Errorf("CLISubject = %q", got)
	}
}

func TestParseEventSubject(t *testing.T) {
	p, err := ParseEventSubject("moonbus.event.lb%2E1.SERVER_DOWN.a%2Eb%20c.%2a%3e")
	if err != nil {
		t.Fatal(err)
	}
	want := SubjectParts{Prefix: "moonbus", Instance: "lb.1", Type: bus.ServerDown, Proxy: "a.b c", Server: "*>", HasServer: true}
	if p != want {
		t.Fatalf("got %+v, want %+v", p, want)
	}
	for _, bad := range []string{
		"moonbus.event.lb1", "moonbus.cli.lb1.SERVER_UP.be", "moonbus.event.lb1.NOPE.be",
		"moonbus.event.lb1.SERVER_UP.be.s1.x", "moonbus.event.lb%2.SERVER_UP.be", "moonbus.event.lb1.SERVER_UP.%zz",
	} {
		if _, err := ParseEventSubject(bad); !errors.Is(err, ErrNotEventSubject) {
			t.Errorf("ParseEventSubject(%q) = %v, want ErrNotEventSubject", bad, err)
		}
	}
}

// FuzzEventSubjectRoundTrip: whatever the names hold, the subject is one
// valid literal NATS subject of 6 tokens (5 for backend events) and decodes
// back to the same names.
func FuzzEventSubjectRoundTrip(f *testing.F) {
	for _, s := range [][3]string{
		{"lb1", "be", "s1"}, {"lb.1", "a b", "*"}, {"", "", ""}, {">", "%", "%25"},
		{"x\ty", "pro\x00xy", "é.ü"}, {"%2E", "..", "> *"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	f.Fuzz(func(t *testing.T, instance, proxy, server string) {
		for _, e := range []*bus.Event{
			serverEvent(bus.ServerState, proxy, server),
			{Type: bus.BackendUp, Backend: &bus.BackendInfo{ProxyName: proxy}},
		} {
			subj := EventSubject("moonbus", instance, e)
			if err := bus.ValidSubject(subj, false); err != nil {
				t.Fatalf("%q: %v", subj, err)
			}
			wantTokens := 5
			if e.Server != nil {
				wantTokens = 6
			}
			if n := strings.Count(subj, ".") + 1; n != wantTokens {
				t.Fatalf("%q: %d tokens, want %d", subj, n, wantTokens)
			}
			p, err := ParseEventSubject(subj)
			if err != nil {
				t.Fatalf("%q: %v", subj, err)
			}
			if p.Prefix != "moonbus" || p.Instance != instance || p.Type != e.Type || p.Proxy != proxy {
				t.Fatalf("%q decoded as %+v", subj, p)
			}
			if e.Server != nil && (!p.HasServer || p.Server != server) {
				t.Fatalf("%q decoded server %q (has %v), want %q", subj, p.Server, p.HasServer, server)
			}
			if !bus.MatchSubject("moonbus.event.*.>", subj) {
				t.Fatalf("%q does not match moonbus.event.*.>", subj)
			}
		}
		// Any token decodes to something that escapes back to a token
		// decoding to the same bytes.
		if dec, err := bus.UnescapeToken(server); err == nil {
			again, err := bus.UnescapeToken(bus.EscapeToken(dec))
			if err != nil || again != dec {
				t.Fatalf("escape(unescape(%q)) does not round-trip: %q, %v", server, again, err)
			}
		}
	})
}
