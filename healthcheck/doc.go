// Package healthcheck owns Moonbus's active, agent and passive health checks:
// the HAProxy check status table and reason texts, the health counter with
// HAProxy's exact rise/fall semantics, the probes (TCP connect, option httpchk
// with http-check rules, option tcp-check rules, smtpchk, redis-check,
// pgsql-check, ssl-hello-chk, agent-check) and the scheduler that runs one probe
// in flight per server and check kind.
//
// The package knows nothing about servers. A server (in package proxy)
// implements Target; the scheduler calls Target.ReportCheck with each result,
// the health counter after the update and the state edge HAProxy would act on,
// and the server applies its own state change (DESIGN.md §4.2: one writer per
// server). The proxy drives the check side through Checker: Pause, Resume,
// SetHealth (MAINT, "disable health", "set server health") and Observe /
// ObserveHTTP for passive checks ("observe layer4|layer7").
//
// Typical wiring for one backend:
//
//	rules, err := healthcheck.ParseRules(be.CheckKind, be.CheckArgs, httpLines, tcpLines)
//	sched := healthcheck.NewScheduler(healthcheck.SchedulerOptions{SpreadChecks: g.SpreadChecks})
//	spec := &healthcheck.Spec{Rules: rules, Port: p.Port, SSL: p.CheckSSL, Inter: p.Inter, ...}
//	chk, err := sched.Add(server, healthcheck.Config{Probe: spec, Rise: p.Rise, Fall: p.Fall, ...})
//	sched.Start(ctx)
package healthcheck
