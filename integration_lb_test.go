package moonbus

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// namedServers starts n backends answering their own name.
func namedServers(t *testing.T, names ...string) map[string]string {
	addrs := map[string]string{}
	for _, n := range names {
		n := n
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, n)
		}))
		t.Cleanup(s.Close)
		addrs[n] = hostOf(s)
	}
	return addrs
}

// hitCounts sends n requests built by req(i) and counts answers per server.
func hitCounts(t *testing.T, addr string, n int, path func(i int) string, hdr func(i int) string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	c := dialRaw(t, addr)
	for i := 0; i < n; i++ {
		h := ""
		if hdr != nil {
			h = hdr(i)
		}
		c.send(fmt.Sprintf("GET %s HTTP/1.1\r\nHost: x\r\n%s\r\n", path(i), h))
		_, body := c.response("GET")
		counts[body]++
	}
	return counts
}

func slash(int) string { return "/" }

func TestBalanceAlgorithms(t *testing.T) {
	a := namedServers(t, "a", "b", "c")
	cfg := httpDefaults + `
frontend rr
    bind 127.0.0.1:0
    default_backend be_rr
frontend srr
    bind 127.0.0.1:0
    default_backend be_srr
frontend first
    bind 127.0.0.1:0
    default_backend be_first
frontend uri
    bind 127.0.0.1:0
    default_backend be_uri
frontend hdr
    bind 127.0.0.1:0
    default_backend be_hdr
frontend param
    bind 127.0.0.1:0
    default_backend be_param
frontend src
    bind 127.0.0.1:0
    default_backend be_src
frontend lc
    bind 127.0.0.1:0
    default_backend be_lc
frontend rnd
    bind 127.0.0.1:0
    default_backend be_rnd
frontend chash
    bind 127.0.0.1:0
    default_backend be_chash
backend be_rr
    balance roundrobin
    server a ` + a["a"] + ` weight 3
    server b ` + a["b"] + ` weight 1
backend be_srr
    balance static-rr
    server a ` + a["a"] + ` weight 1
    server b ` + a["b"] + ` weight 2
backend be_first
    balance first
    server b ` + a["b"] + ` id 2
    server a ` + a["a"] + ` id 1
backend be_uri
    balance uri
    server a ` + a["a"] + `
    server b ` + a["b"] + `
    server c ` + a["c"] + `
backend be_hdr
    balance hdr(X-User)
    server a ` + a["a"] + `
    server b ` + a["b"] + `
    server c ` + a["c"] + `
backend be_param
    balance url_param user
    server a ` + a["a"] + `
    server b ` + a["b"] + `
    server c ` + a["c"] + `
backend be_src
    balance source
    server a ` + a["a"] + `
    server b ` + a["b"] + `
    server c ` + a["c"] + `
backend be_lc
    balance leastconn
    server a ` + a["a"] + `
    server b ` + a["b"] + `
backend be_rnd
    balance random
    server a ` + a["a"] + `
    server b ` + a["b"] + `
backend be_chash
    balance uri
    hash-type consistent
    server a ` + a["a"] + `
    server b ` + a["b"] + `
    server c ` + a["c"] + `
`
	d := startDaemon(t, cfg)
	t.Run("roundrobin weights", func(t *testing.T) {
		c := hitCounts(t, d.addr("rr"), 40, slash, nil)
		if c["a"] != 30 || c["b"] != 10 {
			t.Fatalf("counts %v, want a=30 b=10", c)
		}
	})
	t.Run("roundrobin is smooth", func(t *testing.T) {
		// With weights 3:1 the sequence interleaves (a a b a), never "a a a b" runs of b.
		c := dialRaw(t, d.addr("rr"))
		var seq []string
		for i := 0; i < 8; i++ {
			c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			_, body := c.response("GET")
			seq = append(seq, body)
		}
		s := strings.Join(seq, "")
		if strings.Contains(s, "bb") {
			t.Fatalf("sequence %s", s)
		}
	})
	t.Run("static-rr weights", func(t *testing.T) {
		c := hitCounts(t, d.addr("srr"), 30, slash, nil)
		if c["a"] != 10 || c["b"] != 20 {
			t.Fatalf("counts %v", c)
		}
	})
	t.Run("first uses lowest id", func(t *testing.T) {
		c := hitCounts(t, d.addr("first"), 10, slash, nil)
		if c["a"] != 10 {
			t.Fatalf("counts %v", c)
		}
	})
	sticky := func(name, fe string, path func(i int) string, hdr func(i int) string) {
		t.Run(name+" is sticky and spreads", func(t *testing.T) {
			seen := map[string]bool{}
			for k := 0; k < 12; k++ {
				c := hitCounts(t, d.addr(fe), 4, func(int) string { return path(k) }, func(int) string {
					if hdr == nil {
						return ""
					}
					return hdr(k)
				})
				if len(c) != 1 {
					t.Fatalf("key %d spread over %v", k, c)
				}
				for s := range c {
					seen[s] = true
				}
			}
			if len(seen) < 2 {
				t.Fatalf("all keys on one server: %v", seen)
			}
		})
	}
	sticky("uri", "uri", func(k int) string { return fmt.Sprintf("/path/%d", k) }, nil)
	sticky("consistent uri", "chash", func(k int) string { return fmt.Sprintf("/path/%d", k) }, nil)
	sticky("hdr", "hdr", slash, func(k int) string { return fmt.Sprintf("X-User: user%d\r\n", k) })
	sticky("url_param", "param", func(k int) string { return fmt.Sprintf("/p?x=1&user=u%d", k) }, nil)
	t.Run("url_param absent falls back to round robin", func(t *testing.T) {
		c := hitCounts(t, d.addr("param"), 30, slash, nil)
		if c["a"] != 10 || c["b"] != 10 || c["c"] != 10 {
			t.Fatalf("counts %v", c)
		}
	})
	t.Run("source is sticky", func(t *testing.T) {
		c := hitCounts(t, d.addr("src"), 10, slash, nil)
		if len(c) != 1 {
			t.Fatalf("counts %v", c)
		}
	})
	t.Run("leastconn and random use every server", func(t *testing.T) {
		for _, fe := range []string{"lc", "rnd"} {
			var mu sync.Mutex
			total := map[string]int{}
			var wg sync.WaitGroup
			for g := 0; g < 4; g++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 20; i++ {
						_, body := get(t, d.addr(fe), "/")
						mu.Lock()
						total[body]++
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if total["a"] == 0 || total["b"] == 0 || total["a"]+total["b"] != 80 {
				t.Fatalf("%s: %v", fe, total)
			}
		}
	})
}

func TestBackupServersAndUseBackend(t *testing.T) {
	a := namedServers(t, "act", "bk1", "bk2", "other")
	d := startDaemon(t, httpDefaults+`
frontend fe
    bind 127.0.0.1:0
    default_backend be
frontend fe_all
    bind 127.0.0.1:0
    default_backend be_all
frontend fe_switch
    bind 127.0.0.1:0
    use_backend be_other
    default_backend be
backend be
    server act `+a["act"]+` disabled
    server bk1 `+a["bk1"]+` backup
    server bk2 `+a["bk2"]+` backup
backend be_all
    option allbackups
    server act `+a["act"]+` disabled
    server bk1 `+a["bk1"]+` backup
    server bk2 `+a["bk2"]+` backup
backend be_other
    server other `+a["other"]+`
`)
	if c := hitCounts(t, d.addr("fe"), 10, slash, nil); c["bk1"] != 10 {
		t.Fatalf("only the first backup must serve: %v", c)
	}
	if c := hitCounts(t, d.addr("fe_all"), 10, slash, nil); c["bk1"] != 5 || c["bk2"] != 5 {
		t.Fatalf("allbackups: %v", c)
	}
	if _, body := get(t, d.addr("fe_switch"), "/"); body != "other" {
		t.Fatalf("use_backend: %q", body)
	}
}
