package proxy

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// InfoField is one "show info" line: Value is an int64 or a string.
type InfoField struct {
	Name  string
	Value any
}

// FormatUptime renders a duration as "show info" does: "0d 0h00m04s".
func FormatUptime(d time.Duration) string {
	s := int64(d / time.Second)
	if s < 0 {
		s = 0
	}
	return fmt.Sprintf("%dd %dh%02dm%02ds", s/86400, (s%86400)/3600, (s%3600)/60, s%60)
}

// Info returns the "show info" fields in HAProxy's order (reference §6.3),
// for the runtime API and Lua's core.get_info(). version and releaseDate
// fill the Version and Release_date fields.
func (e *Engine) Info(version, releaseDate string, now time.Time) []InfoField {
	started := e.started
	if started.IsZero() {
		started = now
	}
	g := &e.conf.Global
	ulimit := openFilesLimit()
	nbthread := g.Nbthread
	if nbthread <= 0 {
		nbthread = runtime.GOMAXPROCS(0)
	}
	var connRate, maxConnRate, sessRate, maxSessRate, bytesOut int64
	listeners := 0
	for _, p := range e.proxies {
		if !p.isFE {
			continue
		}
		connRate += int64(p.Counters.ConnRate(now))
		maxConnRate += p.Counters.ConnRateMax.Load()
		sessRate += int64(p.Counters.SessRate(now))
		maxSessRate += p.Counters.SessRateMax.Load()
		bytesOut += p.Counters.Bout.Load()
		if !p.disabled.Load() && !p.stopped.Load() {
			listeners += len(p.listeners)
		}
	}
	node := g.Node
	if node == "" {
		node = e.hostname()
	}
	stopping := int64(0)
	if e.stopping.Load() {
		stopping = 1
	}
	cur := e.CurrConns.Load()
	i := func(n string, v int64) InfoField { return InfoField{Name: n, Value: v} }
	s := func(n, v string) InfoField { return InfoField{Name: n, Value: v} }
	up := now.Sub(started)
	return []InfoField{
		s("Name", "Moonbus"),
		s("Version", version),
		s("Release_date", releaseDate),
		i("Nbthread", int64(nbthread)),
		i("Nbproc", 1),
		i("Process_num", 1),
		i("Pid", int64(os.Getpid())),
		s("Uptime", FormatUptime(up)),
		i("Uptime_sec", int64(up/time.Second)),
		i("Start_time_sec", started.Unix()),
		i("Memmax_MB", 0),
		i("PoolAlloc_MB", 0),
		i("PoolUsed_MB", 0),
		i("PoolFailed", 0),
		i("Ulimit-n", ulimit),
		i("Maxsock", ulimit),
		i("Maxconn", int64(e.Maxconn())),
		i("Hard_maxconn", int64(g.Maxconn)),
		i("CurrConns", cur),
		i("CumConns", e.CumConns.Load()),
		i("CumReq", e.CumReq.Load()),
		i("MaxSslConns", 0),
		i("CurrSslConns", 0),
		i("CumSslConns", 0),
		i("Maxpipes", 0),
		i("PipesUsed", 0),
		i("PipesFree", 0),
		i("ConnRate", connRate),
		i("ConnRateLimit", 0),
		i("MaxConnRate", maxConnRate),
		i("SessRate", sessRate),
		i("SessRateLimit", 0),
		i("MaxSessRate", maxSessRate),
		i("SslRate", 0),
		i("SslRateLimit", 0),
		i("MaxSslRate", 0),
		i("SslFrontendKeyRate", 0),
		i("SslFrontendMaxKeyRate", 0),
		i("SslFrontendSessionReuse_pct", 0),
		i("SslBackendKeyRate", 0),
		i("SslBackendMaxKeyRate", 0),
		i("SslCacheLookups", 0),
		i("SslCacheMisses", 0),
		i("CompressBpsIn", 0),
		i("CompressBpsOut", 0),
		i("CompressBpsRateLim", 0),
		i("Tasks", int64(runtime.NumGoroutine())),
		i("Run_queue", 0),
		i("Idle_pct", 100),
		s("node", node),
		s("description", g.Description),
		i("Stopping", stopping),
		i("Jobs", cur+int64(listeners)),
		i("Unstoppable Jobs", 0),
		i("Listeners", int64(listeners)),
		i("ActivePeers", 0),
		i("ConnectedPeers", 0),
		i("DroppedLogs", 0),
		i("BusyPolling", 0),
		i("FailedResolutions", 0),
		i("TotalBytesOut", bytesOut),
		i("TotalSplicedBytesOut", 0),
		i("BytesOutRate", 0),
		i("DebugCommandsIssued", 0),
		i("CumRecvLogs", 0),
		i("Tainted", 0),
		i("TotalWarnings", int64(len(e.conf.Warnings))),
		i("MaxconnReached", e.MaxConnReached.Load()),
		i("BootTime_ms", 0),
		i("Niced_tasks", 0),
		i("CurrStreams", cur),
		i("CumStreams", e.CumConns.Load()),
		i("BlockedTrafficWarnings", 0),
	}
}
