//go:build linux

package healthcheck

import (
	"net"
	"net/netip"
	"syscall"
	"time"
	"unsafe"
)

// The check program (runner) in non-blocking mode, for the check loop: raw
// non-blocking sockets, and a run that returns instead of blocking (see
// runner.wait). It gives the same results as the blocking mode.

// nbSock is a non-blocking runner's socket.
type nbSock struct {
	fd      int // -1: none
	sa      rawSockaddr
	watched bool // registered with the loop's poller (closing unregisters)
}

// nbCapable reports whether the check loop can run the Spec's program
// without blocking: no TLS, no PROXY header, and connect addresses that
// are IP literals (the server address is checked when the check starts).
func (s *Spec) nbCapable() bool {
	if s.Rules == nil || s.SSL || s.SendProxy != 0 {
		return false
	}
	for _, st := range s.Rules.steps {
		if st.kind != stepConnect {
			continue
		}
		if st.ssl || st.sendProxy {
			return false
		}
		if st.addr != "" {
			host := st.addr
			if h, _, err := net.SplitHostPort(st.addr); err == nil {
				host = h
			}
			if _, err := netip.ParseAddr(host); err != nil {
				return false
			}
		}
	}
	return true
}

// nbConnect starts connecting to addr (phase 1 while in progress).
func (r *runner) nbConnect(st *step, addr string, connDL time.Time, afterConnect time.Duration) (Result, bool) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !r.nbs.sa.set(ap) {
		return r.result(StatusSockErr, errText("cannot connect to "+addr, r.stepText())), false
	}
	fd := -1
	if !st.linger { // a pooled socket may have SO_LINGER set: no clean close
		fd = r.pool.get(r.nbs.sa.v6)
	}
	if fd < 0 {
		fdr, _, e := syscall.RawSyscall(syscall.SYS_SOCKET, uintptr(r.nbs.sa.family()), syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if e != 0 {
			return r.result(StatusL4CON, errText(errnoText(e), r.stepText())), false
		}
		fd = int(fdr)
	}
	r.nbs.fd, r.nbs.watched = fd, false
	_ = setsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if next := r.pc + 1; next >= len(r.rules.steps) || r.rules.steps[next].kind == stepSend {
		// The handshake's last ACK leaves with the request (or, with nothing
		// to send, never: the RST ends it), as HAProxy does.
		_ = setsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_QUICKACK, 0)
	}
	r.dl = connDL
	r.nbAfter = afterConnect
	errno := r.nbs.sa.connect(fd)
	if errno == syscall.EINPROGRESS {
		errno = r.nbs.sa.connect(fd)
	}
	return r.nbConnected(st, errno)
}

// nbConnectDone checks a connect in progress.
func (r *runner) nbConnectDone(st *step) (Result, bool) {
	return r.nbConnected(st, r.nbs.sa.connect(r.nbs.fd))
}

// nbConnected acts on the errno of a connect() call.
func (r *runner) nbConnected(st *step, errno syscall.Errno) (Result, bool) {
	switch errno {
	case 0, syscall.EISCONN:
	case syscall.EALREADY, syscall.EINPROGRESS, syscall.EINTR:
		r.phase = 1
		return r.suspend(waitingConnect, r.dl)
	default:
		r.nbClose()
		return r.result(StatusL4CON, errText(errnoText(errno), r.stepText())), false
	}
	r.linger = st.linger
	if r.nbAfter > 0 {
		r.dl = time.Now().Add(r.nbAfter)
	}
	return Result{}, true
}

// nbSend writes the step's data (phase 1 once started).
func (r *runner) nbSend(st *step) (Result, bool) {
	if r.phase == 0 {
		// A new request: what was read for the previous one is dropped.
		r.n, r.eof, r.sent, r.phase = 0, false, 0, 1
	}
	for r.sent < len(st.data) {
		p := st.data[r.sent:]
		n, _, e := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(r.nbs.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			syscall.MSG_NOSIGNAL|syscall.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.sent += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return r.suspend(waitingWrite, r.dl)
		default:
			return r.ioError(e), false
		}
	}
	return Result{}, true
}

// nbFill reads what is there into buf's free space.
func (r *runner) nbFill(buf []byte) (Result, bool) {
	p := buf[len(buf):cap(buf)]
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(r.nbs.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case 0:
			if n == 0 {
				r.eof = true
			}
			r.n += int(n)
			return Result{}, true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return r.suspend(waitingRead, r.dl)
		}
		if isTimeout(e) || r.n == 0 {
			return r.ioError(e), false
		}
		// An error after some data: let the expect rule judge it.
		r.eof = true
		return Result{}, true
	}
}

// nbClose closes the socket: with an RST unless the connect step asked
// for "linger". An RST-closed socket goes to the loop's pool when it can
// leave the poller (an RST is what returning it to the pool sends).
func (r *runner) nbClose() {
	fd := r.nbs.fd
	if fd < 0 {
		return
	}
	watched := r.nbs.watched
	r.nbs.fd, r.nbs.watched = -1, false
	switch {
	case r.linger:
		_, _, _ = syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0)
	case r.pool == nil || watched && (r.unwatch == nil || r.unwatch(fd) != nil):
		closeFDReset(fd)
	default:
		r.pool.put(fd, r.nbs.sa.v6)
	}
}
