package bus

import (
	"errors"
	"fmt"
)

// ErrNoTypes is returned by ParseTypes for an empty list; its text is
// HAProxy's Lua error.
var ErrNoTypes = errors.New("event_sub: no valid event types were provided")

// UnknownTypeError is returned by ParseTypes for a name that is neither an
// event type nor a family. Its text is HAProxy's Lua error.
type UnknownTypeError struct{ Name string }

func (e *UnknownTypeError) Error() string { return fmt.Sprintf("'%s' event type is unknown", e.Name) }

// ParseType returns the type named name ("SERVER_DOWN"); names are
// case-sensitive, as in HAProxy.
func ParseType(name string) (Type, bool) {
	for t := TypeNone + 1; t < numTypes; t++ {
		if typeNames[t] == name {
			return t, true
		}
	}
	return TypeNone, false
}

// ParseTypes turns event type and family names ("SERVER_DOWN", "SERVER",
// "BACKEND") into the types they denote, deduplicated, in declaration order.
// An unknown name yields an *UnknownTypeError ("'<X>' event type is unknown"),
// an empty list ErrNoTypes, as HAProxy's core.event_sub does.
func ParseTypes(names []string) ([]Type, error) {
	var mask typeMask
	for _, n := range names {
		if t, ok := ParseType(n); ok {
			mask |= t.bit()
			continue
		}
		fam := false
		for t := TypeNone + 1; t < numTypes; t++ {
			if t.Family() == n {
				mask |= t.bit()
				fam = true
			}
		}
		if !fam {
			return nil, &UnknownTypeError{Name: n}
		}
	}
	if mask == 0 {
		return nil, ErrNoTypes
	}
	return mask.types(), nil
}

// typeMask is a set of types, one bit per Type.
type typeMask uint32

const allTypes = typeMask(1<<numTypes-1) &^ 1

func (t Type) bit() typeMask {
	if !t.Valid() {
		return 0
	}
	return 1 << t
}

func maskOf(ts []Type) typeMask {
	if len(ts) == 0 {
		return allTypes
	}
	var m typeMask
	for _, t := range ts {
		m |= t.bit()
	}
	return m
}

func (m typeMask) has(t Type) bool { return m&(1<<t) != 0 }

func (m typeMask) types() []Type {
	var ts []Type
	for t := TypeNone + 1; t < numTypes; t++ {
		if m.has(t) {
			ts = append(ts, t)
		}
	}
	return ts
}
