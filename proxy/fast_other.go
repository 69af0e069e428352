//go:build !linux

package proxy

import "io"

// The fast path needs epoll: elsewhere every connection takes the
// goroutine path.

// Loop notifications (unused off Linux).
const (
	fastStopping = iota + 1
	fastAbort
)

// fastLoops does nothing off Linux.
type fastLoops struct{}

// newFastLoops returns no loops: the fast path stays off.
func newFastLoops(e *Engine, n int) (*fastLoops, error) { return nil, nil }

func (f *fastLoops) serve(s *session) func() bool { return func() bool { return true } }
func (f *fastLoops) notify(kind int)              {}
func (f *fastLoops) stop()                        {}

// nbIO is never set off Linux.
type nbIO struct{}

func (n *nbIO) read(b []byte) (int, error)  { return 0, io.EOF }
func (n *nbIO) write(b []byte) (int, error) { return 0, io.ErrClosedPipe }
