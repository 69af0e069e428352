package bus

import (
	"strings"
	"sync"
)

// Sublist is a trie of subject patterns, each bound to values of type T.
// Match returns the values of every pattern that matches a literal subject.
// It is safe for concurrent use.
//
// The same value may be inserted under several patterns (or twice under
// one); Match then returns it once per matching insertion, and Remove
// removes one insertion.
type Sublist[T comparable] struct {
	mu    sync.RWMutex
	root  slLevel[T]
	count int
}

type slLevel[T comparable] struct {
	lits map[string]*slNode[T]
	pwc  *slNode[T] // "*"
	fwc  *slNode[T] // ">"
}

type slNode[T comparable] struct {
	next slLevel[T]
	vals []T
}

func (l *slLevel[T]) empty() bool { return len(l.lits) == 0 && l.pwc == nil && l.fwc == nil }

func (n *slNode[T]) empty() bool { return len(n.vals) == 0 && n.next.empty() }

// child returns the node for token tok, creating it when create is set.
func (l *slLevel[T]) child(tok string, create bool) *slNode[T] {
	var p **slNode[T]
	switch tok {
	case "*":
		p = &l.pwc
	case ">":
		p = &l.fwc
	default:
		n := l.lits[tok]
		if n == nil && create {
			if l.lits == nil {
				l.lits = make(map[string]*slNode[T])
			}
			n = &slNode[T]{}
			l.lits[tok] = n
		}
		return n
	}
	if *p == nil && create {
		*p = &slNode[T]{}
	}
	return *p
}

func (l *slLevel[T]) drop(tok string) {
	switch tok {
	case "*":
		l.pwc = nil
	case ">":
		l.fwc = nil
	default:
		delete(l.lits, tok)
	}
}

// Insert binds v to pattern (a subject that may hold wildcards). An invalid
// pattern is an error wrapping ErrBadSubject.
func (s *Sublist[T]) Insert(pattern string, v T) error {
	if err := ValidSubject(pattern, true); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	lvl := &s.root
	var n *slNode[T]
	for tok := range strings.SplitSeq(pattern, ".") {
		n = lvl.child(tok, true)
		lvl = &n.next
	}
	n.vals = append(n.vals, v)
	s.count++
	return nil
}

// Remove removes one binding of v to pattern and reports whether there was
// one. Nodes left empty are pruned.
func (s *Sublist[T]) Remove(pattern string, v T) bool {
	if ValidSubject(pattern, true) != nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	toks := strings.Split(pattern, ".")
	path := make([]*slNode[T], 0, len(toks))
	lvl := &s.root
	for _, tok := range toks {
		n := lvl.child(tok, false)
		if n == nil {
			return false
		}
		path = append(path, n)
		lvl = &n.next
	}
	n := path[len(path)-1]
	i := -1
	for j, x := range n.vals {
		if x == v {
			i = j
			break
		}
	}
	if i < 0 {
		return false
	}
	n.vals = append(n.vals[:i], n.vals[i+1:]...)
	var zero T
	n.vals[:cap(n.vals)][len(n.vals)] = zero // drop the reference
	s.count--
	for k := len(path) - 1; k >= 0 && path[k].empty(); k-- {
		parent := &s.root
		if k > 0 {
			parent = &path[k-1].next
		}
		parent.drop(toks[k])
	}
	return true
}

// Count returns the number of bindings.
func (s *Sublist[T]) Count() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count
}

// Match returns the values bound to every pattern matching the literal
// subject (nil when none match or subject is not a valid literal subject).
func (s *Sublist[T]) Match(subject string) []T {
	return s.AppendMatch(nil, subject)
}

// AppendMatch is Match appending to dst, to reuse a buffer.
func (s *Sublist[T]) AppendMatch(dst []T, subject string) []T {
	if ValidSubject(subject, false) != nil {
		return dst
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.root.match(dst, subject, false)
}

// HasInterest reports whether any pattern matches the literal subject.
func (s *Sublist[T]) HasInterest(subject string) bool {
	if ValidSubject(subject, false) != nil {
		return false
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.root.match(nil, subject, true)) > 0
}

// match walks the levels for the remaining subject. With first set it stops
// at the first value found.
func (l *slLevel[T]) match(dst []T, subject string, first bool) []T {
	tok, rest, more := strings.Cut(subject, ".")
	if l.fwc != nil && len(l.fwc.vals) > 0 {
		dst = append(dst, l.fwc.vals...)
		if first {
			return dst
		}
	}
	for _, n := range [2]*slNode[T]{l.lits[tok], l.pwc} {
		if n == nil {
			continue
		}
		if !more {
			dst = append(dst, n.vals...)
		} else {
			dst = n.next.match(dst, rest, first)
		}
		if first && len(dst) > 0 {
			return dst
		}
	}
	return dst
}
