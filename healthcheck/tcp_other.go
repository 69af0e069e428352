//go:build !linux

package healthcheck

import (
	"context"
	"time"
)

// connAttempt is the check loop's connect attempt; only Linux has the
// non-blocking connect path, elsewhere every probe runs on a goroutine.
type connAttempt struct {
	fd         int
	start      time.Time
	deadline   time.Time
	res        Result
	alwaysWait bool
}

func (a *connAttempt) begin(string, *sockPool) quickState { a.fd = -1; return quickNo }

// sockPool keeps sockets for reuse on Linux only.
type sockPool struct{}

func (p *sockPool) close() {}

func (a *connAttempt) check() (Result, bool) { return Result{Status: StatusSockErr}, true }

func (a *connAttempt) abandon() { a.fd = -1 }

func (a *connAttempt) recycle(*sockPool) { a.fd = -1 }

func (a *connAttempt) wait(context.Context) Result {
	return Result{Status: StatusSockErr, Duration: time.Since(a.start)}
}

// fastConnect is only implemented on Linux; elsewhere the net dialer runs.
func fastConnect(ctx context.Context, addr string, deadline time.Time) (Status, string, bool) {
	return 0, "", false
}

func closeFDReset(int) {}
