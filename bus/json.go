package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// eventJSON fixes the JSON form of an Event (DESIGN §4.3) and its key order.
type eventJSON struct {
	Type     string       `json:"type"`
	When     int64        `json:"when"`
	Time     string       `json:"time"`
	Seq      uint64       `json:"seq"`
	Instance string       `json:"instance"`
	Server   *ServerRef   `json:"server,omitempty"`
	State    *StateChange `json:"state,omitempty"`
	Admin    *AdminChange `json:"admin,omitempty"`
	Check    *CheckResult `json:"check,omitempty"`
	Backend  *BackendInfo `json:"backend,omitempty"`
	Snapshot *Snapshot    `json:"snapshot,omitempty"`
}

// MarshalJSON returns the JSON form of e (DESIGN §4.3):
//
//	{"type":"SERVER_DOWN","when":1795350000,"time":"2026-11-22T12:00:00Z",
//	 "seq":42,"instance":"lb1","server":{...},"state":{...,"check":{...}}}
//
// followed, when present, by "admin", "check", "backend" and "snapshot".
// "when" is epoch seconds; "time" is RFC 3339 in UTC with the fraction of
// a second when there is one (so it round-trips). A zero When gives
// "when":0 and "time":"". The value receiver makes Event and *Event encode
// alike.
func (e Event) MarshalJSON() ([]byte, error) {
	j := eventJSON{
		Type:     e.Type.String(),
		Seq:      e.Seq,
		Instance: e.Instance,
		Server:   e.Server,
		State:    e.State,
		Admin:    e.Admin,
		Check:    e.Check,
		Backend:  e.Backend,
		Snapshot: e.Snapshot,
	}
	if !e.When.IsZero() {
		j.When = e.When.Unix()
		j.Time = e.When.UTC().Format(time.RFC3339Nano)
	}
	return json.Marshal(&j)
}

// MarshalText returns the type name, so a Type encodes as "SERVER_DOWN" in
// JSON values and map keys.
func (t Type) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses a type name; unknown names are an *UnknownTypeError.
func (t *Type) UnmarshalText(b []byte) error {
	v, ok := ParseType(string(b))
	if !ok {
		return &UnknownTypeError{Name: string(b)}
	}
	*t = v
	return nil
}

// UnmarshalJSON reads the form MarshalJSON writes. The type must be a known
// type name; "time" is preferred over "when" when both are present.
func (e *Event) UnmarshalJSON(data []byte) error {
	var j eventJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return fmt.Errorf("bus: event: %w", err)
	}
	t, ok := ParseType(j.Type)
	if !ok {
		return fmt.Errorf("bus: event: %w", &UnknownTypeError{Name: j.Type})
	}
	var when time.Time
	switch {
	case j.Time != "":
		w, err := time.Parse(time.RFC3339Nano, j.Time)
		if err != nil {
			return fmt.Errorf("bus: event time: %w", err)
		}
		when = w
	case j.When != 0:
		when = time.Unix(j.When, 0).UTC()
	}
	*e = Event{
		Type:     t,
		When:     when,
		Seq:      j.Seq,
		Instance: j.Instance,
		Server:   j.Server,
		State:    j.State,
		Admin:    j.Admin,
		Check:    j.Check,
		Backend:  j.Backend,
		Snapshot: j.Snapshot,
	}
	return nil
}

// MarshalJSON writes f as the map of the eight booleans MAINT, FMAINT,
// IMAINT, RMAINT, CMAINT, DRAIN, FDRAIN, IDRAIN, in that order, every key
// present. HMaint is not represented.
func (f AdminFlags) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(128)
	buf.WriteByte('{')
	for i, k := range adminNames {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('"')
		buf.WriteString(k)
		buf.WriteString(`":`)
		if f.has(k) {
			buf.WriteString("true")
		} else {
			buf.WriteString("false")
		}
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// UnmarshalJSON reads the map form. The individual bits come from FMAINT,
// IMAINT, RMAINT, CMAINT, FDRAIN, IDRAIN (and HMAINT if present); the
// derived MAINT and DRAIN keys and unknown keys are ignored.
func (f *AdminFlags) UnmarshalJSON(data []byte) error {
	var m map[string]bool
	if err := json.Unmarshal(data, &m); err != nil {
		return fmt.Errorf("bus: admin flags: %w", err)
	}
	var v AdminFlags
	for _, b := range adminBits {
		if m[b.name] {
			v |= b.bit
		}
	}
	*f = v
	return nil
}
