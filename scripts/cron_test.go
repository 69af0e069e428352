package scripts

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestCronEverySecondRuns(t *testing.T) {
	script := writeScript(t, "cron.lua", `
core.register_cron("@every 1s", function(tag) core.Info("tick " .. tag .. " thread " .. core.thread) end, "x")
`)
	rt, logger, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a cron tick", func() bool {
		return strings.Contains(strings.Join(logger.snapshot(), "\n"), "6 tick x thread 0")
	})
}

func TestCronSlowJobSkippedNotDoubled(t *testing.T) {
	// Every second (6-field spec with seconds); each run sleeps 2.5s, so
	// triggers fire while a run is in progress and must be skipped.
	script := writeScript(t, "slow.lua", `
running = 0
core.register_cron("* * * * * *", function()
  running = running + 1
  core.Info("start " .. running)
  core.msleep(2500)
  running = running - 1
  core.Info("end")
end)
`)
	rt, logger, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	rt.mu.Lock()
	job := rt.crons[0]
	rt.mu.Unlock()
	waitFor(t, 10*time.Second, "a skipped trigger", func() bool { return job.skipped.Load() >= 1 })
	for _, l := range logger.snapshot() {
		if strings.HasPrefix(l, "6 start") && l != "6 start 1" {
			t.Fatalf("overlapping runs: %q", logger.snapshot())
		}
	}
	if job.runs.Load() != 1 {
		t.Fatalf("%d runs started while the first one was still going", job.runs.Load())
	}
}

func TestCronSpecForms(t *testing.T) {
	for _, spec := range []string{"*/5 * * * *", "0 */5 * * * *", "@hourly", "@every 1m30s", "CRON_TZ=Europe/Paris 0 6 * * *", "TZ=UTC @daily"} {
		if _, err := cronParser.Parse(spec); err != nil {
			t.Errorf("%q: %v", spec, err)
		}
	}
	for _, spec := range []string{"61 * * * *", "* * *", "@fortnightly", "CRON_TZ=Nowhere/City * * * * *"} {
		if _, err := cronParser.Parse(spec); err == nil {
			t.Errorf("%q accepted", spec)
		}
	}
}

func TestCronRegisteredAtRuntime(t *testing.T) {
	script := writeScript(t, "late.lua", `
core.register_task(function()
  core.register_cron("@every 1s", function() core.Info("late tick") end)
end)
`)
	rt, logger, _ := newTestRuntime(t, nil, func(o *Options) { o.Loads = []Load{{File: script}} })
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "a tick of a cron registered by a task", func() bool {
		return strings.Contains(strings.Join(logger.snapshot(), "\n"), "late tick")
	})
}
