//go:build linux

package healthcheck

import (
	"context"
	"net"
	"testing"
	"time"
)

// TestLoopConnectChecks runs plain connect checks on the check loop against
// servers that accept, refuse and never answer, interleaved so that the
// loop's reused sockets go from one outcome to another, with the epoll
// poller and with the portable one (sockets then waited for on goroutines).
func TestLoopConnectChecks(t *testing.T) {
	for _, portable := range []bool{false, true} {
		name := "epoll"
		if portable {
			name = "portable"
		}
		t.Run(name, func(t *testing.T) {
			s := NewScheduler(SchedulerOptions{})
			if portable {
				s.pollerFor = func() poller { return newChanPoller() }
			}
			t.Cleanup(s.Stop)
			type want struct {
				rec  *recTarget
				st   Status
				info string
			}
			var wants []want
			add := func(addr string, st Status, info string, inter, connect time.Duration) {
				rec := newRec(t, addr)
				if _, err := s.Add(rec, Config{Probe: &Spec{Inter: connect}, Inter: inter}); err != nil {
					t.Fatal(err)
				}
				wants = append(wants, want{rec, st, info})
			}
			for i := 0; i < 3; i++ {
				add(listen(t, nil), StatusL4OK, "", 2*time.Millisecond, time.Second)
				add(closedPort(t), StatusL4CON, "Connection refused", 2*time.Millisecond, time.Second)
			}
			if ln, err := net.Listen("tcp", "[::1]:0"); err == nil {
				add(serve(t, ln, nil), StatusL4OK, "", 2*time.Millisecond, time.Second)
			}
			add(blackhole(t), StatusL4TOUT, "", 10*time.Millisecond, 60*time.Millisecond)
			fds := openFDs(t)
			s.Start(context.Background())
			waitFor(t, 20*time.Second, "checks", func() bool {
				for _, w := range wants {
					if w.rec.count() < 30 && w.st != StatusL4TOUT || w.rec.count() < 3 {
						return false
					}
				}
				return true
			})
			for _, w := range wants {
				for i, r := range w.rec.all() {
					res := r.Result
					if res.Status != w.st || res.Info != w.info || res.Duration < 0 {
						t.Fatalf("%s report %d: %s %q %v, want %s %q", w.rec.CheckAddr(), i, res.Status, res.Info, res.Duration, w.st, w.info)
					}
					if w.st == StatusL4TOUT && res.Duration < 50*time.Millisecond {
						t.Fatalf("timeout after %v", res.Duration)
					}
				}
			}
			s.Stop()
			// The loop's sockets, pool and poller are all closed (the
			// listeners' accepted connections may take a moment).
			waitFor(t, 10*time.Second, "the loop's descriptors to be closed", func() bool { return openFDs(t) <= fds })
		})
	}
}

// TestLoopConnectInProgress covers connects that the loop must watch: one
// that connects late (L4OK) and one refused late (L4CON), each after a SYN
// retransmission, about a second.
func TestLoopConnectInProgress(t *testing.T) {
	okAddr, free, _ := queueFull(t)
	refAddr, _, closeLn := queueFull(t)
	// One scheduler each: the first check of a lone Checker starts at once.
	s1, s2 := startSched(t, SchedulerOptions{}), startSched(t, SchedulerOptions{})
	okRec, refRec := newRec(t, okAddr), newRec(t, refAddr)
	okc, err := s1.Add(okRec, Config{Probe: &Spec{Inter: 10 * time.Second}, Inter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	refc, err := s2.Add(refRec, Config{Probe: &Spec{Inter: 10 * time.Second}, Inter: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	s1.Start(context.Background())
	s2.Start(context.Background())
	waitFor(t, 10*time.Second, "both checks in flight", func() bool { return okc.Running() && refc.Running() })
	free()
	closeLn()
	waitFor(t, 20*time.Second, "late results", func() bool { return okRec.count() == 1 && refRec.count() == 1 })
	ok, ref := okRec.all()[0].Result, refRec.all()[0].Result
	wantResult(t, ok, StatusL4OK, 0, "")
	wantResult(t, ref, StatusL4CON, 0, "Connection refused")
	if el := time.Since(start); ok.Duration > el || ok.Duration < 500*time.Millisecond || ref.Duration < 500*time.Millisecond {
		t.Fatalf("durations %v %v (test ran %v)", ok.Duration, ref.Duration, el)
	}
}

func TestDueGranularity(t *testing.T) {
	for _, c := range []struct{ d, g time.Duration }{
		{0, time.Millisecond},
		{5 * time.Millisecond, time.Millisecond},
		{100 * time.Millisecond, time.Millisecond},
		{time.Second, 4 * time.Millisecond},
		{2 * time.Second, 8 * time.Millisecond},
		{time.Hour, 256 * time.Millisecond},
	} {
		if g := dueGranularity(c.d); g != c.g {
			t.Errorf("dueGranularity(%v) = %v, want %v", c.d, g, c.g)
		}
	}
}
