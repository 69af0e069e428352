package bus

import (
	"strings"
	"time"
)

// Type is an event type. Its String form is the HAProxy name ("SERVER_DOWN").
type Type uint8

// Event types. The SERVER family follows HAProxy 2.8+; the BACKEND family is ours.
const (
	TypeNone Type = iota
	ServerAdd
	ServerDel
	ServerUp
	ServerDown
	ServerState
	ServerAdmin
	ServerCheck
	ServerInetAddr
	BackendDown
	BackendUp
	numTypes
)

var typeNames = [...]string{
	TypeNone:       "NONE",
	ServerAdd:      "SERVER_ADD",
	ServerDel:      "SERVER_DEL",
	ServerUp:       "SERVER_UP",
	ServerDown:     "SERVER_DOWN",
	ServerState:    "SERVER_STATE",
	ServerAdmin:    "SERVER_ADMIN",
	ServerCheck:    "SERVER_CHECK",
	ServerInetAddr: "SERVER_INETADDR",
	BackendDown:    "BACKEND_DOWN",
	BackendUp:      "BACKEND_UP",
}

// String returns the HAProxy name of t ("SERVER_DOWN"), "NONE" for TypeNone
// and "UNKNOWN" for values outside the defined range.
func (t Type) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return "UNKNOWN"
}

// Family returns "SERVER" or "BACKEND" ("" for TypeNone).
func (t Type) Family() string {
	switch t {
	case BackendDown, BackendUp:
		return "BACKEND"
	case TypeNone:
		return ""
	}
	return "SERVER"
}

// ServerRef identifies a server the way HAProxy's event data does.
type ServerRef struct {
	Name      string `json:"name"`
	PUID      int    `json:"puid"`
	RID       int    `json:"rid"`
	ProxyName string `json:"proxy_name"`
	ProxyUUID int    `json:"proxy_uuid"`
}

// StateChange is the "state" object of SERVER_STATE (and of SERVER_UP/DOWN
// published by the same update).
type StateChange struct {
	Admin    bool         `json:"admin"`
	Cause    string       `json:"cause"`
	OldState string       `json:"old_state"` // STOPPED, STARTING, RUNNING, STOPPING
	NewState string       `json:"new_state"`
	Requeued int          `json:"requeued"`
	Check    *CheckResult `json:"check,omitempty"`
}

// AdminChange is the "admin" object of SERVER_ADMIN.
type AdminChange struct {
	Cause    string     `json:"cause"`
	OldAdmin AdminFlags `json:"old_admin"`
	NewAdmin AdminFlags `json:"new_admin"`
	Requeued int        `json:"requeued"`
}

// AdminFlags is the admin bit mask of a server (HAProxy's srv_admin values).
// Its JSON and Lua forms are maps of the eight booleans MAINT, FMAINT, IMAINT,
// RMAINT, CMAINT, DRAIN, FDRAIN, IDRAIN.
type AdminFlags uint8

// Admin bits.
const (
	FMaint AdminFlags = 0x01
	IMaint AdminFlags = 0x02
	CMaint AdminFlags = 0x04
	FDrain AdminFlags = 0x08
	IDrain AdminFlags = 0x10
	RMaint AdminFlags = 0x20
	HMaint AdminFlags = 0x40 // FQDN_CHANGED in recent HAProxy

	// MaintMask is HAProxy's SRV_ADMF_MAINT: CMAINT is not part of it (a
	// "disabled" server also has FMAINT, which "enable server" clears).
	MaintMask AdminFlags = FMaint | IMaint | RMaint
	DrainMask AdminFlags = FDrain | IDrain
)

// CheckResult is HAProxy's CheckRes table.
type CheckResult struct {
	Agent    bool        `json:"agent"`
	Result   string      `json:"result"`   // "FAILED", "PASSED", "CONDPASS" ("" for unknown)
	Duration int         `json:"duration"` // ms, -1 when unknown
	Reason   CheckReason `json:"reason"`
	Health   Health      `json:"health"`
}

// CheckReason describes a check status.
type CheckReason struct {
	Short string `json:"short"`          // L4OK, L7STS...
	Desc  string `json:"desc"`           // "Layer7 wrong status"
	Code  int    `json:"code,omitempty"` // only for layer 5-7 results
	Info  string `json:"info,omitempty"` // extra text such as "Connection refused"
}

// Health is the check health counter.
type Health struct {
	Cur  int `json:"cur"`
	Rise int `json:"rise"`
	Fall int `json:"fall"`
}

// BackendInfo is the "backend" object of BACKEND_DOWN/BACKEND_UP; it is also
// attached to server events as a snapshot of the server's backend.
type BackendInfo struct {
	ProxyName string `json:"proxy_name"`
	ProxyUUID int    `json:"proxy_uuid"`
	Active    int    `json:"active"` // usable active servers after the change
	Backup    int    `json:"backup"` // usable backup servers after the change
}

// Snapshot carries what alert texts need about the server at publish time
// (ours; HAProxy readers look these up live).
type Snapshot struct {
	Backup        bool   `json:"backup"`
	Tracking      string `json:"tracking,omitempty"` // "be/srv" when the server tracks another one
	Draining      bool   `json:"draining"`
	Weight        int    `json:"weight"`
	CurSess       int    `json:"cur_sess"`
	Queue         int    `json:"queue"`
	BackendActive int    `json:"backend_active"`
	BackendBackup int    `json:"backend_backup"`
	Addr          string `json:"addr,omitempty"`
}

// Event is one bus event. Publishers fill Type and the payload; the bus stamps
// When (if zero), Seq and Instance (if empty).
//
// An Event is immutable once published: the bus hands the same pointer to
// every subscriber and keeps it in its history, so neither the publisher nor
// any subscriber may modify it (or anything it points to) after Publish, and
// an Event must not be published twice. Publishers build a fresh Event (and
// fresh payload structs) for every publication.
type Event struct {
	Type     Type         `json:"-"`
	When     time.Time    `json:"-"`
	Seq      uint64       `json:"seq"`
	Instance string       `json:"instance"`
	Server   *ServerRef   `json:"server,omitempty"`
	State    *StateChange `json:"state,omitempty"`
	Admin    *AdminChange `json:"admin,omitempty"`
	Check    *CheckResult `json:"check,omitempty"`
	Backend  *BackendInfo `json:"backend,omitempty"`
	Snapshot *Snapshot    `json:"snapshot,omitempty"`
}

// Valid reports whether t is one of the defined event types (not TypeNone).
func (t Type) Valid() bool { return t > TypeNone && t < numTypes }

// AllTypes returns every valid event type in declaration order.
func AllTypes() []Type {
	ts := make([]Type, 0, numTypes-1)
	for t := TypeNone + 1; t < numTypes; t++ {
		ts = append(ts, t)
	}
	return ts
}

// adminNames lists the eight keys of the admin maps in HAProxy's order.
var adminNames = [...]string{"MAINT", "FMAINT", "IMAINT", "RMAINT", "CMAINT", "DRAIN", "FDRAIN", "IDRAIN"}

// adminBits maps the individual bit keys to their flags; MAINT and DRAIN are
// derived from the masks and have no bit of their own.
var adminBits = [...]struct {
	name string
	bit  AdminFlags
}{
	{"FMAINT", FMaint}, {"IMAINT", IMaint}, {"RMAINT", RMaint}, {"CMAINT", CMaint},
	{"FDRAIN", FDrain}, {"IDRAIN", IDrain}, {"HMAINT", HMaint},
}

// IsMaint reports whether any maintenance bit (FMAINT, IMAINT, RMAINT, CMAINT) is set.
func (f AdminFlags) IsMaint() bool { return f&MaintMask != 0 }

// IsDrain reports whether any drain bit (FDRAIN, IDRAIN) is set.
func (f AdminFlags) IsDrain() bool { return f&DrainMask != 0 }

// has returns the value of one of the eight map keys.
func (f AdminFlags) has(key string) bool {
	switch key {
	case "MAINT":
		return f.IsMaint()
	case "DRAIN":
		return f.IsDrain()
	}
	for _, b := range adminBits {
		if b.name == key {
			return f&b.bit != 0
		}
	}
	return false
}

// Map returns the Lua/JSON form of f: the eight keys MAINT, FMAINT, IMAINT,
// RMAINT, CMAINT, DRAIN, FDRAIN, IDRAIN, every one present. MAINT and DRAIN
// are true when any bit of MaintMask / DrainMask is set. HMaint has no key.
func (f AdminFlags) Map() map[string]bool {
	m := make(map[string]bool, len(adminNames))
	for _, k := range adminNames {
		m[k] = f.has(k)
	}
	return m
}

// String returns the set bits joined by "|" (e.g. "FMAINT|FDRAIN"), or
// "none" when no bit is set.
func (f AdminFlags) String() string {
	if f == 0 {
		return "none"
	}
	var sb strings.Builder
	for _, b := range adminBits {
		if f&b.bit != 0 {
			if sb.Len() > 0 {
				sb.WriteByte('|')
			}
			sb.WriteString(b.name)
		}
	}
	if rest := f &^ (MaintMask | CMaint | DrainMask | HMaint); rest != 0 {
		if sb.Len() > 0 {
			sb.WriteByte('|')
		}
		sb.WriteString("0x")
		sb.WriteString(strings.ToUpper(hexByte(byte(rest))))
	}
	return sb.String()
}

func hexByte(b byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[b>>4], digits[b&0xF]})
}
