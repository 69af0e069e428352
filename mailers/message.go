package mailers

import (
	"fmt"
	"strings"

	"moonbus/bus"
)

// opCauses maps HAProxy's operational cause names (srv_op_st_chg_cause) to
// their log text, for publishers that put the enum name in StateChange.Cause.
// The preferred form of Cause is the text itself ("changed from CLI").
var opCauses = map[string]string{
	"CLI":       "changed from CLI",
	"LUA":       "changed from Lua script",
	"STATS_WEB": "changed from Web interface",
	"STATEFILE": "changed from server-state after a reload",
	"HEALTH":    "",
	"AGENT":     "",
	"NONE":      "",
}

// statusesWithCode are the check statuses whose reason text carries the
// response code (HAProxy prints it from HCHK_STATUS_L57DATA on).
var statusesWithCode = map[string]bool{
	"L7OK": true, "L7OKC": true, "L7STS": true, "PROCERR": true, "PROCTOUT": true, "PROCOK": true,
}

// NativeMessage decides, as HAProxy's native mailer did up to 3.2 (reference
// §7.2), whether event e sends a mail, at which syslog level, and with which
// <msg> (the log text of reference §4.5/§5.6 without its final dot):
//
//   - SERVER_DOWN not caused by an admin change: "[Backup ]Server be/s is
//     DOWN[ via tbe/ts]<cause>. A active and B backup servers left.[ Running
//     on backup.] C sessions active, R requeued, Q remaining in queue", at
//     alert, or notice when the server was stopping (old state STOPPING) or
//     draining.
//   - SERVER_UP not caused by an admin change: "[Backup ]Server be/s is
//     UP[ via tbe/ts]<cause>. A active and B backup servers online.[ Running
//     on backup.] R sessions requeued, Q total in queue", at notice.
//   - SERVER_ADMIN entering DRAIN (and not MAINT): "[Backup ]Server be/s
//     enters drain state[ via tbe/ts][ (<admin cause>)]" plus the DOWN
//     tail, at notice.
//   - SERVER_CHECK, only when logHealthChecks: "Health|Agent check for
//     [backup ]server be/s [conditionally ]succeeded|failed<reason>, status:
//     a/b UP|DRAIN|DOWN", at info.
//   - anything else (admin-only MAINT changes, SERVER_STATE, NOLB...): no mail.
//
// <cause> is the check reason ", reason: <desc>[, code: <n>][, info:
// "<text>"][, check duration: <N>ms]" when State.Check is set, otherwise ", "
// followed by State.Cause, which publishers fill with HAProxy's text:
// "changed from CLI", "changed from Lua script", "changed from Web
// interface", "changed from server-state after a reload" (the enum names
// CLI, LUA, STATS_WEB, STATEFILE are accepted too). Counts come from
// e.Snapshot (e.Backend for the server counts when there is no snapshot).
func NativeMessage(e *bus.Event, logHealthChecks bool) (msg string, level int, ok bool) {
	if e == nil || e.Server == nil {
		return "", 0, false
	}
	switch e.Type {
	case bus.ServerDown:
		if e.State != nil && e.State.Admin {
			return "", 0, false
		}
		level = LevelAlert
		if (e.State != nil && e.State.OldState == "STOPPING") || (e.Snapshot != nil && e.Snapshot.Draining) {
			level = LevelNotice
		}
		return stateText(e, "is DOWN") + moreDown(e), level, true
	case bus.ServerUp:
		if e.State != nil && e.State.Admin {
			return "", 0, false
		}
		return stateText(e, "is UP") + moreUp(e), LevelNotice, true
	case bus.ServerAdmin:
		a := e.Admin
		if a == nil || a.NewAdmin&bus.MaintMask != 0 || a.NewAdmin&bus.DrainMask == 0 || a.OldAdmin&bus.DrainMask != 0 {
			return "", 0, false
		}
		var b strings.Builder
		b.WriteString(backupPrefix(e, "Backup "))
		fmt.Fprintf(&b, "Server %s enters drain state", serverName(e))
		if t := tracking(e); t != "" {
			b.WriteString(" via " + t)
		}
		if a.Cause != "" {
			fmt.Fprintf(&b, " (%s)", a.Cause)
		}
		return b.String() + moreDown(e), LevelNotice, true
	case bus.ServerCheck:
		if !logHealthChecks || e.Check == nil {
			return "", 0, false
		}
		return checkText(e), LevelInfo, true
	}
	return "", 0, false
}

// Describe returns a one-line human text for any event: NativeMessage's text
// when there is one (health checks included), HAProxy's "backend <name> has
// no server available!" for BACKEND_DOWN, and "<TYPE> <be>[/<srv>]" otherwise.
func Describe(e *bus.Event) string {
	if e == nil {
		return ""
	}
	if msg, _, ok := NativeMessage(e, true); ok {
		return msg
	}
	switch {
	case e.Type == bus.BackendDown && e.Backend != nil:
		return fmt.Sprintf("backend %s has no server available!", e.Backend.ProxyName)
	case e.Type == bus.BackendUp && e.Backend != nil:
		return fmt.Sprintf("backend %s has %d active and %d backup servers available again",
			e.Backend.ProxyName, e.Backend.Active, e.Backend.Backup)
	case e.Server != nil:
		s := fmt.Sprintf("%s %s", e.Type, serverName(e))
		if e.State != nil && e.State.OldState != "" {
			s += fmt.Sprintf(" %s -> %s", e.State.OldState, e.State.NewState)
		}
		return s
	case e.Backend != nil:
		return fmt.Sprintf("%s %s", e.Type, e.Backend.ProxyName)
	}
	return e.Type.String()
}

func serverName(e *bus.Event) string {
	return e.Server.ProxyName + "/" + e.Server.Name
}

func backupPrefix(e *bus.Event, p string) string {
	if e.Snapshot != nil && e.Snapshot.Backup {
		return p
	}
	return ""
}

func tracking(e *bus.Event) string {
	if e.Snapshot != nil {
		return e.Snapshot.Tracking
	}
	return ""
}

// stateText builds "[Backup ]Server be/s <what>[ via t]<cause>".
func stateText(e *bus.Event, what string) string {
	var b strings.Builder
	b.WriteString(backupPrefix(e, "Backup "))
	fmt.Fprintf(&b, "Server %s %s", serverName(e), what)
	if t := tracking(e); t != "" {
		b.WriteString(" via " + t)
	}
	if st := e.State; st != nil {
		switch {
		case st.Check != nil:
			b.WriteString(reasonText(st.Check))
		case st.Cause != "":
			c := strings.TrimPrefix(st.Cause, ", ")
			if t, known := opCauses[c]; known {
				c = t
			}
			if c != "" {
				b.WriteString(", " + c)
			}
		}
	}
	return b.String()
}

// reasonText is check_append_info: ", reason: <desc>[, code: <n>][, info:
// "<text>"][, check duration: <N>ms]".
func reasonText(c *bus.CheckResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, ", reason: %s", c.Reason.Desc)
	if statusesWithCode[c.Reason.Short] || (c.Reason.Short == "" && c.Reason.Code != 0) {
		fmt.Fprintf(&b, ", code: %d", c.Reason.Code)
	}
	if c.Reason.Info != "" {
		fmt.Fprintf(&b, ", info: \"%s\"", c.Reason.Info)
	}
	if c.Duration >= 0 {
		fmt.Fprintf(&b, ", check duration: %dms", c.Duration)
	}
	return b.String()
}

type counts struct{ act, bck, cur, queue, requeued int }

func countsOf(e *bus.Event) counts {
	var c counts
	if s := e.Snapshot; s != nil {
		c.act, c.bck, c.cur, c.queue = s.BackendActive, s.BackendBackup, s.CurSess, s.Queue
	} else if e.Backend != nil {
		c.act, c.bck = e.Backend.Active, e.Backend.Backup
	}
	if e.State != nil {
		c.requeued = e.State.Requeued
	} else if e.Admin != nil {
		c.requeued = e.Admin.Requeued
	}
	return c
}

func runningOnBackup(c counts) string {
	if c.act == 0 && c.bck > 0 {
		return " Running on backup."
	}
	return ""
}

// moreDown is srv_append_more for a server going down (or draining).
func moreDown(e *bus.Event) string {
	c := countsOf(e)
	return fmt.Sprintf(". %d active and %d backup servers left.%s %d sessions active, %d requeued, %d remaining in queue",
		c.act, c.bck, runningOnBackup(c), c.cur, c.requeued, c.queue)
}

// moreUp is srv_append_more for a server coming up.
func moreUp(e *bus.Event) string {
	c := countsOf(e)
	return fmt.Sprintf(". %d active and %d backup servers online.%s %d sessions requeued, %d total in queue",
		c.act, c.bck, runningOnBackup(c), c.requeued, c.queue)
}

// checkText is the log-health-checks line (reference §5.6).
func checkText(e *bus.Event) string {
	c := e.Check
	var b strings.Builder
	if c.Agent {
		b.WriteString("Agent")
	} else {
		b.WriteString("Health")
	}
	fmt.Fprintf(&b, " check for %sserver %s ", backupPrefix(e, "backup "), serverName(e))
	switch c.Result {
	case "PASSED":
		b.WriteString("succeeded")
	case "CONDPASS":
		b.WriteString("conditionally succeeded")
	default:
		b.WriteString("failed")
	}
	b.WriteString(reasonText(c))
	h := c.Health
	if h.Cur >= h.Rise {
		word := "UP"
		if e.Snapshot != nil && e.Snapshot.Weight == 0 {
			word = "DRAIN"
		}
		fmt.Fprintf(&b, ", status: %d/%d %s", h.Cur-h.Rise+1, h.Fall, word)
	} else {
		fmt.Fprintf(&b, ", status: %d/%d DOWN", h.Cur, h.Rise)
	}
	return b.String()
}
