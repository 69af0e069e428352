//go:build !linux

package scripts

import (
	"errors"
	"net"
)

// setClientSockOpt is not supported on this platform.
func setClientSockOpt(net.Conn, bool, int) error { return errors.New("not supported") }
