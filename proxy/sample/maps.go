package sample

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"moonbus/proxy/stick"
)

// Maps is an instance's cache of pattern and map files ("pattern
// references" in HAProxy), keyed by file path: each file is read once and
// shared by every map converter, ACL -f and Lua Map that names it. It is
// safe for concurrent use.
type Maps struct {
	mu   sync.Mutex
	refs map[string]*PatRef
	// ReadFile reads a file; nil means os.ReadFile (tests may inject).
	ReadFile func(name string) ([]byte, error)
}

// NewMaps returns an empty cache.
func NewMaps() *Maps { return &Maps{refs: map[string]*PatRef{}} }

// PatRef is the content of one pattern or map file: ordered (key, value)
// entries, plus the compiled indexes (one per match method and case flag)
// that use it. Runtime edits (Add, Set, Del, Clear: "add map", "set map",
// Lua core.set_map...) are serialized by a mutex and rebuild the indexes
// copy-on-write, so lookups never lock and always see a consistent
// version. An edit costs O(entries).
type PatRef struct {
	Name    string
	mu      sync.Mutex
	entries []RefEntry
	views   []*view
}

// RefEntry is one line of a pattern or map file.
type RefEntry struct {
	Key   string
	Value string
}

type view struct {
	kind  MatchKind
	icase bool
	out   Type // map output type (Str, SInt, Addr) or Any for ACLs
	cur   atomic.Pointer[index]
}

type index struct {
	set  *patSet
	vals []mapValue // per entry index
}

type mapValue struct {
	str []byte
	i   int64
	ip  netip.Addr
	ok  bool // parsed for the output type
}

// Ref returns the pattern reference of file name, loading it the first time.
// isMap selects map syntax (key, whitespace, value) instead of one pattern
// per line.
func (m *Maps) Ref(name string, isMap bool) (*PatRef, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if r, ok := m.refs[name]; ok {
		return r, nil
	}
	rd := m.ReadFile
	if rd == nil {
		rd = os.ReadFile
	}
	data, err := rd(name)
	if err != nil {
		return nil, fmt.Errorf("failed to open pattern file <%s>: %w", name, err)
	}
	r := &PatRef{Name: name, entries: parsePatFile(data, isMap)}
	m.refs[name] = r
	return r, nil
}

// Lookup returns a loaded reference by name (for "show map", "add map"...).
func (m *Maps) Lookup(name string) (*PatRef, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.refs[name]
	return r, ok
}

// Names returns the loaded file names.
func (m *Maps) Names() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return sortedKeys(m.refs)
}

func parsePatFile(data []byte, isMap bool) []RefEntry {
	var out []RefEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r\n")
		line = strings.TrimLeft(line, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		if !isMap {
			out = append(out, RefEntry{Key: line})
			continue
		}
		line = strings.TrimRight(line, " \t")
		key, val := line, ""
		if i := strings.IndexAny(line, " \t"); i >= 0 {
			key, val = line[:i], strings.TrimLeft(line[i:], " \t")
		}
		out = append(out, RefEntry{Key: key, Value: val})
	}
	return out
}

// Entries returns a copy of the entries.
func (r *PatRef) Entries() []RefEntry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RefEntry(nil), r.entries...)
}

func (r *PatRef) build(v *view) (*index, error) {
	ix := &index{set: newPatSet(v.kind, v.icase), vals: make([]mapValue, len(r.entries))}
	for i, e := range r.entries {
		if err := ix.set.add(e.Key, i, ""); err != nil {
			return nil, fmt.Errorf("file '%s': %w", r.Name, err)
		}
		if v.out != Any {
			mv, err := parseMapValue(e.Value, v.out)
			if err != nil {
				return nil, fmt.Errorf("file '%s': %w", r.Name, err)
			}
			ix.vals[i] = mv
		}
	}
	return ix, nil
}

func parseMapValue(s string, out Type) (mapValue, error) {
	mv := mapValue{str: []byte(s), ok: true}
	switch out {
	case SInt:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return mv, fmt.Errorf("unable to parse value '%s' as an integer", s)
		}
		mv.i = n
	case Addr:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return mv, fmt.Errorf("unable to parse value '%s' as an IP address", s)
		}
		mv.ip = a
	}
	return mv, nil
}

// view returns (creating) the compiled index for a match method.
func (r *PatRef) view(kind MatchKind, icase bool, out Type) (*view, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.views {
		if v.kind == kind && v.icase == icase && v.out == out {
			return v, nil
		}
	}
	v := &view{kind: kind, icase: icase, out: out}
	ix, err := r.build(v)
	if err != nil {
		return nil, err
	}
	v.cur.Store(ix)
	r.views = append(r.views, v)
	return v, nil
}

// edit applies f to the entries and rebuilds every index; on error nothing
// changes.
func (r *PatRef) edit(f func([]RefEntry) []RefEntry) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.entries
	r.entries = f(append([]RefEntry(nil), old...))
	built := make([]*index, len(r.views))
	for i, v := range r.views {
		ix, err := r.build(v)
		if err != nil {
			r.entries = old
			return err
		}
		built[i] = ix
	}
	for i, v := range r.views {
		v.cur.Store(built[i])
	}
	return nil
}

// Add appends an entry ("add map", "add acl", Lua core.add_acl).
func (r *PatRef) Add(key, value string) error {
	return r.edit(func(e []RefEntry) []RefEntry { return append(e, RefEntry{Key: key, Value: value}) })
}

// Set changes the value of every entry with key, adding one when none
// exists (Lua core.set_map). It reports whether an entry existed.
func (r *PatRef) Set(key, value string) (bool, error) {
	found := false
	err := r.edit(func(e []RefEntry) []RefEntry {
		for i := range e {
			if e[i].Key == key {
				e[i].Value = value
				found = true
			}
		}
		if !found {
			e = append(e, RefEntry{Key: key, Value: value})
		}
		return e
	})
	return found, err
}

// Del removes every entry with key and reports whether one existed.
func (r *PatRef) Del(key string) bool {
	found := false
	r.edit(func(e []RefEntry) []RefEntry {
		out := e[:0]
		for _, x := range e {
			if x.Key == key {
				found = true
				continue
			}
			out = append(out, x)
		}
		return out
	})
	return found
}

// Clear removes every entry.
func (r *PatRef) Clear() {
	r.edit(func([]RefEntry) []RefEntry { return nil })
}

// Map is a map file opened with a match method and an output type, as map
// converters and Lua's Map class use it.
type Map struct {
	ref  *PatRef
	v    *view
	kind MatchKind
}

// Map opens file as a map matched with kind (str, beg, sub, dir, dom, end,
// reg, regm, int, ip) producing out (Str, SInt or Addr).
func (m *Maps) Map(file string, kind MatchKind, out Type) (*Map, error) {
	if m == nil {
		return nil, fmt.Errorf("map files are not available here")
	}
	switch kind {
	case MatchStr, MatchBeg, MatchSub, MatchDir, MatchDom, MatchEnd, MatchReg, MatchRegM, MatchInt, MatchIP:
	default:
		return nil, fmt.Errorf("match method '%s' cannot be used with maps", kind)
	}
	if out != Str && out != SInt && out != Addr {
		out = Str
	}
	ref, err := m.Ref(file, true)
	if err != nil {
		return nil, err
	}
	v, err := ref.view(kind, false, out)
	if err != nil {
		return nil, err
	}
	return &Map{ref: ref, v: v, kind: kind}, nil
}

// Ref returns the map's pattern reference (for runtime edits).
func (mp *Map) Ref() *PatRef { return mp.ref }

// lookup finds the value for smp (already cast to the kind's input type).
func (mp *Map) lookup(s Stream, smp *Sample) (*mapValue, int, *index, bool) {
	ix := mp.v.cur.Load()
	idx, ok := ix.set.match(s, smp)
	if !ok {
		return nil, 0, nil, false
	}
	return &ix.vals[idx], idx, ix, true
}

// Lookup returns the value for key (Lua's Map:lookup): the key is parsed
// for int and ip maps, and regm substitutes back-references.
func (mp *Map) Lookup(key string) (string, bool) {
	var smp Sample
	smp.SetStr([]byte(key))
	var sc []byte
	if !smp.Cast(mp.kind.inType(), &sc) {
		return "", false
	}
	ix := mp.v.cur.Load()
	st := &scratchStream{buf: sc}
	idx, ok := ix.set.match(st, &smp)
	if !ok {
		return "", false
	}
	if mp.kind == MatchRegM {
		return string(regmExpand(nil, ix, idx, smp.Str)), true
	}
	return string(ix.vals[idx].str), true
}

// regmExpand substitutes \N references of the matched regex into the value.
func regmExpand(dst []byte, ix *index, idx int, in []byte) []byte {
	for i := range ix.set.list {
		p := &ix.set.list[i]
		if p.idx != idx {
			continue
		}
		m := p.re.FindSubmatchIndex(in)
		if m == nil {
			break
		}
		return appendSubst(dst, in, ix.vals[idx].str, m)
	}
	return append(dst, ix.vals[idx].str...)
}

// scratchStream is a minimal Stream for lookups outside any stream (Lua
// Map objects in task context).
type scratchStream struct{ buf []byte }

func (s *scratchStream) Vars(Scope) *VarStore        { return nil }
func (s *scratchStream) Scratch() *[]byte            { return &s.buf }
func (s *scratchStream) Now() time.Time              { return time.Now() }
func (s *scratchStream) StickCounter(int) *stick.Ref { return nil }
func (s *scratchStream) Env(string) (string, bool)   { return "", false }
func (s *scratchStream) Dir() Direction              { return DirRequest }

// map converters --------------------------------------------------------

type mapConvState struct {
	m    *Map
	def  mapValue
	hasD bool
}

func registerMapConverters(r *Registry) {
	kinds := []string{"str", "beg", "sub", "dir", "dom", "end", "reg", "regm", "int", "ip"}
	outs := map[string]Type{"str": Str, "int": SInt, "ip": Addr}
	for _, k := range kinds {
		kind, _ := ParseMatchKind(k)
		for on, ot := range outs {
			def := mapConvDef(kind, ot)
			r.RegisterConverter("map_"+k+"_"+on, def)
			if on == "str" {
				r.RegisterConverter("map_"+k, def)
			}
		}
	}
	r.RegisterConverter("map", mapConvDef(MatchStr, Str))
}

func mapConvDef(kind MatchKind, out Type) ConvDef {
	in := kind.inType()
	return ConvDef{In: in, Out: out, Args: []ArgKind{ArgStr, ArgStr}, MinArgs: 1,
		Check: func(a []Arg, ctx *CompileCtx) error {
			m, err := ctx.Maps.Map(a[0].Str, kind, out)
			if err != nil {
				return err
			}
			st := &mapConvState{m: m}
			if a[1].Present {
				d, err := parseMapValue(a[1].Str, out)
				if err != nil {
					return fmt.Errorf("default value: %w", err)
				}
				st.def, st.hasD = d, true
			}
			a[0].Any = st
			return nil
		},
		Fn: func(s Stream, a []Arg, smp *Sample) bool {
			st := a[0].Any.(*mapConvState)
			v, idx, ix, ok := st.m.lookup(s, smp)
			if !ok {
				if !st.hasD {
					return false
				}
				v = &st.def
			} else if kind == MatchRegM && out == Str {
				rg := begin(s)
				smp.SetStr(rg.end(regmExpand(rg.buf(), ix, idx, smp.Str)))
				return true
			}
			switch out {
			case SInt:
				smp.SetInt(v.i)
			case Addr:
				smp.SetIP(v.ip)
			default:
				smp.SetStr(v.str)
			}
			return true
		}}
}
