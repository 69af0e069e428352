package sample

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
)

// Flags are the options of a log-format item (%{+Q,-X}...).
type Flags uint16

// Item options.
const (
	FlagQuote  Flags = 1 << iota // +Q: surround with double quotes
	FlagHex                      // +X: hexadecimal
	FlagEscape                   // +E: escape '"', '\' and ']' (RFC5424 values)
	FlagJSON                     // +json: JSON encoding
	FlagCBOR                     // +cbor: CBOR encoding (hex unless +bin)
	FlagBin                      // +bin: raw binary output
)

var flagNames = []struct {
	name string
	f    Flags
}{{"Q", FlagQuote}, {"X", FlagHex}, {"E", FlagEscape}, {"json", FlagJSON}, {"cbor", FlagCBOR}, {"bin", FlagBin}}

// AliasFunc produces the value of a %<alias> item (%ci, %ST, %tr...) into
// out; it returns false when the value is unknown (printed as "-"), or true
// leaving out.Type as Any to print nothing at all (%hr without captures).
// The proxy supplies them; this package applies the flags.
type AliasFunc func(s Stream, out *Sample) bool

// AliasResolver returns the function of a log-format alias name ("ci",
// "Ta", "HM"...), or false when the name is unknown.
type AliasResolver func(name string) (AliasFunc, bool)

// FormatCtx is what CompileFormat needs besides the registry.
type FormatCtx struct {
	CompileCtx
	// Aliases resolves %<alias> items; nil refuses every alias.
	Aliases AliasResolver
	// MergeSpaces selects log-format mode (log-format, log-format-sd,
	// unique-id-format): runs of spaces are separators, printed once and
	// only after a non-empty field.
	MergeSpaces bool
}

type itemKind uint8

const (
	itText itemKind = iota
	itSep
	itExpr
	itAlias
)

type fmtItem struct {
	kind  itemKind
	text  []byte
	expr  *Expr
	alias AliasFunc
	aname string
	name  string // %(name) for json/cbor
	cast  Type   // %(name:type)
	flags Flags
}

// Format is a compiled log-format string.
type Format struct {
	src   string
	items []fmtItem
	enc   Flags // encoding set by %{+json}o / %{+cbor}o: the whole line is an object
	merge bool
}

// String returns the source text.
func (f *Format) String() string { return f.src }

// IsConst reports whether the format has no item (pure text).
func (f *Format) IsConst() bool {
	for _, it := range f.items {
		if it.kind == itExpr || it.kind == itAlias {
			return false
		}
	}
	return true
}

// CompileFormat compiles a log-format string: literal text, %% for '%',
// %[expr] sample expressions, %<alias> items, optional %{+Q,-X,...} flags
// before an item (%{...}o applies them to every later item) and
// %(name[:type]) item names.
func CompileFormat(s string, reg *Registry, ctx FormatCtx) (*Format, error) {
	f := &Format{src: s, merge: ctx.MergeSpaces}
	var global Flags
	var text []byte
	flush := func() {
		if len(text) > 0 {
			f.items = append(f.items, fmtItem{kind: itText, text: append([]byte(nil), text...)})
			text = text[:0]
		}
	}
	for i := 0; i < len(s); {
		c := s[i]
		if c == ' ' && ctx.MergeSpaces {
			flush()
			for i < len(s) && s[i] == ' ' {
				i++
			}
			f.items = append(f.items, fmtItem{kind: itSep})
			continue
		}
		if c != '%' {
			text = append(text, c)
			i++
			continue
		}
		i++
		if i >= len(s) {
			return nil, fmt.Errorf("unexpected end of log-format string after '%%' in '%s'", s)
		}
		if s[i] == '%' {
			text = append(text, '%')
			i++
			continue
		}
		flush()
		it := fmtItem{flags: global}
		if s[i] == '(' {
			j := strings.IndexByte(s[i:], ')')
			if j < 0 {
				return nil, fmt.Errorf("missing ')' after item name in '%s'", s)
			}
			name := s[i+1 : i+j]
			if n, t, ok := strings.Cut(name, ":"); ok {
				switch t {
				case "str":
					it.cast = Str
				case "sint":
					it.cast = SInt
				case "bool":
					it.cast = Bool
				default:
					return nil, fmt.Errorf("unknown item type '%s' in '%%(%s)'", t, name)
				}
				name = n
			}
			it.name = name
			i += j + 1
		}
		var local Flags
		localSet, localClr := Flags(0), Flags(0)
		if i < len(s) && s[i] == '{' {
			j := strings.IndexByte(s[i:], '}')
			if j < 0 {
				return nil, fmt.Errorf("missing '}' after log-format options in '%s'", s)
			}
			for _, opt := range strings.Split(s[i+1:i+j], ",") {
				if opt == "" {
					continue
				}
				if opt[0] != '+' && opt[0] != '-' {
					return nil, fmt.Errorf("log-format option '%s' must start with '+' or '-'", opt)
				}
				var fl Flags
				for _, fn := range flagNames {
					if fn.name == opt[1:] {
						fl = fn.f
					}
				}
				if fl == 0 {
					return nil, fmt.Errorf("unknown log-format option '%s'", opt[1:])
				}
				if opt[0] == '+' {
					localSet |= fl
				} else {
					localClr |= fl
				}
			}
			i += j + 1
		}
		local = (global | localSet) &^ localClr
		if i >= len(s) {
			return nil, fmt.Errorf("missing item after '%%' options in '%s'", s)
		}
		switch {
		case s[i] == '[':
			e, n, err := compileExpr(s[i+1:], reg, &ctx.CompileCtx, true)
			if err != nil {
				return nil, fmt.Errorf("failed to parse sample expression <%s> : %w", cutExpr(s[i+1:]), err)
			}
			if i+1+n >= len(s) || s[i+1+n] != ']' {
				return nil, fmt.Errorf("missing ']' after sample expression '%s'", e.src)
			}
			it.kind, it.expr = itExpr, e
			i += n + 2
		case isAlpha(s[i]):
			j := i
			for j < len(s) && isAlpha(s[j]) {
				j++
			}
			name := s[i:j]
			i = j
			if name == "o" {
				global = local
				if local&(FlagJSON|FlagCBOR) != 0 {
					f.enc = local & (FlagJSON | FlagCBOR | FlagBin)
				}
				continue
			}
			var fn AliasFunc
			ok := false
			if ctx.Aliases != nil {
				fn, ok = ctx.Aliases(name)
			}
			if !ok {
				return nil, fmt.Errorf("no such format alias '%s'. If you wanted to emit the '%%' character verbatim, you need to use '%%%%'", name)
			}
			it.kind, it.alias, it.aname = itAlias, fn, name
			if it.name == "" {
				it.name = name
			}
		default:
			return nil, fmt.Errorf("unexpected character '%c' after '%%' in '%s'", s[i], s)
		}
		it.flags = local
		f.items = append(f.items, it)
	}
	flush()
	return f, nil
}

func cutExpr(s string) string {
	if i := strings.IndexByte(s, ']'); i >= 0 {
		return s[:i]
	}
	return s
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// Append evaluates the format and appends the result to dst. dst must not
// be the stream's scratch buffer.
func (f *Format) Append(dst []byte, s Stream) []byte {
	if f.enc != 0 {
		return f.appendObject(dst, s)
	}
	lastSpace := true
	for i := range f.items {
		it := &f.items[i]
		switch it.kind {
		case itText:
			dst = append(dst, it.text...)
			lastSpace = false
		case itSep:
			if !lastSpace {
				dst = append(dst, ' ')
				lastSpace = true
			}
		default:
			var smp Sample
			ok := f.evalItem(it, s, &smp)
			n := len(dst)
			dst = appendItem(dst, it.flags, ok, &smp)
			if len(dst) > n {
				lastSpace = false
			}
		}
	}
	return dst
}

func (f *Format) evalItem(it *fmtItem, s Stream, res *Sample) bool {
	smp := noescape(res)
	sc := s.Scratch()
	*sc = (*sc)[:0]
	var ok bool
	if it.kind == itExpr {
		ok = it.expr.eval(s, smp)
	} else {
		ok = it.alias(s, smp)
	}
	if ok && it.cast != Any {
		ok = smp.Cast(it.cast, sc)
	}
	return ok
}

// appendItem renders one value with its flags.
func appendItem(dst []byte, fl Flags, ok bool, smp *Sample) []byte {
	if ok && smp.Type == Any {
		return dst
	}
	if fl&FlagJSON != 0 {
		return appendJSONValue(dst, ok, smp)
	}
	if fl&FlagCBOR != 0 {
		return appendCBORHex(dst, fl, ok, smp)
	}
	if !ok || (smp.Type == Str || smp.Type == Bin) && len(smp.Str) == 0 {
		if fl&FlagQuote != 0 {
			return append(dst, '"', '"')
		}
		if fl&FlagBin != 0 {
			return dst
		}
		return append(dst, '-')
	}
	if fl&FlagQuote != 0 {
		dst = append(dst, '"')
	}
	if fl&FlagHex != 0 {
		dst = appendHexValue(dst, smp)
	} else {
		dst = appendPlain(dst, fl, smp)
	}
	if fl&FlagQuote != 0 {
		dst = append(dst, '"')
	}
	return dst
}

func appendPlain(dst []byte, fl Flags, smp *Sample) []byte {
	switch smp.Type {
	case SInt:
		return strconv.AppendInt(dst, smp.Int, 10)
	case Bool:
		if smp.Bool {
			return append(dst, '1')
		}
		return append(dst, '0')
	case IPv4, IPv6:
		return smp.IP.AppendTo(dst)
	case Meth:
		if smp.Meth != MethOther {
			return append(dst, methNames[smp.Meth]...)
		}
	}
	if fl&FlagEscape == 0 {
		return append(dst, smp.Str...)
	}
	for _, c := range smp.Str {
		if c == '"' || c == '\\' || c == ']' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return dst
}

func appendHexValue(dst []byte, smp *Sample) []byte {
	switch smp.Type {
	case SInt:
		return strconv.AppendUint(dst, uint64(smp.Int), 16)
	case Bool:
		return append(dst, byte('0'+b2i(smp.Bool)))
	case IPv4:
		b := smp.IP.As4()
		for _, c := range b {
			dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
		}
		return dst
	case IPv6:
		b := smp.IP.As16()
		for _, c := range b {
			dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
		}
		return dst
	}
	for _, c := range smp.Str {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

func appendJSONValue(dst []byte, ok bool, smp *Sample) []byte {
	if !ok {
		return append(dst, "null"...)
	}
	switch smp.Type {
	case SInt:
		return strconv.AppendInt(dst, smp.Int, 10)
	case Bool:
		return strconv.AppendBool(dst, smp.Bool)
	case IPv4, IPv6:
		dst = append(dst, '"')
		dst = smp.IP.AppendTo(dst)
		return append(dst, '"')
	case Meth:
		if smp.Meth != MethOther {
			dst = append(dst, '"')
			dst = append(dst, methNames[smp.Meth]...)
			return append(dst, '"')
		}
	}
	dst = append(dst, '"')
	dst, _ = appendJSONEscaped(dst, smp.Str, jsonUTF8S, false)
	return append(dst, '"')
}

// cbor encodes a value in CBOR (RFC 8949).
func appendCBOR(dst []byte, ok bool, smp *Sample) []byte {
	if !ok {
		return append(dst, 0xf6) // null
	}
	switch smp.Type {
	case SInt:
		if smp.Int >= 0 {
			return cborHead(dst, 0, uint64(smp.Int))
		}
		return cborHead(dst, 1, uint64(-1-smp.Int))
	case Bool:
		if smp.Bool {
			return append(dst, 0xf5)
		}
		return append(dst, 0xf4)
	case IPv4, IPv6:
		var b [64]byte
		t := smp.IP.AppendTo(b[:0])
		dst = cborHead(dst, 3, uint64(len(t)))
		return append(dst, t...)
	case Meth:
		if smp.Meth != MethOther {
			dst = cborHead(dst, 3, uint64(len(methNames[smp.Meth])))
			return append(dst, methNames[smp.Meth]...)
		}
	case Bin:
		dst = cborHead(dst, 2, uint64(len(smp.Str)))
		return append(dst, smp.Str...)
	}
	dst = cborHead(dst, 3, uint64(len(smp.Str)))
	return append(dst, smp.Str...)
}

func cborHead(dst []byte, major byte, v uint64) []byte {
	m := major << 5
	switch {
	case v < 24:
		return append(dst, m|byte(v))
	case v <= 0xff:
		return append(dst, m|24, byte(v))
	case v <= 0xffff:
		return binary.BigEndian.AppendUint16(append(dst, m|25), uint16(v))
	case v <= 0xffffffff:
		return binary.BigEndian.AppendUint32(append(dst, m|26), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, m|27), v)
}

func appendCBORHex(dst []byte, fl Flags, ok bool, smp *Sample) []byte {
	if fl&FlagBin != 0 {
		return appendCBOR(dst, ok, smp)
	}
	var tmp [128]byte
	raw := appendCBOR(tmp[:0], ok, smp)
	for _, c := range raw {
		dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
	}
	return dst
}

// appendObject renders the whole line as a JSON or CBOR object of the named
// items (%{+json}o / %{+cbor}o); literal text is ignored and items without
// a name are skipped.
func (f *Format) appendObject(dst []byte, s Stream) []byte {
	cbor := f.enc&FlagCBOR != 0
	n := 0
	for i := range f.items {
		if it := &f.items[i]; (it.kind == itExpr || it.kind == itAlias) && it.name != "" {
			n++
		}
	}
	var raw []byte
	if cbor {
		raw = cborHead(raw, 5, uint64(n))
	} else {
		dst = append(dst, '{')
	}
	first := true
	for i := range f.items {
		it := &f.items[i]
		if (it.kind != itExpr && it.kind != itAlias) || it.name == "" {
			continue
		}
		var smp Sample
		ok := f.evalItem(it, s, &smp)
		if cbor {
			raw = cborHead(raw, 3, uint64(len(it.name)))
			raw = append(raw, it.name...)
			raw = appendCBOR(raw, ok, &smp)
			continue
		}
		if !first {
			dst = append(dst, ", "...)
		}
		first = false
		dst = append(dst, '"')
		dst, _ = appendJSONEscaped(dst, []byte(it.name), jsonUTF8S, false)
		dst = append(dst, "\": "...)
		dst = appendJSONValue(dst, ok, &smp)
	}
	if cbor {
		if f.enc&FlagBin != 0 {
			return append(dst, raw...)
		}
		for _, c := range raw {
			dst = append(dst, hexUpper[c>>4], hexUpper[c&15])
		}
		return dst
	}
	return append(dst, '}')
}
