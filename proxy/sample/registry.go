package sample

import (
	"fmt"
	"regexp"
	"sort"

	"moonbus/proxy/stick"
)

// Where is a bit set of the places a sample can be evaluated: a rule set, a
// log line, a health check. CompileCtx.Where says where an expression is
// being compiled; FetchDef.Use says where a fetch may be used.
type Where uint16

// Places.
const (
	InConn       Where = 1 << iota // tcp-request connection
	InSess                         // tcp-request session
	InReqContent                   // tcp-request content (frontend and backend)
	InHTTPReq                      // http-request, use_backend, use-server, redirect
	InResContent                   // tcp-response content
	InHTTPRes                      // http-response
	InAfterRes                     // http-after-response
	InLog                          // log-format, unique-id-format: everything known at log time
	InCheck                        // health-check rules
	InCLI                          // runtime API expressions (set var ... expr)

	// UseAnywhere allows a fetch everywhere (the zero Use means the same).
	UseAnywhere = InConn | InSess | InReqContent | InHTTPReq | InResContent | InHTTPRes | InAfterRes | InLog | InCheck | InCLI
	// UseL4 is for connection data (src, dst...): every stream context.
	UseL4 = InConn | InSess | InReqContent | InHTTPReq | InResContent | InHTTPRes | InAfterRes | InLog
	// UseReq is for request data (path, req.hdr...).
	UseReq = InReqContent | InHTTPReq | InLog
	// UseRes is for response data (status, res.hdr...).
	UseRes = InResContent | InHTTPRes | InAfterRes | InLog
	// UseTxn is for stream data known in both directions (be_name...).
	UseTxn = InReqContent | InHTTPReq | InResContent | InHTTPRes | InAfterRes | InLog
)

var whereNames = []struct {
	w    Where
	name string
}{
	{InConn, "tcp-request connection"}, {InSess, "tcp-request session"}, {InReqContent, "tcp-request content"},
	{InHTTPReq, "http-request"}, {InResContent, "tcp-response content"}, {InHTTPRes, "http-response"},
	{InAfterRes, "http-after-response"}, {InLog, "log-format"}, {InCheck, "health check"}, {InCLI, "CLI"},
}

// String lists the places in w ("http-request, http-response").
func (w Where) String() string {
	s := ""
	for _, n := range whereNames {
		if w&n.w != 0 {
			if s != "" {
				s += ", "
			}
			s += n.name
		}
	}
	return s
}

// ArgKind is the kind of one argument of a fetch or converter, checked and
// converted at compile time.
type ArgKind uint8

// Argument kinds.
const (
	ArgStr      ArgKind = iota + 1 // a string
	ArgInt                         // a signed integer
	ArgVar                         // a variable name, resolved to a VarRef
	ArgIntOrVar                    // an integer constant, or else a variable name
	ArgStrOrVar                    // a variable name when it parses as one, or else a string
	ArgRegex                       // a regular expression, compiled (case-sensitive)
	ArgTable                       // a stick-table name, resolved through CompileCtx.Tables
	ArgTime                        // a time with units (ms by default), in Int as ms
)

var argKindNames = [...]string{"", "string", "signed integer", "variable", "integer or variable", "string or variable", "regex", "table", "time"}

// Arg is one compiled argument. Every declared argument has a slot; Present
// is false for an optional argument that was not given.
type Arg struct {
	Kind    ArgKind
	Present bool
	Str     string
	Bytes   []byte // Str as bytes
	Int     int64
	IsVar   bool // ArgIntOrVar / ArgStrOrVar resolved to a variable
	Var     VarRef
	Re      *regexp.Regexp
	Table   *stick.Table
	Any     any // state compiled by a definition's Check
}

// Int64 returns the argument's integer, reading the variable when it is one.
func (a *Arg) Int64(s Stream) (int64, bool) {
	if !a.IsVar {
		return a.Int, true
	}
	var v Sample
	if !GetVar(s, a.Var, &v) || !v.Cast(SInt, s.Scratch()) {
		return 0, false
	}
	return v.Int, true
}

// Value returns the argument's bytes, reading the variable when it is one
// (as a string).
func (a *Arg) Value(s Stream) ([]byte, bool) {
	if !a.IsVar {
		return a.Bytes, true
	}
	var v Sample
	if !GetVar(s, a.Var, &v) || !v.Cast(Str, s.Scratch()) {
		return nil, false
	}
	return v.Str, true
}

// FetchFunc produces a sample. args has one slot per declared argument.
// It returns false when no sample is available. It must not keep out (or
// args) after it returns: evaluators keep samples on their stack.
type FetchFunc func(s Stream, args []Arg, out *Sample) bool

// ConvFunc transforms smp in place (it is already cast to the input type);
// like a FetchFunc it must not keep smp after it returns.
// It returns false to make the expression fail. Output bytes go to the
// stream's scratch buffer (or point to constant or stream data).
type ConvFunc func(s Stream, args []Arg, smp *Sample) bool

// CheckFunc validates and precompiles arguments at load time (it may set
// Arg.Any, fill defaults of absent optional arguments, open map files).
type CheckFunc func(args []Arg, ctx *CompileCtx) error

// FetchDef defines a sample fetch.
type FetchDef struct {
	Args    []ArgKind // argument kinds, in order
	MinArgs int       // how many are mandatory
	Out     Type      // output type (Any when it varies, as var())
	Use     Where     // where it may be used; 0 means anywhere
	Needs   string    // what it reads, for the "not available here" error ("HTTP response headers")
	Fn      FetchFunc
	Check   CheckFunc
}

// ConvDef defines a converter.
type ConvDef struct {
	Args    []ArgKind
	MinArgs int
	In      Type // input type; the sample is cast to it (Any: no cast)
	Out     Type // output type; Any means "same as the input"
	Fn      ConvFunc
	Check   CheckFunc
}

// CompileCtx is what the compiler needs to know about the place an
// expression is compiled for.
type CompileCtx struct {
	// Where is the rule set (0: no restriction).
	Where Where
	// Maps opens map and pattern files (map converters, -f, -M). Nil
	// refuses them.
	Maps *Maps
	// Tables resolves a stick-table name (table arguments, sc_*(..,t)).
	Tables func(name string) *stick.Table
	// DefaultTable is the table of the proxy the rule belongs to, used by
	// src_*, table_* and in_table without a table argument.
	DefaultTable *stick.Table
	// Vars interns variable names; Compile fills it from the Registry.
	Vars *VarNames
	// Reg is the registry being compiled against; Compile fills it.
	Reg *Registry
}

// Registry holds the fetches and converters an instance knows, and the
// instance's variable names. Fill it at load time (NewRegistry adds the
// built-ins, the proxy its stream fetches, the Lua host its lua.* entries);
// compilation and evaluation only read it. It is not safe to register while
// another goroutine compiles.
type Registry struct {
	fetches map[string]*FetchDef
	convs   map[string]*ConvDef
	vars    *VarNames
}

// NewRegistry returns a registry holding every built-in converter and the
// stream-independent fetches.
func NewRegistry() *Registry {
	r := &Registry{fetches: map[string]*FetchDef{}, convs: map[string]*ConvDef{}, vars: NewVarNames()}
	registerBuiltinFetches(r)
	registerConverters(r)
	registerStickConverters(r)
	return r
}

// Clone returns an independent copy (definitions are shared, maps and
// variable names are copied), so each instance can add its own entries.
func (r *Registry) Clone() *Registry {
	n := &Registry{fetches: make(map[string]*FetchDef, len(r.fetches)), convs: make(map[string]*ConvDef, len(r.convs)), vars: r.vars.clone()}
	for k, v := range r.fetches {
		n.fetches[k] = v
	}
	for k, v := range r.convs {
		n.convs[k] = v
	}
	return n
}

// RegisterFetch adds (or replaces) the fetch name.
func (r *Registry) RegisterFetch(name string, def FetchDef) error {
	if err := checkDef(name, def.Args, def.MinArgs, def.Fn != nil); err != nil {
		return err
	}
	d := def
	r.fetches[name] = &d
	return nil
}

// RegisterConverter adds (or replaces) the converter name.
func (r *Registry) RegisterConverter(name string, def ConvDef) error {
	if err := checkDef(name, def.Args, def.MinArgs, def.Fn != nil); err != nil {
		return err
	}
	d := def
	r.convs[name] = &d
	return nil
}

func checkDef(name string, args []ArgKind, min int, hasFn bool) error {
	if name == "" {
		return fmt.Errorf("empty sample keyword name")
	}
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '.', c == '_', c == '-', c == '+':
		default:
			return fmt.Errorf("invalid character '%c' in sample keyword '%s'", c, name)
		}
	}
	if !hasFn {
		return fmt.Errorf("sample keyword '%s' has no function", name)
	}
	if min < 0 || min > len(args) {
		return fmt.Errorf("sample keyword '%s': bad argument count", name)
	}
	return nil
}

// Fetch returns the definition of a fetch.
func (r *Registry) Fetch(name string) (*FetchDef, bool) {
	d, ok := r.fetches[name]
	return d, ok
}

// Converter returns the definition of a converter.
func (r *Registry) Converter(name string) (*ConvDef, bool) {
	d, ok := r.convs[name]
	return d, ok
}

// Fetches returns the sorted names of every fetch (Lua's txn.f methods).
func (r *Registry) Fetches() []string { return sortedKeys(r.fetches) }

// Converters returns the sorted names of every converter.
func (r *Registry) Converters() []string { return sortedKeys(r.convs) }

// Vars returns the instance's variable names.
func (r *Registry) Vars() *VarNames { return r.vars }

func sortedKeys[T any](m map[string]T) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
