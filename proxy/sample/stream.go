package sample

import (
	"time"

	"moonbus/proxy/stick"
)

// Direction tells whether a stream is processing the request or the
// response (hdr() reads the request headers in the first case and the
// response headers in the second).
type Direction uint8

// Directions.
const (
	DirRequest Direction = iota
	DirResponse
)

// Stream is the evaluation context: what fetches, converters, ACLs and
// log-formats may ask of the transaction (or check, or CLI command) they run
// for. The proxy's transaction implements it; tests use a small fake. Every
// method is called on the hot path and must not allocate.
type Stream interface {
	// Vars returns the variable store of scope for this stream, or nil when
	// the scope does not exist here (e.g. txn in a tcp-request connection
	// rule, or check outside a health check). The proc scope is the
	// instance-wide store shared by every stream.
	Vars(sc Scope) *VarStore

	// Scratch returns the stream's scratch buffer. Casts and converters
	// append their output to it; top-level evaluations truncate it. It
	// must not be used by the caller for data that outlives an evaluation.
	Scratch() *[]byte

	// Now returns the current time (date(), http_date, stick-table rates
	// use their own clocks).
	Now() time.Time

	// StickCounter returns the entry tracked by track-sc<n> (n = 0, 1, 2)
	// for this stream, or nil when that counter is not tracked.
	StickCounter(n int) *stick.Ref

	// Env returns the value of an environment variable of the
	// configuration (after setenv/presetenv/unsetenv), for env().
	Env(name string) (string, bool)

	// Dir tells whether the request or the response is being processed.
	Dir() Direction
}
