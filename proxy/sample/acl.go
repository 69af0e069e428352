package sample

import (
	"fmt"
	"strings"
)

// ACL is a named (or anonymous) ACL: one or more lines, ORed.
type ACL struct {
	Name  string
	lines []*aclLine
	use   Where
}

// aclLine is one compiled "acl" line or anonymous block: an expression, a
// match method and its patterns.
type aclLine struct {
	expr   *Expr
	kind   MatchKind
	inline *patSet
	files  []*view
}

// Use returns where the ACL can be evaluated.
func (a *ACL) Use() Where { return a.use }

// Match evaluates the ACL: true when any line matches.
func (a *ACL) Match(s Stream) bool {
	for _, l := range a.lines {
		if l.match(s) {
			return true
		}
	}
	return false
}

func (l *aclLine) match(s Stream) bool {
	var smp Sample
	smp.Iter.Multi = true
	for {
		sc := s.Scratch()
		*sc = (*sc)[:0]
		ok := l.expr.eval(s, &smp)
		it := smp.Iter
		if ok && l.test(s, &smp) {
			return true
		}
		if !it.More {
			return false
		}
		smp = Sample{Iter: Iter{Multi: true, Pos: it.Pos}}
	}
}

func (l *aclLine) test(s Stream, smp *Sample) bool {
	if l.kind == MatchFound {
		return true
	}
	if !smp.Cast(l.kind.inType(), s.Scratch()) {
		return false
	}
	if l.kind == MatchBool {
		return smp.Bool
	}
	if l.inline != nil {
		if _, ok := l.inline.match(s, smp); ok {
			return true
		}
	}
	for _, v := range l.files {
		if _, ok := v.cur.Load().set.match(s, smp); ok {
			return true
		}
	}
	return false
}

// ACLSet holds the named ACLs of a proxy and compiles conditions against
// them. Repeating a name ORs the lines.
type ACLSet struct {
	reg        *Registry
	ctx        CompileCtx
	named      map[string]*ACL
	predefined map[string]*ACL
}

// NewACLSet returns an empty set compiling against reg. ctx gives the map
// cache and tables; its Where is ignored for named ACLs (usability is
// checked where a condition uses them).
func NewACLSet(reg *Registry, ctx CompileCtx) *ACLSet {
	ctx.Where = 0
	return &ACLSet{reg: reg, ctx: ctx, named: map[string]*ACL{}, predefined: map[string]*ACL{}}
}

// Add compiles one "acl" line: words are ["name", "fetch", flags...,
// patterns...].
func (set *ACLSet) Add(words []string) error {
	if len(words) < 2 {
		return fmt.Errorf("'acl' expects an ACL name and a sample fetch")
	}
	name := words[0]
	if err := checkACLName(name); err != nil {
		return err
	}
	l, err := compileACLLine(words[1:], set.reg, set.ctx)
	if err != nil {
		return fmt.Errorf("error detected while parsing ACL '%s' : %w", name, err)
	}
	a := set.named[name]
	if a == nil {
		a = &ACL{Name: name}
		set.named[name] = a
	}
	a.lines = append(a.lines, l)
	a.use |= l.expr.use
	return nil
}

// ACL returns a named or predefined ACL.
func (set *ACLSet) ACL(name string) (*ACL, error) {
	if a, ok := set.named[name]; ok {
		return a, nil
	}
	if a, ok := set.predefined[name]; ok {
		return a, nil
	}
	def, ok := predefinedACLs[name]
	if !ok {
		return nil, fmt.Errorf("no such ACL : '%s'", name)
	}
	l, err := compileACLLine(def, set.reg, set.ctx)
	if err != nil {
		return nil, fmt.Errorf("predefined ACL '%s': %w", name, err)
	}
	a := &ACL{Name: name, lines: []*aclLine{l}, use: l.expr.use}
	set.predefined[name] = a
	return a, nil
}

func checkACLName(name string) error {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return fmt.Errorf("invalid character '%c' in ACL name '%s'", c, name)
		}
	}
	return nil
}

// predefinedACLs maps the built-in ACL names to their definitions. Those
// using request fetches resolve them in the registry when first used.
var predefinedACLs = map[string][]string{
	"TRUE":           {"always_true"},
	"FALSE":          {"always_false"},
	"LOCALHOST":      {"src", "127.0.0.1/8", "::1"},
	"HTTP":           {"req.proto_http"},
	"HTTP_1.0":       {"req.ver", "1.0"},
	"HTTP_1.1":       {"req.ver", "1.1"},
	"HTTP_2.0":       {"req.ver", "2.0"},
	"HTTP_3.0":       {"req.ver", "3.0"},
	"HTTP_CONTENT":   {"req.hdr_val(content-length)", "gt", "0"},
	"HTTP_URL_ABS":   {"url_reg", "^[^/:]*://"},
	"HTTP_URL_SLASH": {"url_beg", "/"},
	"HTTP_URL_STAR":  {"url", "*"},
	"METH_CONNECT":   {"method", "CONNECT"},
	"METH_DELETE":    {"method", "DELETE"},
	"METH_GET":       {"method", "GET", "HEAD"},
	"METH_HEAD":      {"method", "HEAD"},
	"METH_OPTIONS":   {"method", "OPTIONS"},
	"METH_POST":      {"method", "POST"},
	"METH_PUT":       {"method", "PUT"},
	"METH_TRACE":     {"method", "TRACE"},
	"RDP_COOKIE":     {"req.rdp_cookie_cnt", "gt", "0"},
	"REQ_CONTENT":    {"req.len", "gt", "0"},
	"WAIT_END":       {"wait_end"},
}

// PredefinedACLs returns the names of the built-in ACLs.
func PredefinedACLs() []string { return sortedKeys(predefinedACLs) }

// aclShortcutBases are the fetches that have <fetch>_<method> ACL
// shortcuts (path_beg, hdr_sub(host), url_reg...), mapped to the fetch.
var aclShortcutBases = map[string]string{
	"path": "path", "url": "url", "base": "base", "pathq": "pathq", "query": "query",
	"hdr": "hdr", "req.hdr": "req.hdr", "res.hdr": "res.hdr", "shdr": "res.hdr", "fhdr": "req.fhdr", "req.fhdr": "req.fhdr", "res.fhdr": "res.fhdr",
	"cook": "req.cook", "req.cook": "req.cook", "scook": "res.cook", "res.cook": "res.cook",
	"urlp": "url_param", "url_param": "url_param",
	"ssl_fc_sni": "ssl_fc_sni", "req.ssl_sni": "req.ssl_sni", "req_ssl_sni": "req.ssl_sni",
	"capture.req.hdr": "capture.req.hdr", "capture.res.hdr": "capture.res.hdr",
	"src": "src", "dst": "dst", "var": "var", "env": "env", "str": "str", "be_name": "be_name", "fe_name": "fe_name", "srv_name": "srv_name",
	"req.body": "req.body", "method": "method",
}

var aclShortcutMethods = map[string]MatchKind{
	"beg": MatchBeg, "end": MatchEnd, "sub": MatchSub, "dir": MatchDir, "dom": MatchDom, "reg": MatchReg, "len": MatchLen, "str": MatchStr,
}

// resolveShortcut maps "path_beg" to ("path", beg).
func resolveShortcut(name string, reg *Registry) (string, MatchKind, bool) {
	i := strings.LastIndexByte(name, '_')
	if i <= 0 {
		return "", 0, false
	}
	base, meth := name[:i], name[i+1:]
	k, ok := aclShortcutMethods[meth]
	if !ok {
		return "", 0, false
	}
	f, ok := aclShortcutBases[base]
	if !ok {
		return "", 0, false
	}
	if _, ok := reg.Fetch(f); !ok {
		return "", 0, false
	}
	return f, k, true
}

// compileACLLine compiles [fetch, flags..., patterns...].
func compileACLLine(words []string, reg *Registry, ctx CompileCtx) (*aclLine, error) {
	fetchWord := words[0]
	name := fetchWord
	rest := ""
	if i := strings.IndexAny(fetchWord, "(,"); i >= 0 {
		name, rest = fetchWord[:i], fetchWord[i:]
	}
	var forced MatchKind
	shortcut := false
	if _, ok := reg.Fetch(name); !ok {
		if f, k, ok := resolveShortcut(name, reg); ok {
			forced, shortcut = k, true
			fetchWord = f + rest
		}
	}
	expr, err := Compile(fetchWord, reg, ctx)
	if err != nil {
		return nil, err
	}
	if shortcut && expr.HasConverters() {
		return nil, fmt.Errorf("ACL keyword '%s' cannot be followed by a converter", name)
	}
	l := &aclLine{expr: expr}
	icase, isMap := false, false
	var files []string
	i := 1
flags:
	for ; i < len(words); i++ {
		w := words[i]
		if len(w) < 2 || w[0] != '-' {
			break
		}
		switch w {
		case "-i":
			icase = true
		case "-n", "-M":
			isMap = isMap || w == "-M"
		case "-f", "-m", "-u":
			if i+1 >= len(words) {
				return nil, fmt.Errorf("missing argument after '%s'", w)
			}
			i++
			switch w {
			case "-f":
				files = append(files, words[i])
			case "-m":
				if shortcut {
					return nil, fmt.Errorf("'-m %s' cannot be used with ACL keyword '%s' which already sets its match method", words[i], name)
				}
				k, ok := ParseMatchKind(words[i])
				if !ok || k == MatchRegM {
					return nil, fmt.Errorf("unknown matching method '%s' for ACL", words[i])
				}
				forced = k
			}
		case "--":
			i++
			break flags
		default:
			return nil, fmt.Errorf("'%s' is not a valid ACL option. Please use '--' before any pattern beginning with a '-'", w)
		}
	}
	kind := forced
	if kind == 0 {
		k, ok := defaultMatch(expr.OutType())
		if !ok {
			return nil, fmt.Errorf("ACL keyword '%s' returns a binary sample: a match method (-m) is required", name)
		}
		kind = k
	}
	if kind == MatchMeth && expr.OutType() != Meth && expr.OutType() != Any {
		kind = MatchStr
	}
	out := expr.OutType()
	if out != Any && kind != MatchFound && !CanCast(out, kind.inType()) {
		return nil, fmt.Errorf("match method '%s' cannot be used with the '%s' output of '%s'", kind, out, name)
	}
	l.kind = kind
	patterns := words[i:]
	if kind == MatchFound || kind == MatchBool {
		if len(patterns) > 0 || len(files) > 0 {
			return nil, fmt.Errorf("match method '%s' takes no pattern", kind)
		}
		return l, nil
	}
	l.inline = newPatSet(kind, icase)
	op := ""
	for j, p := range patterns {
		if kind == MatchInt || kind == MatchLen {
			switch p {
			case "eq", "ge", "gt", "le", "lt":
				op = p
				continue
			}
		}
		if err := l.inline.add(p, j, op); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		if ctx.Maps == nil {
			return nil, fmt.Errorf("pattern files are not available here")
		}
		ref, err := ctx.Maps.Ref(f, isMap)
		if err != nil {
			return nil, err
		}
		v, err := ref.view(kind, icase, Any)
		if err != nil {
			return nil, err
		}
		l.files = append(l.files, v)
	}
	if l.inline.n == 0 {
		l.inline = nil
		if len(files) == 0 {
			// HAProxy accepts an ACL without pattern: it never matches.
			l.inline = newPatSet(kind, icase)
		}
	}
	return l, nil
}

// Cond is a compiled "if|unless" condition.
type Cond struct {
	unless bool
	groups [][]condTerm // OR of ANDs
	use    Where
}

type condTerm struct {
	acl *ACL
	neg bool
}

// Use returns where the condition can be evaluated.
func (c *Cond) Use() Where { return c.use }

// Eval evaluates the condition, "unless" included: true means the rule
// applies. A nil Cond is always true.
func (c *Cond) Eval(s Stream) bool {
	if c == nil {
		return true
	}
	res := false
	for _, g := range c.groups {
		ok := true
		for _, t := range g {
			if t.acl.Match(s) == t.neg {
				ok = false
				break
			}
		}
		if ok {
			res = true
			break
		}
	}
	return res != c.unless
}

// SplitCond splits a rule's words at the first "if" or "unless" that is
// not inside braces: head are the action's words, cond starts with the
// keyword (nil when there is no condition).
func SplitCond(words []string) (head, cond []string) {
	depth := 0
	for i, w := range words {
		switch w {
		case "{":
			depth++
		case "}":
			depth--
		case "if", "unless":
			if depth == 0 {
				return words[:i], words[i:]
			}
		}
	}
	return words, nil
}

// CompileCond compiles a condition: words start with "if" or "unless",
// followed by terms [!]name or [!]{ fetch [flags] patterns }, ANDed when
// adjacent and ORed by "or" / "||". Named ACLs come from acls (which may be
// nil), then the predefined ones. ctx.Where restricts the fetches.
func CompileCond(words []string, acls *ACLSet, reg *Registry, ctx CompileCtx) (*Cond, error) {
	if len(words) == 0 || words[0] != "if" && words[0] != "unless" {
		return nil, fmt.Errorf("condition must start with 'if' or 'unless'")
	}
	if acls == nil {
		acls = NewACLSet(reg, ctx)
	}
	c := &Cond{unless: words[0] == "unless"}
	var group []condTerm
	neg := false
	for i := 1; i < len(words); i++ {
		w := words[i]
		if w == "or" || w == "||" {
			if len(group) == 0 {
				return nil, fmt.Errorf("missing ACL before '%s'", w)
			}
			c.groups = append(c.groups, group)
			group = nil
			continue
		}
		for len(w) > 0 && w[0] == '!' {
			neg = !neg
			w = w[1:]
		}
		if w == "" {
			continue
		}
		var a *ACL
		if w == "{" {
			j := i + 1
			for j < len(words) && words[j] != "}" {
				j++
			}
			if j >= len(words) {
				return nil, fmt.Errorf("missing closing '}' in condition")
			}
			if j == i+1 {
				return nil, fmt.Errorf("empty anonymous ACL '{ }' in condition")
			}
			l, err := compileACLLine(words[i+1:j], reg, ctx)
			if err != nil {
				return nil, fmt.Errorf("error detected while parsing anonymous ACL : %w", err)
			}
			a = &ACL{Name: "anonymous", lines: []*aclLine{l}, use: l.expr.use}
			i = j
		} else {
			if w == "}" {
				return nil, fmt.Errorf("unexpected '}' in condition")
			}
			var err error
			if a, err = acls.ACL(w); err != nil {
				return nil, err
			}
			if ctx.Where != 0 && a.use&ctx.Where == 0 {
				return nil, fmt.Errorf("acl '%s' will never match because it only involves keywords that are incompatible with '%s'", w, ctx.Where)
			}
		}
		group = append(group, condTerm{acl: a, neg: neg})
		neg = false
	}
	if len(group) == 0 {
		if len(c.groups) > 0 {
			return nil, fmt.Errorf("missing ACL after 'or'")
		}
		return nil, fmt.Errorf("missing condition after '%s'", words[0])
	}
	c.groups = append(c.groups, group)
	c.use = UseAnywhere
	for _, g := range c.groups {
		for _, t := range g {
			c.use &= t.acl.use
		}
	}
	return c, nil
}
