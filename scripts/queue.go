package scripts

import (
	lua "github.com/yuin/gopher-lua"
)

const queueClass = "Queue"

// queue is the Queue class. Every access happens with the owning state's
// lock held (pop_wait waits with the lock released on a channel), so it needs
// no lock of its own.
type queue struct {
	items   []lua.LValue
	waiters []chan struct{} // pop_wait callers
	alarms  []chan struct{} // entries that called q:alarm()
}

func init() {
	registerClass(&class{
		name: queueClass,
		methods: map[string]Method{
			"push":     queuePush,
			"pop":      queuePop,
			"pop_wait": queuePopWait,
			"size":     queueSize,
			"alarm":    queueAlarm,
		},
	})
}

func coreQueue(st *State, L *lua.LState) int {
	L.Push(st.newObj(queueClass, &queue{}))
	return 1
}

func signalAll(chs []chan struct{}) {
	for _, ch := range chs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func queuePush(st *State, L *lua.LState) int {
	checkArgs(L, 2, "push")
	q := checkObj[*queue](L, 1, queueClass)
	v := L.Get(2)
	if v == lua.LNil {
		L.ArgError(2, "value expected, got nil")
	}
	q.items = append(q.items, v)
	signalAll(q.waiters)
	q.waiters = q.waiters[:0]
	signalAll(q.alarms)
	q.alarms = q.alarms[:0]
	L.Push(lua.LTrue)
	return 1
}

func (q *queue) pop() lua.LValue {
	if len(q.items) == 0 {
		return lua.LNil
	}
	v := q.items[0]
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil
	}
	return v
}

func queuePop(st *State, L *lua.LState) int {
	checkArgs(L, 1, "pop")
	q := checkObj[*queue](L, 1, queueClass)
	L.Push(q.pop())
	return 1
}

// queuePopWait blocks (state unlocked) until an item is available.
func queuePopWait(st *State, L *lua.LState) int {
	checkArgs(L, 1, "pop_wait")
	q := checkObj[*queue](L, 1, queueClass)
	for {
		if len(q.items) > 0 {
			L.Push(q.pop())
			return 1
		}
		e := st.mustYieldable(L, "pop_wait")
		ch := make(chan struct{}, 1)
		q.waiters = append(q.waiters, ch)
		stopped := false
		st.Unlocked(func() {
			select {
			case <-ch:
			case <-e.Stop():
				stopped = true
			case <-st.rt.ctx.Done():
				stopped = true
			}
		})
		if stopped {
			L.Push(lua.LNil)
			return 1
		}
	}
}

func queueSize(st *State, L *lua.LState) int {
	checkArgs(L, 1, "size")
	q := checkObj[*queue](L, 1, queueClass)
	L.Push(lua.LNumber(len(q.items)))
	return 1
}

// queueAlarm arms a wake-up of the running entry (for core.wait) at the
// next push.
func queueAlarm(st *State, L *lua.LState) int {
	checkArgs(L, 1, "alarm")
	q := checkObj[*queue](L, 1, queueClass)
	e := st.cur
	if e == nil || e.kind == CtxBody || e.kind == CtxInit {
		L.Push(lua.LFalse)
		return 1
	}
	q.alarms = append(q.alarms, e.wakeChan())
	L.Push(lua.LTrue)
	return 1
}
