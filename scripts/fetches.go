package scripts

import (
	"strings"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy"
	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// The Fetches (txn.f, txn.sf) and Converters (txn.c, txn.sc) classes: every
// sample fetch and converter of the instance is a method, its keyword's '.',
// '-' and '+' turned into '_' (txn.f:req_hdr("host"), txn.c:lower(s)).
// Arguments are passed as strings; each (keyword, arguments) pair is
// compiled once per state and cached. sf/sc return strings ("" when there
// is no sample). Lua-defined fetches and converters are not methods (their
// call would re-enter the running state).

const (
	fetchesClass    = "Fetches"
	convertersClass = "Converters"
)

// fetchesUD is the Go value of a Fetches or Converters object.
type fetchesUD struct {
	tx   *txnUD
	str  bool // sf / sc: results as strings
	conv bool
}

// stateReq holds a state's request-path caches (under the state lock).
type stateReq struct {
	exprs map[exprKey]*sample.Expr
	cs    convStream
	args  []string // reused argument list
}

type exprKey struct {
	kw   string
	args string
	conv bool
	tbl  *stick.Table
}

// maxExprCache bounds the compiled expressions cached per state (scripts
// that build arguments dynamically must not grow it forever).
const maxExprCache = 4096

func init() {
	for i, name := range []string{fetchesClass, convertersClass} {
		registerClass(&class{
			name:        name,
			sharedIndex: fetchesIndex(i == 1),
			meta: map[string]Method{
				"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, typeName(L.Get(1))) },
			},
		})
	}
}

// fetchesIndex returns the method for a key of a Fetches (conv false) or
// Converters object: a function bound to the keyword, created once per
// state (the class's methods table keeps it).
func fetchesIndex(conv bool) func(st *State, L *lua.LState, key string) lua.LValue {
	return func(st *State, L *lua.LState, key string) lua.LValue {
		env := st.rt.req.Load()
		if env == nil {
			return lua.LNil
		}
		names := env.fetches
		if conv {
			names = env.convs
		}
		kw, ok := names[key]
		if !ok {
			return lua.LNil
		}
		return L.NewFunction(func(L *lua.LState) int {
			o := checkObj[*fetchesUD](L, 1, typeName(L.Get(1)))
			return st.callSample(L, o, kw, conv)
		})
	}
}

// quoteArg quotes a sample argument so any byte survives the expression
// parser (double quotes, with \ and " escaped).
func quoteArg(b *strings.Builder, s string) {
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' || s[i] == '"' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
}

// compileSample returns the cached expression for kw(args) (a fetch, or
// for conv the converter applied to the hidden input fetch).
func (st *State) compileSample(t *proxy.Txn, kw string, args []string, conv bool) (*sample.Expr, error) {
	eng := st.rt.engine.Load()
	p := t.Backend()
	if p == nil {
		p = t.Frontend()
	}
	tbl := p.StickTable()
	key := exprKey{kw: kw, args: strings.Join(args, "\x00"), conv: conv, tbl: tbl}
	if e, ok := st.req.exprs[key]; ok {
		return e, nil
	}
	var b strings.Builder
	if conv {
		b.WriteString(convInputFetch)
		b.WriteByte(',')
	}
	b.WriteString(kw)
	if len(args) > 0 {
		b.WriteByte('(')
		for i, a := range args {
			if i > 0 {
				b.WriteByte(',')
			}
			quoteArg(&b, a)
		}
		b.WriteByte(')')
	}
	e, err := sample.Compile(b.String(), eng.Registry(), sample.CompileCtx{
		Maps:         eng.Maps(),
		Tables:       eng.Table,
		DefaultTable: tbl,
	})
	if err != nil {
		return nil, err
	}
	if st.req.exprs == nil || len(st.req.exprs) >= maxExprCache {
		st.req.exprs = map[exprKey]*sample.Expr{}
	}
	st.req.exprs[key] = e
	return e, nil
}

// callSample runs a fetch or converter method: self, then (converters) the
// input, then the arguments.
func (st *State) callSample(L *lua.LState, o *fetchesUD, kw string, conv bool) int {
	t := o.tx.live(L)
	first := 2
	var in sample.Sample
	if conv {
		if L.GetTop() < 2 {
			L.RaiseError("'%s': missing input", methodName(kw))
		}
		luaToSample(L.Get(2), nil, &in)
		first = 3
	}
	args := st.req.args[:0]
	defer func() { st.req.args = args[:0] }()
	for i := first; i <= L.GetTop(); i++ {
		v := L.Get(i)
		switch v.(type) {
		case lua.LString, lua.LNumber:
			args = append(args, luaToString(L, v))
		case *lua.LNilType:
			args = append(args, "")
		default:
			L.ArgError(i, "string expected, got "+typeName(v))
		}
	}
	e, err := st.compileSample(t, kw, args, conv)
	if err != nil {
		L.RaiseError("%s", err.Error())
	}
	sc := t.Scratch()
	mark := len(*sc)
	var smp sample.Sample
	var ok bool
	if conv {
		cs := &st.req.cs
		cs.Stream, cs.in = t, in
		ok = e.EvalNested(cs, &smp)
		cs.Stream, cs.in = nil, sample.Sample{}
	} else {
		ok = e.EvalNested(t, &smp)
	}
	var v lua.LValue = lua.LNil
	switch {
	case o.str:
		v = lua.LString("")
		if ok && smp.Cast(sample.Str, sc) {
			v = lua.LString(smp.Str)
		}
	case ok:
		v = st.sampleToLua(&smp)
	}
	*sc = (*sc)[:mark]
	L.Push(v)
	return 1
}
