package scripts

import (
	"strings"

	lua "github.com/yuin/gopher-lua"
)

const concatClass = "Concat"

// concat is the Concat class: an efficient string builder.
type concat struct{ b strings.Builder }

func init() {
	registerClass(&class{
		name: concatClass,
		methods: map[string]Method{
			"add":  concatAdd,
			"dump": concatDump,
		},
	})
}

func coreConcat(st *State, L *lua.LState) int {
	L.Push(st.newObj(concatClass, &concat{}))
	return 1
}

func concatAdd(st *State, L *lua.LState) int {
	checkArgs(L, 2, "add")
	c := checkObj[*concat](L, 1, concatClass)
	c.b.WriteString(L.CheckString(2))
	return 0
}

func concatDump(st *State, L *lua.LState) int {
	checkArgs(L, 1, "dump")
	c := checkObj[*concat](L, 1, concatClass)
	L.Push(lua.LString(c.b.String()))
	return 1
}
