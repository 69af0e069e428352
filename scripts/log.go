package scripts

import (
	"fmt"
	"strings"
	"time"
)

// Syslog levels as core.emerg .. core.debug expose them.
const (
	LevelEmerg = iota
	LevelAlert
	LevelCrit
	LevelErr
	LevelWarning
	LevelNotice
	LevelInfo
	LevelDebug
)

var levelNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// maxLogLen mirrors HAProxy's trash buffer (tune.bufsize): longer messages
// are cut and end in " ...".
const maxLogLen = 16384 - 1

// cleanLogMsg replaces non-printable bytes with '.' and cuts long messages,
// as hlua_sendlog does.
func cleanLogMsg(msg string) string {
	b := []byte(msg)
	cut := false
	if len(b) > maxLogLen {
		b = b[:maxLogLen]
		cut = true
	}
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '.'
		}
	}
	if cut {
		copy(b[len(b)-4:], " ...")
	}
	return string(b)
}

// sendLog implements core.log: loggers per tune.lua.log.loggers and a copy
// on stderr per tune.lua.log.stderr. proxyLog is the logger of the running
// entry's proxy (nil outside a stream).
func (rt *Runtime) sendLog(proxyLog Logger, level int, msg string) {
	msg = cleanLogMsg(msg)
	var target Logger
	loggersOn := rt.opts.LogLoggers != "off"
	if loggersOn {
		target = proxyLog
		if target == nil {
			target = rt.opts.Logger
		}
		if target != nil {
			target.Log(level, msg)
		}
	}
	toStderr := false
	switch rt.opts.LogStderr {
	case "on":
		toStderr = true
	case "off":
	default: // auto
		toStderr = !loggersOn || target == nil
	}
	if !toStderr || (level == LevelDebug && !rt.opts.Debug) {
		return
	}
	now := time.Now()
	name := "unknown"
	if level >= 0 && level < len(levelNames) {
		name = levelNames[level]
	}
	rt.writeStderr(fmt.Sprintf("[%s] %03d/%02d%02d%02d (%d) : %s\n", name, now.YearDay()-1, now.Hour(), now.Minute(), now.Second(), rt.pid, msg))
}

// sendErr reports an error line as HAProxy's SEND_ERR does: to the loggers
// at err level and to stderr as an alert.
func (rt *Runtime) sendErr(proxyLog Logger, msg string) {
	target := proxyLog
	if target == nil {
		target = rt.opts.Logger
	}
	if target != nil {
		target.Log(LevelErr, msg)
	}
	rt.writeStderr(fmt.Sprintf("[ALERT]    (%d) : %s\n", rt.pid, msg))
}

// warning prints a configuration-time warning as ha_warning does.
func (rt *Runtime) warning(msg string) {
	rt.writeStderr(fmt.Sprintf("[WARNING]  (%d) : %s\n", rt.pid, strings.TrimRight(msg, "\n")))
}

func (rt *Runtime) writeStderr(line string) {
	rt.logMu.Lock()
	defer rt.logMu.Unlock()
	_, _ = rt.opts.Stderr.Write([]byte(line))
}
