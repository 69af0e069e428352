package scripts

import (
	"context"
	"io"

	lua "github.com/yuin/gopher-lua"
)

// RunCLI runs a core.register_cli command for the runtime API: the handler
// gets an AppletTCP (its reads return payload, its sends go to w), then the
// words of the request (the registered ones first). The call has the
// session timeout; ctx cancels it. A Lua error is returned (and logged as
// HAProxy does) after whatever the handler already sent.
func (rt *Runtime) RunCLI(ctx context.Context, cmd *CLICommand, words []string, payload string, w io.Writer) error {
	c := rt.getCall(nil, CtxCLI)
	defer c.release()
	c.words = words
	var ap *appletTCP
	c.newObj = func(st *State) lua.LValue {
		ap = &appletTCP{io: newCLIIO(payload, w)}
		return st.newObj(appletTCPClass, ap)
	}
	_, err := rt.Call(ctx, Invocation{Kind: CtxCLI, Func: cmd.Func, Caller: -1, NRet: 0, Args: c.argsFn})
	if ap != nil {
		ap.dead.Store(true)
	}
	return err
}
