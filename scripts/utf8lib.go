package scripts

import (
	"unicode/utf8"

	lua "github.com/yuin/gopher-lua"
)

// openUTF8 installs a Lua 5.3 compatible utf8 library.
func openUTF8(L *lua.LState) {
	t := L.NewTable()
	t.RawSetString("charpattern", lua.LString("[\x00-\x7F\xC2-\xFD][\x80-\xBF]*"))
	L.SetFuncs(t, map[string]lua.LGFunction{
		"char":      utf8Char,
		"codepoint": utf8Codepoint,
		"len":       utf8Len,
		"offset":    utf8Offset,
		"codes":     utf8Codes,
	})
	L.SetGlobal("utf8", t)
}

// strPos converts a Lua string position (1-based, negative from the end)
// to a 0-based byte offset.
func strPos(i, n int) int {
	if i >= 0 {
		return i - 1
	}
	if -i > n {
		return -1
	}
	return n + i
}

func utf8Char(L *lua.LState) int {
	var b []byte
	for i := 1; i <= L.GetTop(); i++ {
		cp := checkInt(L, i)
		if cp < 0 || cp > 0x7FFFFFFF {
			L.ArgError(i, "value out of range")
		}
		b = utf8.AppendRune(b, rune(cp))
	}
	L.Push(lua.LString(b))
	return 1
}

func utf8Codepoint(L *lua.LState) int {
	s := L.CheckString(1)
	i := strPos(L.OptInt(2, 1), len(s))
	j := strPos(L.OptInt(3, i+1), len(s))
	if i < 0 {
		L.ArgError(2, "out of bounds")
	}
	if j >= len(s) {
		L.ArgError(3, "out of bounds")
	}
	n := 0
	for p := i; p <= j; {
		r, size := utf8.DecodeRuneInString(s[p:])
		if r == utf8.RuneError && size <= 1 {
			L.RaiseError("invalid UTF-8 code")
		}
		L.Push(lua.LNumber(r))
		n++
		p += size
	}
	return n
}

func utf8Len(L *lua.LState) int {
	s := L.CheckString(1)
	i := strPos(L.OptInt(2, 1), len(s))
	j := strPos(L.OptInt(3, -1), len(s))
	if i < 0 || i > len(s) {
		L.ArgError(2, "initial position out of string")
	}
	n := 0
	for p := i; p <= j && p < len(s); {
		r, size := utf8.DecodeRuneInString(s[p:])
		if r == utf8.RuneError && size <= 1 {
			L.Push(lua.LNil)
			L.Push(lua.LNumber(p + 1))
			return 2
		}
		n++
		p += size
	}
	L.Push(lua.LNumber(n))
	return 1
}

func isCont(b byte) bool { return b&0xC0 == 0x80 }

func utf8Offset(L *lua.LState) int {
	s := L.CheckString(1)
	n := checkInt(L, 2)
	def := 1
	if n < 0 {
		def = len(s) + 1
	}
	i := strPos(L.OptInt(3, def), len(s))
	if i < 0 || i > len(s) {
		L.ArgError(3, "position out of range")
	}
	if n == 0 {
		for i > 0 && i < len(s) && isCont(s[i]) {
			i--
		}
		L.Push(lua.LNumber(i + 1))
		return 1
	}
	if i < len(s) && isCont(s[i]) {
		L.RaiseError("initial position is a continuation byte")
	}
	if n < 0 {
		for n < 0 && i > 0 {
			i--
			for i > 0 && isCont(s[i]) {
				i--
			}
			n++
		}
	} else {
		n--
		for n > 0 && i < len(s) {
			i++
			for i < len(s) && isCont(s[i]) {
				i++
			}
			n--
		}
	}
	if n == 0 {
		L.Push(lua.LNumber(i + 1))
	} else {
		L.Push(lua.LNil)
	}
	return 1
}

func utf8Codes(L *lua.LState) int {
	s := L.CheckString(1)
	L.Push(L.NewFunction(func(L *lua.LState) int {
		p := int(L.CheckNumber(2)) - 1 // previous position, 0-based
		if p >= len(s) {
			return 0
		}
		if p >= 0 {
			_, size := utf8.DecodeRuneInString(s[p:])
			p += size
		} else {
			p = 0
		}
		if p >= len(s) {
			return 0
		}
		r, size := utf8.DecodeRuneInString(s[p:])
		if r == utf8.RuneError && size <= 1 {
			L.RaiseError("invalid UTF-8 code")
		}
		L.Push(lua.LNumber(p + 1))
		L.Push(lua.LNumber(r))
		return 2
	}))
	L.Push(lua.LString(s))
	L.Push(lua.LNumber(0))
	return 3
}
