package scripts

import (
	"context"
	"sync/atomic"
	"testing"

	lua "github.com/yuin/gopher-lua"
)

const benchScript = `
core.register_fetches("pick", function(txn, a)
  if a == "x" then return "be_x" end
  return "be_default"
end)
`

func benchRuntime(b *testing.B, perThread bool, mod func(*Options)) *Runtime {
	b.Helper()
	opts := DefaultOptions()
	opts.Stderr = &syncBuffer{}
	opts.Loads = []Load{{File: writeScript(b, "bench.lua", benchScript), PerThread: perThread}}
	if mod != nil {
		mod(&opts)
	}
	rt, err := New(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = rt.Close() })
	return rt
}

func benchCall(b *testing.B, rt *Runtime) {
	f := rt.Registry().Fetches["pick"]
	arg := lua.LString("x")
	var next atomic.Int64
	args := func(*lua.LState) []lua.LValue { return []lua.LValue{lua.LNil, arg} }
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		caller := int(next.Add(1))
		ctx := context.Background()
		for pb.Next() {
			rets, err := rt.Call(ctx, Invocation{Kind: CtxFetch, Func: f, Caller: caller, NRet: 1, Args: args})
			if err != nil || len(rets) != 1 {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCallFetchPerThread is the fast path of DESIGN §7: a Lua fetch per
// request on lua-load-per-thread states, default timeouts (so a context
// deadline is installed on every call).
func BenchmarkCallFetchPerThread(b *testing.B) { benchCall(b, benchRuntime(b, true, nil)) }

// BenchmarkCallFetchPerThreadNoTimeouts shows the cost of the deadline
// machinery (all timeouts off: no context on the coroutine).
func BenchmarkCallFetchPerThreadNoTimeouts(b *testing.B) {
	benchCall(b, benchRuntime(b, true, func(o *Options) { o.SessionTimeout, o.BurstTimeout = 0, 0 }))
}

// BenchmarkCallFetchShared is the same fetch on the single shared state.
func BenchmarkCallFetchShared(b *testing.B) { benchCall(b, benchRuntime(b, false, nil)) }
