package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// Event loops of the fast path (Linux). Each loop is a goroutine locked to
// its OS thread with its own epoll set, edge-triggered, which it polls
// without blocking and waits on as epollWaiter decides. Accepting stays in
// Go: the connection's goroutine hands the session to a loop and parks
// until the loop gives it back, either closed (it returns) or with the rest
// of a transaction the loop does not serve (fallback, see fconn). The
// sockets stay in Go's netpoller too, which only matters after a fallback.

// errWouldBlock is returned by non-blocking reads with no data (nbIO).
var errWouldBlock = errors.New("operation would block")

// Loop notifications (fastLoops.notify).
const (
	fastStopping = iota + 1 // graceful stop: idle connections close
	fastAbort               // hard stop: every connection closes now
)

// fastLoops is an engine's set of event loops.
type fastLoops struct {
	e     *Engine
	loops []*evLoop
	next  atomic.Uint32
	wg    sync.WaitGroup // loops and their dial goroutines
	// served counts the connections handed to a loop, fallbacks the
	// transactions it gave back to their goroutine.
	served, fallbacks atomic.Int64
}

// newFastLoops starts n event loops for e.
func newFastLoops(e *Engine, n int) (*fastLoops, error) {
	if n < 1 {
		n = 1
	}
	f := &fastLoops{e: e}
	for i := 0; i < n; i++ {
		l, err := newEvLoop(f)
		if err != nil {
			for _, l := range f.loops {
				l.w.close()
				_ = syscall.Close(l.evfd)
			}
			return nil, err
		}
		f.loops = append(f.loops, l)
	}
	for _, l := range f.loops {
		f.wg.Add(1)
		go l.run()
	}
	return f, nil
}

// serve hands the session's connection to a loop and waits until the loop
// gives it back. The result is nil when the connection is finished, else
// what the goroutine must run to go on (see fconn.fallback).
func (f *fastLoops) serve(s *session) func() bool {
	cio := newNBIO(s.conn.fast)
	if cio == nil {
		return func() bool { return true }
	}
	l := f.loops[int(f.next.Add(1))%len(f.loops)]
	fc := &fconn{l: l, s: s, cio: cio, resume: make(chan func() bool, 1), hidx: -1}
	s.fc = fc
	s.conn.nb = cio
	l.post(loopMsg{kind: msgConn, fc: fc})
	return <-fc.resume
}

// notify tells every loop about a graceful or hard stop.
func (f *fastLoops) notify(kind int) {
	for _, l := range f.loops {
		l.post(loopMsg{kind: kind})
	}
}

// stop ends the loops once their connections are gone and waits for them.
func (f *fastLoops) stop() {
	for _, l := range f.loops {
		l.post(loopMsg{kind: msgQuit})
	}
	f.wg.Wait()
}

// Loop messages besides the notifications.
const (
	msgConn = iota + 10 // a new connection
	msgKill             // a stream of fc was killed
	msgDial             // a connection attempt of fc ended
	msgQuit             // stop once empty
)

type loopMsg struct {
	kind int
	fc   *fconn
	sc   *srvConn
	err  error
}

// evLoop is one event loop.
type evLoop struct {
	f    *fastLoops
	epfd int
	evfd int

	mu       sync.Mutex
	inbox    []loopMsg
	spare    []loopMsg
	wakeSent atomic.Bool

	// Owned by the loop goroutine.
	slots    []*fconn // by file descriptor
	conns    map[*fconn]struct{}
	timers   timerHeap
	base     time.Time
	now      int64 // nanoseconds since base, updated after each wait
	dialing  int
	stopping bool
	quit     bool
	w        *epollWaiter
	// mine tells the pooled server connections whose socket is in the
	// loop's epoll set already.
	mine func(*srvConn) bool
}

func newEvLoop(f *fastLoops) (*evLoop, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	r, _, errno := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		_ = syscall.Close(epfd)
		return nil, fmt.Errorf("eventfd2: %w", errno)
	}
	evfd := int(r)
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(evfd)}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(evfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	l := &evLoop{f: f, epfd: epfd, evfd: evfd, conns: map[*fconn]struct{}{}, base: time.Now()}
	l.mine = func(c *srvConn) bool { return c.nb != nil && c.nb.loop == l }
	w, err := newEpollWaiter(l)
	if err != nil {
		_ = syscall.Close(epfd)
		_ = syscall.Close(evfd)
		return nil, err
	}
	l.w = w
	return l, nil
}

// post queues a message for the loop and wakes it (from any goroutine).
func (l *evLoop) post(m loopMsg) {
	l.mu.Lock()
	l.inbox = append(l.inbox, m)
	l.mu.Unlock()
	if l.wakeSent.CompareAndSwap(false, true) {
		one := uint64(1)
		_, _, _ = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(l.evfd), uintptr(unsafe.Pointer(&one)), 8)
	}
}

func (l *evLoop) clock() int64 { return int64(time.Since(l.base)) }

// run is the loop goroutine.
func (l *evLoop) run() {
	defer l.f.wg.Done()
	// A loop keeps its thread: parking and waking then hand the processor
	// between the same two threads instead of moving the loop around.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	w := l.w
	defer func() {
		w.close()
		_ = syscall.Close(l.evfd)
	}()
	events := make([]syscall.EpollEvent, 128)
	l.now = l.clock()
	for {
		n, err := w.wait(events)
		l.now = l.clock()
		if err != nil {
			l.f.e.log.Error("fast path: epoll_wait: " + err.Error())
			return
		}
		for i := 0; i < n; i++ {
			ev := &events[i]
			fd := int(ev.Fd)
			if fd == l.evfd {
				l.drainWake()
				continue
			}
			if fd >= len(l.slots) || l.slots[fd] == nil {
				continue
			}
			fc := l.slots[fd]
			var nio *nbIO
			switch {
			case fc.cio.fd == fd:
				nio = fc.cio
			case fc.sio != nil && fc.sio.fd == fd:
				nio = fc.sio
			default:
				continue
			}
			if ev.Events&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				nio.readable = true
			}
			if ev.Events&(syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				nio.hup = true
			}
			if ev.Events&(syscall.EPOLLOUT|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
				nio.writable = true
			}
			fc.run()
		}
		l.expire()
		if l.quit && len(l.conns) == 0 && l.dialing == 0 {
			return
		}
	}
}

// epollWaiter waits for the loop's events. It polls the epoll set without
// blocking; when nothing is ready, a lightly loaded loop blocks in
// epoll_wait (its thread is woken directly: lowest latency), a busy one
// parks in Go's netpoller on the epoll descriptor itself (readable when one
// of its sockets is ready) with the nearest deadline as read deadline:
// under load, threads blocked in system calls make the runtime take their
// processors back and wake other threads over and over, which costs more
// CPU than the proxying.
type epollWaiter struct {
	l      *evLoop
	f      *os.File
	rc     syscall.RawConn
	events []syscall.EpollEvent
	n      int
	errno  syscall.Errno
	pollF  func(fd uintptr) bool
	dl     int64 // read deadline in place (loop clock, -1: none)
	avg    int64 // events per poll, moving average in 1/256
	busy   int64 // loop clock when the loop last parked or yielded
}

func newEpollWaiter(l *evLoop) (*epollWaiter, error) {
	if err := syscall.SetNonblock(l.epfd, true); err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	f := os.NewFile(uintptr(l.epfd), "epoll")
	rc, err := f.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	w := &epollWaiter{l: l, f: f, rc: rc, dl: -1}
	w.pollF = func(fd uintptr) bool {
		w.poll()
		return w.n > 0 || w.errno != 0
	}
	return w, nil
}

// poll collects the ready events without waiting.
func (w *epollWaiter) poll() {
	for {
		r, _, errno := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(w.l.epfd), uintptr(unsafe.Pointer(&w.events[0])), uintptr(len(w.events)), 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		w.n, w.errno = int(r), errno
		return
	}
}

// wait returns the next ready events, or none when a deadline is due.
func (w *epollWaiter) wait(events []syscall.EpollEvent) (int, error) {
	w.events = events
	w.poll()
	if w.errno != 0 {
		return 0, w.errno
	}
	l := w.l
	w.avg = (w.avg*7 + int64(w.n)*256) / 8
	if w.n > 0 {
		// Busy: let the other goroutines run now and then.
		if now := l.clock(); now-w.busy > int64(yieldEvery) {
			w.busy = now
			runtime.Gosched()
		}
		return w.n, nil
	}
	if w.avg < lightLoad {
		// Lightly loaded: the kernel wakes the loop's own thread directly,
		// the shortest way to the next event.
		w.busy = l.clock()
		n, err := syscall.EpollWait(l.epfd, events, l.timers.waitMillis(l.now))
		if errors.Is(err, syscall.EINTR) {
			return 0, nil
		}
		return n, err
	}
	dl := int64(-1)
	if ms := l.timers.waitMillis(l.now); ms == 0 {
		return 0, nil
	} else if ms > 0 {
		dl = l.timers.h[0].hkey
	}
	if dl != w.dl {
		w.dl = dl
		t := time.Time{}
		if dl >= 0 {
			t = l.base.Add(time.Duration(dl))
		}
		_ = w.f.SetReadDeadline(t)
	}
	err := w.rc.Read(w.pollF)
	w.busy = l.clock()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil
		}
		return 0, err
	}
	if w.errno != 0 {
		return 0, w.errno
	}
	return w.n, nil
}

// close closes the epoll descriptor.
func (w *epollWaiter) close() { _ = w.f.Close() }

// drainWake reads the eventfd and handles the queued messages.
func (l *evLoop) drainWake() {
	var buf [8]byte
	_, _, _ = syscall.RawSyscall(syscall.SYS_READ, uintptr(l.evfd), uintptr(unsafe.Pointer(&buf[0])), 8)
	l.wakeSent.Store(false)
	l.mu.Lock()
	msgs := l.inbox
	l.inbox = l.spare[:0]
	l.mu.Unlock()
	for i := range msgs {
		m := &msgs[i]
		switch m.kind {
		case msgConn:
			l.attach(m.fc)
		case msgKill:
			if _, ok := l.conns[m.fc]; ok {
				m.fc.killed()
			}
		case msgDial:
			l.dialing--
			m.fc.dialed(m.sc, m.err)
		case fastStopping:
			l.stopping = true
			for fc := range l.conns {
				if fc.state == fsIdle && fc.t == nil && fc.s.br.Buffered() == 0 {
					fc.close()
				}
			}
		case fastAbort:
			l.stopping = true
			for fc := range l.conns {
				fc.abort()
			}
		case msgQuit:
			l.quit = true
		}
		*m = loopMsg{}
	}
	l.spare = msgs[:0]
}

// attach starts serving a new connection.
func (l *evLoop) attach(fc *fconn) {
	if err := l.register(fc.cio, fc); err != nil {
		fc.s.conn.nb = nil
		fc.s.fc = nil
		fc.resume <- func() bool { return true }
		return
	}
	l.conns[fc] = struct{}{}
	l.f.served.Add(1)
	fc.idleSince = l.now
	fc.state = fsIdle
	fc.run()
}

// register adds the socket of n to the loop's epoll set (moving it from
// another loop's set) and routes its events to fc.
func (l *evLoop) register(n *nbIO, fc *fconn) error {
	if n.loop != l {
		if n.loop != nil {
			_ = n.ctl(n.loop.epfd, syscall.EPOLL_CTL_DEL)
			n.loop = nil
		}
		if err := n.ctl(l.epfd, syscall.EPOLL_CTL_ADD); err != nil {
			return err
		}
		n.loop = l
	}
	for n.fd >= len(l.slots) {
		l.slots = append(l.slots, nil)
	}
	l.slots[n.fd] = fc
	n.readable, n.hup = false, false // epoll reports what is already there
	n.writable = true
	return nil
}

// unroute stops routing the events of n to fc (n stays in the epoll set).
func (l *evLoop) unroute(n *nbIO, fc *fconn) {
	if n.fd < len(l.slots) && l.slots[n.fd] == fc {
		l.slots[n.fd] = nil
	}
}

// deregister removes n from the loop's epoll set.
func (l *evLoop) deregister(n *nbIO, fc *fconn) {
	l.unroute(n, fc)
	if n.loop == l {
		_ = n.ctl(l.epfd, syscall.EPOLL_CTL_DEL)
		n.loop = nil
	}
}

// dial connects to srv in a goroutine; the result comes back as msgDial.
func (l *evLoop) dial(fc *fconn, srv *Server, sni string) {
	l.dialing++
	l.f.wg.Add(1)
	t := fc.t
	go func() {
		defer l.f.wg.Done()
		sc, err := t.dialConn(srv, sni)
		l.post(loopMsg{kind: msgDial, fc: fc, sc: sc, err: err})
	}()
}

// expire handles the connections whose deadline passed.
func (l *evLoop) expire() {
	for {
		fc := l.timers.due(l.now)
		if fc == nil {
			return
		}
		fc.timedOut()
	}
}

// timerHeap orders connections by deadline. Deadlines move lazily: a later
// deadline leaves the heap key alone and is found when the key comes due,
// so pushing an inactivity timeout forward costs nothing.
type timerHeap struct {
	h []*fconn
}

// set arms fc's deadline (absolute, loop clock).
func (th *timerHeap) set(fc *fconn, at int64) {
	fc.deadline = at
	if fc.hidx < 0 {
		fc.hkey = at
		fc.hidx = len(th.h)
		th.h = append(th.h, fc)
		th.up(fc.hidx)
		return
	}
	if at < fc.hkey {
		fc.hkey = at
		th.up(fc.hidx)
	}
}

// clear disarms fc's deadline (its heap entry goes when it comes due).
func (th *timerHeap) clear(fc *fconn) { fc.deadline = 0 }

// remove takes fc out of the heap.
func (th *timerHeap) remove(fc *fconn) {
	i := fc.hidx
	if i < 0 {
		return
	}
	last := len(th.h) - 1
	th.swap(i, last)
	th.h[last] = nil
	th.h = th.h[:last]
	fc.hidx = -1
	if i < last {
		th.down(i)
		th.up(i)
	}
}

// due returns a connection whose deadline passed, or nil.
func (th *timerHeap) due(now int64) *fconn {
	for len(th.h) > 0 {
		fc := th.h[0]
		if fc.hkey > now {
			return nil
		}
		th.remove(fc)
		switch {
		case fc.deadline == 0:
		case fc.deadline > now:
			th.set(fc, fc.deadline)
		default:
			fc.deadline = 0
			return fc
		}
	}
	return nil
}

// waitMillis is the epoll_wait timeout until the first key (-1: none).
func (th *timerHeap) waitMillis(now int64) int {
	if len(th.h) == 0 {
		return -1
	}
	d := th.h[0].hkey - now
	if d <= 0 {
		return 0
	}
	return int((d + int64(time.Millisecond) - 1) / int64(time.Millisecond))
}

func (th *timerHeap) swap(i, j int) {
	th.h[i], th.h[j] = th.h[j], th.h[i]
	th.h[i].hidx = i
	th.h[j].hidx = j
}

func (th *timerHeap) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if th.h[p].hkey <= th.h[i].hkey {
			return
		}
		th.swap(i, p)
		i = p
	}
}

func (th *timerHeap) down(i int) {
	n := len(th.h)
	for {
		c := 2*i + 1
		if c >= n {
			return
		}
		if c+1 < n && th.h[c+1].hkey < th.h[c].hkey {
			c++
		}
		if th.h[i].hkey <= th.h[c].hkey {
			return
		}
		th.swap(i, c)
		i = c
	}
}

// nbIO is the non-blocking side of a plain TCP socket served by a loop.
// Reads return errWouldBlock when the socket has nothing; writes never
// block: what the socket does not take waits in pend for the loop to flush
// (bufio.Writer keeps errors, so a short write must not be one). The
// readable and writable flags follow the edge-triggered events.
type nbIO struct {
	rc       syscall.RawConn
	fd       int
	readable bool
	writable bool
	hup      bool // the peer closed or failed: reads never wait again
	pend     []byte
	loop     *evLoop // the epoll set holding the socket (nil: none)

	// Scratch of the RawConn callbacks (built once, no allocation).
	buf           []byte
	n             int
	errno         syscall.Errno
	ev            syscall.EpollEvent
	ctlEp, ctlOp  int
	ctlErr        error
	readF, writeF func(fd uintptr)
	ctlF          func(fd uintptr)
}

// newNBIO builds the non-blocking side of a plain TCP connection (nil for
// anything else).
func newNBIO(f *fastIO) *nbIO {
	if f == nil {
		return nil
	}
	n := &nbIO{rc: f.rc, fd: -1}
	if err := f.rc.Control(func(fd uintptr) { n.fd = int(fd) }); err != nil || n.fd < 0 {
		return nil
	}
	n.readF = func(fd uintptr) {
		for {
			var p unsafe.Pointer
			if len(n.buf) > 0 {
				p = unsafe.Pointer(&n.buf[0])
			}
			r, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(p), uintptr(len(n.buf)), 0, 0, 0)
			if errno == syscall.EINTR {
				continue
			}
			n.n, n.errno = int(r), errno
			return
		}
	}
	n.writeF = func(fd uintptr) {
		for len(n.buf) > 0 {
			r, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&n.buf[0])), uintptr(len(n.buf)), syscall.MSG_NOSIGNAL, 0, 0)
			if errno == syscall.EINTR {
				continue
			}
			if errno != 0 {
				n.errno = errno
				return
			}
			n.n += int(r)
			n.buf = n.buf[r:]
		}
	}
	n.ctlF = func(fd uintptr) {
		n.ev = syscall.EpollEvent{Events: uint32(syscall.EPOLLIN|syscall.EPOLLOUT|syscall.EPOLLRDHUP) | epollET, Fd: int32(fd)}
		n.ctlErr = syscall.EpollCtl(n.ctlEp, n.ctlOp, int(fd), &n.ev)
	}
	return n
}

// ctl runs epoll_ctl on the socket while it cannot be closed.
func (n *nbIO) ctl(epfd, op int) error {
	n.ctlEp, n.ctlOp, n.ctlErr = epfd, op, nil
	if err := n.rc.Control(n.ctlF); err != nil {
		return err
	}
	return n.ctlErr
}

func (n *nbIO) read(b []byte) (int, error) {
	if !n.readable {
		return 0, errWouldBlock
	}
	n.buf, n.n, n.errno = b, 0, 0
	err := n.rc.Control(n.readF)
	n.buf = nil
	switch {
	case err != nil:
		return 0, err
	case n.errno == syscall.EAGAIN:
		n.readable = false
		return 0, errWouldBlock
	case n.errno != 0:
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: n.errno}
	case n.n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	if n.n < len(b) && !n.hup {
		// A short read emptied the socket: the next data or the peer's
		// close raises an edge (one seen already leaves readable set).
		n.readable = false
	}
	return n.n, nil
}

func (n *nbIO) write(b []byte) (int, error) {
	if len(n.pend) > 0 || !n.writable {
		n.pend = append(n.pend, b...)
		return len(b), nil
	}
	sent, err := n.send(b)
	if err != nil {
		return sent, err
	}
	if sent < len(b) {
		n.pend = append(n.pend, b[sent:]...)
	}
	return len(b), nil
}

// send writes what the socket takes now.
func (n *nbIO) send(b []byte) (int, error) {
	n.buf, n.n, n.errno = b, 0, 0
	err := n.rc.Control(n.writeF)
	n.buf = nil
	switch {
	case err != nil:
		return n.n, err
	case n.errno == syscall.EAGAIN:
		n.writable = false
	case n.errno != 0:
		return n.n, &net.OpError{Op: "write", Net: "tcp", Err: n.errno}
	}
	return n.n, nil
}

// flush sends pending output while the socket takes it.
func (n *nbIO) flush() error {
	if len(n.pend) == 0 || !n.writable {
		return nil
	}
	sent, err := n.send(n.pend)
	n.pend = n.pend[:copy(n.pend, n.pend[sent:])]
	return err
}

// drain sends pending output through w, the connection back in blocking
// mode (after a fallback, from the connection's goroutine).
func (n *nbIO) drain(w io.Writer) {
	if len(n.pend) > 0 {
		_, _ = w.Write(n.pend)
		n.pend = n.pend[:0]
	}
}

// epollET is EPOLLET as an event mask bit (syscall's constant is negative).
const epollET = 1 << 31

// yieldEvery is how long a busy loop runs before it lets the other
// goroutines run.
const yieldEvery = time.Millisecond

// lightLoad is the average of events per poll (in 1/256) below which a
// loop with nothing to do blocks in epoll_wait rather than parking.
const lightLoad = 256
