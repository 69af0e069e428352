package proxy

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"moonbus/config"
)

// Syslog levels.
const (
	levelEmerg   = 0
	levelAlert   = 1
	levelCrit    = 2
	levelErr     = 3
	levelWarning = 4
	levelNotice  = 5
	levelInfo    = 6
	levelDebug   = 7
)

var levelNames = [...]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// ParseLevel returns the syslog level number of a name, or -1.
func ParseLevel(s string) int {
	for i, n := range levelNames {
		if n == s {
			return i
		}
	}
	if s == "silent" {
		return -1
	}
	return -2
}

var facilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7,
	"uucp": 8, "cron": 9, "auth2": 10, "ftp": 11, "ntp": 12, "audit": 13, "alert": 14, "cron2": 15,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// logTarget is one "log" destination.
type logTarget struct {
	mu       sync.Mutex
	w        io.Writer
	closer   io.Closer
	format   string
	facility int
	maxLevel int
	minLevel int
	maxLen   int
	tag      string
	hostname string
	pid      string
	buf      []byte
}

// newLogTarget opens a log line's destination. stdout and stderr are the
// engine's writers so tests can capture them.
func newLogTarget(l *config.Log, g *config.Global, stdout, stderr io.Writer) (*logTarget, error) {
	t := &logTarget{format: l.Format, maxLen: l.Len, maxLevel: levelDebug, minLevel: levelEmerg, pid: strconv.Itoa(os.Getpid())}
	if t.format == "" {
		t.format = "rfc3164"
	}
	if t.maxLen <= 0 {
		t.maxLen = 1024
	}
	f, ok := facilities[l.Facility]
	if !ok {
		return nil, fmt.Errorf("unknown log facility '%s'", l.Facility)
	}
	t.facility = f
	if l.Level != "" {
		if t.maxLevel = ParseLevel(l.Level); t.maxLevel < 0 {
			return nil, fmt.Errorf("unknown optional log level '%s'", l.Level)
		}
	}
	if l.MinLevel != "" {
		if t.minLevel = ParseLevel(l.MinLevel); t.minLevel < 0 {
			return nil, fmt.Errorf("unknown optional minimum log level '%s'", l.MinLevel)
		}
	}
	t.tag = "moonbus"
	if g != nil {
		if g.LogTag != "" {
			t.tag = g.LogTag
		}
		if g.LogSendHostname != nil {
			t.hostname = *g.LogSendHostname
			if t.hostname == "" {
				t.hostname, _ = os.Hostname()
			}
		}
	}
	switch target := l.Target; {
	case target == "stdout" || target == "fd@1":
		t.w = stdout
	case target == "stderr" || target == "fd@2":
		t.w = stderr
	case len(target) > 0 && target[0] == '/', len(target) > 5 && target[:5] == "unix@":
		path := target
		if path[0] != '/' {
			path = path[5:]
		}
		c, err := net.Dial("unixgram", path)
		if err != nil {
			return nil, fmt.Errorf("cannot open log socket '%s': %w", path, err)
		}
		t.w, t.closer = c, c
	default:
		a := target
		for _, p := range []string{"udp@", "udp4@", "udp6@", "ipv4@", "ipv6@"} {
			if len(a) > len(p) && a[:len(p)] == p {
				a = a[len(p):]
			}
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			a = net.JoinHostPort(a, "514")
		}
		c, err := net.Dial("udp", a)
		if err != nil {
			return nil, fmt.Errorf("cannot open log target '%s': %w", target, err)
		}
		t.w, t.closer = c, c
	}
	return t, nil
}

var monthNames = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// send writes one message at a syslog level in the target's format.
func (t *logTarget) send(level int, msg []byte, now time.Time) {
	if level > t.maxLevel || level < t.minLevel {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	b := t.buf[:0]
	pri := t.facility*8 + level
	switch t.format {
	case "raw":
	case "short", "priority":
		b = append(b, '<')
		b = strconv.AppendInt(b, int64(pri), 10)
		b = append(b, '>')
	case "timed", "iso":
		b = append(b, '<')
		b = strconv.AppendInt(b, int64(pri), 10)
		b = append(b, '>')
		b = now.AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, ' ')
	case "rfc5424":
		b = append(b, '<')
		b = strconv.AppendInt(b, int64(pri), 10)
		b = append(b, ">1 "...)
		b = now.AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
		b = append(b, ' ')
		if t.hostname != "" {
			b = append(b, t.hostname...)
		} else {
			b = append(b, '-')
		}
		b = append(b, ' ')
		b = append(b, t.tag...)
		b = append(b, ' ')
		b = append(b, t.pid...)
		b = append(b, " - - "...)
	default: // rfc3164, local
		b = append(b, '<')
		b = strconv.AppendInt(b, int64(pri), 10)
		b = append(b, '>')
		b = append(b, monthNames[now.Month()-1]...)
		b = append(b, ' ')
		d := now.Day()
		if d < 10 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, int64(d), 10)
		b = append(b, ' ')
		b = now.AppendFormat(b, "15:04:05")
		b = append(b, ' ')
		if t.hostname != "" && t.format != "local" {
			b = append(b, t.hostname...)
			b = append(b, ' ')
		}
		b = append(b, t.tag...)
		b = append(b, '[')
		b = append(b, t.pid...)
		b = append(b, "]: "...)
	}
	b = append(b, msg...)
	if len(b) > t.maxLen-1 {
		b = b[:t.maxLen-1]
	}
	b = append(b, '\n')
	_, _ = t.w.Write(b)
	t.buf = b
}

func (t *logTarget) close() {
	if t.closer != nil {
		_ = t.closer.Close()
	}
}

// sendLog sends a message to the proxy's log targets (used for state change
// lines and alerts; traffic logs use the log-format).
func (p *Proxy) sendLog(level int, msg string) {
	if len(p.logs) == 0 {
		return
	}
	now := time.Now()
	b := []byte(msg)
	for _, t := range p.logs {
		t.send(level, b, now)
	}
}

// MessageHandler is a slog.Handler that prints daemon messages the way
// HAProxy does on stderr: "[NOTICE]   (pid) : message".
type MessageHandler struct {
	mu    *sync.Mutex
	w     io.Writer
	pid   int
	debug bool
	attrs string
}

// NewMessageHandler returns a handler writing to w. Debug messages are
// printed only when debug is set (moonbus -d).
func NewMessageHandler(w io.Writer, debug bool) *MessageHandler {
	return &MessageHandler{mu: &sync.Mutex{}, w: w, pid: os.Getpid(), debug: debug}
}

// Enabled implements slog.Handler.
func (h *MessageHandler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= slog.LevelInfo || h.debug
}

// Handle implements slog.Handler.
func (h *MessageHandler) Handle(_ context.Context, r slog.Record) error {
	var label string
	switch {
	case r.Level >= slog.LevelError:
		label = "[ALERT]"
	case r.Level >= slog.LevelWarn:
		label = "[WARNING]"
	case r.Level >= slog.LevelInfo:
		label = "[NOTICE]"
	default:
		label = "[DEBUG]"
	}
	b := make([]byte, 0, 64+len(r.Message))
	b = append(b, label...)
	for i := len(label); i < 11; i++ {
		b = append(b, ' ')
	}
	b = append(b, '(')
	b = strconv.AppendInt(b, int64(h.pid), 10)
	b = append(b, ") : "...)
	b = append(b, r.Message...)
	b = append(b, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		b = append(b, ' ')
		b = append(b, a.Key...)
		b = append(b, '=')
		b = append(b, a.Value.String()...)
		return true
	})
	b = append(b, '\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := h.w.Write(b)
	return err
}

// WithAttrs implements slog.Handler.
func (h *MessageHandler) WithAttrs(as []slog.Attr) slog.Handler {
	n := *h
	for _, a := range as {
		n.attrs += " " + a.Key + "=" + a.Value.String()
	}
	return &n
}

// WithGroup implements slog.Handler.
func (h *MessageHandler) WithGroup(string) slog.Handler { return h }
