package runtimeapi

import (
	"strings"
	"time"

	"moonbus/proxy"
	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// TableOwner is implemented by proxies that may declare a stick table
// (*proxy.Proxy once the rules engine provides StickTable).
type TableOwner interface {
	StickTable() *stick.Table
}

// ProcVarEngine is what "get var" and "set var" need from the engine
// (*proxy.Engine once the rules engine provides them): the sample registry
// that interns variable names and compiles expressions, and the proc-scope
// variable store.
type ProcVarEngine interface {
	Registry() *sample.Registry
	ProcVars() *sample.VarStore
}

// tables returns the stick tables of the running engine, in proxy order.
func tables(e *proxy.Engine) []*stick.Table {
	var out []*stick.Table
	for _, p := range e.Proxies() {
		if o, ok := any(p).(TableOwner); ok {
			if t := o.StickTable(); t != nil {
				out = append(out, t)
			}
		}
	}
	return out
}

func findTable(e *proxy.Engine, name string) *stick.Table {
	for _, t := range tables(e) {
		if t.Name() == name {
			return t
		}
	}
	return nil
}

// tableArgs parses "[data.<type> <op> <v>]* [key <k>]".
func tableArgs(t *stick.Table, args []string, usage string) (key []byte, filters []stick.Filter, err error) {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "key":
			if i+1 >= len(args) {
				return nil, nil, errorText(usage)
			}
			k, err := t.ParseKey(args[i+1])
			if err != nil {
				return nil, nil, errorText(err.Error())
			}
			key = k
			i++
		case strings.HasPrefix(a, "data."):
			if i+2 >= len(args) {
				return nil, nil, errorText(usage)
			}
			f, err := t.ParseFilter(a, args[i+1], args[i+2])
			if err != nil {
				return nil, nil, errorText(err.Error())
			}
			filters = append(filters, f)
			i += 2
		default:
			return nil, nil, errorText(usage)
		}
	}
	return key, filters, nil
}

func cmdShowTable(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	if c.Arg(2) == "" {
		var buf []byte
		for _, t := range tables(e) {
			buf = t.AppendHeader(buf)
		}
		_, err := c.Write(buf)
		return err
	}
	t := findTable(e, c.Arg(2))
	if t == nil {
		return errorText("No such table")
	}
	key, filters, err := tableArgs(t, c.Args[3:], "Optional argument only supports \"data.<store_data_type>\" <operator> <value> and key <key>")
	if err != nil {
		return err
	}
	_, err = c.Write(t.Show(nil, key, filters...))
	return err
}

func cmdClearTable(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	const usage = "Required arguments: <table> \"data.<store_data_type>\" <operator> <value> or <table> key <key>"
	if c.Arg(2) == "" {
		return errorText(usage)
	}
	t := findTable(e, c.Arg(2))
	if t == nil {
		return errorText("No such table")
	}
	key, filters, err := tableArgs(t, c.Args[3:], usage)
	if err != nil {
		return err
	}
	if key != nil {
		if t.Lookup(key) != nil && !t.Clear(key) {
			return errorText("Entry currently in use, cannot remove")
		}
		return nil
	}
	t.ClearAll(filters...)
	return nil
}

// procVars returns the variable side of the engine.
func procVars(c *Call) (ProcVarEngine, error) {
	e, err := c.engine()
	if err != nil {
		return nil, err
	}
	v, ok := any(e).(ProcVarEngine)
	if !ok || v.Registry() == nil || v.ProcVars() == nil {
		return nil, errorText("Process-wide variables are not available.")
	}
	return v, nil
}

// procName checks that name is a proc-scope variable and returns its bare name.
func procName(name string) (string, error) {
	if name == "" {
		return "", errorText("Missing process-wide variable identifier.")
	}
	sc, bare, err := sample.ParseVarName(name)
	if err != nil {
		return "", errorText(err.Error())
	}
	if sc != sample.ScopeProc {
		return "", errorText("Only process-wide variables ('proc.' scope) are accessible from the CLI.")
	}
	return bare, nil
}

func cmdGetVar(c *Call) error {
	name := c.Arg(2)
	bare, err := procName(name)
	if err != nil {
		return err
	}
	v, err := procVars(c)
	if err != nil {
		return err
	}
	id, ok := v.Registry().Vars().Lookup(sample.ScopeProc, bare)
	var smp sample.Sample
	if !ok || !v.ProcVars().Get(id, &smp) {
		return errorText("Variable not found.")
	}
	typ := smp.Type.String()
	var scratch []byte
	if !smp.Cast(sample.Str, &scratch) {
		c.Printf("%s: type=%s value=(undisplayable)\n", name, typ)
		return nil
	}
	c.Printf("%s: type=%s value=<%s>\n", name, typ, printable(smp.Str))
	return nil
}

// printable escapes control characters the way HAProxy's dump_text does.
func printable(b []byte) string {
	var sb strings.Builder
	for _, ch := range b {
		switch {
		case ch == '\n':
			sb.WriteString("\\n")
		case ch == '\r':
			sb.WriteString("\\r")
		case ch == '\t':
			sb.WriteString("\\t")
		case ch < 0x20 || ch >= 0x7f:
			sb.WriteString("\\x")
			sb.WriteByte("0123456789abcdef"[ch>>4])
			sb.WriteByte("0123456789abcdef"[ch&15])
		default:
			sb.WriteByte(ch)
		}
	}
	return sb.String()
}

// cliStream is the stream CLI expressions evaluate against: only the proc
// scope exists and no traffic fetch applies.
type cliStream struct {
	vars    *sample.VarStore
	scratch []byte
	env     map[string]string
}

func (s *cliStream) Vars(sc sample.Scope) *sample.VarStore {
	if sc == sample.ScopeProc {
		return s.vars
	}
	return nil
}
func (s *cliStream) Scratch() *[]byte               { return &s.scratch }
func (s *cliStream) Now() time.Time                 { return time.Now() }
func (s *cliStream) StickCounter(int) *stick.Ref    { return nil }
func (s *cliStream) Dir() sample.Direction          { return sample.DirRequest }
func (s *cliStream) Env(name string) (string, bool) { v, ok := s.env[name]; return v, ok }

func cmdSetVar(c *Call) error {
	name := c.Arg(2)
	bare, err := procName(name)
	if err != nil {
		return err
	}
	kind, text := "expr", c.Arg(3)
	switch text {
	case "":
		return errorText("Missing either 'expr', 'fmt' or expression.")
	case "expr", "fmt":
		kind, text = text, strings.Join(c.Args[4:], " ")
		if text == "" {
			return errorText("Missing either 'expr', 'fmt' or expression.")
		}
	default:
		text = strings.Join(c.Args[3:], " ")
	}
	v, err := procVars(c)
	if err != nil {
		return err
	}
	reg := v.Registry()
	st := &cliStream{vars: v.ProcVars()}
	if e := c.Engine(); e != nil && e.Config() != nil {
		st.env = e.Config().Env
	}
	var smp sample.Sample
	if kind == "fmt" {
		f, err := sample.CompileFormat(text, reg, sample.FormatCtx{})
		if err != nil {
			return errorText("failed to parse log-format '" + text + "': " + err.Error())
		}
		smp.SetStr(append([]byte(nil), f.Append(nil, st)...))
	} else {
		ex, err := sample.Compile(text, reg, sample.CompileCtx{})
		if err != nil {
			return errorText("failed to parse sample expression '" + text + "': " + err.Error())
		}
		if !ex.Eval(st, &smp) {
			return errorText("failed to evaluate the expression.")
		}
	}
	id := reg.Vars().Intern(sample.ScopeProc, bare)
	v.ProcVars().Set(id, &smp)
	return nil
}

// Interface guards: the engine and its proxies provide what the variable
// and table commands need.
var (
	_ ProcVarEngine = (*proxy.Engine)(nil)
	_ TableOwner    = (*proxy.Proxy)(nil)
)
