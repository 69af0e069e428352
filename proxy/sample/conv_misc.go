package sample

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

func registerConverters(r *Registry) {
	registerStrConverters(r)
	registerNumConverters(r)
	registerEncConverters(r)
	registerMapConverters(r)
	r.RegisterConverter("set-var", ConvDef{In: Any, Out: Any, Args: []ArgKind{ArgStr, ArgStr, ArgStr, ArgStr, ArgStr}, MinArgs: 1, Fn: convSetVar, Check: checkSetVarConv})
	r.RegisterConverter("unset-var", ConvDef{In: Any, Out: Any, Args: []ArgKind{ArgVar}, MinArgs: 1, Fn: func(s Stream, a []Arg, smp *Sample) bool {
		UnsetVar(s, a[0].Var)
		return true
	}})
	r.RegisterConverter("debug", ConvDef{In: Any, Out: Any, Args: []ArgKind{ArgStr, ArgStr}, Fn: func(Stream, []Arg, *Sample) bool { return true }})
	r.RegisterConverter("when", ConvDef{In: Any, Out: Any, Args: []ArgKind{ArgStr, ArgStr}, MinArgs: 1, Fn: convWhen, Check: checkWhen})
	r.RegisterConverter("json_query", ConvDef{In: Str, Out: Any, Args: []ArgKind{ArgStr, ArgStr}, MinArgs: 1, Fn: convJSONQuery, Check: checkJSONQuery})
}

type setVarState struct {
	ref  VarRef
	cond SetCond
}

func checkSetVarConv(a []Arg, ctx *CompileCtx) error {
	ref, err := ctx.Vars.Resolve(a[0].Str)
	if err != nil {
		return err
	}
	if ref.Scope.ReadOnly() {
		return fmt.Errorf("parent stream variables are read-only")
	}
	var words []string
	for _, x := range a[1:] {
		if x.Present {
			words = append(words, x.Str)
		}
	}
	c, err := ParseSetConds(words)
	if err != nil {
		return err
	}
	a[0].Any = &setVarState{ref: ref, cond: c}
	return nil
}

func convSetVar(s Stream, a []Arg, smp *Sample) bool {
	st := a[0].Any.(*setVarState)
	SetVarIf(s, st.ref, st.cond, smp)
	return true
}

// WhenStream is implemented by streams that can answer the conditions of
// the when() converter ("error", "normal", "stopping", "acl", ...). Streams
// that do not implement it make every condition false.
type WhenStream interface {
	When(cond string, arg string) bool
}

type whenState struct {
	cond string
	neg  bool
}

var whenConds = []string{"error", "forwarded", "normal", "processed", "stopping", "acl"}

func checkWhen(a []Arg, _ *CompileCtx) error {
	c := a[0].Str
	st := &whenState{}
	if strings.HasPrefix(c, "!") {
		st.neg, c = true, c[1:]
	}
	for _, k := range whenConds {
		if k == c {
			st.cond = c
			a[0].Any = st
			return nil
		}
	}
	return fmt.Errorf("unknown condition '%s'", a[0].Str)
}

func convWhen(s Stream, a []Arg, smp *Sample) bool {
	st := a[0].Any.(*whenState)
	ok := false
	if w, yes := s.(WhenStream); yes {
		ok = w.When(st.cond, a[1].Str)
	}
	return ok != st.neg
}

type jsonQuery struct {
	steps []jsonStep
	typ   Type // Any: natural type
}

type jsonStep struct {
	key   string
	index int
	isIdx bool
}

func checkJSONQuery(a []Arg, _ *CompileCtx) error {
	p := a[0].Str
	if !strings.HasPrefix(p, "$") {
		return fmt.Errorf("JSON path must start with '$'")
	}
	q := &jsonQuery{}
	rest := p[1:]
	for rest != "" {
		switch rest[0] {
		case '.':
			rest = rest[1:]
			i := strings.IndexAny(rest, ".[")
			if i < 0 {
				i = len(rest)
			}
			if i == 0 {
				return fmt.Errorf("invalid JSON path '%s'", p)
			}
			q.steps = append(q.steps, jsonStep{key: rest[:i]})
			rest = rest[i:]
		case '[':
			j := strings.IndexByte(rest, ']')
			if j < 0 {
				return fmt.Errorf("invalid JSON path '%s'", p)
			}
			in := rest[1:j]
			if len(in) >= 2 && (in[0] == '\'' || in[0] == '"') && in[len(in)-1] == in[0] {
				q.steps = append(q.steps, jsonStep{key: in[1 : len(in)-1]})
			} else {
				n, err := strconv.Atoi(in)
				if err != nil || n < 0 {
					return fmt.Errorf("invalid JSON path '%s'", p)
				}
				q.steps = append(q.steps, jsonStep{index: n, isIdx: true})
			}
			rest = rest[j+1:]
		default:
			return fmt.Errorf("invalid JSON path '%s'", p)
		}
	}
	if a[1].Present {
		switch a[1].Str {
		case "int":
			q.typ = SInt
		case "bool":
			q.typ = Bool
		case "str":
			q.typ = Str
		default:
			return fmt.Errorf("unsupported JSON output type '%s' (expects 'int', 'bool' or 'str')", a[1].Str)
		}
	}
	a[0].Any = q
	return nil
}

// convJSONQuery decodes the input (this allocates; json_query is not on a
// zero-allocation path) and follows the path.
func convJSONQuery(s Stream, a []Arg, smp *Sample) bool {
	q := a[0].Any.(*jsonQuery)
	dec := json.NewDecoder(strings.NewReader(string(smp.Str)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return false
	}
	for _, st := range q.steps {
		if st.isIdx {
			arr, ok := v.([]any)
			if !ok || st.index >= len(arr) {
				return false
			}
			v = arr[st.index]
		} else {
			obj, ok := v.(map[string]any)
			if !ok {
				return false
			}
			if v, ok = obj[st.key]; !ok {
				return false
			}
		}
	}
	switch x := v.(type) {
	case json.Number:
		if n, err := x.Int64(); err == nil {
			smp.SetInt(n)
		} else if f, err := x.Float64(); err == nil {
			if q.typ == SInt {
				smp.SetInt(int64(f))
			} else {
				smp.SetStr(appendBytes(s.Scratch(), []byte(x.String())))
			}
		} else {
			return false
		}
	case string:
		smp.SetStr(appendBytes(s.Scratch(), []byte(x)))
	case bool:
		smp.SetBool(x)
	default:
		return false
	}
	if q.typ != Any {
		return smp.Cast(q.typ, s.Scratch())
	}
	return true
}
