package sample

import (
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Scope is a variable scope.
type Scope uint8

// Scopes, with HAProxy's lifetimes (§2.10). The owner of a Stream decides
// when each store is reset: Sess at the end of the client connection, Txn at
// the end of each transaction, Req when the first connection attempt to a
// server starts, Res at the end of the stream, Check at the end of a
// health-check run. Proc lives as long as the instance. The parent scopes
// (PSess...) read the parent stream's stores and are read-only.
const (
	ScopeProc Scope = iota
	ScopeSess
	ScopeTxn
	ScopeReq
	ScopeRes
	ScopeCheck
	ScopePSess
	ScopePTxn
	ScopePReq
	ScopePRes
	numScopes
)

var scopeNames = [numScopes]string{"proc", "sess", "txn", "req", "res", "check", "psess", "ptxn", "preq", "pres"}

// String returns the scope's prefix ("txn").
func (s Scope) String() string {
	if s < numScopes {
		return scopeNames[s]
	}
	return "?"
}

// ReadOnly reports whether the scope is a parent scope.
func (s Scope) ReadOnly() bool { return s >= ScopePSess }

// Own returns the scope of the parent stream a parent scope reads (PTxn
// gives Txn); other scopes are returned as they are.
func (s Scope) Own() Scope {
	if s >= ScopePSess && s < numScopes {
		return s - ScopePSess + ScopeSess
	}
	return s
}

var errVarName = "invalid variable name '%s'. A variable name must be start by its scope. The scope can be 'proc', 'sess', 'txn', 'req', 'res' or 'check'"

// ParseVarName splits "txn.foo" into its scope and name, with HAProxy's
// error for a missing or unknown scope. Names use [A-Za-z0-9_.].
func ParseVarName(s string) (Scope, string, error) {
	pfx, name, ok := strings.Cut(s, ".")
	sc := Scope(0)
	found := false
	for i, n := range scopeNames {
		if n == pfx {
			sc, found = Scope(i), true
			break
		}
	}
	if !ok || !found {
		return 0, "", fmt.Errorf(errVarName, s)
	}
	if name == "" {
		return 0, "", fmt.Errorf("invalid variable name '%s': empty name", s)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return 0, "", fmt.Errorf("invalid variable name '%s': character '%c' is not allowed", s, c)
		}
	}
	return sc, name, nil
}

// VarRef is a variable name resolved at compile time: a scope and an index
// into that scope's stores.
type VarRef struct {
	Scope Scope
	ID    int
	Name  string // "txn.foo", for messages
}

// VarNames interns variable names per scope so that stores are indexed
// slices. One VarNames belongs to an instance (its Registry holds it); it is
// safe for concurrent use (Lua may add names at run time).
type VarNames struct {
	mu    sync.RWMutex
	ids   [numScopes]map[string]int
	names [numScopes][]string
}

// NewVarNames returns an empty name table.
func NewVarNames() *VarNames {
	v := &VarNames{}
	for i := range v.ids {
		v.ids[i] = map[string]int{}
	}
	return v
}

func (v *VarNames) clone() *VarNames {
	n := NewVarNames()
	v.mu.RLock()
	defer v.mu.RUnlock()
	for i := range v.ids {
		for k, id := range v.ids[i] {
			n.ids[i][k] = id
		}
		n.names[i] = append([]string(nil), v.names[i]...)
	}
	return n
}

// Resolve parses "scope.name" and interns it. Parent scopes share the ids
// of the scope they read.
func (v *VarNames) Resolve(full string) (VarRef, error) {
	sc, name, err := ParseVarName(full)
	if err != nil {
		return VarRef{}, err
	}
	return VarRef{Scope: sc, ID: v.Intern(sc.Own(), name), Name: full}, nil
}

// Intern returns the id of name in scope, adding it if needed.
func (v *VarNames) Intern(sc Scope, name string) int {
	sc = sc.Own()
	v.mu.RLock()
	id, ok := v.ids[sc][name]
	v.mu.RUnlock()
	if ok {
		return id
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if id, ok := v.ids[sc][name]; ok {
		return id
	}
	id = len(v.names[sc])
	v.ids[sc][name] = id
	v.names[sc] = append(v.names[sc], name)
	return id
}

// Lookup returns the id of a known name without adding it (Lua's
// set_var(..., ifexist)).
func (v *VarNames) Lookup(sc Scope, name string) (int, bool) {
	v.mu.RLock()
	id, ok := v.ids[sc.Own()][name]
	v.mu.RUnlock()
	return id, ok
}

// Name returns the name of id in scope.
func (v *VarNames) Name(sc Scope, id int) string {
	v.mu.RLock()
	defer v.mu.RUnlock()
	if l := v.names[sc.Own()]; id >= 0 && id < len(l) {
		return l[id]
	}
	return ""
}

// VarStore holds the variables of one scope of one stream (or of the
// instance for proc). Values are copied in; a store reuses its buffers, so a
// Reset store does not allocate again for values of similar sizes.
//
// A store created with shared=true (proc) is safe for concurrent use: it is
// read under a read lock and written copy-on-write, so a sample read from it
// stays valid after a later Set. Other stores belong to one stream and are
// not locked; a sample read from them is valid until the next Set of that
// variable.
type VarStore struct {
	shared bool
	mu     sync.RWMutex
	slots  []varSlot
}

type varSlot struct {
	set bool
	smp Sample
	buf []byte
}

// NewVarStore returns an empty store; shared selects the proc behaviour.
func NewVarStore(shared bool) *VarStore { return &VarStore{shared: shared} }

// Get copies variable id into out and reports whether it is set.
func (v *VarStore) Get(id int, out *Sample) bool {
	if v == nil {
		return false
	}
	if v.shared {
		v.mu.RLock()
		defer v.mu.RUnlock()
	}
	if id < 0 || id >= len(v.slots) || !v.slots[id].set {
		return false
	}
	it := out.Iter
	*out = v.slots[id].smp
	out.Iter = it
	return true
}

// IsSet reports whether variable id is set.
func (v *VarStore) IsSet(id int) bool {
	if v == nil {
		return false
	}
	if v.shared {
		v.mu.RLock()
		defer v.mu.RUnlock()
	}
	return id >= 0 && id < len(v.slots) && v.slots[id].set
}

// Set stores a copy of smp in variable id.
func (v *VarStore) Set(id int, smp *Sample) {
	if v == nil || id < 0 {
		return
	}
	if v.shared {
		v.mu.Lock()
		defer v.mu.Unlock()
	}
	if id >= len(v.slots) {
		if id < cap(v.slots) {
			v.slots = v.slots[:id+1]
		} else {
			n := make([]varSlot, id+1, id+8)
			copy(n, v.slots)
			v.slots = n
		}
	}
	sl := &v.slots[id]
	val := *smp
	val.Iter = Iter{}
	if smp.Type == Str || smp.Type == Bin || smp.Type == Meth && smp.Meth == MethOther {
		if v.shared || cap(sl.buf) < len(smp.Str) {
			sl.buf = append([]byte(nil), smp.Str...)
		} else {
			sl.buf = sl.buf[:len(smp.Str)]
			copy(sl.buf, smp.Str)
		}
		val.Str = sl.buf
	} else {
		val.Str = nil
	}
	sl.smp = val
	sl.set = true
}

// Unset removes variable id.
func (v *VarStore) Unset(id int) {
	if v == nil {
		return
	}
	if v.shared {
		v.mu.Lock()
		defer v.mu.Unlock()
	}
	if id >= 0 && id < len(v.slots) {
		v.slots[id].set = false
	}
}

// Reset unsets every variable, keeping the buffers for reuse.
func (v *VarStore) Reset() {
	if v == nil {
		return
	}
	if v.shared {
		v.mu.Lock()
		defer v.mu.Unlock()
	}
	for i := range v.slots {
		v.slots[i].set = false
	}
	v.slots = v.slots[:0]
}

// Each calls f for every set variable (for "get var", Lua dumps...).
func (v *VarStore) Each(f func(id int, smp *Sample)) {
	if v == nil {
		return
	}
	if v.shared {
		v.mu.RLock()
		defer v.mu.RUnlock()
	}
	for i := range v.slots {
		if v.slots[i].set {
			f(i, &v.slots[i].smp)
		}
	}
}

// GetVar reads a variable of the stream into out.
func GetVar(s Stream, ref VarRef, out *Sample) bool {
	return s.Vars(ref.Scope.Own()).Get(ref.ID, out)
}

// SetVar sets a variable of the stream; it fails for parent scopes and
// scopes the stream does not have.
func SetVar(s Stream, ref VarRef, smp *Sample) bool {
	if ref.Scope.ReadOnly() {
		return false
	}
	st := s.Vars(ref.Scope)
	if st == nil {
		return false
	}
	st.Set(ref.ID, smp)
	return true
}

// UnsetVar removes a variable of the stream.
func UnsetVar(s Stream, ref VarRef) bool {
	if ref.Scope.ReadOnly() {
		return false
	}
	st := s.Vars(ref.Scope)
	if st == nil {
		return false
	}
	st.Unset(ref.ID)
	return true
}

// SetCond is a bit set of set-var conditions.
type SetCond uint16

// set-var conditions (set-var(<name>[,<cond>...])).
const (
	IfExists SetCond = 1 << iota
	IfNotExists
	IfEmpty
	IfNotEmpty
	IfSet
	IfNotSet
	IfGt
	IfLt
)

var condNames = []struct {
	name string
	c    SetCond
}{
	{"ifexists", IfExists}, {"ifnotexists", IfNotExists}, {"ifempty", IfEmpty}, {"ifnotempty", IfNotEmpty},
	{"ifset", IfSet}, {"ifnotset", IfNotSet}, {"ifgt", IfGt}, {"iflt", IfLt},
}

// ParseSetConds parses the conditions after the variable name in
// set-var(<name>,<cond>...).
func ParseSetConds(words []string) (SetCond, error) {
	var c SetCond
	for _, w := range words {
		found := false
		for _, cn := range condNames {
			if cn.name == w {
				c |= cn.c
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown condition '%s' (expects 'ifexists', 'ifnotexists', 'ifempty', 'ifnotempty', 'ifset', 'ifnotset', 'ifgt', 'iflt')", w)
		}
	}
	return c, nil
}

// ParseSetVar parses the inside of set-var(...)/set-var-fmt(...)/unset-var(...):
// "txn.foo,ifnotset,ifgt" gives the resolved variable and the conditions.
func ParseSetVar(arg string, names *VarNames) (VarRef, SetCond, error) {
	parts := strings.Split(arg, ",")
	ref, err := names.Resolve(strings.TrimSpace(parts[0]))
	if err != nil {
		return VarRef{}, 0, err
	}
	if ref.Scope.ReadOnly() {
		return VarRef{}, 0, errors.New("parent stream variables are read-only")
	}
	c, err := ParseSetConds(parts[1:])
	return ref, c, err
}

// sampleEmpty tells whether a sample is "empty" for ifempty/ifnotempty: an
// empty string or binary, integer 0, boolean false.
func sampleEmpty(s *Sample) bool {
	switch s.Type {
	case Str, Bin:
		return len(s.Str) == 0
	case SInt:
		return s.Int == 0
	case Bool:
		return !s.Bool
	case IPv4, IPv6:
		return !s.IP.IsValid() || s.IP.IsUnspecified()
	}
	return false
}

// SetVarIf sets a variable honouring set-var conditions: ifexists/ifset the
// variable must already be set, ifnotexists/ifnotset it must not be;
// ifempty/ifnotempty test the new value; ifgt sets only when the current
// integer value is greater than the new one, iflt when it is lower (an
// unset variable is created; a non-integer one is left alone). It reports
// whether the variable was set.
func SetVarIf(s Stream, ref VarRef, c SetCond, smp *Sample) bool {
	if ref.Scope.ReadOnly() {
		return false
	}
	st := s.Vars(ref.Scope)
	if st == nil {
		return false
	}
	if c != 0 {
		if c&(IfEmpty|IfNotEmpty) != 0 {
			e := sampleEmpty(smp)
			if c&IfEmpty != 0 && !e || c&IfNotEmpty != 0 && e {
				return false
			}
		}
		var cur Sample
		exists := st.Get(ref.ID, &cur)
		if c&(IfExists|IfSet) != 0 && !exists || c&(IfNotExists|IfNotSet) != 0 && exists {
			return false
		}
		if c&(IfGt|IfLt) != 0 && exists {
			if cur.Type != SInt {
				return false
			}
			nv := *smp
			if !nv.Cast(SInt, s.Scratch()) {
				return false
			}
			if c&IfGt != 0 && !(cur.Int > nv.Int) || c&IfLt != 0 && !(cur.Int < nv.Int) {
				return false
			}
		}
	}
	st.Set(ref.ID, smp)
	return true
}

// CheckScope returns an error when a rule set cannot use a variable scope:
// tcp-request connection and session rules only have proc and sess, health
// checks only proc, sess and check, and check exists only in checks.
func CheckScope(where Where, sc Scope) error {
	own := sc.Own()
	switch {
	case where&(InConn|InSess) != 0 && where&^(InConn|InSess) == 0:
		if own != ScopeProc && own != ScopeSess {
			return fmt.Errorf("variable scope '%s' is not usable in '%s' rules (only 'proc' and 'sess')", sc, where)
		}
	case where == InCheck:
		if own != ScopeProc && own != ScopeSess && own != ScopeCheck {
			return fmt.Errorf("variable scope '%s' is not usable in health checks (only 'proc', 'sess' and 'check')", sc)
		}
	case own == ScopeCheck && where != 0:
		return fmt.Errorf("variable scope 'check' is only usable in health checks")
	}
	return nil
}
