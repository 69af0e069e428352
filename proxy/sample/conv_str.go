package sample

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

func registerStrConverters(r *Registry) {
	str := func(name string, fn ConvFunc, args ...ArgKind) {
		r.RegisterConverter(name, ConvDef{In: Str, Out: Str, Fn: fn, Args: args})
	}
	str("lower", convLower)
	str("upper", convUpper)
	str("reverse", convReverse)
	str("cut_crlf", convCutCRLF)
	str("host_only", convHostOnly)
	r.RegisterConverter("port_only", ConvDef{In: Str, Out: SInt, Fn: convPortOnly})
	r.RegisterConverter("length", ConvDef{In: Str, Out: SInt, Fn: func(s Stream, a []Arg, smp *Sample) bool {
		smp.SetInt(int64(len(smp.Str)))
		return true
	}})
	r.RegisterConverter("ltrim", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr}, MinArgs: 1, Fn: convLtrim})
	r.RegisterConverter("rtrim", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr}, MinArgs: 1, Fn: convRtrim})
	r.RegisterConverter("field", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgInt, ArgStr, ArgInt}, MinArgs: 2, Fn: convField, Check: checkFieldArgs})
	r.RegisterConverter("word", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgInt, ArgStr, ArgInt}, MinArgs: 2, Fn: convWord, Check: checkFieldArgs})
	r.RegisterConverter("regsub", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr, ArgStr, ArgStr}, MinArgs: 2, Fn: convRegsub, Check: checkRegsub})
	r.RegisterConverter("concat", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr, ArgVar, ArgStr}, Fn: convConcat})
	r.RegisterConverter("param", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr, ArgStr}, MinArgs: 1, Fn: convParam, Check: checkParam})
	r.RegisterConverter("strcmp", ConvDef{In: Str, Out: SInt, Args: []ArgKind{ArgVar}, MinArgs: 1, Fn: convStrcmp})
	r.RegisterConverter("secure_memcmp", ConvDef{In: Bin, Out: Bool, Args: []ArgKind{ArgVar}, MinArgs: 1, Fn: convSecureMemcmp})
	r.RegisterConverter("json", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr}, Fn: convJSON, Check: checkJSON})
	r.RegisterConverter("url_dec", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgInt}, Fn: convURLDec})
	r.RegisterConverter("url_enc", ConvDef{In: Str, Out: Str, Args: []ArgKind{ArgStr}, Fn: convURLEnc, Check: func(a []Arg, _ *CompileCtx) error {
		if a[0].Present && a[0].Str != "query" {
			return fmt.Errorf("unexpected encoding type '%s' (only 'query' is supported)", a[0].Str)
		}
		return nil
	}})
}

func mapBytes(s Stream, smp *Sample, f func(byte) byte) bool {
	r := begin(s)
	buf := r.buf()
	for _, c := range smp.Str {
		buf = append(buf, f(c))
	}
	smp.Str = r.end(buf)
	return true
}

func convLower(s Stream, _ []Arg, smp *Sample) bool {
	return mapBytes(s, smp, func(c byte) byte {
		if c >= 'A' && c <= 'Z' {
			return c + 32
		}
		return c
	})
}

func convUpper(s Stream, _ []Arg, smp *Sample) bool {
	return mapBytes(s, smp, func(c byte) byte {
		if c >= 'a' && c <= 'z' {
			return c - 32
		}
		return c
	})
}

func convReverse(s Stream, _ []Arg, smp *Sample) bool {
	r := begin(s)
	buf := r.buf()
	for i := len(smp.Str) - 1; i >= 0; i-- {
		buf = append(buf, smp.Str[i])
	}
	smp.Str = r.end(buf)
	return true
}

func convCutCRLF(_ Stream, _ []Arg, smp *Sample) bool {
	if i := bytes.IndexAny(smp.Str, "\r\n"); i >= 0 {
		smp.Str = smp.Str[:i:i]
	}
	return true
}

// hostPort splits a Host header value into host and port parts.
func hostPort(b []byte) (host, port []byte) {
	if len(b) > 0 && b[0] == '[' {
		if i := bytes.IndexByte(b, ']'); i >= 0 {
			if i+1 < len(b) && b[i+1] == ':' {
				return b[:i+1], b[i+2:]
			}
			return b[:i+1], nil
		}
		return b, nil
	}
	if i := bytes.LastIndexByte(b, ':'); i >= 0 && bytes.IndexByte(b[:i], ':') < 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

func convHostOnly(_ Stream, _ []Arg, smp *Sample) bool {
	h, _ := hostPort(smp.Str)
	smp.Str = h[:len(h):len(h)]
	return true
}

func convPortOnly(_ Stream, _ []Arg, smp *Sample) bool {
	_, p := hostPort(smp.Str)
	if len(p) == 0 {
		smp.SetInt(0)
		return true
	}
	smp.SetInt(readInt(p))
	return true
}

func convLtrim(_ Stream, a []Arg, smp *Sample) bool {
	b := smp.Str
	for len(b) > 0 && bytes.IndexByte(a[0].Bytes, b[0]) >= 0 {
		b = b[1:]
	}
	smp.Str = b
	return true
}

func convRtrim(_ Stream, a []Arg, smp *Sample) bool {
	b := smp.Str
	for len(b) > 0 && bytes.IndexByte(a[0].Bytes, b[len(b)-1]) >= 0 {
		b = b[:len(b)-1]
	}
	smp.Str = b[:len(b):len(b)]
	return true
}

func checkFieldArgs(a []Arg, _ *CompileCtx) error {
	if a[0].Int == 0 {
		return fmt.Errorf("index must not be 0")
	}
	if len(a[1].Str) == 0 {
		return fmt.Errorf("empty separators list")
	}
	if a[2].Present && a[2].Int < 0 {
		return fmt.Errorf("count must not be negative")
	}
	if !a[2].Present {
		a[2].Int = 1
	}
	return nil
}

func isDelim(delims []byte, c byte) bool { return bytes.IndexByte(delims, c) >= 0 }

// splitFields returns the start/end offsets of every field (skipEmpty: word
// semantics). It avoids allocating by walking twice at most.
func selectFields(b, delims []byte, idx, count int64, skipEmpty bool) ([]byte, bool) {
	type span struct{ s, e int }
	var fields [64]span
	n := 0
	all := fields[:0]
	var more []span
	start := 0
	add := func(s, e int) {
		if skipEmpty && s == e {
			return
		}
		if n < len(fields) {
			fields[n] = span{s, e}
			all = fields[:n+1]
		} else {
			if more == nil {
				more = append(more, fields[:]...)
			}
			more = append(more, span{s, e})
		}
		n++
	}
	for i := 0; i < len(b); i++ {
		if isDelim(delims, b[i]) {
			add(start, i)
			start = i + 1
		}
	}
	add(start, len(b))
	if more != nil {
		all = more
	}
	total := int64(len(all))
	var first, last int64
	if idx > 0 {
		first = idx - 1
		if first >= total {
			return nil, false
		}
		if count == 0 {
			last = total - 1
		} else {
			last = min(first+count-1, total-1)
		}
	} else {
		last = total + idx
		if last < 0 {
			return nil, false
		}
		if count == 0 {
			first = 0
		} else {
			first = max(last-count+1, 0)
		}
	}
	if total == 0 {
		return b[:0], true
	}
	out := b[all[first].s:all[last].e]
	return out[:len(out):len(out)], true
}

func convField(_ Stream, a []Arg, smp *Sample) bool {
	out, ok := selectFields(smp.Str, a[1].Bytes, a[0].Int, a[2].Int, false)
	if !ok {
		smp.Str = smp.Str[:0:0]
		return true
	}
	smp.Str = out
	return true
}

func convWord(_ Stream, a []Arg, smp *Sample) bool {
	out, ok := selectFields(smp.Str, a[1].Bytes, a[0].Int, a[2].Int, true)
	if !ok {
		smp.Str = smp.Str[:0:0]
		return true
	}
	smp.Str = out
	return true
}

type regsubState struct {
	re     *regexp.Regexp
	global bool
	subst  []byte
}

func checkRegsub(a []Arg, _ *CompileCtx) error {
	st := &regsubState{subst: a[1].Bytes}
	expr := a[0].Str
	if a[2].Present {
		for _, c := range a[2].Str {
			switch c {
			case 'g':
				st.global = true
			case 'i':
				expr = "(?i)" + expr
			default:
				return fmt.Errorf("invalid regex flag '%c', only 'i' and 'g' are supported", c)
			}
		}
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		return fmt.Errorf("failed to compile regex '%s': %w", a[0].Str, err)
	}
	st.re = re
	a[0].Any = st
	return nil
}

// appendSubst expands \0..\9 back-references of subst.
func appendSubst(buf, src, subst []byte, m []int) []byte {
	for i := 0; i < len(subst); i++ {
		c := subst[i]
		if c == '\\' && i+1 < len(subst) && subst[i+1] >= '0' && subst[i+1] <= '9' {
			g := int(subst[i+1] - '0')
			if 2*g+1 < len(m) && m[2*g] >= 0 {
				buf = append(buf, src[m[2*g]:m[2*g+1]]...)
			}
			i++
			continue
		}
		buf = append(buf, c)
	}
	return buf
}

func convRegsub(s Stream, a []Arg, smp *Sample) bool {
	st := a[0].Any.(*regsubState)
	src := smp.Str
	r := begin(s)
	buf := r.buf()
	pos := 0
	for pos <= len(src) {
		m := st.re.FindSubmatchIndex(src[pos:])
		if m == nil {
			break
		}
		for i := range m {
			if m[i] >= 0 {
				m[i] += pos
			}
		}
		buf = append(buf, src[pos:m[0]]...)
		buf = appendSubst(buf, src, st.subst, m)
		if m[1] == m[0] {
			if m[1] < len(src) {
				buf = append(buf, src[m[1]])
			}
			pos = m[1] + 1
		} else {
			pos = m[1]
		}
		if !st.global {
			break
		}
	}
	if pos < len(src) {
		buf = append(buf, src[pos:]...)
	}
	smp.Str = r.end(buf)
	return true
}

func convConcat(s Stream, a []Arg, smp *Sample) bool {
	var v Sample
	have := a[1].Present && GetVar(s, a[1].Var, &v) && v.Cast(Str, s.Scratch())
	r := begin(s)
	buf := append(r.buf(), smp.Str...)
	buf = append(buf, a[0].Bytes...)
	if have {
		buf = append(buf, v.Str...)
	}
	buf = append(buf, a[2].Bytes...)
	smp.Str = r.end(buf)
	return true
}

func checkParam(a []Arg, _ *CompileCtx) error {
	if !a[1].Present || a[1].Str == "" {
		a[1].Bytes = []byte("&")
	} else if len(a[1].Str) != 1 {
		return fmt.Errorf("delimiter must be a single character")
	}
	if a[0].Str == "" {
		return fmt.Errorf("empty parameter name")
	}
	return nil
}

func convParam(_ Stream, a []Arg, smp *Sample) bool {
	b := smp.Str
	name := a[0].Bytes
	d := a[1].Bytes[0]
	for len(b) > 0 {
		var part []byte
		if i := bytes.IndexByte(b, d); i >= 0 {
			part, b = b[:i], b[i+1:]
		} else {
			part, b = b, nil
		}
		if bytes.HasPrefix(part, name) {
			rest := part[len(name):]
			if len(rest) == 0 {
				smp.Str = rest[:0:0]
				return true
			}
			if rest[0] == '=' {
				smp.Str = rest[1:len(rest):len(rest)]
				return true
			}
		}
	}
	return false
}

func convStrcmp(s Stream, a []Arg, smp *Sample) bool {
	in := smp.Str
	var v Sample
	if !GetVar(s, a[0].Var, &v) || !v.Cast(Str, s.Scratch()) {
		return false
	}
	c := bytes.Compare(in, v.Str)
	smp.SetInt(int64(c))
	return true
}

func convSecureMemcmp(s Stream, a []Arg, smp *Sample) bool {
	in := smp.Str
	var v Sample
	if !GetVar(s, a[0].Var, &v) || !v.Cast(Bin, s.Scratch()) {
		return false
	}
	eq := len(in) == len(v.Str)
	var diff byte
	for i := 0; i < len(in) && i < len(v.Str); i++ {
		diff |= in[i] ^ v.Str[i]
	}
	smp.SetBool(eq && diff == 0)
	return true
}

const (
	jsonASCII = iota
	jsonUTF8
	jsonUTF8S
	jsonUTF8P
	jsonUTF8PS
)

func checkJSON(a []Arg, _ *CompileCtx) error {
	mode := jsonASCII
	if a[0].Present && a[0].Str != "" {
		switch a[0].Str {
		case "ascii":
		case "utf8":
			mode = jsonUTF8
		case "utf8s":
			mode = jsonUTF8S
		case "utf8p":
			mode = jsonUTF8P
		case "utf8ps":
			mode = jsonUTF8PS
		default:
			return fmt.Errorf("unexpected input code type '%s'. Allowed value are 'ascii', 'utf8', 'utf8s', 'utf8p' and 'utf8ps'", a[0].Str)
		}
	}
	a[0].Int = int64(mode)
	return nil
}

const hexUpper = "0123456789ABCDEF"
const hexLower = "0123456789abcdef"

// appendJSONEscaped escapes b for inclusion in a JSON string (no quotes).
func appendJSONEscaped(buf, b []byte, mode int, escSlash bool) ([]byte, bool) {
	for i := 0; i < len(b); {
		c := b[i]
		if c >= 0x80 && mode != jsonASCII {
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n <= 1 {
				switch mode {
				case jsonUTF8, jsonUTF8P:
					return buf, false
				}
				i++ // skip (s) variants
				continue
			}
			if mode == jsonUTF8P || mode == jsonUTF8PS {
				buf = append(buf, b[i:i+n]...)
			} else {
				buf = appendU(buf, r)
			}
			i += n
			continue
		}
		switch {
		case c == '"':
			buf = append(buf, '\\', '"')
		case c == '\\':
			buf = append(buf, '\\', '\\')
		case c == '/' && escSlash:
			buf = append(buf, '\\', '/')
		case c == '\b':
			buf = append(buf, '\\', 'b')
		case c == '\f':
			buf = append(buf, '\\', 'f')
		case c == '\r':
			buf = append(buf, '\\', 'r')
		case c == '\n':
			buf = append(buf, '\\', 'n')
		case c == '\t':
			buf = append(buf, '\\', 't')
		case c < 0x20 || c >= 0x7f:
			buf = appendU(buf, rune(c))
		default:
			buf = append(buf, c)
		}
		i++
	}
	return buf, true
}

func appendU(buf []byte, r rune) []byte {
	if r > 0xffff {
		r -= 0x10000
		buf = appendU(buf, 0xd800+(r>>10))
		return appendU(buf, 0xdc00+(r&0x3ff))
	}
	return append(buf, '\\', 'u', hexLower[r>>12&15], hexLower[r>>8&15], hexLower[r>>4&15], hexLower[r&15])
}

func convJSON(s Stream, a []Arg, smp *Sample) bool {
	r := begin(s)
	buf, ok := appendJSONEscaped(r.buf(), smp.Str, int(a[0].Int), true)
	if !ok {
		*r.sc = r.buf()[:r.start]
		return false
	}
	smp.Str = r.end(buf)
	return true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// appendURLDecoded decodes %XX sequences; '+' becomes a space after a '?'
// or everywhere when inForm.
func appendURLDecoded(buf, b []byte, inForm bool) ([]byte, bool) {
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '?':
			inForm = true
			buf = append(buf, c)
		case c == '+' && inForm:
			buf = append(buf, ' ')
		case c == '%':
			if i+2 >= len(b) {
				return buf, false
			}
			h, l := unhex(b[i+1]), unhex(b[i+2])
			if h < 0 || l < 0 {
				return buf, false
			}
			buf = append(buf, byte(h<<4|l))
			i += 2
		default:
			buf = append(buf, c)
		}
	}
	return buf, true
}

func convURLDec(s Stream, a []Arg, smp *Sample) bool {
	r := begin(s)
	buf, ok := appendURLDecoded(r.buf(), smp.Str, a[0].Present && a[0].Int != 0)
	if !ok {
		*r.sc = r.buf()[:r.start]
		return false
	}
	smp.Str = r.end(buf)
	return true
}

func convURLEnc(s Stream, _ []Arg, smp *Sample) bool {
	r := begin(s)
	buf := r.buf()
	for _, c := range smp.Str {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			buf = append(buf, c)
		} else {
			buf = append(buf, '%', hexUpper[c>>4], hexUpper[c&15])
		}
	}
	smp.Str = r.end(buf)
	return true
}
