package handlers

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"moonbus/bus"
)

func TestEventLogLines(t *testing.T) {
	var out bytes.Buffer
	l := NewEventLog(&out)
	down := whEvent(bus.ServerDown, 42, "be", "s1")
	down.State.Check.Reason.Info = `bad "gateway"`
	l.Handle(down)
	l.Handle(whEvent(bus.ServerUp, 43, "be", "s1"))
	l.Handle(&bus.Event{Type: bus.ServerAdmin, Seq: 44, Instance: "lb1", When: down.When,
		Server: &bus.ServerRef{Name: "s2", PUID: 2, ProxyName: "be"},
		Admin:  &bus.AdminChange{OldAdmin: 0, NewAdmin: bus.FMaint, Cause: "'disable' on stats page"}})
	l.Handle(&bus.Event{Type: bus.BackendDown, Seq: 45, Instance: "lb1", When: down.When,
		Backend: &bus.BackendInfo{ProxyName: "be", ProxyUUID: 3}})
	l.Handle(nil)

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	want := []string{
		`time=2026-11-22T12:00:00.000Z type=SERVER_DOWN seq=42 instance=lb1 server=be/s1 puid=1 old_state=RUNNING new_state=STOPPED admin=false requeued=0 check=L7STS result=FAILED code=503 duration_ms=1 health=0/2/2 info="bad \"gateway\"" msg="Server be/s1 is DOWN, reason: Layer7 wrong status, code: 503, info: \"bad \"gateway\"\", check duration: 1ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue"`,
		`time=2026-11-22T12:00:00.000Z type=SERVER_UP seq=43 instance=lb1 server=be/s1 puid=1 old_state=STOPPED new_state=RUNNING admin=false requeued=0 cause="changed from CLI" msg="Server be/s1 is UP, changed from CLI. 1 active and 0 backup servers online. 0 sessions requeued, 0 total in queue"`,
		`time=2026-11-22T12:00:00.000Z type=SERVER_ADMIN seq=44 instance=lb1 server=be/s2 puid=2 old_admin=none new_admin=FMAINT admin_cause="'disable' on stats page" msg="SERVER_ADMIN be/s2"`,
		`time=2026-11-22T12:00:00.000Z type=BACKEND_DOWN seq=45 instance=lb1 backend=be active=0 backup=0 msg="backend be has no server available!"`,
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines:\n%s", len(lines), out.String())
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d:\n got %s\nwant %s", i, lines[i], want[i])
		}
	}
	if FormatEvent(down) != lines[0] {
		t.Error("FormatEvent differs from the logged line")
	}
	// A zero When is logged with the current time.
	e := whEvent(bus.ServerUp, 1, "be", "s1")
	e.When = time.Time{}
	if f := FormatEvent(e); !strings.HasPrefix(f, "time="+time.Now().UTC().Format("2006-01-02T")) {
		t.Errorf("zero When: %s", f)
	}
}

func TestEventLogSlog(t *testing.T) {
	var out bytes.Buffer
	l := NewEventLogSlog(slog.New(slog.NewTextHandler(&out, nil)))
	l.Handle(whEvent(bus.ServerDown, 42, "be", "s1"))
	l.Handle(&bus.Event{Type: bus.BackendDown, Seq: 45, Backend: &bus.BackendInfo{ProxyName: "be"}})
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("log:\n%s", out.String())
	}
	if !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], `msg="Server be/s1 is DOWN, reason:`) ||
		!strings.Contains(lines[0], "type=SERVER_DOWN seq=42 instance=lb1 server=be/s1") || !strings.Contains(lines[0], "check=L7STS") {
		t.Errorf("line 0: %s", lines[0])
	}
	if !strings.Contains(lines[1], "level=ERROR") || !strings.Contains(lines[1], "backend=be") {
		t.Errorf("line 1: %s", lines[1])
	}
}
