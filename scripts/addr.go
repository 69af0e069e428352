package scripts

import (
	"net/netip"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

const netClass = "Net"

func init() {
	registerClass(&class{
		name: netClass,
		meta: map[string]Method{"__tostring": netToString},
	})
}

// coreParseAddr is core.parse_addr("ip[/len]"): an opaque network object,
// or nil when the string is not an IPv4/IPv6 address or network.
func coreParseAddr(st *State, L *lua.LState) int {
	checkArgs(L, 1, "parse_addr")
	s := strings.TrimSpace(L.CheckString(1))
	var p netip.Prefix
	var err error
	if strings.Contains(s, "/") {
		p, err = netip.ParsePrefix(s)
		if err == nil {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
		}
	} else {
		var a netip.Addr
		a, err = netip.ParseAddr(s)
		if err == nil {
			a = a.Unmap()
			p = netip.PrefixFrom(a, a.BitLen())
		}
	}
	if err != nil || !p.IsValid() {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(st.newObj(netClass, p))
	return 1
}

// coreMatchAddr is core.match_addr(a, b): true when the two networks of the
// same family overlap under the shorter of the two masks.
func coreMatchAddr(st *State, L *lua.LState) int {
	checkArgs(L, 2, "match_addr")
	a := checkObj[netip.Prefix](L, 1, netClass)
	b := checkObj[netip.Prefix](L, 2, netClass)
	if a.Addr().Is4() != b.Addr().Is4() {
		L.Push(lua.LFalse)
		return 1
	}
	bits := a.Bits()
	if b.Bits() < bits {
		bits = b.Bits()
	}
	pa, _ := a.Addr().Prefix(bits)
	pb, _ := b.Addr().Prefix(bits)
	L.Push(lua.LBool(pa == pb))
	return 1
}

func netToString(st *State, L *lua.LState) int {
	p := checkObj[netip.Prefix](L, 1, netClass)
	L.Push(lua.LString(p.String()))
	return 1
}

// coreTokenize is core.tokenize(str, seps[, noblank]): splits str on any
// byte of seps; with noblank true, empty tokens are dropped.
func coreTokenize(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 2 || n > 3 {
		L.RaiseError("'tokenize' needs between 2 and 3 arguments")
	}
	s := L.CheckString(1)
	seps := L.CheckString(2)
	noblank := L.GetTop() == 3 && lua.LVAsBool(L.Get(3))
	t := L.NewTable()
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && strings.IndexByte(seps, s[i]) < 0 {
			continue
		}
		tok := s[start:i]
		if tok != "" || !noblank {
			t.Append(lua.LString(tok))
		}
		start = i + 1
	}
	L.Push(t)
	return 1
}
