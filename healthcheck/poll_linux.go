//go:build linux

package healthcheck

import (
	"errors"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// epollPoller is the check loop's poller on Linux: one epoll set holding an
// eventfd (wake-ups) and the sockets of connect attempts in progress, the
// way HAProxy's poller holds its check sockets. A socket is added once and
// leaves the set when it is closed: one epoll_ctl per watched attempt, none
// for a connect that completed at once.
//
// The loop does not sleep in epoll_wait itself (a goroutine blocked in a
// syscall holds a thread and keeps the runtime's sysmon polling every
// 20µs): the epoll set is registered with Go's own poller, and the loop
// parks until the set is readable or a deadline passes, like any network
// read.
type epollPoller struct {
	ep, ev int
	f      *os.File        // ep, registered with Go's poller
	rc     syscall.RawConn // f's raw access
	events [64]syscall.EpollEvent
	ready  func(int)
	drain  func(uintptr) bool // rc.Read callback, allocated once
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
	p := &epollPoller{ep: ep, ev: int(ev)}
	e := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(p.ev)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, p.ev, &e); err != nil {
		p.closeFDs()
		return nil, err
	}
	// A non-blocking fd is registered with Go's poller by os.NewFile.
	if err := syscall.SetNonblock(ep, true); err != nil {
		p.closeFDs()
		return nil, err
	}
	p.f = os.NewFile(uintptr(ep), "healthcheck-epoll")
	if p.rc, err = p.f.SyscallConn(); err != nil {
		_ = p.f.Close()
		syscall.Close(p.ev)
		return nil, err
	}
	p.drain = func(uintptr) bool { return p.poll() > 0 }
	return p, nil
}

func (p *epollPoller) closeFDs() {
	syscall.Close(p.ev)
	syscall.Close(p.ep)
}

// poll takes the ready events without waiting and handles them; it returns
// how many there were.
func (p *epollPoller) poll() int {
	total := 0
	for {
		r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(p.ep), uintptr(unsafe.Pointer(&p.events[0])), uintptr(len(p.events)), 0, 0, 0)
		n := int(r)
		if e != 0 || n <= 0 {
			return total
		}
		total += n
		for i := 0; i < n; i++ {
			fd := int(p.events[i].Fd)
			if fd == p.ev {
				var b [8]byte
				_, _ = syscall.Read(p.ev, b[:])
				continue
			}
			p.ready(fd)
		}
		if n < len(p.events) {
			return total
		}
	}
}

func (p *epollPoller) wait(d time.Duration, ready func(int)) {
	p.ready = ready
	defer func() { p.ready = nil }()
	if d == 0 {
		p.poll()
		return
	}
	var dl time.Time
	if d > 0 {
		dl = time.Now().Add(d)
	}
	_ = p.f.SetReadDeadline(dl)
	// rc.Read runs drain first, then parks until the set is readable (or
	// the deadline passes) and runs it again.
	err := p.rc.Read(p.drain)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		// The poller is broken (closed?): do not spin.
		time.Sleep(time.Millisecond)
	}
}

func (p *epollPoller) wake() {
	b := [8]byte{1}
	_, _ = syscall.Write(p.ev, b[:])
}

func (p *epollPoller) watch(fd int, rw bool) error {
	// A connect attempt: level-triggered, the socket is closed after its
	// first event. A check program: edge-triggered reads and writes.
	e := syscall.EpollEvent{Events: syscall.EPOLLOUT, Fd: int32(fd)}
	if rw {
		e.Events = syscall.EPOLLIN | syscall.EPOLLOUT | syscall.EPOLLRDHUP | -syscall.EPOLLET
	}
	return syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_ADD, fd, &e)
}

func (p *epollPoller) canWatch() bool { return true }

func (p *epollPoller) unwatch(fd int) error {
	return syscall.EpollCtl(p.ep, syscall.EPOLL_CTL_DEL, fd, nil)
}

func (p *epollPoller) close() {
	_ = p.f.Close()
	syscall.Close(p.ev)
}
