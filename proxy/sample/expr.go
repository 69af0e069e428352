package sample

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"moonbus/proxy/stick"
)

// Expr is a compiled sample expression: a fetch and its converters.
type Expr struct {
	src   string
	fname string
	fetch *FetchDef
	fargs []Arg
	convs []convStep
	out   Type
	use   Where
}

type convStep struct {
	name string
	def  *ConvDef
	args []Arg
}

// String returns the expression's source text.
func (e *Expr) String() string { return e.src }

// OutType returns the type the expression produces (Any when it depends on
// run-time data, as var()).
func (e *Expr) OutType() Type { return e.out }

// FetchName returns the name of the expression's fetch.
func (e *Expr) FetchName() string { return e.fname }

// Use returns where the expression may be evaluated.
func (e *Expr) Use() Where { return e.use }

// HasConverters reports whether converters follow the fetch.
func (e *Expr) HasConverters() bool { return len(e.convs) > 0 }

// Eval evaluates the expression into out and reports whether a sample was
// produced. It truncates the stream's scratch buffer first: out is valid
// until the next top-level evaluation on s.
func (e *Expr) Eval(s Stream, out *Sample) bool {
	sc := s.Scratch()
	*sc = (*sc)[:0]
	*out = Sample{}
	return e.eval(s, out)
}

// EvalNested evaluates like Eval without truncating the scratch buffer, for
// use inside a fetch or converter that evaluates another expression.
func (e *Expr) EvalNested(s Stream, out *Sample) bool {
	it := out.Iter
	*out = Sample{Iter: it}
	return e.eval(s, out)
}

func (e *Expr) eval(s Stream, res *Sample) bool {
	out := noescape(res)
	if !e.fetch.Fn(s, e.fargs, out) {
		return false
	}
	for i := range e.convs {
		c := &e.convs[i]
		it := out.Iter
		if c.def.In != Any && !out.Cast(c.def.In, s.Scratch()) {
			return false
		}
		if !c.def.Fn(s, c.args, out) {
			return false
		}
		out.Iter = it
	}
	return true
}

// EvalAs evaluates the expression and casts the result to t.
func (e *Expr) EvalAs(s Stream, t Type, out *Sample) bool {
	return e.Eval(s, out) && out.Cast(t, s.Scratch())
}

// Compile compiles "fetch(args),conv1,conv2(args)". Arguments follow the
// second-level quoting rules (§1.2): commas separate them, single and
// double quotes group, a backslash protects the next character (and is
// dropped before \, ' and "); spaces are part of arguments.
func Compile(expr string, reg *Registry, ctx CompileCtx) (*Expr, error) {
	e, n, err := compileExpr(expr, reg, &ctx, false)
	if err != nil {
		return nil, err
	}
	if n != len(expr) {
		return nil, fmt.Errorf("unexpected character '%c' at position %d in sample expression '%s'", expr[n], n, expr)
	}
	return e, nil
}

// compileExpr parses an expression at the start of s. With inFormat, a ']'
// at the top level ends it (log-format %[...]). It returns the number of
// bytes consumed.
func compileExpr(s string, reg *Registry, ctx *CompileCtx, inFormat bool) (*Expr, int, error) {
	ctx.Reg = reg
	if ctx.Vars == nil {
		ctx.Vars = reg.vars
	}
	pos := 0
	name, rawArgs, hasParen, n, err := parseCall(s[pos:], inFormat)
	if err != nil {
		return nil, 0, err
	}
	if name == "" {
		if len(s) == 0 || inFormat && s[0] == ']' {
			return nil, 0, fmt.Errorf("missing fetch method")
		}
		return nil, 0, fmt.Errorf("unknown fetch method '%s'", firstWord(s))
	}
	pos += n
	fd, ok := reg.fetches[name]
	if !ok {
		return nil, 0, fmt.Errorf("unknown fetch method '%s'", name)
	}
	e := &Expr{fname: name, fetch: fd, out: fd.Out, use: fd.Use}
	if e.use == 0 {
		e.use = UseAnywhere
	}
	if ctx.Where != 0 && fd.Use != 0 && fd.Use&ctx.Where == 0 {
		needs := fd.Needs
		if needs == "" {
			needs = "a context"
		}
		return nil, 0, fmt.Errorf("fetch method '%s' extracts information from '%s', none of which is available here", name, needs)
	}
	e.fargs, err = compileArgs("fetch method", name, fd.Args, fd.MinArgs, rawArgs, hasParen, fd.Check, ctx)
	if err != nil {
		return nil, 0, err
	}
	cur := e.out
	for pos < len(s) && s[pos] == ',' {
		pos++
		cname, craw, cparen, n, err := parseCall(s[pos:], inFormat)
		if err != nil {
			return nil, 0, err
		}
		if cname == "" {
			return nil, 0, fmt.Errorf("missing converter name after ',' in '%s'", s[:pos])
		}
		pos += n
		cd, ok := reg.convs[cname]
		if !ok {
			return nil, 0, fmt.Errorf("unknown converter '%s'", cname)
		}
		if cur != Any && !CanCast(cur, cd.In) {
			return nil, 0, fmt.Errorf("converter '%s' cannot be applied", cname)
		}
		args, err := compileArgs("converter", cname, cd.Args, cd.MinArgs, craw, cparen, cd.Check, ctx)
		if err != nil {
			return nil, 0, err
		}
		e.convs = append(e.convs, convStep{name: cname, def: cd, args: args})
		if cd.Out != Any {
			cur = cd.Out
		} else if cd.In != Any && cur != Any {
			cur = cd.In
		}
	}
	if pos < len(s) && !(inFormat && s[pos] == ']') {
		return nil, 0, fmt.Errorf("unexpected character '%c' after '%s' in sample expression", s[pos], s[:pos])
	}
	e.out = cur
	e.src = s[:pos]
	return e, pos, nil
}

func firstWord(s string) string {
	if i := strings.IndexAny(s, "(),]"); i >= 0 {
		return s[:i]
	}
	return s
}

// parseCall reads "name" or "name(args)" at the start of s. It returns the
// raw arguments (already split and unquoted), whether parentheses were
// present, and the length consumed.
func parseCall(s string, inFormat bool) (name string, args []string, paren bool, n int, err error) {
	i := 0
	for i < len(s) {
		c := s[i]
		if c == '(' || c == ',' || c == ')' || c == ' ' || c == '\t' || inFormat && c == ']' {
			break
		}
		i++
	}
	name = s[:i]
	if i >= len(s) || s[i] != '(' {
		return name, nil, false, i, nil
	}
	args, n, err = splitArgs(s[i+1:])
	if err != nil {
		return "", nil, false, 0, fmt.Errorf("%w in arguments of '%s'", err, name)
	}
	return name, args, true, i + 1 + n, nil
}

// splitArgs splits the inside of an argument list, up to and including the
// closing parenthesis, applying the second-level quoting rules.
func splitArgs(s string) ([]string, int, error) {
	var args []string
	var cur []byte
	depth := 0
	inArg := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			n := s[i+1]
			if n == '\\' || n == '\'' || n == '"' {
				cur = append(cur, n)
			} else {
				cur = append(cur, c, n)
			}
			i++
			inArg = true
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, 0, fmt.Errorf("unterminated single quote")
			}
			cur = append(cur, s[i+1:i+1+j]...)
			i += j + 1
			inArg = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) {
					n := s[i+1]
					if n == '\\' || n == '\'' || n == '"' {
						cur = append(cur, n)
					} else {
						cur = append(cur, '\\', n)
					}
					i++
					continue
				}
				cur = append(cur, s[i])
			}
			if i >= len(s) {
				return nil, 0, fmt.Errorf("unterminated double quote")
			}
			inArg = true
		case c == '(':
			depth++
			cur = append(cur, c)
			inArg = true
		case c == ')' && depth > 0:
			depth--
			cur = append(cur, c)
		case c == ')':
			if inArg || len(args) > 0 {
				args = append(args, string(cur))
			}
			return args, i + 1, nil
		case c == ',' && depth == 0:
			args = append(args, string(cur))
			cur = cur[:0]
			inArg = true // a comma always announces one more argument
		default:
			cur = append(cur, c)
			inArg = true
		}
	}
	return nil, 0, fmt.Errorf("missing closing ')'")
}

func compileArgs(what, name string, kinds []ArgKind, min int, raw []string, paren bool, check CheckFunc, ctx *CompileCtx) ([]Arg, error) {
	if len(raw) < min {
		if len(raw) == 0 {
			return nil, fmt.Errorf("missing args for %s '%s'", what, name)
		}
		return nil, fmt.Errorf("invalid args in %s '%s' : missing arguments (got %d/%d), type '%s' expected", what, name, len(raw), min, argKindNames[kinds[len(raw)]])
	}
	if len(raw) > len(kinds) {
		return nil, fmt.Errorf("invalid args in %s '%s' : end of arguments expected at position %d, but got ',%s'", what, name, len(kinds)+1, strings.Join(raw[len(kinds):], ","))
	}
	_ = paren
	args := make([]Arg, len(kinds))
	for i, k := range kinds {
		args[i].Kind = k
		if i >= len(raw) {
			continue
		}
		if err := parseArg(&args[i], raw[i], ctx); err != nil {
			return nil, fmt.Errorf("invalid args in %s '%s' : %w", what, name, err)
		}
	}
	if check != nil {
		if err := check(args, ctx); err != nil {
			return nil, fmt.Errorf("invalid args in %s '%s' : %w", what, name, err)
		}
	}
	return args, nil
}

func parseArg(a *Arg, raw string, ctx *CompileCtx) error {
	a.Present = true
	a.Str = raw
	a.Bytes = []byte(raw)
	switch a.Kind {
	case ArgStr:
	case ArgInt:
		v, err := strconv.ParseInt(strings.TrimSpace(raw), 10, 64)
		if err != nil {
			return fmt.Errorf("failed to parse '%s' as type signed integer", raw)
		}
		a.Int = v
	case ArgTime:
		d, err := stick.ParseDuration(raw)
		if err != nil {
			return fmt.Errorf("failed to parse '%s' as type time", raw)
		}
		a.Int = d.Milliseconds()
	case ArgVar:
		ref, err := ctx.Vars.Resolve(raw)
		if err != nil {
			return err
		}
		a.Var = ref
	case ArgIntOrVar:
		if v, err := strconv.ParseInt(raw, 10, 64); err == nil {
			a.Int = v
			return nil
		}
		ref, err := ctx.Vars.Resolve(raw)
		if err != nil {
			return fmt.Errorf("failed to parse '%s' as an integer or a variable: %w", raw, err)
		}
		a.Var, a.IsVar = ref, true
	case ArgStrOrVar:
		if ref, err := ctx.Vars.Resolve(raw); err == nil {
			a.Var, a.IsVar = ref, true
		}
	case ArgRegex:
		re, err := regexp.Compile(raw)
		if err != nil {
			return fmt.Errorf("failed to compile regex '%s': %w", raw, err)
		}
		a.Re = re
	case ArgTable:
		if ctx.Tables == nil {
			return fmt.Errorf("unable to find table '%s'", raw)
		}
		t := ctx.Tables(raw)
		if t == nil {
			return fmt.Errorf("unable to find table '%s'", raw)
		}
		a.Table = t
	}
	return nil
}
