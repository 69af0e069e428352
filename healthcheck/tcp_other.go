//go:build !linux

package healthcheck

import (
	"context"
	"time"
)

// fastConnect is only implemented on Linux; elsewhere the net dialer runs.
func fastConnect(ctx context.Context, addr string, deadline time.Time) (Status, string, bool) {
	return 0, "", false
}
