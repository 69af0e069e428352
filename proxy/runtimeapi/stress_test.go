package runtimeapi

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/proxy"
)

// follower is a state-following subscriber: it keeps the last operational
// state and admin flags the bus told it for every server.
type follower struct {
	mu    sync.Mutex
	op    map[int]string
	admin map[int]bus.AdminFlags
}

func follow(h *harness, be string) *follower {
	f := &follower{op: map[int]string{}, admin: map[int]bus.AdminFlags{}}
	for _, s := range h.eng.Proxy(be).Servers() {
		f.op[s.PUID()] = s.Op().String()
		f.admin[s.PUID()] = s.Admin()
	}
	sub := h.bus.Subscribe("follower", bus.Filter{Types: []bus.Type{bus.ServerState, bus.ServerAdmin}, Backends: []string{be}}, bus.Coalesce,
		func(e *bus.Event) {
			f.mu.Lock()
			defer f.mu.Unlock()
			switch e.Type {
			case bus.ServerState:
				f.op[e.Server.PUID] = e.State.NewState
			case bus.ServerAdmin:
				f.admin[e.Server.PUID] = e.Admin.NewAdmin
			}
		})
	h.t.Cleanup(sub.Unsub)
	return f
}

// agrees reports the first server whose followed state differs from its
// true state.
func (f *follower) agrees(servers []*proxy.Server) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range servers {
		if op, adm := f.op[s.PUID()], f.admin[s.PUID()]; op != s.Op().String() || adm != s.Admin() {
			return fmt.Errorf("%s: follower has %s/%s, server is %s/%s", s.Name(), op, adm, s.Op(), s.Admin())
		}
	}
	return nil
}

// TestStressToggle toggles 1,000 servers from many goroutines (each server
// owned by one goroutine) through the runtime API while traffic flows and
// dynamic servers come and go: no deadlock, no race, and a Coalesce
// subscriber ends with every server's true final state.
func TestStressToggle(t *testing.T) {
	if testing.Short() {
		t.Skip("stress test")
	}
	const nServers, togglers, opsPer = 1000, 8, 400
	var addrs []string
	for i := 0; i < 4; i++ {
		addrs = append(addrs, backend(t, nil))
	}
	var cfg strings.Builder
	cfg.WriteString("defaults\n    mode http\n    timeout connect 2s\n    timeout client 5s\n    timeout server 5s\n    timeout queue 2s\n")
	cfg.WriteString("frontend fe\n    bind 127.0.0.1:0\n    default_backend big\n")
	cfg.WriteString("backend big\n    balance roundrobin\n")
	for i := 0; i < nServers; i++ {
		fmt.Fprintf(&cfg, "    server s%d %s\n", i, addrs[i%len(addrs)])
	}
	h := startHarness(t, cfg.String())
	f := follow(h, "big")

	stop := make(chan struct{})
	var traffic sync.WaitGroup
	var ok, failed atomic.Int64
	feAddr := h.eng.ListenerAddr("fe", 0).String()
	for i := 0; i < 4; i++ {
		traffic.Add(1)
		go func() {
			defer traffic.Done()
			cl := &http.Client{Timeout: 5 * time.Second}
			for {
				select {
				case <-stop:
					cl.CloseIdleConnections()
					return
				default:
				}
				r, err := cl.Get("http://" + feAddr + "/")
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, r.Body)
				r.Body.Close()
				if r.StatusCode == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
				}
			}
		}()
	}

	var work sync.WaitGroup
	for g := 0; g < togglers; g++ {
		work.Add(1)
		go func(g int) {
			defer work.Done()
			rng := rand.New(rand.NewPCG(uint64(g), 42))
			for i := 0; i < opsPer; i++ {
				n := g + togglers*rng.IntN(nServers/togglers)
				srv := fmt.Sprintf("big/s%d", n)
				var cmd string
				switch rng.IntN(7) {
				case 0:
					cmd = "disable server " + srv
				case 1:
					cmd = "enable server " + srv
				case 2:
					cmd = "set server " + srv + " state drain"
				case 3:
					cmd = "set server " + srv + " state ready"
				case 4:
					cmd = "set server " + srv + " state maint"
				case 5:
					cmd = fmt.Sprintf("set weight %s %d", srv, rng.IntN(5))
				default:
					cmd = "get weight " + srv + "; show servers state big"
				}
				var out strings.Builder
				if i%25 == 0 {
					out.WriteString(cli(t, "tcp", h.admin, cmd))
				} else if err := h.api.Execute("admin", cmd, &out); err != nil {
					t.Error(err)
					return
				}
				if o := out.String(); !strings.HasSuffix(o, "\n") {
					t.Errorf("%s: %q", cmd, o)
					return
				}
			}
		}(g)
	}
	// Dynamic servers come and go in the same backend.
	work.Add(1)
	go func() {
		defer work.Done()
		for i := 0; i < 40; i++ {
			var out strings.Builder
			name := fmt.Sprintf("big/dyn%d", i)
			h.api.Execute("admin", "add server "+name+" "+addrs[0]+"; del server "+name, &out)
			if out.String() != "New server registered.\n\nServer deleted.\n\n" {
				t.Errorf("add/del %s: %q", name, out.String())
				return
			}
		}
	}()
	// Stats readers.
	work.Add(1)
	go func() {
		defer work.Done()
		for i := 0; i < 10; i++ {
			var out strings.Builder
			h.api.Execute("user", "show stat; show info", &out)
			if !strings.Contains(out.String(), "big,s999,") {
				t.Errorf("show stat misses servers")
				return
			}
		}
	}()

	finished := make(chan struct{})
	go func() { work.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(90 * time.Second):
		t.Fatal("togglers did not finish: deadlock?")
	}
	close(stop)
	traffic.Wait()
	if ok.Load() == 0 {
		t.Fatalf("no request succeeded (%d failed)", failed.Load())
	}
	servers := h.eng.Proxy("big").Servers()
	if len(servers) != nServers {
		t.Fatalf("%d servers left", len(servers))
	}
	checkFor(t, 30*time.Second, func() error { return f.agrees(servers) })
	t.Logf("%d requests ok, %d failed", ok.Load(), failed.Load())
}

// TestConcurrentSameServer: updates of one server from several goroutines
// must publish their events in the order the states were applied, so a
// state follower ends with the true state.
func TestConcurrentSameServer(t *testing.T) {
	h := startHarness(t, "backend be\n    server s1 "+backend(t, nil)+"\n")
	for round := 0; round < 20; round++ {
		f := follow(h, "be")
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := 0; i < 100; i++ {
					cmd := "disable server be/s1"
					if (i+g)%2 == 0 {
						cmd = "enable server be/s1"
					}
					h.api.Execute("admin", cmd, io.Discard)
				}
			}(g)
		}
		wg.Wait()
		checkFor(t, 5*time.Second, func() error { return f.agrees(h.eng.Proxy("be").Servers()) })
	}
}
