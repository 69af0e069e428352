package mailers

import (
	"testing"

	"moonbus/bus"
)

// downEvent is a realistic SERVER_DOWN: an HTTP check got a 503.
func downEvent(seq uint64, be, srv string) *bus.Event {
	return &bus.Event{
		Type: bus.ServerDown, Seq: seq, Instance: "lb1",
		Server: &bus.ServerRef{Name: srv, PUID: 1, ProxyName: be, ProxyUUID: 3},
		State: &bus.StateChange{
			OldState: "RUNNING", NewState: "STOPPED",
			Check: &bus.CheckResult{
				Result: "FAILED", Duration: 12,
				Reason: bus.CheckReason{Short: "L7STS", Desc: "Layer7 wrong status", Code: 503, Info: "Service Unavailable"},
				Health: bus.Health{Cur: 0, Rise: 2, Fall: 3},
			},
		},
		Snapshot: &bus.Snapshot{Weight: 1, BackendActive: 1, BackendBackup: 0},
	}
}

// upEvent is a realistic SERVER_UP after checks passed again.
func upEvent(seq uint64, be, srv string) *bus.Event {
	return &bus.Event{
		Type: bus.ServerUp, Seq: seq, Instance: "lb1",
		Server: &bus.ServerRef{Name: srv, PUID: 1, ProxyName: be, ProxyUUID: 3},
		State: &bus.StateChange{
			OldState: "STOPPED", NewState: "RUNNING",
			Check: &bus.CheckResult{
				Result: "PASSED", Duration: 3,
				Reason: bus.CheckReason{Short: "L7OK", Desc: "Layer7 check passed", Code: 200, Info: "OK"},
				Health: bus.Health{Cur: 4, Rise: 2, Fall: 3},
			},
		},
		Snapshot: &bus.Snapshot{Weight: 1, BackendActive: 2, BackendBackup: 0},
	}
}

const (
	wantDown = `Server be/s1 is DOWN, reason: Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 12ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue`
	wantUp   = `Server be/s1 is UP, reason: Layer7 check passed, code: 200, info: "OK", check duration: 3ms. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue`
)

func TestNativeMessage(t *testing.T) {
	l4 := downEvent(1, "be", "s1")
	l4.State.Check = &bus.CheckResult{Result: "FAILED", Duration: 0,
		Reason: bus.CheckReason{Short: "L4CON", Desc: "Layer4 connection problem", Info: "Connection refused"},
		Health: bus.Health{Cur: 0, Rise: 2, Fall: 3}}
	l4.Snapshot.BackendActive = 1

	backup := downEvent(1, "be", "bk")
	backup.Snapshot = &bus.Snapshot{Backup: true, Tracking: "other/s9", CurSess: 7, Queue: 2, BackendActive: 0, BackendBackup: 1}
	backup.State.Requeued = 3

	cli := downEvent(1, "be", "s1")
	cli.State.Check = nil
	cli.State.Cause = "changed from CLI"

	luaUp := upEvent(1, "be", "s1")
	luaUp.State.Check = nil
	luaUp.State.Cause = "LUA"

	stopping := downEvent(1, "be", "s1")
	stopping.State.OldState = "STOPPING"

	draining := downEvent(1, "be", "s1")
	draining.Snapshot.Draining = true

	maint := downEvent(1, "be", "s1")
	maint.State.Admin = true
	maint.State.Check = nil

	drain := &bus.Event{Type: bus.ServerAdmin, Server: &bus.ServerRef{Name: "s1", ProxyName: "be"},
		Admin:    &bus.AdminChange{OldAdmin: 0, NewAdmin: bus.FDrain, Requeued: 1},
		Snapshot: &bus.Snapshot{CurSess: 4, BackendActive: 1, BackendBackup: 1}}
	enterMaint := &bus.Event{Type: bus.ServerAdmin, Server: &bus.ServerRef{Name: "s1", ProxyName: "be"},
		Admin: &bus.AdminChange{OldAdmin: 0, NewAdmin: bus.FMaint}}

	checkFail := &bus.Event{Type: bus.ServerCheck, Server: &bus.ServerRef{Name: "s1", ProxyName: "be"},
		Check: &bus.CheckResult{Result: "FAILED", Duration: 1001,
			Reason: bus.CheckReason{Short: "L4TOUT", Desc: "Layer4 timeout"},
			Health: bus.Health{Cur: 3, Rise: 2, Fall: 3}},
		Snapshot: &bus.Snapshot{Weight: 1}}
	agentDown := &bus.Event{Type: bus.ServerCheck, Server: &bus.ServerRef{Name: "bk", ProxyName: "be"},
		Check: &bus.CheckResult{Agent: true, Result: "CONDPASS", Duration: -1,
			Reason: bus.CheckReason{Short: "L7OKC", Desc: "Layer7 check conditionally passed", Code: 404},
			Health: bus.Health{Cur: 1, Rise: 2, Fall: 3}},
		Snapshot: &bus.Snapshot{Backup: true, Weight: 1}}

	tests := []struct {
		name  string
		e     *bus.Event
		lhc   bool
		ok    bool
		level int
		want  string
	}{
		{"down L7STS", downEvent(1, "be", "s1"), false, true, LevelAlert, wantDown},
		{"up L7OK", upEvent(1, "be", "s1"), false, true, LevelNotice, wantUp},
		{"down L4CON (reference example)", l4, false, true, LevelAlert,
			`Server be/s1 is DOWN, reason: Layer4 connection problem, info: "Connection refused", check duration: 0ms. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue`},
		{"backup tracking, running on backup", backup, false, true, LevelAlert,
			`Backup Server be/bk is DOWN via other/s9, reason: Layer7 wrong status, code: 503, info: "Service Unavailable", check duration: 12ms. 0 active and 1 backup servers left. Running on backup. 7 sessions active, 3 requeued, 2 remaining in queue`},
		{"down from CLI", cli, false, true, LevelAlert,
			`Server be/s1 is DOWN, changed from CLI. 1 active and 0 backup servers left. 0 sessions active, 0 requeued, 0 remaining in queue`},
		{"up from Lua (enum cause)", luaUp, false, true, LevelNotice,
			`Server be/s1 is UP, changed from Lua script. 2 active and 0 backup servers online. 0 sessions requeued, 0 total in queue`},
		{"down while stopping is notice", stopping, false, true, LevelNotice, ""},
		{"down while draining is notice", draining, false, true, LevelNotice, ""},
		{"down for maintenance: no mail", maint, false, false, 0, ""},
		{"enters drain", drain, false, true, LevelNotice,
			`Server be/s1 enters drain state. 1 active and 1 backup servers left. 4 sessions active, 1 requeued, 0 remaining in queue`},
		{"enters maint: no mail", enterMaint, false, false, 0, ""},
		{"check without log-health-checks: no mail", checkFail, false, false, 0, ""},
		{"check failed", checkFail, true, true, LevelInfo,
			`Health check for server be/s1 failed, reason: Layer4 timeout, check duration: 1001ms, status: 2/3 UP`},
		{"agent conditionally succeeded, backup, down", agentDown, true, true, LevelInfo,
			`Agent check for backup server be/bk conditionally succeeded, reason: Layer7 check conditionally passed, code: 404, status: 1/2 DOWN`},
		{"server state: no mail", &bus.Event{Type: bus.ServerState, Server: &bus.ServerRef{Name: "s1", ProxyName: "be"}}, true, false, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			msg, level, ok := NativeMessage(tc.e, tc.lhc)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v (msg %q)", ok, tc.ok, msg)
			}
			if !ok {
				return
			}
			if level != tc.level {
				t.Errorf("level = %s, want %s", LevelName(level), LevelName(tc.level))
			}
			if tc.want != "" && msg != tc.want {
				t.Errorf("msg:\n got %s\nwant %s", msg, tc.want)
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	bd := &bus.Event{Type: bus.BackendDown, Backend: &bus.BackendInfo{ProxyName: "be"}}
	if got := Describe(bd); got != "backend be has no server available!" {
		t.Errorf("BACKEND_DOWN: %q", got)
	}
	if got := Describe(downEvent(1, "be", "s1")); got != wantDown {
		t.Errorf("SERVER_DOWN: %q", got)
	}
	st := &bus.Event{Type: bus.ServerState, Server: &bus.ServerRef{Name: "s1", ProxyName: "be"},
		State: &bus.StateChange{OldState: "RUNNING", NewState: "STOPPING"}}
	if got := Describe(st); got != "SERVER_STATE be/s1 RUNNING -> STOPPING" {
		t.Errorf("SERVER_STATE: %q", got)
	}
}

func TestParseLevel(t *testing.T) {
	for in, want := range map[string]int{"": LevelAlert, "emerg": 0, "alert": 1, "notice": 5, "INFO": 6, "debug": 7} {
		got, err := ParseLevel(in)
		if err != nil || got != want {
			t.Errorf("ParseLevel(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud): no error")
	}
}
