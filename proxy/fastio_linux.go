package proxy

import (
	"net"
	"syscall"
	"unsafe"
)

// On Linux, plain TCP connections read and write with recvfrom/sendto
// through the netpoller (syscall.RawConn): it skips the VFS layer that
// read/write go through (file position locking, iterator setup), which is a
// measurable share of a proxy's CPU per request. Deadlines and readiness
// waits are the runtime's, as for net.Conn.

// fastIO performs socket I/O on a raw connection without allocating.
type fastIO struct {
	rc     syscall.RawConn
	buf    []byte
	n      int
	err    error
	readF  func(fd uintptr) bool
	writeF func(fd uintptr) bool
}

func newFastIO(c net.Conn) *fastIO {
	tc, ok := c.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	f := &fastIO{rc: rc}
	f.readF = func(fd uintptr) bool {
		var p unsafe.Pointer
		if len(f.buf) > 0 {
			p = unsafe.Pointer(&f.buf[0])
		}
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(p), uintptr(len(f.buf)), 0, 0, 0)
		if errno == syscall.EAGAIN {
			return false
		}
		if errno == syscall.EINTR {
			return f.readF(fd)
		}
		f.n, f.err = int(n), nil
		if errno != 0 {
			f.n, f.err = 0, errno
		}
		return true
	}
	f.writeF = func(fd uintptr) bool {
		for len(f.buf) > 0 {
			n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&f.buf[0])), uintptr(len(f.buf)), syscall.MSG_NOSIGNAL, 0, 0)
			if errno == syscall.EAGAIN {
				return false
			}
			if errno == syscall.EINTR {
				continue
			}
			if errno != 0 {
				f.err = errno
				return true
			}
			f.n += int(n)
			f.buf = f.buf[n:]
		}
		return true
	}
	return f
}

func (f *fastIO) read(b []byte) (int, error) {
	f.buf, f.n, f.err = b, 0, nil
	if err := f.rc.Read(f.readF); err != nil {
		f.buf = nil
		return 0, err
	}
	f.buf = nil
	if f.err != nil {
		return f.n, &net.OpError{Op: "read", Net: "tcp", Err: f.err}
	}
	if f.n == 0 && len(b) > 0 {
		return 0, eofErr
	}
	return f.n, nil
}

func (f *fastIO) write(b []byte) (int, error) {
	f.buf, f.n, f.err = b, 0, nil
	if err := f.rc.Write(f.writeF); err != nil {
		n := f.n
		f.buf = nil
		return n, err
	}
	f.buf = nil
	if f.err != nil {
		return f.n, &net.OpError{Op: "write", Net: "tcp", Err: f.err}
	}
	return f.n, nil
}

// openFilesLimit returns the process's limit of open files (Ulimit-n of
// "show info"), 0 when unknown.
func openFilesLimit() int64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return int64(rl.Cur)
}
