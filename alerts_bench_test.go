package moonbus

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"moonbus/bus"
	"moonbus/config"
)

// BenchmarkDownToWebhook measures the time from a server state change to
// the webhook request arriving at an httptest endpoint, through the whole
// daemon (bus → webhook pipeline → HTTP). Each iteration takes a different
// server DOWN (one change per server, so flap damping never applies) and
// waits for its request. Target (issue 8): p99 ≤ 50 ms. Variants: the
// state change made with proxy.Server.SetAdmin, or with "disable server"
// on the runtime API (the CLI round trip is then part of the figure).
func BenchmarkDownToWebhook(b *testing.B) {
	b.Run("setadmin", func(b *testing.B) { benchDownToWebhook(b, false) })
	b.Run("cli", func(b *testing.B) { benchDownToWebhook(b, true) })
}

func benchDownToWebhook(b *testing.B, viaCLI bool) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer app.Close()
	h := startHook(b, nil)
	var sb strings.Builder
	fmt.Fprintf(&sb, `
global
    stats socket ipv4@127.0.0.1:0 level admin
webhook ops
    url %s/hook
    event SERVER_DOWN
`+httpDefaults+`
backend be
`, h.URL)
	for i := 0; i < b.N; i++ {
		fmt.Fprintf(&sb, "    server s%d %s\n", i, strings.TrimPrefix(app.URL, "http://"))
	}
	cfg, err := config.Parse("bench.cfg", []byte(sb.String()), config.Options{})
	if err != nil {
		b.Fatal(err)
	}
	d, err := New(cfg, Options{Stdout: io.Discard, Stderr: io.Discard, Logger: slog.New(slog.DiscardHandler), Instance: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = d.Stop(ctx)
	}()
	servers := d.Engine().Proxy("be").Servers()
	cliAddr := d.CLIAddrs()[0]
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if viaCLI {
			if got, err := benchCLI(cliAddr, "disable server be/"+servers[i].Name()); err != nil || got != "\n" {
				b.Fatalf("disable server: %q %v", got, err)
			}
		} else {
			servers[i].SetAdmin(bus.FMaint, 0, "")
		}
		select {
		case at := <-h.arrived:
			lat = append(lat, at.Sub(t0))
		case <-time.After(10 * time.Second):
			b.Fatalf("iteration %d: no webhook request", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(lat[len(lat)-1])/float64(time.Millisecond), "max-ms")
}

// benchCLI sends one command to a stats socket and returns the reply.
func benchCLI(addr, line string) (string, error) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	b, err := io.ReadAll(c)
	return string(b), err
}
