package proxy

import (
	"time"

	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// Txn implements sample.Stream: rules, ACLs, log-format strings and Lua
// fetches evaluate against it.

var _ sample.Stream = (*Txn)(nil)

// Vars returns the variable store of a scope for this transaction.
func (t *Txn) Vars(sc sample.Scope) *sample.VarStore {
	switch sc {
	case sample.ScopeProc:
		return t.s.e.rules.procVars
	case sample.ScopeSess:
		return &t.s.rules.vars
	case sample.ScopeTxn:
		return &t.rules.txnVars
	case sample.ScopeReq:
		return &t.rules.reqVars
	case sample.ScopeRes:
		return &t.rules.resVars
	}
	return nil
}

// Scratch returns the transaction's scratch buffer.
func (t *Txn) Scratch() *[]byte { return &t.rules.scratch }

// Now returns the current time.
func (t *Txn) Now() time.Time { return time.Now() }

// StickCounter returns the entry tracked by track-sc<n>: the stream's own
// tracker, else the session's (tcp-request connection/session).
func (t *Txn) StickCounter(n int) *stick.Ref {
	if n < 0 || n > 2 {
		return nil
	}
	if r := &t.rules.sc[n]; r.Valid() {
		return r
	}
	if r := &t.s.rules.sc[n]; r.Valid() {
		return r
	}
	return nil
}

// Env returns a variable of the configuration environment.
func (t *Txn) Env(name string) (string, bool) {
	v, ok := t.s.e.conf.Env[name]
	return v, ok
}

// Dir tells whether the request or the response is being processed.
func (t *Txn) Dir() sample.Direction { return t.rules.dir }
