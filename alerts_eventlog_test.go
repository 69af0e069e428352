package moonbus

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// event-log stdout: each bus event is one logfmt line on the daemon's
// standard output, in order.
func TestAlertsEventLogStdout(t *testing.T) {
	app := newSickable(t, "app")
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
    event-log stdout
`+httpDefaults+`
backend be
    option httpchk GET /health
    server s1 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
`)
	waitFirstChecks(t, d, "be")
	d.adm("set server be/s1 health down")
	line := d.waitLog(" type=SERVER_DOWN ")
	re := regexp.MustCompile(`^time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z type=SERVER_DOWN seq=\d+ instance=test server=be/s1 puid=1 ` +
		`old_state=RUNNING new_state=STOPPED admin=false requeued=0 cause="changed from CLI" ` +
		`msg="Server be/s1 is DOWN, changed from CLI\. 0 active and 0 backup servers left\. 0 sessions active, 0 requeued, 0 remaining in queue"$`)
	if !re.MatchString(line) {
		t.Fatalf("event line %q", line)
	}
	d.waitLog(" type=BACKEND_DOWN ")
	// Order: SERVER_DOWN, SERVER_STATE, then BACKEND_DOWN.
	var types []string
	for _, l := range strings.Split(d.out.String(), "\n") {
		if m := regexp.MustCompile(`^time=\S+ type=(\S+) `).FindStringSubmatch(l); m != nil && m[1] != "SERVER_CHECK" {
			types = append(types, m[1])
		}
	}
	if got := strings.Join(types, ","); got != "SERVER_DOWN,SERVER_STATE,BACKEND_DOWN" {
		t.Fatalf("event lines in order: %s", got)
	}
}

// event-log global: the lines go to the global log targets, at warning for
// SERVER_DOWN and err for BACKEND_DOWN.
func TestAlertsEventLogGlobal(t *testing.T) {
	addr, ch := udpSyslog(t)
	app := newSickable(t, "app")
	d := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
    log `+addr+` format raw local0
    event-log global
`+httpDefaults+`
backend be
    option httpchk GET /health
    server s1 `+hostOf(app.srv)+` check inter 10s fastinter 10ms
`)
	waitFirstChecks(t, d, "be")
	d.adm("set server be/s1 state maint")
	var got []string
	deadline := time.After(5 * time.Second)
	for len(got) < 2 {
		select {
		case m := <-ch:
			if strings.Contains(m, "type=SERVER_DOWN ") || strings.Contains(m, "type=BACKEND_DOWN ") {
				got = append(got, m)
			}
		case <-deadline:
			t.Fatalf("event lines received: %q", got)
		}
	}
	if !strings.HasPrefix(got[0], "time=") || !strings.Contains(got[0], " server=be/s1 ") || !strings.Contains(got[0], " admin=true ") {
		t.Fatalf("SERVER_DOWN line %q", got[0])
	}
	if !strings.Contains(got[1], ` msg="backend be has no server available!"`) {
		t.Fatalf("BACKEND_DOWN line %q", got[1])
	}

	// The same with the priority: rfc3164 shows <PRI> (local0: 16×8 + level).
	addr2, ch2 := udpSyslog(t)
	d2 := startDaemon(t, `
global
    stats socket ipv4@127.0.0.1:0 level admin
    log `+addr2+` format short local0
    event-log global
`+httpDefaults+`
backend be
    server s1 `+hostOf(app.srv)+`
`)
	d2.adm("set server be/s1 state maint")
	want := map[string]string{"type=SERVER_DOWN": "<132>", "type=BACKEND_DOWN": "<131>", "type=SERVER_ADMIN": "<134>"}
	deadline = time.After(5 * time.Second)
	for len(want) > 0 {
		select {
		case m := <-ch2:
			for k, pri := range want {
				if strings.Contains(m, " "+k+" ") {
					if !strings.HasPrefix(m, pri+"time=") {
						t.Errorf("%s line %q, want priority %s", k, m, pri)
					}
					delete(want, k)
				}
			}
		case <-deadline:
			t.Fatalf("missing event lines %v", want)
		}
	}
}

// event-log global without a global log line says so.
func TestAlertsEventLogGlobalWithoutTargets(t *testing.T) {
	d := startDaemon(t, `
global
    event-log global
`+httpDefaults+`
backend be
    server s1 127.0.0.1:1
`)
	d.waitLog("event-log global: the global section has no 'log' line")
}
