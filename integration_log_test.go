package moonbus

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"
)

// udpSyslog collects datagrams sent to a local UDP port.
func udpSyslog(t *testing.T) (string, <-chan string) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	ch := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			ch <- string(buf[:n])
		}
	}()
	return pc.LocalAddr().String(), ch
}

func recv(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no syslog datagram")
	}
	return ""
}

func TestLogging(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer srv.Close()
	g, gch := udpSyslog(t)
	p, pch := udpSyslog(t)
	d := startDaemon(t, `
global
    log `+g+` local0 info
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 5s
    timeout server 5s
frontend fe_3164
    bind 127.0.0.1:0
    option httplog
    default_backend be
frontend fe_5424
    bind 127.0.0.1:0
    no log
    log `+p+` format rfc5424 local7
    log-format "%ft %ST %{+Q}HU"
    default_backend be
frontend fe_null
    bind 127.0.0.1:0
    option dontlognull
    option httplog
    default_backend be
frontend fe_stdout
    bind 127.0.0.1:0
    no log
    log stdout format raw daemon
    option httplog
    default_backend be
backend be
    server s1 `+hostOf(srv)+`
`)
	get(t, d.addr("fe_3164"), "/a?b=1")
	m := recv(t, gch)
	// <134> = local0 (16) * 8 + info (6)
	re := regexp.MustCompile(`^<134>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d moonbus\[\d+\]: 127\.0\.0\.1:\d+ \[\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] fe_3164 be/s1 \d+/\d+/\d+/\d+/\d+ 200 \d+ - - ---- \d+/\d+/\d+/\d+/0 0/0 "GET /a\?b=1 HTTP/1\.1"\n$`)
	if !re.MatchString(m) {
		t.Fatalf("rfc3164 httplog line:\n%q", m)
	}
	get(t, d.addr("fe_5424"), "/x")
	m = recv(t, pch)
	re = regexp.MustCompile(`^<190>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}[+-Z][\d:]* - moonbus \d+ - - fe_5424 200 "/x"\n$`)
	if !re.MatchString(m) {
		t.Fatalf("rfc5424 line:\n%q", m)
	}
	// dontlognull: a connection without any request is not logged; a real
	// request is.
	c, _ := net.Dial("tcp", d.addr("fe_null"))
	c.Close()
	get(t, d.addr("fe_null"), "/logged")
	m = recv(t, gch)
	if !strings.Contains(m, `fe_null be/s1`) || !strings.Contains(m, `"GET /logged HTTP/1.1"`) {
		t.Fatalf("dontlognull: %q", m)
	}
	get(t, d.addr("fe_stdout"), "/out")
	line := d.waitLog(`fe_stdout be/s1`)
	if !strings.HasSuffix(line, `"GET /out HTTP/1.1"`) {
		t.Fatalf("stdout raw line: %q", line)
	}
	select {
	case extra := <-gch:
		t.Fatalf("unexpected datagram (no log must silence fe_stdout and fe_5424): %q", extra)
	case <-time.After(100 * time.Millisecond):
	}
}
