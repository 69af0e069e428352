package scripts

import (
	"bufio"
	"bytes"
	"io"
	"time"

	lua "github.com/yuin/gopher-lua"

	"moonbus/proxy"
)

// The Channel class (txn.req, txn.res) for TCP streams. The request
// channel's contents are the client bytes buffered by the proxy: the
// "output" part (already forwarded: sent to the server first) followed by
// the "input" part that rules may still read and rewrite. Rewrites replace
// the proxy's client reader so that the server (or a TCP applet) sees the
// new bytes. On the response side, only send() (to the client) is useful
// while the request is processed.
//
// In HTTP streams only input, output, may_recv, is_full and is_resp work;
// the others raise "Cannot manipulate HAProxy channels in HTTP mode."

const channelClass = "Channel"

// channelUD is the Go value of a Channel.
type channelUD struct {
	tx   *txnUD
	resp bool
}

// chanWait bounds how long data()/line() wait for more bytes in an action.
const chanWait = time.Second

func init() {
	registerClass(&class{
		name: channelClass,
		methods: map[string]Method{
			"data":        chanData(false, false),
			"line":        chanData(true, false),
			"dup":         chanData(false, false),
			"get":         chanData(false, true),
			"getline":     chanData(true, true),
			"set":         chanSet,
			"insert":      chanInsert,
			"append":      chanAppend,
			"prepend":     chanPrepend,
			"remove":      chanRemove,
			"send":        chanSend,
			"forward":     chanForward,
			"input":       chanLen(false),
			"get_in_len":  chanLen(false),
			"output":      chanLen(true),
			"get_out_len": chanLen(true),
			"may_recv":    chanMayRecv,
			"is_full":     chanIsFull,
			"is_resp": func(st *State, L *lua.LState) int {
				L.Push(lua.LBool(checkObj[*channelUD](L, 1, channelClass).resp))
				return 1
			},
		},
		meta: map[string]Method{
			"__tostring": func(st *State, L *lua.LState) int { return pushStr(L, "Channel") },
		},
	})
}

// chanOf returns the channel and its transaction; with write set it raises
// in HTTP mode.
func chanOf(L *lua.LState, write bool) (*channelUD, *proxy.Txn) {
	c := checkObj[*channelUD](L, 1, channelClass)
	t := c.tx.live(L)
	if write && t.IsHTTP() {
		L.RaiseError("Cannot manipulate HAProxy channels in HTTP mode.")
	}
	return c, t
}

// reqBuf returns the request channel's buffered bytes and how many are
// already forwarded.
func (st *State) reqBuf(t *proxy.Txn) (buf []byte, fwd int) {
	br := t.ClientReader()
	if br == nil {
		return nil, 0
	}
	buf, _ = br.Peek(br.Buffered())
	if d, ok := t.LuaData().(*txnData); ok {
		fwd = min(d.reqFwd, len(buf))
	}
	return buf, fwd
}

// waitMore waits (with the state unlocked) until more than have bytes are
// buffered, the client closes, or chanWait passes. It reports whether more
// bytes arrived. Entries that cannot yield never wait.
func (st *State) waitMore(t *proxy.Txn, have int) bool {
	br := t.ClientReader()
	if !st.canWait() || br == nil || have >= br.Size() {
		return false
	}
	grew := false
	st.Unlocked(func() {
		t.SetClientReadDeadline(time.Now().Add(chanWait))
		_, err := br.Peek(have + 1)
		t.SetClientReadDeadline(time.Time{})
		grew = err == nil
	})
	return grew
}

// span resolves HAProxy's (offset, length) arguments against n input bytes:
// a negative offset counts back from the end; length -1 (or absent) means
// everything after the offset.
func span(L *lua.LState, offArg, lenArg, n int) (int, int, bool) {
	off := 0
	if L.GetTop() >= offArg && L.Get(offArg) != lua.LNil {
		off = checkInt(L, offArg)
	}
	if off < 0 {
		off += n
	}
	if off < 0 || off > n {
		return 0, 0, false
	}
	ln := -1
	if L.GetTop() >= lenArg && L.Get(lenArg) != lua.LNil {
		ln = checkInt(L, lenArg)
	}
	if ln < 0 || off+ln > n {
		ln = n - off
	}
	return off, ln, true
}

// chanData is data()/line() (and the deprecated dup/get/getline, which
// also remove what they return). In actions, an empty input (or, for
// line(), an input without a line end) waits for more data.
func chanData(line, remove bool) Method {
	return func(st *State, L *lua.LState) int {
		c, t := chanOf(L, true)
		if c.resp {
			return chanResData(L, t, line, remove)
		}
		for {
			buf, fwd := st.reqBuf(t)
			in := buf[fwd:]
			off, ln, ok := span(L, 2, 3, len(in))
			if !ok {
				L.Push(lua.LNil)
				return 1
			}
			seg := in[off : off+ln]
			complete := len(seg) > 0
			if line {
				if i := bytes.IndexByte(seg, '\n'); i >= 0 {
					seg = seg[:i+1]
				} else {
					complete = false
				}
			}
			if !complete && st.waitMore(t, len(buf)) {
				continue
			}
			if len(seg) == 0 {
				L.Push(lua.LNil)
				return 1
			}
			out := lua.LString(seg)
			if remove {
				st.rewriteReq(t, fwd, append([]byte(nil), in[:off]...), append([]byte(nil), in[off+len(seg):]...), nil)
			}
			L.Push(out)
			return 1
		}
	}
}

// chanResData reads the response channel (tcp-response rules): what the
// server sent so far, without waiting and without removing anything.
func chanResData(L *lua.LState, t *proxy.Txn, line, remove bool) int {
	br := t.ServerReader()
	if br == nil || remove {
		L.Push(lua.LNil)
		return 1
	}
	buf, _ := br.Peek(br.Buffered())
	off, ln, ok := span(L, 2, 3, len(buf))
	if !ok || ln == 0 {
		L.Push(lua.LNil)
		return 1
	}
	seg := buf[off : off+ln]
	if line {
		if i := bytes.IndexByte(seg, '\n'); i >= 0 {
			seg = seg[:i+1]
		}
	}
	L.Push(lua.LString(seg))
	return 1
}

// canWait reports whether the running entry may wait for data.
func (st *State) canWait() bool {
	e := st.current()
	return e != nil && e.kind.canYield() && !e.noYield
}

// clientMayRecv reports whether more request bytes can arrive.
func (st *State) clientMayRecv(t *proxy.Txn) bool {
	br := t.ClientReader()
	return br != nil && br.Buffered() < br.Size()
}

// rewriteReq rebuilds the request channel as output (fwd bytes kept), then
// before + mid + after as the new input.
func (st *State) rewriteReq(t *proxy.Txn, fwd int, before, after, mid []byte) {
	buf, _ := st.reqBuf(t)
	data := make([]byte, 0, fwd+len(before)+len(mid)+len(after))
	data = append(data, buf[:fwd]...)
	data = append(data, before...)
	data = append(data, mid...)
	data = append(data, after...)
	old := t.ClientReader()
	_, _ = old.Discard(old.Buffered())
	size := max(t.BufSize(), len(data)+1)
	br := bufio.NewReaderSize(io.MultiReader(bytes.NewReader(data), old), size)
	if len(data) > 0 {
		_, _ = br.Peek(len(data))
	}
	t.SetClientReader(br)
}

// chanWrite is the common part of set/insert/append/prepend: the input is
// split at [off, off+ln) which is replaced by s.
func chanWrite(st *State, L *lua.LState, s string, off, ln int, ok bool) int {
	c, t := chanOf(L, true)
	if c.resp || !ok {
		L.Push(lua.LNumber(-1))
		return 1
	}
	buf, fwd := st.reqBuf(t)
	in := buf[fwd:]
	if len(buf)-ln+len(s) > t.BufSize() {
		L.Push(lua.LNumber(-1))
		return 1
	}
	st.rewriteReq(t, fwd, append([]byte(nil), in[:off]...), append([]byte(nil), in[off+ln:]...), []byte(s))
	L.Push(lua.LNumber(len(s)))
	return 1
}

func inputLen(st *State, L *lua.LState) int {
	c := checkObj[*channelUD](L, 1, channelClass)
	t := c.tx.live(L)
	if c.resp || t.IsHTTP() {
		return 0
	}
	buf, fwd := st.reqBuf(t)
	return len(buf) - fwd
}

// chanSet is set(s[, off[, len]]).
func chanSet(st *State, L *lua.LState) int {
	s := L.CheckString(2)
	off, ln, ok := span(L, 3, 4, inputLen(st, L))
	return chanWrite(st, L, s, off, ln, ok)
}

// chanInsert is insert(s[, off]).
func chanInsert(st *State, L *lua.LState) int {
	s := L.CheckString(2)
	n := inputLen(st, L)
	off := 0
	if L.GetTop() >= 3 && L.Get(3) != lua.LNil {
		off = checkInt(L, 3)
	}
	if off < 0 {
		off += n
	}
	return chanWrite(st, L, s, off, 0, off >= 0 && off <= n)
}

func chanAppend(st *State, L *lua.LState) int {
	checkArgs(L, 2, "append")
	s := L.CheckString(2)
	n := inputLen(st, L)
	return chanWrite(st, L, s, n, 0, true)
}

func chanPrepend(st *State, L *lua.LState) int {
	checkArgs(L, 2, "prepend")
	return chanWrite(st, L, L.CheckString(2), 0, 0, true)
}

// chanRemove is remove([off[, len]]): the number of bytes removed.
func chanRemove(st *State, L *lua.LState) int {
	c, t := chanOf(L, true)
	if c.resp {
		L.Push(lua.LNumber(0))
		return 1
	}
	buf, fwd := st.reqBuf(t)
	in := buf[fwd:]
	off, ln, ok := span(L, 2, 3, len(in))
	if !ok || ln == 0 {
		L.Push(lua.LNumber(0))
		return 1
	}
	st.rewriteReq(t, fwd, append([]byte(nil), in[:off]...), append([]byte(nil), in[off+ln:]...), nil)
	L.Push(lua.LNumber(ln))
	return 1
}

// chanSend is send(s): on the request channel the bytes are forwarded
// (they reach the server before the remaining input); on the response
// channel they are written to the client at once.
func chanSend(st *State, L *lua.LState) int {
	checkArgs(L, 2, "send")
	c, t := chanOf(L, true)
	s := L.CheckString(2)
	if c.resp {
		var err error
		st.Unlocked(func() { err = t.TCPApplet().Send([]byte(s)) })
		if err != nil {
			L.Push(lua.LNumber(-1))
			return 1
		}
		L.Push(lua.LNumber(len(s)))
		return 1
	}
	buf, fwd := st.reqBuf(t)
	in := append([]byte(nil), buf[fwd:]...)
	st.rewriteReq(t, fwd, nil, in, []byte(s))
	st.rt.data(t).reqFwd = fwd + len(s)
	L.Push(lua.LNumber(len(s)))
	return 1
}

// chanForward is forward(n): moves up to n input bytes to the output.
func chanForward(st *State, L *lua.LState) int {
	checkArgs(L, 2, "forward")
	c, t := chanOf(L, true)
	n := checkInt(L, 2)
	if c.resp || n <= 0 {
		L.Push(lua.LNumber(0))
		return 1
	}
	buf, fwd := st.reqBuf(t)
	n = min(n, len(buf)-fwd)
	st.rt.data(t).reqFwd = fwd + n
	L.Push(lua.LNumber(n))
	return 1
}

func chanLen(output bool) Method {
	return func(st *State, L *lua.LState) int {
		c, t := chanOf(L, false)
		if c.resp {
			n := 0
			if br := t.ServerReader(); br != nil && !output && !t.IsHTTP() {
				n = br.Buffered()
			}
			L.Push(lua.LNumber(n))
			return 1
		}
		if t.IsHTTP() {
			n := 0
			if br := t.ClientReader(); br != nil && !output {
				n = br.Buffered()
			}
			L.Push(lua.LNumber(n))
			return 1
		}
		buf, fwd := st.reqBuf(t)
		if output {
			L.Push(lua.LNumber(fwd))
		} else {
			L.Push(lua.LNumber(len(buf) - fwd))
		}
		return 1
	}
}

func chanMayRecv(st *State, L *lua.LState) int {
	c, t := chanOf(L, false)
	L.Push(lua.LBool(!c.resp && st.clientMayRecv(t)))
	return 1
}

func chanIsFull(st *State, L *lua.LState) int {
	c, t := chanOf(L, false)
	full := false
	if br := t.ClientReader(); br != nil && !c.resp {
		full = br.Buffered() >= t.BufSize()
	}
	L.Push(lua.LBool(full))
	return 1
}
