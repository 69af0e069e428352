package runtimeapi

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"moonbus/bus"
)

// TestStateChangeEvents drives maint, ready, drain, health, weight, addr and
// track changes through the runtime API and checks, on the real bus, the
// events' order and every data field.
func TestStateChangeEvents(t *testing.T) {
	a, hp := backend(t, nil), blackhole(t)
	h := startHarness(t, strings.NewReplacer("%A%", a, "%H%", hp).Replace(`
backend be
    balance roundrobin
    option httpchk
    server s1 %A% check port %H% inter 1h
    server s2 %A%
    server t1 %A% track s1
backend solo
    server x %A%
`))
	rec := record(h)
	ref := func(px string, uuid int, name string, puid int) *bus.ServerRef {
		return &bus.ServerRef{Name: name, PUID: puid, ProxyName: px, ProxyUUID: uuid}
	}
	s1, s2, t1, x := ref("be", 1, "s1", 1), ref("be", 1, "s2", 2), ref("be", 1, "t1", 3), ref("solo", 2, "x", 1)
	snap := func(act int, mod ...func(*bus.Snapshot)) *bus.Snapshot {
		sn := &bus.Snapshot{Weight: 1, BackendActive: act, Addr: a}
		for _, m := range mod {
			m(sn)
		}
		return sn
	}
	tracking := func(sn *bus.Snapshot) { sn.Tracking = "be/s1" }
	draining := func(sn *bus.Snapshot) { sn.Draining, sn.Weight = true, 0 }
	admin := func(srv *bus.ServerRef, old, new bus.AdminFlags, sn *bus.Snapshot) *bus.Event {
		return &bus.Event{Type: bus.ServerAdmin, Server: srv, Admin: &bus.AdminChange{OldAdmin: old, NewAdmin: new}, Snapshot: sn}
	}
	state := func(typ bus.Type, srv *bus.ServerRef, adm bool, cause, old, new string, sn *bus.Snapshot) *bus.Event {
		return &bus.Event{Type: typ, Server: srv, State: &bus.StateChange{Admin: adm, Cause: cause, OldState: old, NewState: new}, Snapshot: sn}
	}
	// trio is the SERVER_UP/DOWN + SERVER_STATE pair of one change.
	pair := func(srv *bus.ServerRef, adm bool, cause, old, new string, sn *bus.Snapshot) []*bus.Event {
		typ := bus.ServerUp
		if new == "STOPPED" {
			typ = bus.ServerDown
		}
		return []*bus.Event{state(typ, srv, adm, cause, old, new, sn), state(bus.ServerState, srv, adm, cause, old, new, sn)}
	}
	cat := func(parts ...any) []*bus.Event {
		var out []*bus.Event
		for _, p := range parts {
			switch v := p.(type) {
			case *bus.Event:
				out = append(out, v)
			case []*bus.Event:
				out = append(out, v...)
			}
		}
		return out
	}
	const cli = "changed from CLI"
	steps := []struct {
		cmds []string
		want []*bus.Event
	}{
		{[]string{"disable server be/s2"}, cat(
			admin(s2, 0, bus.FMaint, snap(2)),
			pair(s2, true, "", "RUNNING", "STOPPED", snap(2)))},
		{[]string{"enable server be/s2"}, cat(
			admin(s2, bus.FMaint, 0, snap(3)),
			pair(s2, true, "", "STOPPED", "RUNNING", snap(3)))},
		{[]string{"set server be/s2 state drain"}, cat(admin(s2, 0, bus.FDrain, snap(2, draining)))},
		{[]string{"set server be/s2 state ready"}, cat(admin(s2, bus.FDrain, 0, snap(3)))},
		// Weight changes publish nothing by themselves.
		{[]string{"set weight be/s2 0", "set weight be/s2 1", "set server be/s1 health down"}, cat(
			pair(s1, false, cli, "RUNNING", "STOPPED", snap(2)),
			pair(t1, false, cli, "RUNNING", "STOPPED", snap(1, tracking)))},
		{[]string{"set server be/s1 health up"}, cat(
			pair(s1, false, cli, "STOPPED", "RUNNING", snap(2)),
			pair(t1, false, cli, "STOPPED", "RUNNING", snap(3, tracking)))},
		{[]string{"set server be/s1 health stopping"}, cat(
			state(bus.ServerState, s1, false, cli, "RUNNING", "STOPPING", snap(2)),
			state(bus.ServerState, t1, false, cli, "RUNNING", "STOPPING", snap(1, tracking)))},
		{[]string{"set server be/s1 health up"}, cat(
			state(bus.ServerState, s1, false, cli, "STOPPING", "RUNNING", snap(2)),
			state(bus.ServerState, t1, false, cli, "STOPPING", "RUNNING", snap(3, tracking)))},
		{[]string{"disable server be/s1"}, cat(
			admin(s1, 0, bus.FMaint, snap(2)),
			pair(s1, true, "", "RUNNING", "STOPPED", snap(2)),
			admin(t1, 0, bus.IMaint, snap(1, tracking)),
			pair(t1, true, "", "RUNNING", "STOPPED", snap(1, tracking)))},
		{[]string{"enable server be/s1"}, cat(
			admin(s1, bus.FMaint, 0, snap(2)),
			pair(s1, true, "", "STOPPED", "RUNNING", snap(2)),
			admin(t1, bus.IMaint, 0, snap(3, tracking)),
			pair(t1, true, "", "STOPPED", "RUNNING", snap(3, tracking)))},
		{[]string{"set server be/s2 addr 127.0.0.2 port 8080"}, cat(
			&bus.Event{Type: bus.ServerInetAddr, Server: s2, Snapshot: snap(3, func(sn *bus.Snapshot) { sn.Addr = "127.0.0.2:8080" })})},
		{[]string{"disable server solo/x"}, cat(
			admin(x, 0, bus.FMaint, snap(0)),
			pair(x, true, "", "RUNNING", "STOPPED", snap(0)),
			&bus.Event{Type: bus.BackendDown, Backend: &bus.BackendInfo{ProxyName: "solo", ProxyUUID: 2}})},
		{[]string{"enable server solo/x"}, cat(
			admin(x, bus.FMaint, 0, snap(1)),
			pair(x, true, "", "STOPPED", "RUNNING", snap(1)),
			&bus.Event{Type: bus.BackendUp, Backend: &bus.BackendInfo{ProxyName: "solo", ProxyUUID: 2, Active: 1}})},
	}
	var lastSeq uint64
	for i, st := range steps {
		for _, c := range st.cmds {
			out := h.do(c)
			if !strings.HasSuffix(out, "\n") || (out != "\n" && !strings.Contains(c, " addr ")) {
				t.Fatalf("step %d: %s: %q", i, c, out)
			}
		}
		got := rec.wait(t, len(st.want))
		// Nothing else may arrive.
		time.Sleep(20 * time.Millisecond)
		got = append(got[:0], rec.take()...)
		if len(got) != len(st.want) {
			t.Fatalf("step %d (%s): %d events, want %d:\n%s", i, st.cmds, len(got), len(st.want), describe(got))
		}
		for j, w := range st.want {
			g := got[j]
			if g.Seq <= lastSeq || g.When.IsZero() || g.Instance != "test" {
				t.Fatalf("step %d event %d: stamp seq=%d (last %d) when=%v instance=%q", i, j, g.Seq, lastSeq, g.When, g.Instance)
			}
			lastSeq = g.Seq
			if err := sameEvent(g, w); err != nil {
				t.Fatalf("step %d (%s) event %d: %v\n got: %s", i, st.cmds, j, err, describe(got))
			}
		}
	}
}

// sameEvent compares the payload of two events (not the bus stamps).
func sameEvent(g, w *bus.Event) error {
	gj, _ := json.Marshal(struct {
		T string
		E bus.Event
	}{g.Type.String(), unstamped(g)})
	wj, _ := json.Marshal(struct {
		T string
		E bus.Event
	}{w.Type.String(), unstamped(w)})
	if string(gj) != string(wj) {
		return fmt.Errorf("\n got %s\nwant %s", gj, wj)
	}
	return nil
}

func unstamped(e *bus.Event) bus.Event {
	c := *e
	c.Seq, c.When, c.Instance = 0, time.Time{}, ""
	return c
}

func describe(evs []*bus.Event) string {
	var b strings.Builder
	for _, e := range evs {
		b.WriteString(EventLine(e))
		b.WriteByte('\n')
	}
	return b.String()
}

// TestWeightZeroBackendDown: a backend whose last usable server gets weight
// 0 has no usable server left (DESIGN §4.2: BACKEND_DOWN when the usable
// servers reach 0).
func TestWeightZeroBackendDown(t *testing.T) {
	h := startHarness(t, "backend solo\n    server x "+backend(t, nil)+"\n")
	rec := record(h, bus.BackendDown, bus.BackendUp)
	h.expectTCP("set weight solo/x 0", "\n")
	evs := rec.wait(t, 1)
	if evs[0].Type != bus.BackendDown {
		t.Fatalf("got %s", evs[0].Type)
	}
}

func TestShowEvents(t *testing.T) {
	h := baseHarness(t)
	h.expectTCP("disable server be/s1", "\n")
	h.expectTCP("enable server be/s1", "\n")
	checkFor(t, 5*time.Second, func() error {
		if n := len(h.bus.History(0)); n < 6 {
			return fmt.Errorf("%d events in history", n)
		}
		return nil
	})
	out := h.do("show events")
	lines := strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	if lines[0] != ShowEventsHeader || len(lines) != 7 {
		t.Fatalf("show events:\n%s", out)
	}
	re := `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \d+ `
	for i, want := range []string{
		"SERVER_ADMIN be/s1 old_admin=none new_admin=FMAINT cause=\"\" requeued=0",
		"SERVER_DOWN be/s1 old_state=RUNNING new_state=STOPPED admin=true cause=\"\" requeued=0",
		"SERVER_STATE be/s1 old_state=RUNNING new_state=STOPPED admin=true cause=\"\" requeued=0",
		"SERVER_ADMIN be/s1 old_admin=FMAINT new_admin=none cause=\"\" requeued=0",
		"SERVER_UP be/s1 old_state=STOPPED new_state=RUNNING admin=true cause=\"\" requeued=0",
		"SERVER_STATE be/s1 old_state=STOPPED new_state=RUNNING admin=true cause=\"\" requeued=0",
	} {
		if !matches(re+regexpQuote(want)+"$", lines[1+i]) {
			t.Errorf("line %d: %q, want ...%q", i, lines[1+i], want)
		}
	}
	out = h.do("show events json 2")
	lines = strings.Split(strings.TrimSuffix(out, "\n\n"), "\n")
	if len(lines) != 2 {
		t.Fatalf("show events json 2:\n%s", out)
	}
	var ev bus.Event
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil || ev.Type != bus.ServerState || ev.Server.Name != "s1" || ev.State.NewState != "RUNNING" {
		t.Fatalf("json: %v %+v", err, ev)
	}
	h.expect("show events x", "Usage: show events [json] [<n>]\n\n")
}

// TestEnableConfigDisabledServer: "enable server" brings a server declared
// "disabled" (CMAINT|FMAINT) into service; CMAINT alone is not maintenance
// (reference §4.2: MAINT = 0x23, FMAINT|IMAINT|RMAINT).
func TestEnableConfigDisabledServer(t *testing.T) {
	h := startHarness(t, "backend be\n    server s1 "+backend(t, nil)+" disabled\n")
	if got := h.statRows("")["be/s1"]["status"]; got != "MAINT" {
		t.Fatalf("status %q", got)
	}
	h.expectTCP("enable server be/s1", "\n")
	if got := h.statRows("")["be/s1"]["status"]; got != "no check" {
		t.Fatalf("after enable server: status %q, want \"no check\"", got)
	}
}

// TestDynamicServerCheck: a dynamic server's check runs once "enable
// health" and "enable server" were given, and its result is published.
func TestDynamicServerCheck(t *testing.T) {
	a := backend(t, nil)
	h := startHarness(t, "backend be\n    balance roundrobin\n    server s1 "+a+"\n")
	rec := record(h, bus.ServerCheck)
	h.expectTCP("add server be/d1 "+a+" check inter 50ms rise 1 fall 1", "New server registered.\n\n")
	h.expectTCP("enable health be/d1", "\n")
	time.Sleep(100 * time.Millisecond) // the check must not run in maintenance
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("check ran in maintenance: %s", describe(evs))
	}
	h.expectTCP("enable server be/d1", "\n")
	checkFor(t, 5*time.Second, func() error {
		r := h.statRows("")["be/d1"]
		if r["check_status"] != "L4OK" || r["status"] != "UP" || r["check_desc"] != "Layer4 check passed" {
			return fmt.Errorf("status=%s check_status=%s", r["status"], r["check_status"])
		}
		return nil
	})
	h.expectTCP("disable server be/d1", "\n")
	h.expectTCP("del server be/d1", "Server deleted.\n\n")
}
