package moonbus

import (
	"strconv"

	"moonbus/mailers"
	"moonbus/proxy"
)

// statsOptions is what the daemon adds to the stats page and the Prometheus
// exporter of its engines: the version, and the alert counters the proxy
// engine cannot see (moonbus_alerts_*, one series per mailer or webhook
// pipeline; moonbus_nats_*, one series per nats section). The bus counters
// are exported by the engine itself.
func (d *Daemon) statsOptions() proxy.StatsOptions {
	return proxy.StatsOptions{Version: Version, ReleaseDate: ReleaseDate, Metrics: func(dst []byte) []byte {
		return d.appendNATSMetrics(d.appendAlertMetrics(dst))
	}}
}

// alertFamilies are the alert pipeline counters, in output order.
var alertFamilies = [...]struct {
	name, help string
	get        func(c mailers.Counters) uint64
}{
	{"moonbus_alerts_sent_total", "Alert batches delivered (mail or webhook), per pipeline", func(c mailers.Counters) uint64 { return c.Sent }},
	{"moonbus_alerts_failed_total", "Alert batches given up on after the last retry, per pipeline", func(c mailers.Counters) uint64 { return c.Failed }},
	{"moonbus_alerts_retried_total", "Alert delivery attempts after a failed one, per pipeline", func(c mailers.Counters) uint64 { return c.Retried }},
	{"moonbus_alerts_suppressed_total", "Alerts withheld by dedup or flap damping, per pipeline", func(c mailers.Counters) uint64 { return c.Suppressed }},
}

// appendAlertMetrics appends the alert counters in the Prometheus text
// format (nothing when no mailer or webhook is configured).
func (d *Daemon) appendAlertMetrics(dst []byte) []byte {
	d.mu.Lock()
	a := d.alerts
	d.mu.Unlock()
	if a == nil {
		return dst
	}
	pls := a.pipelines()
	if len(pls) == 0 {
		return dst
	}
	counts := make([]mailers.Counters, len(pls))
	for i, p := range pls {
		counts[i] = p.Counters()
	}
	for _, f := range alertFamilies {
		dst = append(dst, "# HELP "+f.name+" "+f.help+"\n# TYPE "+f.name+" counter\n"...)
		for i, p := range pls {
			dst = append(dst, f.name...)
			dst = append(dst, `{pipeline="`...)
			dst = appendLabelValue(dst, p.Name())
			dst = append(dst, `"} `...)
			dst = strconv.AppendUint(dst, f.get(counts[i]), 10)
			dst = append(dst, '\n')
		}
	}
	return dst
}

// appendLabelValue escapes a Prometheus label value.
func appendLabelValue(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			dst = append(dst, `\\`...)
		case '"':
			dst = append(dst, `\"`...)
		case '\n':
			dst = append(dst, `\n`...)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}
