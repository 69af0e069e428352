package scripts

import (
	"fmt"
	"sync/atomic"

	"github.com/robfig/cron/v3"
	lua "github.com/yuin/gopher-lua"
)

// cronParser accepts standard 5-field specs, an optional leading seconds
// field, descriptors (@every 1s, @hourly, ...) and a CRON_TZ= / TZ= prefix.
var cronParser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// cronJob is one core.register_cron registration.
type cronJob struct {
	spec    string
	st      *State
	fn      *lua.LFunction
	args    []lua.LValue
	runs    atomic.Int64 // runs started
	skipped atomic.Int64 // triggers skipped because a run was still going
}

// cronScheduler runs the cron jobs of a runtime.
type cronScheduler struct {
	rt *Runtime
	c  *cron.Cron
}

type cronLogger struct {
	rt  *Runtime
	job *cronJob
}

func (l cronLogger) Info(msg string, _ ...any) {
	if msg == "skip" && l.job != nil {
		l.job.skipped.Add(1)
	}
}

func (l cronLogger) Error(err error, msg string, _ ...any) {
	l.rt.sendErr(nil, fmt.Sprintf("Lua cron: %s: %v.", msg, err))
}

func newCronScheduler(rt *Runtime) *cronScheduler {
	return &cronScheduler{rt: rt, c: cron.New(cron.WithParser(cronParser), cron.WithLogger(cronLogger{rt: rt}))}
}

// add schedules j with Recover and SkipIfStillRunning: a trigger that fires
// while the previous run is still going is skipped, never doubled.
func (s *cronScheduler) add(j *cronJob) error {
	sched, err := cronParser.Parse(j.spec)
	if err != nil {
		return fmt.Errorf("core.register_cron: invalid spec '%s': %w", j.spec, err)
	}
	rt := s.rt
	job := cron.NewChain(cron.Recover(cronLogger{rt: rt}), cron.SkipIfStillRunning(cronLogger{rt: rt, job: j})).Then(cron.FuncJob(func() {
		if rt.isClosing() {
			return
		}
		j.runs.Add(1)
		_, _ = rt.Call(rt.ctx, Invocation{
			Kind:  CtxTask,
			Name:  "cron '" + j.spec + "'",
			State: j.st,
			Fn:    j.fn,
			Args:  func(*lua.LState) []lua.LValue { return j.args },
		})
	}))
	s.c.Schedule(sched, job)
	return nil
}

func (s *cronScheduler) start() { s.c.Start() }

// stop stops triggering and waits for running jobs (they see the runtime's
// context cancelled and stop).
func (s *cronScheduler) stop() { <-s.c.Stop().Done() }

// coreRegisterCron is core.register_cron(spec, fn[, args...]): fn runs in
// task context at each trigger of spec. A bad spec raises an error naming it
// (which fails New when raised in body context).
func coreRegisterCron(st *State, L *lua.LState) int {
	if L.GetTop() < 2 {
		L.RaiseError("register_cron: <spec> and <func> arguments are required")
	}
	spec := L.CheckString(1)
	fn := checkFunction(L, 2)
	if _, err := cronParser.Parse(spec); err != nil {
		L.RaiseError("register_cron: invalid spec '%s': %s", spec, err.Error())
	}
	var args []lua.LValue
	for i := 3; i <= L.GetTop(); i++ {
		args = append(args, L.Get(i))
	}
	j := &cronJob{spec: spec, st: st, fn: fn, args: args}
	rt := st.rt
	rt.mu.Lock()
	defer rt.mu.Unlock()
	switch {
	case rt.closed:
	case rt.scheduler != nil:
		_ = rt.scheduler.add(j)
		rt.crons = append(rt.crons, j)
	case rt.started:
		rt.scheduler = newCronScheduler(rt)
		_ = rt.scheduler.add(j)
		rt.crons = append(rt.crons, j)
		rt.scheduler.start()
	default:
		rt.crons = append(rt.crons, j)
	}
	return 0
}
