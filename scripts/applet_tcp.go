package scripts

import (
	"bufio"
	"errors"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy/sample"
	"moonbus/proxy/stick"
)

// The AppletTCP class: the object a TCP service (mode "tcp") and a CLI
// command handler (core.register_cli) receive. Methods getline, receive
// ([size[, timeout_ms]]), try_receive, send, and the private data and
// variable calls; fields f, sf, c, sc for services. Reads wait with the
// state unlocked.

const appletTCPClass = "AppletTCP"

// tcpIO is the stream behind an AppletTCP: the client connection of a TCP
// service (*proxy.TCPApplet) or a CLI command's payload and reply.
type tcpIO interface {
	// Receive reads n bytes (n < 0: until the end), waiting at most timeout
	// (0: no limit of its own). An empty result with io.EOF means closed.
	Receive(n int, timeout time.Duration) ([]byte, error)
	// TryReceive returns what is available now, nil when nothing is.
	TryReceive() ([]byte, error)
	// Getline reads one line, '\n' included.
	Getline() ([]byte, error)
	// Send writes bytes.
	Send(b []byte) error
}

// appletTCP is the Go value of an AppletTCP object.
type appletTCP struct {
	io   tcpIO
	tx   *txnUD // nil for CLI handlers
	dead atomic.Bool
	priv *lua.LTable // CLI handlers' private data
}

func init() {
	registerClass(&class{
		name: appletTCPClass,
		methods: map[string]Method{
			"getline":     appletTCPGetline,
			"receive":     appletTCPReceive,
			"try_receive": appletTCPTryReceive,
			"send":        appletTCPSend,
			"get_priv":    appletGetPriv(appletTCPClass),
			"set_priv":    appletSetPriv(appletTCPClass),
			"get_var":     appletGetVar(appletTCPClass),
			"set_var":     appletSetVar(appletTCPClass),
			"unset_var":   appletUnsetVar(appletTCPClass),
		},
		index: func(st *State, L *lua.LState, ud *lua.LUserData, key string) lua.LValue {
			ap, ok := ud.Value.(*appletTCP)
			if !ok || ap.dead.Load() || ap.tx == nil || ap.tx.txn() == nil {
				return lua.LNil
			}
			switch key {
			case "f", "sf", "c", "sc":
				return txnIndex(st, L, &lua.LUserData{Value: ap.tx}, key)
			}
			return lua.LNil
		},
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, appletTCPClass) },
		},
	})
}

func checkAppletTCP(L *lua.LState) *appletTCP {
	ap := checkObj[*appletTCP](L, 1, appletTCPClass)
	if ap.dead.Load() {
		L.RaiseError("the service is over: this applet can no longer be used")
	}
	return ap
}

// appletTCPGetline returns one line with its '\n'; a string without '\n'
// means the stream ended, "" means EOF.
func appletTCPGetline(st *State, L *lua.LState) int {
	checkArgs(L, 1, "getline")
	ap := checkAppletTCP(L)
	st.mustYieldable(L, "getline")
	var b []byte
	st.Unlocked(func() { b, _ = ap.io.Getline() })
	L.Push(lua.LString(b))
	return 1
}

// appletTCPReceive is receive([size[, timeout_ms]]): size bytes, or
// everything up to the end; with a timeout, what arrived by then, or nil
// when nothing did. "" means the connection is closed.
func appletTCPReceive(st *State, L *lua.LState) int {
	if n := L.GetTop(); n < 1 || n > 3 {
		L.RaiseError("'receive' needs between 1 and 3 arguments")
	}
	ap := checkAppletTCP(L)
	size := -1
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		size = checkInt(L, 2)
	}
	var timeout time.Duration
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		ms := checkInt64(L, 3)
		if ms < 0 {
			L.ArgError(3, "timeout must be positive")
		}
		timeout = time.Duration(max(ms, 1)) * time.Millisecond
	}
	st.mustYieldable(L, "receive")
	var b []byte
	var err error
	st.Unlocked(func() { b, err = ap.io.Receive(size, timeout) })
	if len(b) == 0 && err != nil && isTimeout(err) {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(b))
	return 1
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// appletTCPTryReceive returns the available bytes without waiting, nil when
// none are ready, "" at EOF.
func appletTCPTryReceive(st *State, L *lua.LState) int {
	checkArgs(L, 1, "try_receive")
	ap := checkAppletTCP(L)
	var b []byte
	var err error
	st.Unlocked(func() { b, err = ap.io.TryReceive() })
	switch {
	case len(b) > 0:
		L.Push(lua.LString(b))
	case err != nil:
		L.Push(lua.LString(""))
	default:
		L.Push(lua.LNil)
	}
	return 1
}

func appletTCPSend(st *State, L *lua.LState) int {
	checkArgs(L, 2, "send")
	ap := checkAppletTCP(L)
	s := L.CheckString(2)
	st.Unlocked(func() { _ = ap.io.Send([]byte(s)) })
	return 0
}

// cliIO is the stream of a CLI command handler: reads come from the
// command's payload, writes go to the reply.
type cliIO struct {
	r *bufio.Reader
	w io.Writer
}

func newCLIIO(payload string, w io.Writer) *cliIO {
	return &cliIO{r: bufio.NewReader(strings.NewReader(payload)), w: w}
}

func (c *cliIO) Receive(n int, _ time.Duration) ([]byte, error) {
	if n < 0 {
		b, err := io.ReadAll(c.r)
		if len(b) == 0 {
			return []byte{}, io.EOF
		}
		return b, err
	}
	b := make([]byte, n)
	m, err := io.ReadFull(c.r, b)
	return b[:m], err
}

func (c *cliIO) TryReceive() ([]byte, error) {
	if c.r.Buffered() == 0 {
		if _, err := c.r.Peek(1); err != nil {
			return nil, err
		}
	}
	b := make([]byte, c.r.Buffered())
	n, err := c.r.Read(b)
	return b[:n], err
}

func (c *cliIO) Getline() ([]byte, error) {
	b, err := c.r.ReadBytes('\n')
	if b == nil {
		b = []byte{}
	}
	return b, err
}

func (c *cliIO) Send(b []byte) error {
	_, err := c.w.Write(b)
	return err
}

// procStream is a sample stream that only has the proc scope (CLI
// handlers' get_var/set_var).
type procStream struct {
	vars *sample.VarStore
	env  map[string]string
	buf  []byte
}

func (p *procStream) Vars(sc sample.Scope) *sample.VarStore {
	if sc == sample.ScopeProc {
		return p.vars
	}
	return nil
}
func (p *procStream) Scratch() *[]byte            { return &p.buf }
func (p *procStream) Now() time.Time              { return time.Now() }
func (p *procStream) StickCounter(int) *stick.Ref { return nil }
func (p *procStream) Env(n string) (string, bool) { v, ok := p.env[n]; return v, ok }
func (p *procStream) Dir() sample.Direction       { return sample.DirRequest }

// procStream returns a stream over the engine's proc variables (nil before
// SetEngine).
func (rt *Runtime) procStream() sample.Stream {
	e := rt.engine.Load()
	if e == nil {
		return nil
	}
	return &procStream{vars: e.ProcVars(), env: e.Config().Env}
}
