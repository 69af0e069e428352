package natsbridge

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"moonbus/config"
	"moonbus/internal/natstest"
)

func dedupBridge(t *testing.T, srv *natstest.Server, instance string) *Bridge {
	t.Helper()
	f := start(t, srv, func(c *config.NATS) { c.Instance = instance; c.AlertDedup = true }, nil)
	f.connected(t)
	return f.br
}

func claim(t *testing.T, b *Bridge, object, label string, when time.Time) (bool, string) {
	t.Helper()
	won, owner, err := b.Claim(context.Background(), object, label, when)
	if err != nil {
		t.Fatalf("%s claims %s %s: %v", b.Instance(), object, label, err)
	}
	return won, owner
}

func TestClaimOneWinnerPerIncident(t *testing.T) {
	srv := natstest.Start(t)
	a, b := dedupBridge(t, srv, "lb1"), dedupBridge(t, srv, "lb2")
	t0 := time.Now()
	obj := "webhook/ops\x00be/s1\x00op"

	// Both instances claim the same DOWN at (nearly) the same time.
	var wg sync.WaitGroup
	var wonA, wonB bool
	var ownerA, ownerB string
	wg.Add(2)
	go func() { defer wg.Done(); wonA, ownerA = claim(t, a, obj, "SERVER_DOWN", t0) }()
	go func() { defer wg.Done(); wonB, ownerB = claim(t, b, obj, "SERVER_DOWN", t0.Add(30*time.Millisecond)) }()
	wg.Wait()
	if wonA == wonB {
		t.Fatalf("both or neither won: lb1 %v (%s), lb2 %v (%s)", wonA, ownerA, wonB, ownerB)
	}
	winner, loser := a, b
	if wonB {
		winner, loser = b, a
	}
	if owner := map[bool]string{true: ownerB, false: ownerA}[wonA]; owner != winner.Instance() {
		t.Fatalf("loser was told %q, winner is %s", owner, winner.Instance())
	}

	// The server comes back: the loser of the DOWN claims the UP first.
	if won, _ := claim(t, loser, obj, "SERVER_UP", t0.Add(5*time.Second)); !won {
		t.Fatal("UP: first claim lost")
	}
	if won, owner := claim(t, winner, obj, "SERVER_UP", t0.Add(5100*time.Millisecond)); won || owner != loser.Instance() {
		t.Fatalf("UP: second claim won=%v owner=%q", won, owner)
	}
	// A stale DOWN (older than the UP already claimed) is not sent again.
	if won, _ := claim(t, winner, obj, "SERVER_DOWN", t0.Add(4*time.Second)); won {
		t.Fatal("stale DOWN won")
	}
	// It goes down again a second later: a new incident.
	if won, _ := claim(t, winner, obj, "SERVER_DOWN", t0.Add(6*time.Second)); !won {
		t.Fatal("second DOWN lost")
	}
	if won, _ := claim(t, loser, obj, "SERVER_DOWN", t0.Add(6*time.Second)); won {
		t.Fatal("second DOWN won twice")
	}
	// The same label long after (beyond the window) is a new incident.
	if won, _ := claim(t, loser, obj, "SERVER_DOWN", t0.Add(6*time.Second+2*DedupWindow)); !won {
		t.Fatal("DOWN after the window lost")
	}
	// Another object is independent.
	if won, _ := claim(t, loser, "webhook/ops\x00be/s2\x00op", "SERVER_DOWN", t0); !won {
		t.Fatal("other object lost")
	}
	sa, sb := a.Stats(), b.Stats()
	if sa.ClaimsWon+sb.ClaimsWon != 5 || sa.ClaimsLost+sb.ClaimsLost != 4 || sa.ClaimErrors+sb.ClaimErrors != 0 {
		t.Fatalf("counters: lb1 %+v, lb2 %+v", sa, sb)
	}
}

func TestClaimFailsOpenWithoutNATS(t *testing.T) {
	srv := natstest.New(t) // never started
	f := start(t, srv, func(c *config.NATS) { c.AlertDedup = true }, nil)
	_, _, err := f.br.Claim(context.Background(), "x", "SERVER_DOWN", time.Now())
	if !errors.Is(err, ErrNotConnected) {
		t.Fatalf("err = %v, want ErrNotConnected", err)
	}
	if st := f.br.Stats(); st.ClaimErrors != 1 {
		t.Fatalf("stats: %+v", st)
	}
}

func TestBucketName(t *testing.T) {
	if got := BucketName("moon.bus*x"); got != "moon_bus_x_alerts" {
		t.Fatalf("BucketName = %q", got)
	}
}
