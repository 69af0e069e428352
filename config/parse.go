package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// DefaultVersion is the HAProxy version Moonbus claims for version_atleast
// and version_before when Options.Version is empty.
const DefaultVersion = "3.2"

// maxWords is HAProxy's limit of words on one configuration line.
const maxWords = 64

// Options tune one parse run.
type Options struct {
	// Env is the environment the configuration starts from. Nil means a
	// snapshot of the process environment (os.Environ). The parser never
	// changes the real process environment.
	Env map[string]string
	// Version is the HAProxy version compared by version_atleast() and
	// version_before(), and reported as HAPROXY_BRANCH. Default DefaultVersion.
	Version string
}

// Predefined log formats (reference §9), also exported to the environment
// as HAPROXY_*_LOG_FMT.
const (
	HTTPLogFormat    = `%ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %hr %hs %{+Q}r`
	HTTPCLFLogFormat = `%{+Q}o %{-Q}ci - - [%trg] %r %ST %B "" "" %cp %ms %ft %b %s %TR %Tw %Tc %Tr %Ta %tsc %ac %fc %bc %sc %rc %sq %bq %CC %CS %hrl %hsl`
	HTTPSLogFormat   = HTTPLogFormat + ` %[fc_err]/%[ssl_fc_err,hex]/%[ssl_c_err]/%[ssl_c_ca_err]/%[ssl_fc_is_resumed] %[ssl_fc_sni]/%sslv/%sslc`
	TCPLogFormat     = `%ci:%cp [%t] %ft %b/%s %Tw/%Tc/%Tt %B %ts %ac/%fc/%bc/%sc/%rc %sq/%bq`
	TCPCLFLogFormat  = `%{+Q}o %{-Q}ci - - [%T] "TCP " 000 %B "" "" %cp %ms %ft %b %s %Th %Tw %Tc %Tt %U %ts-- %ac %fc %bc %sc %rc %sq %bq "" ""`
)

// sectionKind tells which kind of section the parser is in.
type sectionKind int

const (
	secNone sectionKind = iota // before the first section of a file
	secSkip                    // an unsupported or ignored section: its lines are skipped
	secGlobal
	secProxy
	secResolvers
	secMailers
	secUserlist
	secHTTPErrors
	secWebhook
	secNATS
)

// unsupportedSections are HAProxy sections Moonbus refuses.
var unsupportedSections = map[string]bool{
	"cache": true, "ring": true, "log-forward": true, "fcgi-app": true, "peers": true,
	"crt-store": true, "traces": true, "acme": true, "log-profile": true,
}

// sectionKeywords are the words that open a section.
var sectionKeywords = map[string]bool{
	"global": true, "defaults": true, "frontend": true, "backend": true, "listen": true,
	"resolvers": true, "mailers": true, "userlist": true, "http-errors": true,
	"program": true, "webhook": true, "nats": true,
}

func init() {
	for k := range unsupportedSections {
		sectionKeywords[k] = true
	}
}

// defaultsUsage tells how a defaults section was used.
type defaultsUsage struct {
	explicit bool      // named with "from"
	implicit []*Proxy  // proxies that used it without "from"
	side     [2]string // the first frontend-side and backend-side users ("kind name")
}

// condFrame is one open .if block.
type condFrame struct {
	pos      Pos
	active   bool // lines of the current branch are used
	taken    bool // a branch of this block was already used
	parentOn bool // the enclosing block is active
	sawElse  bool
}

// parser holds the state of one parse run.
type parser struct {
	cfg  *Config
	opts Options
	env  map[string]string
	errs ErrorList

	file string
	line int

	sec     sectionKind
	secKw   string
	secName string

	px      *Proxy
	pxOnce  map[string]Pos // keywords that may appear once per section
	res     *Resolvers
	mailers *Mailers
	ul      *Userlist
	he      *HTTPErrors
	wh      *Webhook
	nats    *NATS

	defaults      *Proxy            // the defaults section used implicitly (nil = built-in values)
	namedDefaults map[string]*Proxy // named defaults sections seen so far
	proxies       map[string]*Proxy // frontends, backends, listens by name
	sections      map[string]Pos    // "<kind> <name>" of other named sections, for duplicates

	conds    []condFrame
	indented bool // the current line starts with a blank

	// defaultsUse records how each defaults section was used, for HAProxy's
	// warning about a section used both explicitly and implicitly.
	defaultsUse map[*Proxy]*defaultsUsage

	luaLines    bool // a lua-load, lua-load-per-thread or lua-prepend-path line was seen
	luaLoadSeen bool
}

// Parse parses one in-memory configuration file. name is used in positions
// and messages. See ParseFiles for the result.
func Parse(name string, data []byte, opts Options) (*Config, error) {
	p := newParser(opts, []string{name})
	p.parseFile(name, data)
	return p.finish()
}

// ParseFiles parses configuration files in order. Each path is a file or a
// directory; a directory contributes its "*.cfg" files in lexical order.
// Each file starts a new section context, as in HAProxy.
//
// On success the Config is complete and resolved. On failure the error is an
// ErrorList of every fatal error found, and the returned Config holds what
// could be parsed (its Warnings are worth printing; nothing else should be
// used).
func ParseFiles(paths []string, opts Options) (*Config, error) {
	var files []string
	var errs ErrorList
	for _, path := range paths {
		st, err := os.Stat(path)
		if err != nil {
			errs = append(errs, &Error{Pos: Pos{File: path}, Msg: fmt.Sprintf("Could not open configuration file %s : %v", path, unwrapPathError(err))})
			continue
		}
		if !st.IsDir() {
			files = append(files, path)
			continue
		}
		entries, err := os.ReadDir(path)
		if err != nil {
			errs = append(errs, &Error{Pos: Pos{File: path}, Msg: fmt.Sprintf("Could not read directory %s : %v", path, unwrapPathError(err))})
			continue
		}
		var names []string
		for _, e := range entries {
			n := e.Name()
			if strings.HasPrefix(n, ".") || !strings.HasSuffix(n, ".cfg") || e.IsDir() {
				continue
			}
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			files = append(files, filepath.Join(path, n))
		}
	}
	p := newParser(opts, files)
	p.errs = append(p.errs, errs...)
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			p.errs = append(p.errs, &Error{Pos: Pos{File: f}, Msg: fmt.Sprintf("Could not open configuration file %s : %v", f, unwrapPathError(err))})
			continue
		}
		p.parseFile(f, data)
		if n := len(data); n > 0 && data[n-1] != '\n' {
			last := data[strings.LastIndexByte(string(data), '\n')+1:]
			p.warnAt(Pos{File: f, Line: strings.Count(string(data), "\n") + 1}, "Missing LF on last line, file might have been truncated at position %d.", len(last)+1)
		}
	}
	return p.finish()
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func newParser(opts Options, files []string) *parser {
	if opts.Version == "" {
		opts.Version = DefaultVersion
	}
	env := make(map[string]string)
	if opts.Env == nil {
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
	} else {
		for k, v := range opts.Env {
			env[k] = v
		}
	}
	env["HAPROXY_HTTP_LOG_FMT"] = HTTPLogFormat
	env["HAPROXY_HTTP_CLF_LOG_FMT"] = HTTPCLFLogFormat
	env["HAPROXY_HTTPS_LOG_FMT"] = HTTPSLogFormat
	env["HAPROXY_TCP_LOG_FMT"] = TCPLogFormat
	env["HAPROXY_TCP_CLF_LOG_FMT"] = TCPCLFLogFormat
	env["HAPROXY_CFGFILES"] = strings.Join(files, ";")
	env["HAPROXY_BRANCH"] = branchOf(opts.Version)
	env["HAPROXY_STARTUP_VERSION"] = opts.Version
	cfg := &Config{Files: files, Env: env, Global: newGlobal()}
	return &parser{
		cfg: cfg, opts: opts, env: env,
		namedDefaults: map[string]*Proxy{},
		proxies:       map[string]*Proxy{},
		sections:      map[string]Pos{},
		defaultsUse:   map[*Proxy]*defaultsUsage{},
	}
}

// branchOf returns "major.minor" of a version string.
func branchOf(v string) string {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) >= 2 {
		minor := parts[1]
		if i := strings.IndexFunc(minor, func(r rune) bool { return r < '0' || r > '9' }); i >= 0 {
			minor = minor[:i]
		}
		return parts[0] + "." + minor
	}
	return v
}

func (p *parser) pos() Pos { return Pos{File: p.file, Line: p.line} }

// errorf records a fatal error at the current line.
func (p *parser) errorf(format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: p.pos(), Msg: fmt.Sprintf(format, args...)})
}

// errorAt records a fatal error at pos.
func (p *parser) errorAt(pos Pos, format string, args ...any) {
	p.errs = append(p.errs, &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)})
}

// warnf records a warning at the current line.
func (p *parser) warnf(format string, args ...any) {
	p.warnAt(p.pos(), format, args...)
}

func (p *parser) warnAt(pos Pos, format string, args ...any) {
	p.cfg.Warnings = append(p.cfg.Warnings, Diag{Pos: pos, Level: "warning", Msg: fmt.Sprintf(format, args...)})
}

// lookup resolves environment and pseudo-variables for the tokenizer.
func (p *parser) lookup(name string) (string, bool) {
	switch name {
	case ".FILE":
		return p.file, true
	case ".LINE":
		return strconv.Itoa(p.line), true
	case ".SECTION":
		if p.secName == "" {
			return p.secKw, true // "global", or "defaults" when unnamed
		}
		return p.secName, true
	}
	v, ok := p.env[name]
	return v, ok
}

func (p *parser) skipping() bool {
	return len(p.conds) > 0 && !p.conds[len(p.conds)-1].active
}

// parseFile parses one file's contents.
func (p *parser) parseFile(name string, data []byte) {
	p.file = name
	p.sec, p.secKw, p.secName = secNone, "", ""
	p.conds = nil
	lines := strings.Split(string(data), "\n")
	for i, raw := range lines {
		p.line = i + 1
		raw = strings.TrimSuffix(raw, "\r")
		words, err := tokenize(raw, p.lookup)
		if err != nil {
			if !p.skipping() {
				p.errorf("%v", err)
			} else if f := strings.Fields(raw); len(f) > 0 && condDirectives[f[0]] {
				p.directive(f[:1]) // keep the nesting right in a skipped block
			}
			continue
		}
		if len(words) == 0 {
			continue
		}
		if strings.HasPrefix(words[0], ".") {
			p.directive(words)
			continue
		}
		if p.skipping() {
			continue
		}
		if len(words) > maxWords {
			p.errorf("too many words, truncating after word %d: <%s>", maxWords, words[maxWords])
			continue
		}
		p.indented = raw != "" && (raw[0] == ' ' || raw[0] == '\t')
		p.dispatch(words)
	}
	p.line = len(lines)
	for _, c := range p.conds {
		p.errorAt(c.pos, "non-terminated '.if' block")
	}
	p.conds = nil
	p.endSection()
}

var condDirectives = map[string]bool{".if": true, ".elif": true, ".else": true, ".endif": true}

// directive handles the lines that start with a dot (reference §1.4).
func (p *parser) directive(words []string) {
	kw := words[0]
	switch kw {
	case ".if":
		f := condFrame{pos: p.pos(), parentOn: !p.skipping()}
		if f.parentOn {
			f.active = p.cond(words[1:])
			f.taken = f.active
		}
		p.conds = append(p.conds, f)
		return
	case ".elif", ".else", ".endif":
		if len(p.conds) == 0 {
			p.errorf("lone '%s' with no matching '.if'", kw)
			return
		}
		f := &p.conds[len(p.conds)-1]
		switch kw {
		case ".endif":
			p.conds = p.conds[:len(p.conds)-1]
		case ".else":
			if f.sawElse {
				p.errorf("'.else' after '.else' is not permitted (the '.if' block starts at %s)", f.pos)
				return
			}
			f.sawElse = true
			f.active = f.parentOn && !f.taken
			f.taken = f.taken || f.active
		case ".elif":
			if f.sawElse {
				p.errorf("'.elif' after '.else' is not permitted (the '.if' block starts at %s)", f.pos)
				return
			}
			f.active = false
			if f.parentOn && !f.taken {
				f.active = p.cond(words[1:])
				f.taken = f.active
			}
		}
		return
	}
	if p.skipping() {
		return
	}
	if len(words) > 2 && (kw == ".diag" || kw == ".notice" || kw == ".warning" || kw == ".alert") {
		p.errorf("Unexpected argument '%s' for '%s'. Use quotes if the message should contain spaces.", words[2], kw)
		return
	}
	msg := strings.Join(words[1:], " ")
	switch kw {
	case ".diag", ".notice":
		p.cfg.Warnings = append(p.cfg.Warnings, Diag{Pos: p.pos(), Level: kw[1:], Msg: msg})
	case ".warning":
		p.warnf("%s", msg)
	case ".alert":
		p.errorf("%s", msg)
	default:
		p.errorf("unknown directive '%s'", kw)
	}
}

func (p *parser) cond(words []string) bool {
	v, err := evalCond(words, condEnv{lookup: p.lookup, version: p.opts.Version})
	if err != nil {
		p.errorf("failed to parse condition: %v", err)
		return false
	}
	return v
}

// dispatch handles one statement.
func (p *parser) dispatch(words []string) {
	// "backend <name>..." is also a webhook keyword (DESIGN §5): inside a
	// webhook section an indented "backend" line is the filter, and only a
	// "backend" at the start of a line opens a section.
	if sectionKeywords[words[0]] && !(p.sec == secWebhook && words[0] == "backend" && p.indented) {
		p.endSection()
		p.beginSection(words)
		return
	}
	switch p.sec {
	case secNone:
		p.errorf("unknown keyword '%s' out of section", words[0])
	case secSkip:
	case secGlobal:
		p.globalKeyword(words)
	case secProxy:
		p.proxyKeyword(words)
	case secResolvers:
		p.resolversKeyword(words)
	case secMailers:
		p.mailersKeyword(words)
	case secUserlist:
		p.userlistKeyword(words)
	case secHTTPErrors:
		p.httpErrorsKeyword(words)
	case secWebhook:
		p.webhookKeyword(words)
	case secNATS:
		p.natsKeyword(words)
	}
}

// validName reports the first character not allowed in a proxy or section
// name ([A-Za-z0-9_.:-]), or 0.
func invalidNameChar(name string) rune {
	for _, r := range name {
		if !(r == '_' || r == '.' || r == ':' || r == '-' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return r
		}
	}
	return 0
}

// sectionName checks "<kw> <name>" and returns the name, or "" after an error.
func (p *parser) sectionName(words []string) string {
	kw := words[0]
	if len(words) < 2 || words[1] == "" {
		p.errorf("'%s' expects <name> as an argument", kw)
		return ""
	}
	if r := invalidNameChar(words[1]); r != 0 {
		p.errorf("character '%c' is not permitted in '%s' name '%s'", r, kw, words[1])
		return ""
	}
	if len(words) > 2 {
		p.errorf("'%s' cannot handle unexpected argument '%s'", kw, words[2])
	}
	key := kw + " " + words[1]
	if prev, dup := p.sections[key]; dup {
		p.errorf("%s section '%s' has the same name as another %s section declared at %s", kw, words[1], kw, prev)
	} else {
		p.sections[key] = p.pos()
	}
	return words[1]
}

// beginSection opens the section named by words[0].
func (p *parser) beginSection(words []string) {
	kw := words[0]
	p.secKw, p.secName = kw, ""
	p.sec = secSkip
	pos := p.pos()
	switch kw {
	case "global":
		p.sec = secGlobal
		if len(words) > 1 {
			p.errorf("'global' cannot handle unexpected argument '%s'", words[1])
		}
		if p.cfg.Global.Line == 0 {
			p.cfg.Global.Pos = pos
		}
	case "defaults", "frontend", "backend", "listen":
		p.beginProxy(words)
	case "resolvers":
		p.sec = secResolvers
		p.secName = p.sectionName(words)
		p.res = newResolvers(pos, p.secName)
		p.cfg.Resolvers = append(p.cfg.Resolvers, p.res)
	case "mailers":
		p.sec = secMailers
		p.secName = p.sectionName(words)
		p.mailers = &Mailers{Pos: pos, Name: p.secName, Timeout: defaultMailTimeout}
		p.cfg.Mailers = append(p.cfg.Mailers, p.mailers)
	case "userlist":
		p.sec = secUserlist
		p.secName = p.sectionName(words)
		p.ul = &Userlist{Pos: pos, Name: p.secName}
		p.cfg.Userlists = append(p.cfg.Userlists, p.ul)
	case "http-errors":
		p.sec = secHTTPErrors
		p.secName = p.sectionName(words)
		p.he = &HTTPErrors{Pos: pos, Name: p.secName, Files: map[int]string{}}
		p.cfg.HTTPErrors = append(p.cfg.HTTPErrors, p.he)
	case "webhook":
		p.sec = secWebhook
		p.secName = p.sectionName(words)
		p.wh = &Webhook{Pos: pos, Name: p.secName, Timeout: defaultWebhookTimeout, Retries: defaultWebhookRetries}
		p.cfg.Webhooks = append(p.cfg.Webhooks, p.wh)
	case "nats":
		p.sec = secNATS
		p.secName = p.sectionName(words)
		p.nats = &NATS{Pos: pos, Name: p.secName, Prefix: defaultNATSPrefix, Publish: []string{"SERVER", "BACKEND"}, CLI: false}
		p.cfg.NATS = append(p.cfg.NATS, p.nats)
	case "program":
		p.warnf("'program' sections are not supported by Moonbus (removed from HAProxy 3.3); section ignored")
	default:
		p.errorf("'%s' sections are not supported by Moonbus", kw)
	}
}

// endSection runs the checks that need a whole section.
func (p *parser) endSection() {
	switch p.sec {
	case secWebhook:
		if p.wh.URL == "" {
			p.errorAt(p.wh.Pos, "webhook '%s' has no 'url'", p.wh.Name)
		}
	case secNATS:
		if len(p.nats.URLs) == 0 {
			p.errorAt(p.nats.Pos, "nats '%s' has no 'url'", p.nats.Name)
		}
	}
	p.sec, p.secKw, p.secName = secNone, "", ""
	p.px, p.res, p.mailers, p.ul, p.he, p.wh, p.nats = nil, nil, nil, nil, nil, nil, nil
}

// unknownKeyword reports an unknown keyword of the current section, with a
// suggestion when one of the known keywords is close.
func (p *parser) unknownKeyword(kw string, known []string) {
	msg := fmt.Sprintf("unknown keyword '%s' in '%s' section", kw, p.secKw)
	if s := suggest(kw, known); s != "" {
		msg += fmt.Sprintf("; did you mean '%s' maybe ?", s)
	}
	p.errs = append(p.errs, &Error{Pos: p.pos(), Msg: msg})
}

// suggest returns the known word closest to w, if it is close enough.
func suggest(w string, known []string) string {
	best, bestD := "", 0
	for _, k := range known {
		if diff := len(w) - len(k); diff > 3 || diff < -3 {
			continue // too far apart to be a typo
		}
		d := editDistance(w, k)
		if best == "" || d < bestD || (d == bestD && k < best) {
			best, bestD = k, d
		}
	}
	limit := len(w) / 3
	if limit < 1 {
		limit = 1
	}
	if limit > 3 {
		limit = 3
	}
	if best == "" || bestD > limit {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 1 << 30
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// finish runs the whole-configuration checks and returns the result.
func (p *parser) finish() (*Config, error) {
	p.file, p.line = "", 0
	p.resolve()
	p.validate()
	for _, d := range p.cfg.Defaults {
		u := p.defaultsUse[d]
		if u == nil || !u.explicit {
			continue
		}
		for _, px := range u.implicit {
			p.warnAt(px.Pos, "defaults section '%s' (declared at %s) is explicitly referenced by another proxy and implicitly used here. To avoid any ambiguity don't mix both usage. Add a last defaults section not explicitly used or always use explicit references.", d.Name, d.Pos)
		}
	}
	g := &p.cfg.Global
	if g.ZeroWarning {
		for _, w := range p.cfg.Warnings {
			if w.Level == "warning" {
				p.errorAt(g.ZeroWarningPos, "some warnings were found and 'zero-warning' is set")
				break
			}
		}
	}
	if len(p.errs) > 0 {
		return p.cfg, p.errs
	}
	return p.cfg, nil
}

// keysOf returns the sorted keys of a map, for suggestions.
func keysOf[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
