// Package proxy owns the request path of Moonbus: listeners, the HTTP/1.1 and
// TCP engines, frontends and backends, servers with their state machine, load
// balancing, queueing and connection pools, HAProxy-style logging, and the
// per-stream transaction (Txn) that rules and Lua scripts see.
//
// An Engine is built from a parsed *config.Config, started, and stopped; it has
// no process-global state, so several engines can run in one process. The
// HTTP path parses headers with fasthttp's header types (hardened against
// request smuggling) and runs its own connection loop so that every timer,
// byte count and termination state of HAProxy's logs is known exactly.
package proxy
