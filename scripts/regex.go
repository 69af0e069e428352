package scripts

import (
	"regexp"

	lua "github.com/yuin/gopher-lua"
)

const regexClass = "Regex"

// maxRegexCaptures is HAProxy's limit on returned match groups.
const maxRegexCaptures = 20

func init() {
	registerClass(&class{
		name: regexClass,
		methods: map[string]Method{
			"exec":  regexExec,
			"match": regexMatch,
		},
		global:  "Regex",
		statics: map[string]Method{"new": regexNew},
	})
}

// regexNew is Regex.new(re[, case_sensitive]): true, obj or false, err. The
// syntax is Go's RE2 (PCRE back-references and look-arounds are refused).
func regexNew(st *State, L *lua.LState) int {
	expr := L.CheckString(1)
	cs := true
	if L.GetTop() >= 2 {
		cs = lua.LVAsBool(L.Get(2))
	}
	if !cs {
		expr = "(?i)" + expr
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		L.Push(lua.LFalse)
		L.Push(lua.LString(err.Error()))
		return 2
	}
	L.Push(lua.LTrue)
	L.Push(st.newObj(regexClass, re))
	return 2
}

func regexExec(st *State, L *lua.LState) int {
	re := checkObj[*regexp.Regexp](L, 1, regexClass)
	L.Push(lua.LBool(re.MatchString(L.CheckString(2))))
	return 1
}

// regexMatch returns false, or true and the whole match followed by the
// groups (at most 20 entries, 1-based).
func regexMatch(st *State, L *lua.LState) int {
	re := checkObj[*regexp.Regexp](L, 1, regexClass)
	s := L.CheckString(2)
	m := re.FindStringSubmatchIndex(s)
	if m == nil {
		L.Push(lua.LFalse)
		return 1
	}
	t := L.NewTable()
	for i := 0; i+1 < len(m) && i/2 < maxRegexCaptures; i += 2 {
		if m[i] < 0 {
			break
		}
		t.Append(lua.LString(s[m[i]:m[i+1]]))
	}
	L.Push(lua.LTrue)
	L.Push(t)
	return 2
}
