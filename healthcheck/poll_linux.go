//go:build linux

package healthcheck

import (
	"syscall"
	"time"
	"unsafe"
)

// epollPoller is the check loop's poller on Linux: one epoll set holding an
// eventfd (wake-ups) and the sockets of checks in progress, the way
// HAProxy's poller holds its check sockets. A socket is added once and
// leaves the set when it is closed: one epoll_ctl per watched socket, none
// for a connect that completed at once.
//
// How the loop sleeps depends on whether sockets are watched. With none
// (plain connect checks that all completed at once: the steady state of
// the 10,000-server case) it parks on a Go timer, the cheapest sleep for a
// goroutine. With some, it blocks in epoll_wait on its own thread: the set
// is not registered with Go's poller, whose thread would otherwise be
// woken by every socket that becomes ready while the loop is busy anyway.
type epollPoller struct {
	ep, ev int
	events [64]syscall.EpollEvent
	timer  *chanPoller // the sleep without sockets
}

// newPoller returns an epoll poller, or the portable one if epoll is not
// available.
func newPoller() poller {
	if p, err := newEpollPoller(); err == nil {
		return p
	}
	return newChanPoller()
}

func newEpollPoller() (*epollPoller, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	ev, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if errno != 0 {
		syscall.Close(ep)
		return nil, errno
	}
	p := &epollPoller{ep: ep, ev: int(ev), timer: newChanPoller()}
	e := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.ev)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, p.ev, &e); err != nil {
		p.close()
		return nil, err
	}
	return p, nil
}

// handle handles n events in p.events.
func (p *epollPoller) handle(n int, ready func(int)) {
	for i := 0; i < n; i++ {
		fd := int(p.events[i].Fd)
		if fd == p.ev {
			var b [8]byte
			_, _, _ = syscall.RawSyscall(syscall.SYS_READ, uintptr(p.ev), uintptr(unsafe.Pointer(&b[0])), 8)
			continue
		}
		ready(fd)
	}
}

// poll handles the ready events without waiting.
func (p *epollPoller) poll(ready func(int)) {
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.ep), uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
		n := int(r)
		if e != 0 || n <= 0 {
			return
		}
		p.handle(n, ready)
		if n < len(p.events) {
			return
		}
	}
}

func (p *epollPoller) wait(d time.Duration, sockets bool, ready func(int)) {
	switch {
	case d == 0:
		p.poll(ready)
	case !sockets:
		p.timer.wait(d, false, nil)
	default:
		ms := -1
		if d > 0 {
			ms = int((d + time.Millisecond - 1) / time.Millisecond)
		}
		n, err := syscall.EpollWait(p.ep, p.events[:], ms)
		if err != nil {
			return // EINTR: the loop comes back
		}
		p.handle(n, ready)
		if n == len(p.events) {
			p.poll(ready)
		}
	}
}

func (p *epollPoller) wake() {
	// The loop sleeps on one or the other.
	p.timer.wake()
	b := [8]byte{1}
	_, _, _ = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(p.ev), uintptr(unsafe.Pointer(&b[0])), 8)
}

func (p *epollPoller) watch(fd int, rw bool) error {
	// A connect attempt: level-triggered, the socket is closed after its
	// first event. A check program: edge-triggered reads and writes.
	e := syscall.EpollEvent{Events: syscall.EPOLLOUT, Fd: int32(fd)}
	if rw {
		e.Events = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | epollET
	}
	return syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_ADD, fd, &e)
}

func (p *epollPoller) canWatch() bool { return true }

// epollET is EPOLLET as an event mask bit: syscall's constant is negative on
// some architectures (amd64) and positive on others (arm64).
const epollET = 1 << 31

func (p *epollPoller) unwatch(fd int) error {
	return syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_DEL, fd, nil)
}

func (p *epollPoller) close() {
	p.timer.close()
	syscall.Close(p.ev)
	syscall.Close(p.ep)
}
