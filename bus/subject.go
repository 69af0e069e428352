package bus

import (
	"errors"
	"fmt"
	"strings"
)

// Subjects follow the NATS grammar: tokens separated by '.', none empty, no
// whitespace or control characters anywhere; in a pattern the token "*"
// matches exactly one token and the token ">" (last only) matches one or more
// remaining tokens. A '*' or '>' inside a longer token is an ordinary
// character, as in NATS.
//
// The internal subject of an event is
//
//	event.<TYPE>.<proxy>.<server>   SERVER_* events
//	event.<TYPE>.<proxy>            BACKEND_* events
//
// with every name passed through EscapeToken.

// Subject returns the internal subject of e: "event.<TYPE>.<proxy>.<server>"
// for server events and "event.<TYPE>.<proxy>" for backend events, names
// escaped by EscapeToken. An event without server (or backend) data yields
// the shorter "event.<TYPE>".
func Subject(e *Event) string {
	var sb strings.Builder
	sb.Grow(48)
	sb.WriteString("event.")
	sb.WriteString(e.Type.String())
	switch {
	case e.Type.Family() == "BACKEND" && e.Backend != nil:
		sb.WriteByte('.')
		appendToken(&sb, e.Backend.ProxyName)
	case e.Server != nil:
		sb.WriteByte('.')
		appendToken(&sb, e.Server.ProxyName)
		sb.WriteByte('.')
		appendToken(&sb, e.Server.Name)
	case e.Backend != nil:
		sb.WriteByte('.')
		appendToken(&sb, e.Backend.ProxyName)
	}
	return sb.String()
}

// needsEscape reports whether byte c must be percent-escaped inside a token:
// '.', '*', '>', '%', space, the other ASCII control characters and DEL.
func needsEscape(c byte) bool {
	return c <= ' ' || c == 0x7f || c == '.' || c == '*' || c == '>' || c == '%'
}

// EscapeToken makes name usable as one subject token. The bytes '.', '*',
// '>', '%', space, every other byte below 0x20 and 0x7F are replaced by
// "%XX" (two upper-case hex digits); everything else, including UTF-8, is
// kept. The empty name, which is not a valid token, becomes the lone "%".
// The result is never empty, never a wildcard and never contains '.' or
// whitespace, and UnescapeToken reverses it.
func EscapeToken(name string) string {
	if name == "" {
		return "%"
	}
	n := 0
	for i := 0; i < len(name); i++ {
		if needsEscape(name[i]) {
			n++
		}
	}
	if n == 0 {
		return name
	}
	var sb strings.Builder
	sb.Grow(len(name) + 2*n)
	appendToken(&sb, name)
	return sb.String()
}

func appendToken(sb *strings.Builder, name string) {
	const hex = "0123456789ABCDEF"
	if name == "" {
		sb.WriteByte('%')
		return
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if needsEscape(c) {
			sb.WriteByte('%')
			sb.WriteByte(hex[c>>4])
			sb.WriteByte(hex[c&0xF])
			continue
		}
		sb.WriteByte(c)
	}
}

// ErrBadEscape is wrapped by UnescapeToken errors.
var ErrBadEscape = errors.New("bus: bad escape in subject token")

// UnescapeToken reverses EscapeToken: "%XX" (hex digits in either case)
// becomes the byte XX, and the lone "%" becomes the empty name. A '%' not
// followed by two hex digits is an error wrapping ErrBadEscape.
func UnescapeToken(tok string) (string, error) {
	if tok == "%" {
		return "", nil
	}
	if strings.IndexByte(tok, '%') < 0 {
		return tok, nil
	}
	buf := make([]byte, 0, len(tok))
	for i := 0; i < len(tok); i++ {
		c := tok[i]
		if c != '%' {
			buf = append(buf, c)
			continue
		}
		if i+2 >= len(tok) {
			return "", fmt.Errorf("%w: %q", ErrBadEscape, tok)
		}
		hi, ok1 := unhex(tok[i+1])
		lo, ok2 := unhex(tok[i+2])
		if !ok1 || !ok2 {
			return "", fmt.Errorf("%w: %q", ErrBadEscape, tok)
		}
		buf = append(buf, hi<<4|lo)
		i += 2
	}
	return string(buf), nil
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// ErrBadSubject is wrapped by ValidSubject errors.
var ErrBadSubject = errors.New("bus: invalid subject")

// ValidSubject checks s against the NATS grammar. With wildcards false, s
// must be a literal subject (no "*" or ">" token); with wildcards true it may
// be a pattern ("*" tokens anywhere, one ">" as the last token). Errors wrap
// ErrBadSubject.
func ValidSubject(s string, wildcards bool) error {
	if s == "" {
		return fmt.Errorf("%w: empty", ErrBadSubject)
	}
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) {
			c := s[i]
			if c <= ' ' || c == 0x7f {
				return fmt.Errorf("%w: %q: whitespace or control character", ErrBadSubject, s)
			}
			if c != '.' {
				continue
			}
		}
		tok := s[start:i]
		switch {
		case tok == "":
			return fmt.Errorf("%w: %q: empty token", ErrBadSubject, s)
		case tok == "*" && !wildcards, tok == ">" && !wildcards:
			return fmt.Errorf("%w: %q: wildcard in a literal subject", ErrBadSubject, s)
		case tok == ">" && i != len(s):
			return fmt.Errorf("%w: %q: '>' must be the last token", ErrBadSubject, s)
		}
		start = i + 1
	}
	return nil
}

// MatchSubject reports whether the literal subject matches pattern. It is
// false when pattern is not a valid pattern or subject not a valid literal
// subject.
func MatchSubject(pattern, subject string) bool {
	if ValidSubject(pattern, true) != nil || ValidSubject(subject, false) != nil {
		return false
	}
	return matchValid(pattern, subject)
}

// matchValid matches a valid pattern against a valid literal subject.
func matchValid(pattern, subject string) bool {
	for {
		ptok, prest, pmore := strings.Cut(pattern, ".")
		if ptok == ">" {
			return true // at least one token remains: subject is non-empty
		}
		stok, srest, smore := strings.Cut(subject, ".")
		if ptok != "*" && ptok != stok {
			return false
		}
		if !pmore || !smore {
			return pmore == smore
		}
		pattern, subject = prest, srest
	}
}
