//go:build linux

package healthcheck

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestHelperListeners is not a test: run by the benchmarks in a child
// process (HEALTHCHECK_LISTENERS=n), it opens n TCP listeners that accept
// and close, prints their addresses and serves until stdin closes. It binds
// ports below the ephemeral range so that the checker's connect() calls do
// not have to skip them.
func TestHelperListeners(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("HEALTHCHECK_LISTENERS"))
	if n == 0 {
		t.Skip("helper process for the scheduler benchmarks")
	}
	httpMode := os.Getenv("HEALTHCHECK_LISTENERS_HTTP") != ""
	out := bufio.NewWriter(os.Stdout)
	var lns []net.Listener
	for port := 12000; len(lns) < n && port < 32000; port++ {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		lns = append(lns, ln)
		fmt.Fprintln(out, ln.Addr().String())
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				if !httpMode {
					c.Close()
					continue
				}
				go func() {
					defer c.Close()
					buf := make([]byte, 512)
					if _, err := c.Read(buf); err == nil {
						c.Write([]byte("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"))
					}
				}()
			}
		}()
	}
	fmt.Fprintln(out, "ready")
	out.Flush()
	buf := make([]byte, 1)
	os.Stdin.Read(buf)
	os.Exit(0)
}

// childListeners starts the helper process and returns n addresses.
func childListeners(b *testing.B, n int) []string { return childListenersMode(b, n, false) }

func childListenersMode(b *testing.B, n int, httpMode bool) []string {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperListeners$")
	cmd.Env = append(os.Environ(), "HEALTHCHECK_LISTENERS="+strconv.Itoa(n))
	if httpMode {
		cmd.Env = append(cmd.Env, "HEALTHCHECK_LISTENERS_HTTP=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	var addrs []string
	for sc.Scan() {
		if sc.Text() == "ready" {
			break
		}
		addrs = append(addrs, sc.Text())
	}
	if len(addrs) < n {
		b.Fatalf("helper opened %d listeners of %d", len(addrs), n)
	}
	return addrs
}

type countTarget struct {
	addr    string
	reports *atomic.Int64
	fails   *atomic.Int64
}

func (c *countTarget) CheckAddr() string { return c.addr }
func (c *countTarget) ReportCheck(r Report) {
	c.reports.Add(1)
	if r.Result.Class() != ResultPassed {
		c.fails.Add(1)
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkScheduler10k checks 10,000 servers (real listeners in a child
// process) with plain TCP checks at inter 1s and reports the checker's CPU
// use per wall second (% of one core), checks per second and the memory per
// checked server. Run with: go test -run '^$' -bench Scheduler10k -benchtime 1x
// ./healthcheck/ (HEALTHCHECK_BENCH_SERVERS and HEALTHCHECK_BENCH_SECONDS
// change the size and the measured window; HEALTHCHECK_BENCH_HTTP=1 runs
// "option httpchk" checks against HTTP listeners instead;
// HEALTHCHECK_BENCH_WAIT=1 makes the loop wait on epoll for every connect,
// as it must for a remote server, instead of finding loopback connects
// complete at once).
func BenchmarkScheduler10k(b *testing.B) {
	n := 10000
	if v, _ := strconv.Atoi(os.Getenv("HEALTHCHECK_BENCH_SERVERS")); v > 0 {
		n = v
	}
	window := 10 * time.Second
	if v, _ := strconv.Atoi(os.Getenv("HEALTHCHECK_BENCH_SECONDS")); v > 0 {
		window = time.Duration(v) * time.Second
	}
	httpMode := os.Getenv("HEALTHCHECK_BENCH_HTTP") != ""
	addrs := childListenersMode(b, n, httpMode)
	var rules *Rules
	if httpMode {
		var err error
		if rules, err = ParseHTTPCheck([]string{"GET", "/health"}, nil); err != nil {
			b.Fatal(err)
		}
	}
	var reports, fails atomic.Int64
	s := NewScheduler(SchedulerOptions{})
	s.alwaysWait = os.Getenv("HEALTHCHECK_BENCH_WAIT") != ""
	defer s.Stop()

	heap0 := heapInUse()
	for i := 0; i < n; i++ {
		t := &countTarget{addr: addrs[i], reports: &reports, fails: &fails}
		spec := &Spec{Rules: rules, Inter: time.Second}
		if _, err := s.Add(t, Config{Probe: spec, Rise: 2, Fall: 3, Inter: time.Second}); err != nil {
			b.Fatal(err)
		}
	}
	heapIdle := heapInUse()
	b.ResetTimer()
	s.Start(context.Background())
	// Warm up: every server checked at least twice.
	deadline := time.Now().Add(60 * time.Second)
	for reports.Load() < int64(2*n) {
		if time.Now().After(deadline) {
			b.Fatalf("warm-up: %d reports", reports.Load())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	r0, c0, t0 := reports.Load(), cpuTime(), time.Now()
	time.Sleep(window) // the measurement window
	r1, c1, t1 := reports.Load(), cpuTime(), time.Now()
	runtime.ReadMemStats(&ms1)
	heapRun := heapInUse()
	b.StopTimer()

	wall := t1.Sub(t0)
	cpuPct := 100 * float64(c1-c0) / float64(wall)
	checksPerSec := float64(r1-r0) / wall.Seconds()
	b.ReportMetric(cpuPct, "%cpu")
	b.ReportMetric(checksPerSec, "checks/s")
	b.ReportMetric(float64(c1-c0)/float64(r1-r0)/1e3, "µs-cpu/check")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/float64(r1-r0), "B-alloc/check")
	b.ReportMetric(float64(heapIdle-heap0)/float64(n), "B/server-idle")
	b.ReportMetric(float64(heapRun-heap0)/float64(n), "B/server-running")
	b.ReportMetric(float64(runtime.NumGoroutine()), "goroutines")
	if f := fails.Load(); f > 0 {
		b.Logf("%d failed checks", f)
	}
}

// BenchmarkConnectProbe is the cost of one plain connect check against a
// listener in another process.
func BenchmarkConnectProbe(b *testing.B) {
	addr := childListeners(b, 1)[0]
	spec := &Spec{Inter: time.Second}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := cpuTime()
	for i := 0; i < b.N; i++ {
		if r := spec.Run(ctx, addr); r.Status != StatusL4OK {
			b.Fatal(r.Status, r.Info)
		}
	}
	b.ReportMetric(float64(cpuTime()-c0)/float64(b.N)/1e3, "µs-cpu/check")
}

// BenchmarkRawConnectFloor is the kernel's cost of HAProxy's way of doing
// BenchmarkScheduler10k's work: a new socket, non-blocking connect, epoll,
// SO_ERROR, close with RST, 10,000 connects per second from one thread, no
// Go networking at all. The check loop goes below it: it delays the
// handshake's ACK (the server never completes it), finds loopback connects
// complete without epoll, and reuses its sockets (connect(AF_UNSPEC)).
func BenchmarkRawConnectFloor(b *testing.B) {
	n := 10000
	addrs := childListeners(b, n)
	sas := make([]*syscall.SockaddrInet4, n)
	for i, a := range addrs {
		_, p, _ := net.SplitHostPort(a)
		port, _ := strconv.Atoi(p)
		sas[i] = &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(ep)
	events := make([]syscall.EpollEvent, 256)
	pending := 0
	drain := func(wait int) {
		nev, _ := syscall.EpollWait(ep, events, wait)
		for i := 0; i < nev; i++ {
			fd := int(events[i].Fd)
			if v, _ := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_ERROR); v != 0 {
				b.Fatalf("connect error %d", v)
			}
			syscall.SetsockoptLinger(fd, syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1})
			syscall.Close(fd)
			pending--
		}
	}
	const perTick = 10 // 10 connects per millisecond
	ticks := 3000
	b.ResetTimer()
	c0, t0 := cpuTime(), time.Now()
	for tick := 0; tick < ticks; tick++ {
		for k := 0; k < perTick; k++ {
			fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
			if err != nil {
				b.Fatal(err)
			}
			if err := syscall.Connect(fd, sas[(tick*perTick+k)%n]); err != nil && err != syscall.EINPROGRESS {
				b.Fatal(err)
			}
			ev := syscall.EpollEvent{Events: syscall.EPOLLOUT | syscall.EPOLLONESHOT, Fd: int32(fd)}
			if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &ev); err != nil {
				b.Fatal(err)
			}
			pending++
		}
		for time.Since(t0) < time.Duration(tick+1)*time.Millisecond {
			drain(1)
		}
	}
	for pending > 0 {
		drain(100)
	}
	cpu, wall := cpuTime()-c0, time.Since(t0)
	b.ReportMetric(float64(cpu)/float64(ticks*perTick)/1e3, "µs-cpu/check")
	b.ReportMetric(100*float64(cpu)/float64(wall), "%cpu")
}
