package proxy

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"moonbus/bus"
)

// Server state machine. Every change — CLI, checks, agent, Lua, auto-weight,
// tracking — goes through update(), the server's single writer: it computes
// the new (operational, admin) pair from the inputs, stores it in the atomics
// the load balancer reads, logs HAProxy's lines and publishes the events in
// HAProxy's order (SERVER_ADMIN, SERVER_UP/DOWN, SERVER_STATE).

// Operational cause texts (srv_op_st_chg_cause).
const (
	CauseCLI       = "changed from CLI"
	CauseLua       = "changed from Lua script"
	CauseStatsWeb  = "changed from Web interface"
	CauseStateFile = "changed from server-state after a reload"
)

// change describes one update request.
type change struct {
	cause   string           // operational cause text ("" for none)
	admin   bool             // the change is an admin action
	check   *bus.CheckResult // set when a check caused it
	mut     func(s *Server)  // applied under the lock before recomputing
	initial bool
}

// desiredOp computes the operational state from the inputs.
func (s *Server) desiredOp(old OpState, adm bus.AdminFlags) OpState {
	if adm&bus.MaintMask != 0 {
		return Stopped
	}
	stopping := false
	if t := s.track; t != nil {
		switch t.Op() {
		case Stopped:
			return Stopped
		case Stopping:
			stopping = true
		}
	} else if (s.health.configured && s.health.enabled) || s.health.forced {
		if s.health.health < s.health.rise {
			return Stopped
		}
		stopping = s.health.stopping
	}
	if s.agent.configured && s.agent.enabled && s.agent.health < s.agent.rise {
		return Stopped
	}
	if stopping {
		return Stopping
	}
	if s.conf.Slowstart > 0 {
		if old == Stopped && !s.rampStart.IsZero() {
			return Starting
		}
		if old == Starting && time.Since(s.rampStart) < s.conf.Slowstart {
			return Starting
		}
	}
	return Running
}

// inheritedAdmin returns the IMAINT/IDRAIN bits a tracking server inherits.
func (s *Server) inheritedAdmin() bus.AdminFlags {
	t := s.track
	if t == nil {
		return 0
	}
	ta := t.Admin()
	var f bus.AdminFlags
	if ta&bus.MaintMask != 0 {
		f |= bus.IMaint
	}
	if ta&bus.DrainMask != 0 {
		f |= bus.IDrain
	}
	return f
}

// update applies a change. It must not be called with s.mu held.
//
// The new state, the load-balancing view, the log lines and the events are
// all produced under s.mu, so two concurrent updates of one server publish
// their events in the order their states were stored. Lock order: s.mu,
// then the backend's lbMu, then the bus.
func (s *Server) update(c change) {
	s.mu.Lock()
	oldOp := s.Op()
	oldAdmin := s.Admin()
	oldChk := s.checkSnapshotNow()
	if c.mut != nil {
		c.mut(s)
	}
	newAdmin := (s.Admin() &^ (bus.IMaint | bus.IDrain)) | s.inheritedAdmin()
	if oldOp == Stopped && s.conf.Slowstart > 0 && !c.initial {
		s.rampStart = time.Now()
	}
	newOp := s.desiredOp(oldOp, newAdmin)
	if newOp != Starting {
		s.rampStart = time.Time{}
	}
	if newOp == oldOp && newAdmin == oldAdmin {
		oldW := s.eweight.Load()
		s.recalcWeight()
		newChk := s.checkSnapshotNow()
		if !c.initial && c.check == nil {
			s.pushForcedHealth(oldChk, newChk)
		}
		if newOp == Starting {
			s.scheduleRamp() // the slowstart ramp goes on step by step
		}
		weightChanged := s.eweight.Load() != oldW
		if weightChanged || c.initial {
			s.px.rebuildLB()
		}
		s.mu.Unlock()
		if !c.initial {
			s.syncCheckers(oldChk, newChk, c.check != nil)
			if weightChanged {
				// A weight change can empty or refill the backend.
				s.px.backendTransition(time.Now())
				s.px.drainQueue()
			}
		}
		return
	}
	now := time.Now()
	s.admin.Store(uint32(newAdmin))
	s.op.Store(int32(newOp))
	s.recalcWeight()
	if newOp != oldOp {
		s.lastChange.Store(now.Unix())
		if newOp == Stopped {
			s.downSince = now.Unix()
			if !c.initial {
				s.chkDown.Add(1)
			}
		} else if oldOp == Stopped && s.downSince != 0 {
			s.downtime.Add(now.Unix() - s.downSince)
			s.downSince = 0
		}
	}
	if newOp == Starting {
		s.scheduleRamp()
	}
	requeued := 0
	if newOp == Stopped || newOp == Stopping || newAdmin&(bus.MaintMask|bus.DrainMask) != 0 {
		requeued = s.requeue()
	}
	kill := newOp == Stopped && oldOp != Stopped && s.conf.OnMarkedDown == "shutdown-sessions"
	trackers := append([]*Server(nil), s.trackers...)
	newChk := s.checkSnapshotNow()
	if !c.initial && c.check == nil {
		s.pushForcedHealth(oldChk, newChk)
	}
	s.px.rebuildLB()
	if !c.initial {
		s.logChange(oldOp, newOp, oldAdmin, newAdmin, c, requeued)
		s.publish(oldOp, newOp, oldAdmin, newAdmin, c, requeued, now)
	}
	s.mu.Unlock()

	if c.initial {
		return
	}
	s.syncCheckers(oldChk, newChk, c.check != nil)
	if kill {
		s.shutdownStreams('D')
	}
	if newOp != Stopped && oldOp == Stopped && !s.backup && s.eweight.Load() > 0 && s.conf.OnMarkedUp == "shutdown-backup-sessions" {
		for _, b := range s.px.Servers() {
			if b.backup {
				b.shutdownStreams('U')
			}
		}
	}
	s.px.drainQueue()
	s.px.backendTransition(now)
	for _, t := range trackers {
		t.update(change{cause: c.cause, admin: c.admin, check: c.check})
	}
}

// recalcWeight computes the effective weight (slowstart ramp, drain,
// auto-weight). Called with s.mu held.
func (s *Server) recalcWeight() {
	w := int(s.uweight.Load())
	if pct := int(s.autoPct.Load()); pct > 0 && pct != 100 {
		w = (w*pct + 50) / 100
		if w < 1 && s.uweight.Load() > 0 {
			w = 1
		}
	}
	if OpState(s.op.Load()) == Starting && s.conf.Slowstart > 0 && !s.rampStart.IsZero() {
		el := time.Since(s.rampStart)
		if el < s.conf.Slowstart {
			rw := int((int64(w)*int64(el) + int64(s.conf.Slowstart) - 1) / int64(s.conf.Slowstart))
			if rw < 1 {
				rw = 1
			}
			w = rw
		}
	}
	if s.Admin()&bus.DrainMask != 0 {
		w = 0
	}
	s.eweight.Store(int32(w))
}

// scheduleRamp arms the slowstart warm-up step (every max(1s, slowstart/20)).
func (s *Server) scheduleRamp() {
	step := s.conf.Slowstart / 20
	if step < time.Second {
		step = time.Second
	}
	if s.rampTimer != nil {
		s.rampTimer.Stop()
	}
	s.rampTimer = time.AfterFunc(step, func() {
		if s.Deleted() || s.px.e.stopping.Load() {
			return
		}
		s.update(change{})
	})
}

// requeue moves the requests waiting for this server to the backend queue
// (they will be dispatched to another server). Called with s.mu held.
func (s *Server) requeue() int {
	ws := s.queue.takeAll()
	for _, w := range ws {
		w.ch <- nil
	}
	return len(ws)
}

// publish emits the events of one update in HAProxy's order.
func (s *Server) publish(oldOp, newOp OpState, oldAdmin, newAdmin bus.AdminFlags, c change, requeued int, now time.Time) {
	pub := s.px.e.pub
	if pub == nil {
		return
	}
	ref := s.ref()
	snap := s.snapshot()
	evs := make([]*bus.Event, 0, 3)
	if newAdmin != oldAdmin {
		cause := ""
		if c.admin {
			cause = c.cause
		}
		evs = append(evs, &bus.Event{Type: bus.ServerAdmin, When: now, Server: ref, Snapshot: snap,
			Admin: &bus.AdminChange{Cause: cause, OldAdmin: oldAdmin, NewAdmin: newAdmin, Requeued: requeued}})
	}
	if newOp != oldOp {
		st := &bus.StateChange{Admin: c.admin, Cause: c.cause, OldState: oldOp.String(), NewState: newOp.String(), Requeued: requeued}
		if !c.admin && c.check != nil {
			st.Check = c.check
			st.Cause = ""
		}
		if oldOp == Stopped {
			evs = append(evs, &bus.Event{Type: bus.ServerUp, When: now, Server: ref, State: st, Snapshot: snap})
		} else if newOp == Stopped {
			evs = append(evs, &bus.Event{Type: bus.ServerDown, When: now, Server: ref, State: st, Snapshot: snap})
		}
		evs = append(evs, &bus.Event{Type: bus.ServerState, When: now, Server: ref, State: st, Snapshot: snap})
	}
	if len(evs) > 0 {
		pub.PublishBatch(evs...)
	}
}

// ref returns the event identity of the server.
func (s *Server) ref() *bus.ServerRef {
	return &bus.ServerRef{Name: s.name, PUID: s.puid, RID: s.rid, ProxyName: s.px.name, ProxyUUID: s.px.uuid}
}

func (s *Server) snapshot() *bus.Snapshot {
	sn := &bus.Snapshot{
		Backup: s.backup, Draining: s.Admin()&bus.DrainMask != 0 || s.eweight.Load() == 0,
		Weight: int(s.eweight.Load()), CurSess: int(s.cur.Load()), Queue: s.queue.len(),
		BackendActive: s.px.SrvAct(), BackendBackup: s.px.SrvBck(), Addr: s.AddrString(),
	}
	if s.track != nil {
		sn.Tracking = s.track.px.name + "/" + s.track.name
	}
	return sn
}

// backendTransition publishes BACKEND_DOWN/BACKEND_UP and logs "has no server
// available" when the usable count crosses zero.
func (p *Proxy) backendTransition(now time.Time) {
	n := p.SrvAct() + p.SrvBck()
	p.srvMu.Lock()
	wasDown := p.downSince != 0
	isDown := n == 0
	if wasDown == isDown {
		p.srvMu.Unlock()
		return
	}
	if isDown {
		p.downSince = now.Unix()
		p.chkDown.Add(1)
	} else {
		p.downtime.Add(now.Unix() - p.downSince)
		p.downSince = 0
	}
	p.lastChange.Store(now.Unix())
	p.srvMu.Unlock()
	typ := bus.BackendUp
	if isDown {
		typ = bus.BackendDown
		msg := fmt.Sprintf("%s '%s' has no server available!", p.kindName(), p.name)
		p.e.log.Error(msg)
		p.sendLog(levelEmerg, msg)
	}
	if p.e.pub != nil {
		p.e.pub.PublishBatch(&bus.Event{Type: typ, When: now,
			Backend: &bus.BackendInfo{ProxyName: p.name, ProxyUUID: p.uuid, Active: p.SrvAct(), Backup: p.SrvBck()}})
	}
}

// logChange writes HAProxy's state change lines (reference §4.5).
func (s *Server) logChange(oldOp, newOp OpState, oldAdmin, newAdmin bus.AdminFlags, c change, requeued int) {
	name := s.px.name + "/" + s.name
	prefix := "Server "
	if s.backup {
		prefix = "Backup Server "
	}
	via := ""
	if s.track != nil {
		via = " via " + s.track.px.name + "/" + s.track.name
	}
	cause := ""
	switch {
	case c.check != nil:
		cause = checkReasonText(c.check)
	case c.cause != "" && !c.admin:
		cause = ", " + c.cause
	}
	wasMaint := oldAdmin&bus.MaintMask != 0
	isMaint := newAdmin&bus.MaintMask != 0
	level := levelNotice
	var b strings.Builder
	switch {
	case isMaint && !wasMaint:
		if oldOp != Stopped {
			fmt.Fprintf(&b, "%s%s%s is going DOWN for maintenance%s. %s", prefix, name, via, adminCause(c), s.downTail(requeued))
			if oldOp != Stopping {
				level = levelAlert
			}
		} else {
			fmt.Fprintf(&b, "%s%s%s was DOWN and now enters maintenance%s", prefix, name, via, adminCause(c))
		}
	case wasMaint && !isMaint:
		up, rd := "UP", "READY"
		if newOp == Stopped {
			up = "DOWN"
		}
		if newAdmin&bus.DrainMask != 0 {
			rd = "DRAIN"
		}
		what := "leaving forced maintenance"
		if oldAdmin&bus.FMaint == 0 {
			what = "leaving maintenance"
		}
		fmt.Fprintf(&b, "%s%s%s is %s/%s (%s)", prefix, name, via, up, rd, what)
	case newOp == Stopped && oldOp != Stopped:
		fmt.Fprintf(&b, "%s%s%s is DOWN%s. %s", prefix, name, via, cause, s.downTail(requeued))
		if oldOp != Stopping && oldAdmin&bus.DrainMask == 0 {
			level = levelAlert
		}
	case oldOp == Stopped && newOp != Stopped:
		fmt.Fprintf(&b, "%s%s%s is UP%s. %s", prefix, name, via, cause, s.upTail(requeued))
	case newOp == Stopping && oldOp != Stopping:
		fmt.Fprintf(&b, "%s%s%s is stopping%s. %s", prefix, name, via, cause, s.downTail(requeued))
	case newAdmin&bus.DrainMask != 0 && oldAdmin&bus.DrainMask == 0:
		fmt.Fprintf(&b, "%s%s%s enters drain state%s. %s", prefix, name, via, adminCause(c), s.downTail(requeued))
	case newAdmin&bus.DrainMask == 0 && oldAdmin&bus.DrainMask != 0:
		fmt.Fprintf(&b, "%s%s%s is %s/READY (leaving drain)", prefix, name, via, upDown(newOp))
	default:
		return
	}
	msg := b.String() + "."
	if level == levelAlert {
		s.px.e.log.Error(msg)
	} else {
		s.px.e.log.Warn(msg)
	}
	s.px.sendLog(level, msg)
}

func upDown(op OpState) string {
	if op == Stopped {
		return "DOWN"
	}
	return "UP"
}

func adminCause(c change) string {
	if c.admin && c.cause != "" && !strings.HasPrefix(c.cause, "changed from") {
		return " (" + c.cause + ")"
	}
	return ""
}

func (s *Server) downTail(requeued int) string {
	t := strconv.Itoa(s.px.SrvAct()) + " active and " + strconv.Itoa(s.px.SrvBck()) + " backup servers left."
	if s.px.SrvAct() == 0 && s.px.SrvBck() > 0 {
		t += " Running on backup."
	}
	return t + " " + strconv.Itoa(int(s.cur.Load())) + " sessions active, " + strconv.Itoa(requeued) +
		" requeued, " + strconv.Itoa(s.queue.len()) + " remaining in queue"
}

func (s *Server) upTail(requeued int) string {
	t := strconv.Itoa(s.px.SrvAct()) + " active and " + strconv.Itoa(s.px.SrvBck()) + " backup servers online."
	if s.px.SrvAct() == 0 && s.px.SrvBck() > 0 {
		t += " Running on backup."
	}
	return t + " " + strconv.Itoa(requeued) + " sessions requeued, " + strconv.Itoa(s.px.queue.len()) + " total in queue"
}

// checkReasonText builds ", reason: <desc>[, code: <n>][, info: "<text>"][, check duration: <N>ms]".
func checkReasonText(c *bus.CheckResult) string {
	var b strings.Builder
	b.WriteString(", reason: ")
	b.WriteString(c.Reason.Desc)
	if c.Reason.Code != 0 {
		b.WriteString(", code: ")
		b.WriteString(strconv.Itoa(c.Reason.Code))
	}
	if c.Reason.Info != "" {
		b.WriteString(", info: \"")
		b.WriteString(c.Reason.Info)
		b.WriteString("\"")
	}
	if c.Duration >= 0 {
		b.WriteString(", check duration: ")
		b.WriteString(strconv.Itoa(c.Duration))
		b.WriteString("ms")
	}
	return b.String()
}

// SetAdmin sets and clears admin bits (maint, drain) with a cause, the way
// "set server state", "enable/disable server" and the Lua set_* calls do.
func (s *Server) SetAdmin(set, clear bus.AdminFlags, cause string) {
	s.update(change{admin: true, cause: cause, mut: func(s *Server) {
		a := s.Admin()
		a = (a &^ clear) | set
		wasMaint := s.Admin()&bus.MaintMask != 0
		if set&bus.MaintMask != 0 && !wasMaint {
			// Entering maintenance pauses checks and zeroes their health.
			s.health.health = 0
		}
		if wasMaint && a&bus.MaintMask == 0 && s.health.configured {
			// Leaving maintenance: "start OK but check immediately".
			s.health.health = s.health.rise
		}
		s.admin.Store(uint32(a))
	}})
}

// SetWeight sets the user weight (absolute); it returns HAProxy's error texts.
func (s *Server) SetWeight(w int) {
	s.update(change{mut: func(s *Server) { s.uweight.Store(int32(w)) }})
}

// SetAutoWeight sets the auto-weight factor in percent (100 = none).
func (s *Server) SetAutoWeight(pct int) {
	s.update(change{mut: func(s *Server) { s.autoPct.Store(int32(pct)) }})
}

// SetMaxconn changes the server maxconn and wakes queued requests.
func (s *Server) SetMaxconn(n int) {
	s.maxconn.Store(int32(n))
	s.px.drainQueue()
}

// ForceHealth implements "set server health up|stopping|down".
func (s *Server) ForceHealth(state string, cause string) {
	s.update(change{cause: cause, mut: func(s *Server) {
		h := &s.health
		h.forced = !(h.configured && h.enabled)
		switch state {
		case "up":
			h.health = h.rise + h.fall - 1
			h.stopping = false
		case "stopping":
			h.health = h.rise + h.fall - 1
			h.stopping = true
		case "down":
			h.health = 0
			h.stopping = false
		}
	}})
}

// ForceAgent implements "set server agent up|down".
func (s *Server) ForceAgent(up bool, cause string) {
	s.update(change{cause: cause, mut: func(s *Server) {
		if up {
			s.agent.health = s.agent.rise + s.agent.fall - 1
		} else {
			s.agent.health = 0
		}
	}})
}

// HasCheck reports whether a health check is configured; HasAgent likewise.
func (s *Server) HasCheck() bool { return s.conf.Check }

// HasAgent reports whether an agent check is configured.
func (s *Server) HasAgent() bool { return s.conf.AgentCheck }
