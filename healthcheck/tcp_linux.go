//go:build linux

package healthcheck

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// fastConnect is the plain TCP connect check without the net package's
// dialer, doing what HAProxy does for a check that sends nothing:
//
//   - socket(SOCK_NONBLOCK|SOCK_CLOEXEC) and TCP_QUICKACK off before
//     connect(), so the SYN-ACK is not acknowledged at once: the server never
//     completes the handshake (no accept, no child socket), and our RST
//     (SO_LINGER 0 close) drops its half-open entry;
//   - a second connect() right after EINPROGRESS tells, in one syscall,
//     whether the handshake already completed (0), failed (the errno) or is
//     still running (EALREADY); on loopback and fast LANs it has completed;
//   - only a check still in progress is waited for, on Go's poller.
//
// ok is false when addr is not an IP literal; the caller then dials.
func fastConnect(ctx context.Context, addr string, deadline time.Time) (st Status, info string, ok bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return 0, "", false
	}
	var sa rawSockaddr
	if !sa.set(ap) {
		return 0, "", false // zones need the interface index: let net do it
	}
	fd, err := syscall.Socket(sa.family(), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return StatusSockErr, errnoText(err), true
	}
	// Delayed ACK on the handshake, as HAProxy does when the check has no
	// data to send. A failure only costs the server an accept.
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
	errno := sa.connect(fd)
	if errno == syscall.EINPROGRESS {
		errno = sa.connect(fd) // done already? (0/EISCONN, the error, or EALREADY)
	}
	switch errno {
	case 0, syscall.EISCONN:
		closeFDReset(fd)
		return StatusL4OK, "", true
	case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
		return waitConnect(ctx, fd, &sa, deadline)
	}
	closeFDReset(fd)
	return StatusL4CON, errnoText(errno), true
}

// waitConnect waits on Go's poller until the connect in progress on fd
// completes or deadline passes, then closes fd with an RST.
func waitConnect(ctx context.Context, fd int, sa *rawSockaddr, deadline time.Time) (Status, string, bool) {
	f := os.NewFile(uintptr(fd), "check")
	if f == nil {
		closeFDReset(fd)
		return StatusSockErr, "cannot register the check socket", true
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return StatusSockErr, errnoText(err), true
	}
	_ = f.SetWriteDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = f.SetWriteDeadline(time.Now()) })
	defer stop()
	var result syscall.Errno
	// The check runs before any wait (a readiness event that arrived before
	// RawConn.Write is discarded by it), then after each wake-up, spurious
	// ones included.
	werr := rc.Write(func(s uintptr) bool {
		switch e := sa.connect(int(s)); e {
		case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
			return false
		case syscall.EISCONN:
			result = 0
		default:
			result = e
		}
		return true
	})
	_ = rc.Control(func(s uintptr) {
		_ = syscall.SetsockoptLinger(int(s), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
	})
	switch {
	case werr != nil && (errors.Is(werr, os.ErrDeadlineExceeded) || isTimeout(werr)):
		if ctx.Err() != nil {
			return StatusL4CON, "check aborted", true
		}
		return StatusL4TOUT, "", true
	case werr != nil:
		return StatusL4CON, errnoText(werr), true
	case result != 0:
		return StatusL4CON, errnoText(result), true
	}
	return StatusL4OK, "", true
}

// rawSockaddr is a socket address in the kernel's layout, built on the
// stack (syscall.Connect with a syscall.Sockaddr allocates per call).
type rawSockaddr struct {
	v6  bool
	in4 syscall.RawSockaddrInet4
	in6 syscall.RawSockaddrInet6
}

// set fills the address from ap; false for an IPv6 address with a zone.
func (sa *rawSockaddr) set(ap netip.AddrPort) bool {
	ip := ap.Addr().Unmap()
	port := ap.Port()
	if ip.Is4() {
		sa.in4.Family = syscall.AF_INET
		p := (*[2]byte)(unsafe.Pointer(&sa.in4.Port))
		p[0], p[1] = byte(port>>8), byte(port)
		sa.in4.Addr = ip.As4()
		return true
	}
	if ip.Zone() != "" {
		return false
	}
	sa.v6 = true
	sa.in6.Family = syscall.AF_INET6
	p := (*[2]byte)(unsafe.Pointer(&sa.in6.Port))
	p[0], p[1] = byte(port>>8), byte(port)
	sa.in6.Addr = ip.As16()
	return true
}

func (sa *rawSockaddr) family() int {
	if sa.v6 {
		return syscall.AF_INET6
	}
	return syscall.AF_INET
}

// connect calls connect(2) on the non-blocking fd and returns its errno.
func (sa *rawSockaddr) connect(fd int) syscall.Errno {
	p, n := unsafe.Pointer(&sa.in4), uintptr(syscall.SizeofSockaddrInet4)
	if sa.v6 {
		p, n = unsafe.Pointer(&sa.in6), uintptr(syscall.SizeofSockaddrInet6)
	}
	// A non-blocking connect does not sleep: no need to hand the P over.
	_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(p), n)
	return e
}

func closeFDReset(fd int) {
	_ = syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
	_ = syscall.Close(fd)
}
