package proxy

import (
	"fmt"
	"strings"
	"time"

	"moonbus/config"
	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// procStream evaluates expressions that need no traffic: the global
// set-var/set-var-fmt lines and the runtime API's "set var ... expr".
type procStream struct {
	e       *Engine
	scratch []byte
}

var _ sample.Stream = (*procStream)(nil)

func (p *procStream) Vars(sc sample.Scope) *sample.VarStore {
	if sc == sample.ScopeProc {
		return p.e.rules.procVars
	}
	return nil
}
func (p *procStream) Scratch() *[]byte               { return &p.scratch }
func (p *procStream) Now() time.Time                 { return time.Now() }
func (p *procStream) StickCounter(int) *stick.Ref    { return nil }
func (p *procStream) Dir() sample.Direction          { return sample.DirRequest }
func (p *procStream) Env(name string) (string, bool) { v, ok := p.e.conf.Env[name]; return v, ok }

// applyGlobalSetVars evaluates the global section's set-var and set-var-fmt
// lines into proc variables, in order (reference §2.1).
func (e *Engine) applyGlobalSetVars() error {
	ps := &procStream{e: e}
	for _, l := range e.conf.Global.SetVars {
		if len(l.Words) < 3 {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' expects a variable name and an expression", first(l.Words))}
		}
		kw, name, arg := l.Words[0], l.Words[1], strings.Join(l.Words[2:], " ")
		ref, err := e.rules.reg.Vars().Resolve(name)
		if err != nil {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' : %v", kw, err)}
		}
		if ref.Scope != sample.ScopeProc {
			return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' : only the 'proc' scope is available in the global section", kw)}
		}
		var smp sample.Sample
		if strings.HasPrefix(kw, "set-var-fmt") {
			f, err := sample.CompileFormat(arg, e.rules.reg, sample.FormatCtx{CompileCtx: sample.CompileCtx{Where: sample.InCLI}})
			if err != nil {
				return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' : %v", kw, err)}
			}
			smp.SetStr(f.Append(nil, ps))
		} else {
			ex, err := sample.Compile(arg, e.rules.reg, sample.CompileCtx{Where: sample.InCLI})
			if err != nil {
				return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' : %v", kw, err)}
			}
			if !ex.Eval(ps, &smp) {
				return &config.Error{Pos: l.Pos, Msg: fmt.Sprintf("'%s' : failed to evaluate '%s'", kw, arg)}
			}
		}
		sample.SetVar(ps, ref, &smp)
	}
	return nil
}
