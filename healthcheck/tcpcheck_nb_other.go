//go:build !linux

package healthcheck

import "time"

// nbSock is the non-blocking runner's socket; only Linux has that mode.
type nbSock struct {
	fd      int
	watched bool
}

func (s *Spec) nbCapable() bool { return false }

func (r *runner) nbConnect(*step, string, time.Time, time.Duration) (Result, bool) {
	return r.result(StatusSockErr, "non-blocking checks not supported"), false
}

func (r *runner) nbConnectDone(st *step) (Result, bool) { return r.nbConnect(st, "", time.Time{}, 0) }

func (r *runner) nbSend(st *step) (Result, bool) { return r.nbConnect(st, "", time.Time{}, 0) }

func (r *runner) nbFill([]byte) (Result, bool) { return r.nbConnect(nil, "", time.Time{}, 0) }

func (r *runner) nbClose() { r.nbs.fd = -1 }
