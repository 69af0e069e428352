package scripts

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"math"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
)

const socketClass = "Socket"

// defaultSocketTimeout is the connect and inactivity timeout of a socket
// before settimeout (HAProxy's LUA-SOCKET proxy uses 5s).
const defaultSocketTimeout = 5 * time.Second

// socket is the Socket class (core.tcp()), a LuaSocket-like TCP client with
// HAProxy's semantics. Its I/O runs with the state unlocked; ioMu serialises
// coroutines that share one socket.
type socket struct {
	rt        *Runtime
	ioMu      sync.Mutex
	timeout   atomic.Int64 // time.Duration
	useTLS    bool
	connected bool // connect was performed (successfully or not)
	closed    bool // closed, or the peer/timeout ended the stream
	h         *connHolder
	rd        *bufio.Reader
}

// connHolder is shared with the GC cleanup that closes a socket the script
// forgot to close.
type connHolder struct {
	mu sync.Mutex
	c  net.Conn
}

func (h *connHolder) close(rt *Runtime) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.c != nil {
		_ = h.c.Close()
		rt.conns.remove(h.c)
		h.c = nil
	}
}

// idleConn applies the inactivity timeout to every Read and Write.
type idleConn struct {
	net.Conn
	s *socket
}

func (c idleConn) Read(p []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.s.getTimeout()))
	return c.Conn.Read(p)
}

func (c idleConn) Write(p []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.s.getTimeout()))
	return c.Conn.Write(p)
}

func init() {
	registerClass(&class{
		name: socketClass,
		methods: map[string]Method{
			"connect":     socketConnect,
			"connect_ssl": socketConnectSSL,
			"send":        socketSend,
			"receive":     socketReceive,
			"settimeout":  socketSetTimeout,
			"setoption":   func(*State, *lua.LState) int { return 0 },
			"close":       socketClose,
			"getpeername": socketGetPeerName,
			"getsockname": socketGetSockName,
		},
	})
}

func coreTCP(st *State, L *lua.LState) int {
	s := &socket{rt: st.rt, h: &connHolder{}}
	s.timeout.Store(int64(defaultSocketTimeout))
	runtime.AddCleanup(s, func(h *connHolder) { h.close(st.rt) }, s.h)
	L.Push(st.newObj(socketClass, s))
	return 1
}

// inRuntime reports whether a runtime entry (not body/init) is running.
func (st *State) inRuntime() bool {
	return st.cur != nil && st.cur.kind != CtxBody && st.cur.kind != CtxInit
}

// stopCtx returns a context cancelled when the entry must stop or the
// runtime closes, for blocking library calls that take a context.
func (st *State) stopCtx(e *entry) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(e.context())
	stop := context.AfterFunc(st.rt.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

func socketConnectSSL(st *State, L *lua.LState) int {
	checkArgs(L, 3, "connect_ssl")
	s := checkObj[*socket](L, 1, socketClass)
	s.useTLS = true
	return socketConnect(st, L)
}

// socketConnect is Socket:connect(addr[, port]): 1, or nil and "Can't
// connect". In body/init it returns nothing, as HAProxy does.
func socketConnect(st *State, L *lua.LState) int {
	if L.GetTop() < 2 {
		L.RaiseError("connect: need at least 2 arguments")
	}
	s := checkObj[*socket](L, 1, socketClass)
	ip := L.CheckString(2)
	port := -1
	if L.GetTop() >= 3 {
		port = checkInt(L, 3)
	}
	addr, err := parseHAAddr(ip, port)
	if errors.Is(err, errPortMissing) {
		L.RaiseError("connect: port missing")
	} else if err != nil {
		L.RaiseError("connect: cannot parse destination address '%s'", ip)
	}
	if s.connected {
		L.RaiseError("connect already performed")
	}
	if !st.inRuntime() {
		return 0
	}
	e := st.mustYieldable(L, "connect")
	s.connected = true
	var conn net.Conn
	st.Unlocked(func() {
		s.ioMu.Lock()
		defer s.ioMu.Unlock()
		ctx, cancel := st.stopCtx(e)
		defer cancel()
		d := net.Dialer{Timeout: s.getTimeout()}
		c, err := d.DialContext(ctx, addr.network, addr.dialAddr())
		if err != nil {
			return
		}
		if s.useTLS {
			cfg := &tls.Config{InsecureSkipVerify: true} // HAProxy's Lua SSL sockets do not verify
			if net.ParseIP(addr.host) == nil {
				cfg.ServerName = addr.host
			}
			tc := tls.Client(c, cfg)
			hctx, hcancel := context.WithTimeout(ctx, s.getTimeout())
			err = tc.HandshakeContext(hctx)
			hcancel()
			if err != nil {
				_ = c.Close()
				return
			}
			c = tc
		}
		conn = c
	})
	if conn == nil {
		s.closed = true
		L.Push(lua.LNil)
		L.Push(lua.LString("Can't connect"))
		return 2
	}
	s.h.mu.Lock()
	s.h.c = conn
	s.h.mu.Unlock()
	st.rt.conns.add(conn)
	s.rd = bufio.NewReader(idleConn{Conn: conn, s: s})
	L.Push(lua.LNumber(1))
	return 1
}

// socketSend is Socket:send(data[, i[, j]]): the index of the last byte sent,
// or -1 when the connection is broken or closed.
func socketSend(st *State, L *lua.LState) int {
	n := L.GetTop()
	if n < 2 || n > 4 {
		L.RaiseError("'send' needs between 2 and 4 arguments")
	}
	s := checkObj[*socket](L, 1, socketClass)
	buf := L.CheckString(2)
	blen := len(buf)
	j := blen
	if n == 4 {
		j = checkInt(L, 4)
		if j < 0 {
			j = blen + j + 1
		}
		if j > blen {
			j = blen
		}
	}
	i := 1
	if n >= 3 {
		i = checkInt(L, 3)
		if i < 0 {
			i = blen + i + 1
		}
		if i > blen {
			i = blen + 1
		}
	}
	if i > j || (i == 0 && j == 0) {
		L.Push(lua.LNumber(0))
		return 1
	}
	if i <= 0 {
		i = 1
	}
	if j <= 0 {
		j = 1
	}
	if j > blen {
		j = blen
	}
	if i > j {
		L.Push(lua.LNumber(0))
		return 1
	}
	if !st.inRuntime() {
		L.RaiseError("The 'write' function is only allowed in 'frontend', 'backend' or 'task'")
	}
	if s.rd == nil || s.closed {
		L.Push(lua.LNumber(-1))
		return 1
	}
	st.mustYieldable(L, "send")
	data := buf[i-1 : j]
	var err error
	st.Unlocked(func() {
		s.ioMu.Lock()
		defer s.ioMu.Unlock()
		if c := s.conn(); c != nil {
			_, err = idleConn{Conn: c, s: s}.Write([]byte(data))
		} else {
			err = net.ErrClosed
		}
	})
	if err != nil {
		s.closed = true
		s.h.close(st.rt)
		L.Push(lua.LNumber(-1))
		return 1
	}
	L.Push(lua.LNumber(i - 1 + len(data)))
	return 1
}

func (s *socket) getTimeout() time.Duration { return time.Duration(s.timeout.Load()) }

func (s *socket) conn() net.Conn {
	s.h.mu.Lock()
	defer s.h.mu.Unlock()
	return s.h.c
}

// Receive patterns.
const (
	readLine = -1
	readAll  = -2
)

// socketReceive is Socket:receive([pattern[, prefix]]) with HAProxy's code
// behaviour: "*l" strips the LF and one CR before it, "*a" reads until the
// peer closes, a count reads that many bytes. On close, timeout or error the
// bytes already read are returned; with none, nil and "connection closed.".
func socketReceive(st *State, L *lua.LState) int {
	n := L.GetTop()
	if n < 1 || n > 3 {
		L.RaiseError("The 'receive' function requires between 1 and 3 arguments.")
	}
	s := checkObj[*socket](L, 1, socketClass)
	wanted := readLine
	if n >= 2 {
		switch v := L.Get(2).(type) {
		case lua.LString:
			switch string(v) {
			case "*a":
				wanted = readAll
			case "*l":
				wanted = readLine
			default:
				c, err := strconv.ParseInt(string(v), 10, 32)
				if err != nil {
					L.RaiseError("Unsupported pattern.")
				}
				wanted = int(c)
			}
		case lua.LNumber:
			wanted = int(v)
			if wanted < 0 {
				L.RaiseError("Unsupported size.")
			}
		}
	}
	var out []byte
	if n >= 3 {
		p, ok := L.Get(3).(lua.LString)
		if !ok {
			L.RaiseError("Expect a 'string' for the prefix")
		}
		out = append(out, p...)
	}
	if !st.inRuntime() {
		L.RaiseError("The 'receive' function is only allowed in 'frontend', 'backend' or 'task'")
	}
	complete := false
	if s.rd != nil && !s.closed {
		st.mustYieldable(L, "receive")
		var err error
		st.Unlocked(func() {
			s.ioMu.Lock()
			defer s.ioMu.Unlock()
			out, complete, err = s.read(out, wanted)
		})
		if err != nil {
			s.closed = true
			s.h.close(st.rt)
		}
	}
	if !complete && len(out) == 0 {
		L.Push(lua.LNil)
		L.Push(lua.LString("connection closed."))
		return 2
	}
	L.Push(lua.LString(out))
	return 1
}

// read appends to out what the pattern asks for; complete is false when the
// stream ended first.
func (s *socket) read(out []byte, wanted int) ([]byte, bool, error) {
	switch {
	case wanted == readLine:
		for {
			chunk, err := s.rd.ReadSlice('\n')
			out = append(out, chunk...)
			if err == bufio.ErrBufferFull {
				continue
			}
			if err != nil {
				return out, false, err
			}
			out = out[:len(out)-1]
			if len(out) > 0 && out[len(out)-1] == '\r' {
				out = out[:len(out)-1]
			}
			return out, true, nil
		}
	case wanted == readAll:
		b, err := io.ReadAll(s.rd)
		out = append(out, b...)
		if err == nil {
			err = io.EOF
		}
		return out, false, err
	case wanted >= 0:
		// Grow with the data actually received, not with the request.
		buf := bytes.NewBuffer(out)
		m, err := io.CopyN(buf, s.rd, int64(wanted))
		if err == nil && m == int64(wanted) {
			return buf.Bytes(), true, nil
		}
		if err == nil {
			err = io.EOF
		}
		return buf.Bytes(), false, err
	}
	return out, false, errors.New("unsupported pattern")
}

// socketSetTimeout is Socket:settimeout(seconds): connect and inactivity
// timeout; sub-millisecond values become 1ms.
func socketSetTimeout(st *State, L *lua.LState) int {
	checkArgs(L, 2, "settimeout")
	s := checkObj[*socket](L, 1, socketClass)
	ms := float64(L.CheckNumber(2)) * 1000
	if ms < 0 {
		L.RaiseError("settimeout: cannot set negatives values")
	}
	if ms > math.MaxInt32 {
		L.RaiseError("settimeout: cannot set values larger than %d ms", math.MaxInt32)
	}
	if s.closed {
		L.RaiseError("socket: not yet initialised, you can't set timeouts.")
	}
	d := time.Duration(int64(ms)) * time.Millisecond
	if d == 0 {
		d = time.Millisecond
	}
	s.timeout.Store(int64(d))
	L.Push(lua.LNumber(1))
	return 1
}

func socketClose(st *State, L *lua.LState) int {
	checkArgs(L, 1, "close")
	s := checkObj[*socket](L, 1, socketClass)
	if !st.inRuntime() {
		return 0
	}
	s.closed = true
	s.h.close(st.rt)
	return 0
}

func socketGetPeerName(st *State, L *lua.LState) int {
	checkArgs(L, 1, "getpeername")
	return pushSockAddr(L, checkObj[*socket](L, 1, socketClass), true)
}

func socketGetSockName(st *State, L *lua.LState) int {
	checkArgs(L, 1, "getsockname")
	return pushSockAddr(L, checkObj[*socket](L, 1, socketClass), false)
}

func pushSockAddr(L *lua.LState, s *socket, peer bool) int {
	c := s.conn()
	if c == nil {
		L.Push(lua.LNil)
		return 1
	}
	a := c.LocalAddr()
	if peer {
		a = c.RemoteAddr()
	}
	if str, ok := formatSockAddr(a); ok {
		L.Push(lua.LString(str))
	} else {
		L.Push(lua.LNil)
	}
	return 1
}
