package proxy

import (
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Traffic log lines. A log-format string is compiled once into nodes; each
// transaction appends its line into a pooled buffer.

type lfKind int

const (
	lfLiteral lfKind = iota
	lfSep            // a run of spaces: emitted once, and not after an empty item
	lfAlias
)

type lfNode struct {
	kind  lfKind
	lit   string
	alias aliasFunc
	quote bool
	hex   bool
}

// aliasFunc appends a log variable; it returns the extended buffer.
type aliasFunc func(dst []byte, t *Txn) []byte

// logFormat is a compiled log-format string.
type logFormat struct {
	nodes []lfNode
}

// compileLogFormat compiles the log-format syntax (reference §3.1, §9).
func compileLogFormat(s string) (*logFormat, error) {
	f := &logFormat{}
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			f.nodes = append(f.nodes, lfNode{kind: lfLiteral, lit: lit.String()})
			lit.Reset()
		}
	}
	globalQ := false
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' {
			flush()
			for i < len(s) && s[i] == ' ' {
				i++
			}
			f.nodes = append(f.nodes, lfNode{kind: lfSep})
			continue
		}
		if c != '%' {
			lit.WriteByte(c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			return nil, fmt.Errorf("unexpected end of log-format string after '%%'")
		}
		if s[i] == '%' {
			lit.WriteByte('%')
			i++
			continue
		}
		q, hex := globalQ, false
		if s[i] == '{' {
			end := strings.IndexByte(s[i:], '}')
			if end < 0 {
				return nil, fmt.Errorf("missing '}' in log-format flags")
			}
			for _, fl := range strings.Split(s[i+1:i+end], ",") {
				switch fl {
				case "+Q":
					q = true
				case "-Q":
					q = false
				case "+X":
					hex = true
				case "-X":
					hex = false
				case "+E", "-E", "+json", "-json", "+bin", "-bin", "+cbor", "-cbor", "":
				default:
					return nil, fmt.Errorf("unknown log-format flag '%s'", fl)
				}
			}
			i += end + 1
		}
		if i < len(s) && s[i] == '[' {
			return nil, fmt.Errorf("sample expressions in log-format ('%%[') need the rules engine, not built yet")
		}
		j := i
		for j < len(s) && (isAlnum(s[j]) || s[j] == '_') {
			j++
		}
		name := s[i:j]
		if name == "" {
			return nil, fmt.Errorf("missing log-format variable name after '%%'")
		}
		if name == "o" {
			globalQ = q
			i = j
			continue
		}
		fn, n := lookupAlias(name)
		if fn == nil {
			return nil, fmt.Errorf("no such log-format variable '%%%s'", name)
		}
		flush()
		f.nodes = append(f.nodes, lfNode{kind: lfAlias, alias: fn, quote: q, hex: hex})
		i += n
	}
	flush()
	return f, nil
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// lookupAlias finds the longest alias that prefixes name.
func lookupAlias(name string) (aliasFunc, int) {
	for n := len(name); n > 0; n-- {
		if fn, ok := aliases[name[:n]]; ok {
			return fn, n
		}
	}
	return nil, 0
}

// render appends the log line.
func (f *logFormat) render(dst []byte, t *Txn) []byte {
	lastSpace := true
	for _, n := range f.nodes {
		switch n.kind {
		case lfLiteral:
			dst = append(dst, n.lit...)
			lastSpace = false
		case lfSep:
			if !lastSpace {
				dst = append(dst, ' ')
				lastSpace = true
			}
		case lfAlias:
			start := len(dst)
			if n.quote {
				dst = append(dst, '"')
			}
			dst = n.alias(dst, t)
			if n.quote {
				dst = append(dst, '"')
			}
			if len(dst) > start {
				lastSpace = false
			}
		}
	}
	return dst
}

var logBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// emitLog sends the transaction's log line to the frontend's loggers.
func (t *Txn) emitLog() {
	fe := t.fe
	if len(fe.logs) == 0 {
		return
	}
	bp := logBufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if fe.logFormat != nil {
		b = fe.logFormat.render(b, t)
	} else {
		b = append(b, "Connect from "...)
		b = appendAddrPort(b, t.s.src)
		b = append(b, " to "...)
		b = appendAddrPort(b, t.s.dst)
		b = append(b, " ("...)
		b = append(b, fe.name...)
		if fe.mode == ModeHTTP {
			b = append(b, "/HTTP)"...)
		} else {
			b = append(b, "/TCP)"...)
		}
	}
	level := t.logLevel
	if level < 0 {
		level = levelInfo
	}
	now := time.Now()
	for _, lt := range fe.logs {
		lt.send(level, b, now)
	}
	*bp = b
	logBufPool.Put(bp)
}

func appendAddrPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, "unix"...)
	}
	return ap.AppendTo(b)
}

var pidString = strconv.Itoa(os.Getpid())

func appendDate(b []byte, tm time.Time, withMs bool) []byte {
	// dd/Mon/yyyy:HH:MM:SS.mmm
	b = appendInt2(b, tm.Day())
	b = append(b, '/')
	b = append(b, monthNames[tm.Month()-1]...)
	b = append(b, '/')
	b = strconv.AppendInt(b, int64(tm.Year()), 10)
	b = append(b, ':')
	b = appendInt2(b, tm.Hour())
	b = append(b, ':')
	b = appendInt2(b, tm.Minute())
	b = append(b, ':')
	b = appendInt2(b, tm.Second())
	if withMs {
		b = append(b, '.')
		b = appendInt3(b, tm.Nanosecond()/1e6)
	}
	return b
}

func appendInt2(b []byte, v int) []byte {
	return append(b, byte('0'+v/10%10), byte('0'+v%10))
}

func appendInt3(b []byte, v int) []byte {
	return append(b, byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}

func appendZone(b []byte, tm time.Time) []byte {
	return tm.AppendFormat(b, " -0700")
}
