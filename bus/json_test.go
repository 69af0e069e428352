package bus

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// The DESIGN §4.3 example, with "when" matching "time" (the example's
// 1795350000 is 12:20:00Z, not 12:00:00Z).
const designJSON = `{"type":"SERVER_DOWN","when":1795348800,"time":"2026-11-22T12:00:00Z","seq":42,` +
	`"instance":"lb1","server":{"name":"s1","puid":1,"rid":0,"proxy_name":"be","proxy_uuid":3},` +
	`"state":{"admin":false,"cause":"","old_state":"RUNNING","new_state":"STOPPED","requeued":0,` +
	`"check":{"agent":false,"result":"FAILED","duration":1,"reason":{"short":"L7STS","desc":"...","code":503},` +
	`"health":{"cur":0,"rise":2,"fall":2}}}}`

func designEvent() *Event {
	return &Event{
		Type:     ServerDown,
		When:     time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC),
		Seq:      42,
		Instance: "lb1",
		Server:   &ServerRef{Name: "s1", PUID: 1, RID: 0, ProxyName: "be", ProxyUUID: 3},
		State: &StateChange{OldState: "RUNNING", NewState: "STOPPED", Check: &CheckResult{
			Result: "FAILED", Duration: 1,
			Reason: CheckReason{Short: "L7STS", Desc: "...", Code: 503},
			Health: Health{Cur: 0, Rise: 2, Fall: 2},
		}},
	}
}

func TestMarshalDesignForm(t *testing.T) {
	got, err := json.Marshal(designEvent())
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != designJSON {
		t.Fatalf("got\n%s\nwant\n%s", got, designJSON)
	}
	// A local-zone When still prints in UTC.
	e := designEvent()
	e.When = e.When.In(time.FixedZone("X", 3600))
	got2, _ := json.Marshal(e)
	if string(got2) != designJSON {
		t.Fatalf("non-UTC When: got %s", got2)
	}
}

func TestMarshalAdminAndBackend(t *testing.T) {
	adm := &Event{
		Type: ServerAdmin, When: time.Unix(100, 0), Seq: 1, Instance: "i",
		Server: &ServerRef{Name: "s", PUID: 2, RID: 1, ProxyName: "p", ProxyUUID: 9},
		Admin:  &AdminChange{Cause: "cli", OldAdmin: 0, NewAdmin: FMaint | FDrain, Requeued: 3},
	}
	got, err := json.Marshal(adm)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"SERVER_ADMIN","when":100,"time":"1970-01-01T00:01:40Z","seq":1,"instance":"i",` +
		`"server":{"name":"s","puid":2,"rid":1,"proxy_name":"p","proxy_uuid":9},"admin":{"cause":"cli",` +
		`"old_admin":{"MAINT":false,"FMAINT":false,"IMAINT":false,"RMAINT":false,"CMAINT":false,"DRAIN":false,"FDRAIN":false,"IDRAIN":false},` +
		`"new_admin":{"MAINT":true,"FMAINT":true,"IMAINT":false,"RMAINT":false,"CMAINT":false,"DRAIN":true,"FDRAIN":true,"IDRAIN":false},` +
		`"requeued":3}}`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	be := &Event{Type: BackendDown, When: time.Unix(5, 0), Seq: 7, Instance: "i",
		Backend: &BackendInfo{ProxyName: "app", ProxyUUID: 4}}
	got, _ = json.Marshal(be)
	want = `{"type":"BACKEND_DOWN","when":5,"time":"1970-01-01T00:00:05Z","seq":7,"instance":"i",` +
		`"backend":{"proxy_name":"app","proxy_uuid":4,"active":0,"backup":0}}`
	if string(got) != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}

	zero, _ := json.Marshal(&Event{Type: ServerAdd})
	if string(zero) != `{"type":"SERVER_ADD","when":0,"time":"","seq":0,"instance":""}` {
		t.Fatalf("zero event: %s", zero)
	}
}

func TestJSONRoundTrip(t *testing.T) {
	full := &Event{
		Type: ServerState, When: time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC), Seq: 99, Instance: "lb-2",
		Server: &ServerRef{Name: "web 1", PUID: 3, RID: 2, ProxyName: "be.x", ProxyUUID: 7},
		State: &StateChange{Admin: true, Cause: "maint", OldState: "RUNNING", NewState: "STOPPING", Requeued: 4,
			Check: &CheckResult{Agent: true, Result: "CONDPASS", Duration: -1,
				Reason: CheckReason{Short: "L4CON", Desc: "Layer4 connection problem", Info: "Connection refused"},
				Health: Health{Cur: 1, Rise: 3, Fall: 2}}},
		Admin:   &AdminChange{Cause: "c", OldAdmin: IMaint | RMaint | CMaint, NewAdmin: IDrain | FMaint, Requeued: 1},
		Check:   &CheckResult{Result: "PASSED", Duration: 12, Reason: CheckReason{Short: "L7OK", Desc: "ok", Code: 200}},
		Backend: &BackendInfo{ProxyName: "be.x", ProxyUUID: 7, Active: 2, Backup: 1},
		Snapshot: &Snapshot{Backup: true, Tracking: "b/s", Draining: true, Weight: 50, CurSess: 3, Queue: 1,
			BackendActive: 2, BackendBackup: 1, Addr: "10.0.0.1:80"},
	}
	cases := []*Event{full, designEvent(), {Type: BackendUp, When: time.Unix(1, 0).UTC(), Seq: 1,
		Backend: &BackendInfo{ProxyName: "b"}}}
	for _, e := range cases {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatalf("%s: %v", data, err)
		}
		if !back.When.Equal(e.When) {
			t.Fatalf("when: got %v want %v", back.When, e.When)
		}
		back.When = e.When
		if !reflect.DeepEqual(&back, e) {
			t.Fatalf("round trip mismatch:\n got %+v\nwant %+v", back, *e)
		}
		again, _ := json.Marshal(&back)
		if string(again) != string(data) {
			t.Fatalf("re-marshal differs:\n%s\n%s", again, data)
		}
	}
}

func TestUnmarshalErrors(t *testing.T) {
	var e Event
	err := json.Unmarshal([]byte(`{"type":"PAT_REF_ADD"}`), &e)
	var ute *UnknownTypeError
	if !errors.As(err, &ute) || ute.Name != "PAT_REF_ADD" {
		t.Fatalf("unknown type: %v", err)
	}
	if err := json.Unmarshal([]byte(`{"type":"SERVER_UP","time":"yesterday"}`), &e); err == nil {
		t.Fatal("bad time accepted")
	}
	if err := json.Unmarshal([]byte(`{"type":"SERVER_UP","when":60}`), &e); err != nil || e.When.Unix() != 60 {
		t.Fatalf("when only: %v %v", err, e.When)
	}
	if err := json.Unmarshal([]byte(`{"type":"SERVER_UP","admin":{"old_admin":[1]}}`), &e); err == nil {
		t.Fatal("bad admin map accepted")
	}
}

func TestAdminFlags(t *testing.T) {
	cases := []struct {
		f            AdminFlags
		maint, drain bool
		str          string
		keys         []string // keys that are true
	}{
		{0, false, false, "none", nil},
		{FMaint, true, false, "FMAINT", []string{"MAINT", "FMAINT"}},
		{IMaint | IDrain, true, true, "IMAINT|IDRAIN", []string{"MAINT", "IMAINT", "DRAIN", "IDRAIN"}},
		{CMaint, false, false, "CMAINT", []string{"CMAINT"}}, // not part of HAProxy's MAINT mask
		{RMaint | FDrain, true, true, "RMAINT|FDRAIN", []string{"MAINT", "RMAINT", "DRAIN", "FDRAIN"}},
		{HMaint, false, false, "HMAINT", nil},
		{FDrain | 0x80, false, true, "FDRAIN|0x80", []string{"DRAIN", "FDRAIN"}},
	}
	for _, c := range cases {
		t.Run(c.str, func(t *testing.T) {
			if c.f.IsMaint() != c.maint || c.f.IsDrain() != c.drain {
				t.Fatalf("IsMaint/IsDrain = %v/%v", c.f.IsMaint(), c.f.IsDrain())
			}
			if c.f.String() != c.str {
				t.Fatalf("String = %q", c.f.String())
			}
			m := c.f.Map()
			if len(m) != 8 {
				t.Fatalf("map has %d keys", len(m))
			}
			want := map[string]bool{}
			for _, k := range adminNames {
				want[k] = false
			}
			for _, k := range c.keys {
				want[k] = true
			}
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("Map = %v want %v", m, want)
			}
			data, _ := json.Marshal(c.f)
			var back AdminFlags
			if err := json.Unmarshal(data, &back); err != nil {
				t.Fatal(err)
			}
			if back != c.f&^(HMaint|0x80) {
				t.Fatalf("round trip %v -> %s -> %v", c.f, data, back)
			}
		})
	}
}

func TestParseTypes(t *testing.T) {
	got, err := ParseTypes([]string{"SERVER_DOWN", "SERVER_UP", "SERVER_DOWN"})
	if err != nil || !reflect.DeepEqual(got, []Type{ServerUp, ServerDown}) {
		t.Fatalf("got %v %v", got, err)
	}
	got, err = ParseTypes([]string{"BACKEND", "SERVER_ADD"})
	if err != nil || !reflect.DeepEqual(got, []Type{ServerAdd, BackendDown, BackendUp}) {
		t.Fatalf("family: %v %v", got, err)
	}
	got, err = ParseTypes([]string{"SERVER"})
	if err != nil || len(got) != 8 || got[0] != ServerAdd || got[7] != ServerInetAddr {
		t.Fatalf("SERVER family: %v %v", got, err)
	}
	for _, bad := range []string{"server_down", "PAT_REF", "NONE", "UNKNOWN", ""} {
		_, err = ParseTypes([]string{"SERVER_UP", bad})
		if err == nil || err.Error() != "'"+bad+"' event type is unknown" {
			t.Fatalf("%q: %v", bad, err)
		}
	}
	if _, err = ParseTypes(nil); !errors.Is(err, ErrNoTypes) ||
		err.Error() != "event_sub: no valid event types were provided" {
		t.Fatalf("empty: %v", err)
	}
	for _, ty := range AllTypes() {
		if p, ok := ParseType(ty.String()); !ok || p != ty {
			t.Fatalf("ParseType(%s) = %v %v", ty, p, ok)
		}
	}
	if Type(200).String() != "UNKNOWN" || Type(200).Valid() || TypeNone.Valid() {
		t.Fatal("out of range type")
	}
}
