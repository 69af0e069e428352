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

// connAttempt is one plain TCP connect check in progress, done without
// the net package's dialer and the way HAProxy does a check that sends
// nothing:
//
//   - socket(SOCK_NONBLOCK|SOCK_CLOEXEC) and TCP_QUICKACK off before
//     connect(), so the SYN-ACK is not acknowledged at once: the server never
//     completes the handshake (no accept, no child socket), and our RST
//     (SO_LINGER 0 close) drops its half-open entry;
//   - a second connect() right after EINPROGRESS tells, in one syscall,
//     whether the handshake already completed (0), failed (the errno) or is
//     still running (EALREADY); on loopback and fast LANs it has completed;
//   - only an attempt still in progress is waited for: by the check loop's
//     poller, or on Go's poller (wait) for a check run outside the loop.
type connAttempt struct {
	fd       int // -1: none
	sa       rawSockaddr
	start    time.Time // when the check started
	deadline time.Time // the connect deadline
	res      Result    // the result, once begin or check returned one
	// alwaysWait skips the check right after connect(): every attempt is
	// waited for, as a connect to a remote server is (benchmarks).
	alwaysWait bool
}

// begin starts connecting to addr: quickDone with the status and info in
// a.res (no socket left open), quickPending with a.fd connecting, or
// quickNo when addr is not an IP literal (the net dialer is needed).
func (a *connAttempt) begin(addr string, pool *sockPool) quickState {
	a.fd = -1
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !a.sa.set(ap) {
		return quickNo // a host name, or a zone that needs the interface index
	}
	// socket, setsockopt, connect and close do not sleep here: raw calls,
	// without handing the P over for each.
	fd := pool.get(a.sa.v6)
	if fd < 0 {
		r, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, uintptr(a.sa.family()), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if e != 0 {
			a.res = Result{Status: StatusSockErr, Info: errnoText(e)}
			return quickDone
		}
		fd = int(r)
		l := syscall.Linger{Onoff: 1}
		_, _, _ = syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, syscall.SO_LINGER,
			uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0)
	}
	// Delayed ACK on the handshake, as HAProxy does when the check has no
	// data to send. A failure only costs the server an accept.
	_ = setsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
	errno := a.sa.connect(fd)
	if errno == syscall.EINPROGRESS && !a.alwaysWait {
		errno = a.sa.connect(fd) // done already? (0/EISCONN, the error, or EALREADY)
	}
	switch errno {
	case 0, syscall.EISCONN:
		pool.put(fd, a.sa.v6)
		a.res = Result{Status: StatusL4OK}
		return quickDone
	case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
		a.fd = fd
		return quickPending
	}
	pool.put(fd, a.sa.v6)
	a.res = Result{Status: StatusL4CON, Info: errnoText(errno)}
	return quickDone
}

// sockPool keeps a few TCP sockets of finished checks for the next ones:
// connect(AF_UNSPEC) dissolves a socket's connection (sending the RST) and
// leaves it ready to connect again, which saves the socket() and close()
// of every check (the file, inode and dentry each one allocates). Only the
// check loop uses it; a nil pool closes sockets instead.
type sockPool struct {
	v4, v6 []int
}

const sockPoolMax = 64

func (p *sockPool) get(v6 bool) int {
	if p == nil {
		return -1
	}
	l := &p.v4
	if v6 {
		l = &p.v6
	}
	n := len(*l)
	if n == 0 {
		return -1
	}
	fd := (*l)[n-1]
	*l = (*l)[:n-1]
	return fd
}

// put disconnects fd (with an RST if it was connected) and keeps it, or
// closes it when the pool is full or the disconnect fails.
func (p *sockPool) put(fd int, v6 bool) {
	l := (*[]int)(nil)
	if p != nil {
		l = &p.v4
		if v6 {
			l = &p.v6
		}
	}
	if l == nil || len(*l) >= sockPoolMax {
		closeFDReset(fd)
		return
	}
	un := syscall.RawSockaddr{Family: syscall.AF_UNSPEC}
	_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&un)), unsafe.Sizeof(un))
	if e != 0 {
		closeFDReset(fd)
		return
	}
	// Clear the error the reset left (ECONNRESET): it would be reported by
	// the next connect and flag the socket in epoll.
	var v int32
	vl := uint32(4)
	_, _, e = syscall.RawSyscall6(syscall.SYS_GETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, syscall.SO_ERROR,
		uintptr(unsafe.Pointer(&v)), uintptr(unsafe.Pointer(&vl)), 0)
	if e != 0 {
		closeFDReset(fd)
		return
	}
	*l = append(*l, fd)
}

// close closes the pooled sockets.
func (p *sockPool) close() {
	for _, fd := range p.v4 {
		closeFDReset(fd)
	}
	for _, fd := range p.v6 {
		closeFDReset(fd)
	}
	p.v4, p.v6 = nil, nil
}

// check tells whether the pending connect finished (ready is false while
// it is still in progress). The socket stays open.
func (a *connAttempt) check() (res Result, ready bool) {
	switch e := a.sa.connect(a.fd); e {
	case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
		return Result{}, false
	case 0, syscall.EISCONN:
		return Result{Status: StatusL4OK}, true
	default:
		return Result{Status: StatusL4CON, Info: errnoText(e)}, true
	}
}

// recycle gives the attempt's socket, out of any poller, to pool (which
// resets it).
func (a *connAttempt) recycle(pool *sockPool) {
	if a.fd >= 0 {
		pool.put(a.fd, a.sa.v6)
		a.fd = -1
	}
}

// abandon closes the attempt's socket, if any, with an RST.
func (a *connAttempt) abandon() {
	if a.fd >= 0 {
		closeFDReset(a.fd)
		a.fd = -1
	}
}

// wait waits for the pending attempt on Go's poller, until it completes,
// its deadline passes or ctx ends, and closes its socket. The duration is
// measured from a.start.
func (a *connAttempt) wait(ctx context.Context) Result {
	st, info := waitConnect(ctx, a.fd, &a.sa, a.deadline)
	a.fd = -1
	return Result{Status: st, Info: info, Duration: time.Since(a.start)}
}

// fastConnect runs a plain connect check to addr outside the check loop.
// ok is false when addr is not an IP literal; the caller then dials.
func fastConnect(ctx context.Context, addr string, deadline time.Time) (st Status, info string, ok bool) {
	a := connAttempt{deadline: deadline}
	switch a.begin(addr, nil) {
	case quickNo:
		return 0, "", false
	case quickDone:
		return a.res.Status, a.res.Info, true
	}
	st, info = waitConnect(ctx, a.fd, &a.sa, deadline)
	return st, info, true
}

// waitConnect waits on Go's poller until the connect in progress on fd
// completes or deadline passes, then closes fd with an RST.
func waitConnect(ctx context.Context, fd int, sa *rawSockaddr, deadline time.Time) (Status, string) {
	f := os.NewFile(uintptr(fd), "check")
	if f == nil {
		closeFDReset(fd)
		return StatusSockErr, "cannot register the check socket"
	}
	defer f.Close()
	rc, err := f.SyscallConn()
	if err != nil {
		return StatusSockErr, errnoText(err)
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
			return StatusL4CON, "check aborted"
		}
		return StatusL4TOUT, ""
	case werr != nil:
		return StatusL4CON, errnoText(werr)
	case result != 0:
		return StatusL4CON, errnoText(result)
	}
	return StatusL4OK, ""
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
		sa.v6 = false
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
	_, _, e := syscall.RawSyscall(syscall.SYS_CONNECT, uintptr(fd), uintptr(p), n)
	return e
}

// closeFDReset closes fd with an RST (SO_LINGER on, zero timeout), so that
// checks leave no TIME_WAIT behind.
func closeFDReset(fd int) {
	l := syscall.Linger{Onoff: 1}
	_, _, _ = syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), syscall.SOL_SOCKET, syscall.SO_LINGER,
		uintptr(unsafe.Pointer(&l)), unsafe.Sizeof(l), 0)
	_, _, _ = syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
}

// setsockoptInt is syscall.SetsockoptInt without the P hand-over (the call
// does not block).
func setsockoptInt(fd, level, opt, v int) syscall.Errno {
	iv := int32(v)
	_, _, e := syscall.RawSyscall6(syscall.SYS_SETSOCKOPT, uintptr(fd), uintptr(level), uintptr(opt),
		uintptr(unsafe.Pointer(&iv)), 4, 0)
	return e
}
