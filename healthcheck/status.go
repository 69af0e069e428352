package healthcheck

import (
	"strconv"
	"strings"
	"time"
)

// Status is a check status. Its numeric value is HAProxy's (enum
// healthcheck_status in include/haproxy/check-t.h), so it can be written as is
// in the srv_check_status column of "show servers state". Value 2 (START) and
// 14 (the layer 5-7 data marker) are internal to HAProxy and unused here.
type Status uint8

// Check statuses (reference §5.4).
const (
	StatusUnknown  Status = 0  // UNK: Unknown
	StatusInit     Status = 1  // INI: Initializing
	StatusChecked  Status = 3  // CHECKED: No status change
	StatusHANA     Status = 4  // HANA: Health analyze (passive checks)
	StatusSockErr  Status = 5  // SOCKERR: Socket error
	StatusL4OK     Status = 6  // L4OK: Layer4 check passed
	StatusL4TOUT   Status = 7  // L4TOUT: Layer4 timeout
	StatusL4CON    Status = 8  // L4CON: Layer4 connection problem
	StatusL6OK     Status = 9  // L6OK: Layer6 check passed
	StatusL6TOUT   Status = 10 // L6TOUT: Layer6 timeout
	StatusL6RSP    Status = 11 // L6RSP: Layer6 invalid response
	StatusL7TOUT   Status = 12 // L7TOUT: Layer7 timeout
	StatusL7RSP    Status = 13 // L7RSP: Layer7 invalid response
	StatusL7OK     Status = 15 // L7OK: Layer7 check passed
	StatusL7OKC    Status = 16 // L7OKC: Layer7 check conditionally passed
	StatusL7STS    Status = 17 // L7STS: Layer7 wrong status
	StatusProcErr  Status = 18 // PROCERR: External check error
	StatusProcTOUT Status = 19 // PROCTOUT: External check timeout
	StatusProcOK   Status = 20 // PROCOK: External check passed

	statusL57Data Status = 14 // statuses from here on carry a code
	numStatuses          = 21
)

// ResultClass is the outcome class of a status. Its numeric value is HAProxy's
// srv_check_result, as in the srv_check_result column of "show servers state".
type ResultClass uint8

// Result classes.
const (
	ResultUnknown  ResultClass = 0
	ResultNeutral  ResultClass = 1
	ResultFailed   ResultClass = 2
	ResultPassed   ResultClass = 3
	ResultCondPass ResultClass = 4
)

// String returns the name used in events and Lua ("FAILED", "PASSED",
// "CONDPASS"); unknown and neutral results have an empty name (Lua nil).
func (c ResultClass) String() string {
	switch c {
	case ResultFailed:
		return "FAILED"
	case ResultPassed:
		return "PASSED"
	case ResultCondPass:
		return "CONDPASS"
	}
	return ""
}

type statusInfo struct {
	short, desc string
	class       ResultClass
}

var statusTable = [numStatuses]statusInfo{
	StatusUnknown:  {"UNK", "Unknown", ResultUnknown},
	StatusInit:     {"INI", "Initializing", ResultUnknown},
	StatusChecked:  {"CHECKED", "No status change", ResultNeutral},
	StatusHANA:     {"HANA", "Health analyze", ResultFailed},
	StatusSockErr:  {"SOCKERR", "Socket error", ResultFailed},
	StatusL4OK:     {"L4OK", "Layer4 check passed", ResultPassed},
	StatusL4TOUT:   {"L4TOUT", "Layer4 timeout", ResultFailed},
	StatusL4CON:    {"L4CON", "Layer4 connection problem", ResultFailed},
	StatusL6OK:     {"L6OK", "Layer6 check passed", ResultPassed},
	StatusL6TOUT:   {"L6TOUT", "Layer6 timeout", ResultFailed},
	StatusL6RSP:    {"L6RSP", "Layer6 invalid response", ResultFailed},
	StatusL7TOUT:   {"L7TOUT", "Layer7 timeout", ResultFailed},
	StatusL7RSP:    {"L7RSP", "Layer7 invalid response", ResultFailed},
	StatusL7OK:     {"L7OK", "Layer7 check passed", ResultPassed},
	StatusL7OKC:    {"L7OKC", "Layer7 check conditionally passed", ResultCondPass},
	StatusL7STS:    {"L7STS", "Layer7 wrong status", ResultFailed},
	StatusProcErr:  {"PROCERR", "External check error", ResultFailed},
	StatusProcTOUT: {"PROCTOUT", "External check timeout", ResultFailed},
	StatusProcOK:   {"PROCOK", "External check passed", ResultPassed},
}

func (s Status) info() statusInfo {
	if int(s) < len(statusTable) && statusTable[s].short != "" {
		return statusTable[s]
	}
	return statusTable[StatusUnknown]
}

// Short returns the name shown in stats ("L4CON").
func (s Status) Short() string { return s.info().short }

// String returns Short.
func (s Status) String() string { return s.Short() }

// Desc returns the description used in logs ("Layer4 connection problem").
func (s Status) Desc() string { return s.info().desc }

// Class returns the result class (PASSED, FAILED...).
func (s Status) Class() ResultClass { return s.info().class }

// HasCode reports whether the status carries a layer 5-7 code, which the
// reason text and events then show (L7OK, L7OKC, L7STS and the external-check
// statuses).
func (s Status) HasCode() bool { return s > statusL57Data && int(s) < numStatuses }

// ParseStatus returns the status whose short name is name ("L7OK").
func ParseStatus(name string) (Status, bool) {
	for i, si := range statusTable {
		if si.short != "" && si.short == name {
			return Status(i), true
		}
	}
	return StatusUnknown, false
}

// Result is the outcome of one check.
type Result struct {
	Status Status
	// Code is the layer 5-7 code (HTTP status, SMTP reply code); meaningful
	// only when Status.HasCode().
	Code int
	// Info is the free text HAProxy calls the check description
	// ("Connection refused", an HTTP reason phrase, "via agent : down").
	Info string
	// Duration is how long the check took; negative when unknown (passive
	// check results).
	Duration time.Duration
}

// Class returns the result class of the status.
func (r Result) Class() ResultClass { return r.Status.Class() }

// DurationMS returns the duration in whole milliseconds, -1 when unknown: the
// value of the check_duration stats field and of the event "duration".
func (r Result) DurationMS() int {
	if r.Duration < 0 {
		return -1
	}
	return int(r.Duration / time.Millisecond)
}

// Reason returns HAProxy's check details text (check_append_info):
// ", reason: <desc>[, code: <n>][, info: "<text>"][, check duration: <N>ms]".
// It is appended to "Server be/srv is DOWN" lines, log-health-checks lines and
// mails.
func (r Result) Reason() string {
	var b strings.Builder
	r.appendReason(&b)
	return b.String()
}

func (r Result) appendReason(b *strings.Builder) {
	b.WriteString(", reason: ")
	b.WriteString(r.Status.Desc())
	if r.Status.HasCode() {
		b.WriteString(", code: ")
		b.WriteString(strconv.Itoa(r.Code))
	}
	if r.Info != "" {
		b.WriteString(`, info: "`)
		asciiEncode(b, r.Info, '"')
		b.WriteByte('"')
	}
	if r.Duration >= 0 {
		b.WriteString(", check duration: ")
		b.WriteString(strconv.Itoa(r.DurationMS()))
		b.WriteString("ms")
	}
}

// asciiEncode writes s, replacing non-printable bytes and the quote character
// with \xHH as HAProxy's chunk_asciiencode does.
func asciiEncode(b *strings.Builder, s string, quote byte) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == quote {
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
}

// Kind tells a health check from an agent check.
type Kind uint8

// Check kinds.
const (
	KindHealth Kind = iota
	KindAgent
)

// String returns "Health" or "Agent", the words HAProxy's logs start with.
func (k Kind) String() string {
	if k == KindAgent {
		return "Agent"
	}
	return "Health"
}

// LogLine builds the "option log-health-checks" line (reference §5.6):
//
//	Health|Agent check for [backup ]server <be>/<srv> [conditionally ]succeeded|failed<reason>, status: <a>/<b> <UP|DRAIN|DOWN>.
//
// h is the health after the update; drain is true when the server's weight is
// 0 (HAProxy prints DRAIN instead of UP then).
func LogLine(kind Kind, backend, server string, backup bool, r Result, h Health, drain bool) string {
	var b strings.Builder
	b.WriteString(kind.String())
	b.WriteString(" check for ")
	if backup {
		b.WriteString("backup ")
	}
	b.WriteString("server ")
	b.WriteString(backend)
	b.WriteByte('/')
	b.WriteString(server)
	b.WriteByte(' ')
	switch r.Class() {
	case ResultCondPass:
		b.WriteString("conditionally succeeded")
	case ResultPassed:
		b.WriteString("succeeded")
	default:
		b.WriteString("failed")
	}
	r.appendReason(&b)
	b.WriteString(", status: ")
	if h.IsUp() {
		b.WriteString(strconv.Itoa(h.Cur - h.Rise + 1))
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(h.Fall))
		if drain {
			b.WriteString(" DRAIN.")
		} else {
			b.WriteString(" UP.")
		}
	} else {
		b.WriteString(strconv.Itoa(h.Cur))
		b.WriteByte('/')
		b.WriteString(strconv.Itoa(h.Rise))
		b.WriteString(" DOWN.")
	}
	return b.String()
}
