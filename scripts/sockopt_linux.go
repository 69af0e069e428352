package scripts

import (
	"errors"
	"net"
	"syscall"
)

// setClientSockOpt sets IP_TOS / IPV6_TCLASS (tos) or SO_MARK on a TCP
// connection.
func setClientSockOpt(c net.Conn, tos bool, v int) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	v6 := false
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		v6 = true
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		switch {
		case !tos:
			serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_MARK, v)
		case v6:
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IPV6, syscall.IPV6_TCLASS, v)
		default:
			serr = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, syscall.IP_TOS, v)
		}
	})
	if err != nil {
		return err
	}
	return serr
}
