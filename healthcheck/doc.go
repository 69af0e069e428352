// Package healthcheck owns Moonbus's active, agent and passive health checks:
// the HAProxy check status table and reason texts, the health counter with
// HAProxy's exact rise/fall semantics, the probes (TCP connect, option httpchk
// with http-check rules, option tcp-check rules, smtpchk, redis-check,
// pgsql-check, ssl-hello-chk, agent-check) and the scheduler that runs one probe
// in flight per server and check kind.
//
// The package knows nothing about servers. A server (in package proxy)
// implements Target; the scheduler calls Target.ReportCheck after every check
// with the result, the health counter after the update and the state edge
// HAProxy would act on, and the server applies its own state change
// (DESIGN.md §4.2: one writer per server). The proxy drives the check side
// through Checker: Pause, Resume, SetHealth (MAINT, "disable health",
// "set server health") and Observe / ObserveHTTP for passive checks
// ("observe layer4|layer7").
//
// # Configuration mapping
//
//	backend: option <kind> <args>, http-check/tcp-check lines
//	    → rules, err := ParseRules(CheckKind, CheckArgs, httpWords, tcpWords)  (one per backend, shared)
//	server: check, addr, port, check-ssl, check-sni, check-alpn, check-send-proxy,
//	        inter, timeout connect, timeout check
//	    → &Spec{Rules, Addr, Port, SSL, SNI, ALPN, TLS, SendProxy, Inter, ConnectTimeout, CheckTimeout}
//	server: agent-check, agent-addr, agent-port, agent-send, agent-inter
//	    → &AgentSpec{Addr, Port, Send, Inter, ConnectTimeout, CheckTimeout}
//	server: rise, fall, inter, fastinter, downinter, init-state, observe, on-error, error-limit
//	    → Config{Kind, Probe, Rise, Fall, Inter, FastInter, DownInter, InitState, Observe, OnError, ErrorLimit}
//	global: spread-checks → SchedulerOptions{SpreadChecks}
//
// A *RuleError from ParseRules names the offending word; its Line is the
// index of the http-check/tcp-check line (-1: the option line), which the
// caller turns into file:line.
//
// # Applying a Report (what the server does)
//
//   - Agent != nil (and the agent is not disabled): apply Admin (ready, drain,
//     maint), then the weight (EffectiveWeight), then maxconn.
//   - Edge: EdgeDown → STOPPED; EdgeUp → RUNNING if not in MAINT, the
//     tracked server is not STOPPED and both checks' health are up (an agent
//     EdgeUp leaves STOPPING alone); EdgeStopping → STOPPING under the same
//     conditions. All three must be no-ops when already in that state.
//   - Changed: publish SERVER_CHECK; with option log-health-checks log
//     Report.LogLine at notice level.
//   - The reason appended to "Server be/srv is DOWN" lines and to
//     SERVER_STATE events is Result.Reason().
//
// Entering MAINT: Pause() and SetHealth(0) on the health Checker (the agent
// keeps running). Leaving MAINT: SetHealth(rise) (or the init-state value),
// then Resume(), which checks at once.
//
// # Cost
//
// One check loop goroutine per Scheduler runs, without a goroutine, timer
// or allocation per probe, every plain connect check and every check
// program without TLS or PROXY header (httpchk, tcp-check, smtpchk,
// redis-check, pgsql-check...) on non-blocking sockets, the way HAProxy's
// check thread does: delayed handshake ACK, RST close, reused sockets, one
// epoll set. TLS, PROXY-header, agent and host-name checks run on a
// goroutine each. BenchmarkScheduler10k measures 10,000 servers at inter
// 1s against real listeners: CPU share, bytes allocated per check and
// memory per checked server.
package healthcheck
