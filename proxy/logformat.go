package proxy

import (
	"net/netip"
	"os"
	"strconv"
	"sync"
	"time"
)

// Traffic log lines: the log-format string is compiled by the sample
// package with the aliases of logalias.go; each transaction appends its line
// into a pooled buffer.

// aliasFunc appends a log variable; it returns the extended buffer.
type aliasFunc func(dst []byte, t *Txn) []byte

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
		t.rules.scratch = t.rules.scratch[:0]
		b = fe.logFormat.Append(b, t)
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
