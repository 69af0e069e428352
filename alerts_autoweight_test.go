package moonbus

import (
	"context"
	"encoding/csv"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// statField returns one column of a server's `show stat` row.
func (d *testDaemon) statField(be, srv, field string) string {
	d.t.Helper()
	out := d.adm("show stat")
	r := csv.NewReader(strings.NewReader(strings.TrimPrefix(out, "# ")))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) < 2 {
		d.t.Fatalf("show stat: %v\n%s", err, out)
	}
	col := -1
	for i, h := range recs[0] {
		if h == field {
			col = i
		}
	}
	if col < 0 {
		d.t.Fatalf("no column %q", field)
	}
	for _, rec := range recs[1:] {
		if len(rec) > col && rec[0] == be && rec[1] == srv {
			return rec[col]
		}
	}
	d.t.Fatalf("no row %s/%s", be, srv)
	return ""
}

// statWeight is the weight column of `show stat`: the effective weight.
func (d *testDaemon) statWeight(be, srv string) int {
	d.t.Helper()
	n, err := strconv.Atoi(d.statField(be, srv, "weight"))
	if err != nil {
		d.t.Fatal(err)
	}
	return n
}

// Auto-weight checks mode through the daemon: a failing server's weight
// goes down with its health counter before it is DOWN (fall 3: 66%, 33%),
// and back to full after it is UP again. `show stat` shows the effective
// weight, `get weight` HAProxy's user weight; an operator's set weight is
// the base the factor scales.
func TestAlertsAutoWeightChecks(t *testing.T) {
	a, b := newSickable(t, "a"), newSickable(t, "b")
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
`+httpDefaults+`
backend be
    auto-weight checks
    option httpchk GET /health
    server a `+hostOf(a.srv)+` check inter 250ms rise 2 fall 3 weight 100
    server b `+hostOf(b.srv)+` check inter 250ms rise 2 fall 3 weight 100
`)
	srvA := d.Engine().Proxy("be").Server("a")
	waitFor(t, "a fully up", func() bool { return srvA.HealthInfo().Health == 4 })
	if w := d.statWeight("be", "a"); w != 100 {
		t.Fatalf("healthy weight %d", w)
	}

	// trace polls show stat until done() and returns the distinct weights.
	trace := func(done func() bool) []int {
		var seen []int
		deadline := time.Now().Add(10 * time.Second)
		for !done() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out; weights so far %v", seen)
			}
			w := d.statWeight("be", "a")
			if len(seen) == 0 || seen[len(seen)-1] != w {
				seen = append(seen, w)
				if w == 66 {
					if got := d.adm("get weight be/a"); got != "100 (initial 100)\n\n" && got != "50 (initial 100)\n\n" {
						t.Errorf("get weight: %q", got)
					}
				}
			}
		}
		return seen
	}
	a.sick.Store(true)
	down := trace(func() bool { return srvA.Op().String() == "STOPPED" })
	a.sick.Store(false)
	up := trace(func() bool { return srvA.Op().String() == "RUNNING" && d.statWeight("be", "a") == 100 })
	if got := append(down, up...); !strings.HasPrefix(ints(got), "100 66 33") || got[len(got)-1] != 100 {
		t.Fatalf("weights %v (down %v, up %v): want 100 66 33 ... 100", got, down, up)
	}

	// set weight 50: the base changes, the factor scales it.
	if got := d.adm("set weight be/a 50"); got != "\n" {
		t.Fatalf("set weight: %q", got)
	}
	if got := d.adm("get weight be/a"); got != "50 (initial 100)\n\n" {
		t.Fatalf("get weight: %q", got)
	}
	a.sick.Store(true)
	down = trace(func() bool { return srvA.Op().String() == "STOPPED" })
	a.sick.Store(false)
	if !strings.HasPrefix(ints(down), "50 33 17") {
		t.Fatalf("weights from 50: %v", down)
	}
	waitFor(t, "a back", func() bool { return srvA.Op().String() == "RUNNING" && srvA.EWeight() == 50 })
}

func ints(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, " ")
}

// Auto-weight latency mode through the daemon: with traffic through the
// proxy, a slow server is weighted below a fast one; the fastest keeps
// 100%. A reload keeps it working on the new engine.
func TestAlertsAutoWeightLatency(t *testing.T) {
	backend := func(delay time.Duration, name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(delay)
			io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	fast, slow := backend(0, "fast"), backend(40*time.Millisecond, "slow")
	text := `
global
    stats socket ipv4@127.0.0.1:0 level admin
` + httpDefaults + `
frontend fe
    bind 127.0.0.1:0
    default_backend be
backend be
    auto-weight latency floor 5
    server fast ` + hostOf(fast) + ` weight 100
    server slow ` + hostOf(slow) + ` weight 100
`
	d := startDaemon(t, text)
	// Traffic through the proxy until the test ends.
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		client := &http.Client{Timeout: 5 * time.Second}
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+d.Engine().ListenerAddr("fe", 0).String()+"/", nil)
			if resp, err := client.Do(req); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })

	slower := func() bool {
		ws, wf := d.statWeight("be", "slow"), d.statWeight("be", "fast")
		return wf == 100 && ws < 50 && ws >= 5
	}
	waitFor(t, "the slow server weighted below the fast one", slower)
	if got := d.adm("get weight be/slow"); got != "100 (initial 100)\n\n" {
		t.Fatalf("get weight: %q", got)
	}

	cfg, err := configParse(text)
	if err != nil {
		t.Fatal(err)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer rcancel()
	if err := d.Reload(rctx, cfg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "after the reload, the slow server weighted below the fast one", slower)
}
