package healthcheck

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

type smtpBackend struct {
	mu     sync.Mutex
	helos  []string
	refuse error
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.helos = append(b.helos, c.Hostname())
	if b.refuse != nil {
		return nil, b.refuse
	}
	return nopSession{}, nil
}

type nopSession struct{}

func (nopSession) Reset()                               {}
func (nopSession) Logout() error                        { return nil }
func (nopSession) Mail(string, *smtp.MailOptions) error { return nil }
func (nopSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (nopSession) Data(io.Reader) error                 { return nil }

func smtpServer(t *testing.T, be *smtpBackend) string {
	t.Helper()
	s := smtp.NewServer(be)
	s.Domain = "mx.test"
	s.ErrorLog = discardLogger{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); s.Serve(ln) }()
	t.Cleanup(func() { s.Close(); <-done })
	return ln.Addr().String()
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}
func (discardLogger) Println(...interface{})        {}

func mustRules(t *testing.T, option string, args ...string) *Rules {
	t.Helper()
	r, err := ParseRules(option, args, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestSMTPCheck(t *testing.T) {
	ctx := ctxT(t)
	be := &smtpBackend{}
	addr := smtpServer(t, be)
	spec := &Spec{Rules: mustRules(t, "smtpchk"), Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, addr), StatusL7OK, 250, "2.0.0 Hello localhost")
	spec = &Spec{Rules: mustRules(t, "smtpchk", "EHLO", "lb.example.org"), Inter: 2 * time.Second}
	r := runSpec(t, ctx, spec, addr)
	if r.Status != StatusL7OK || r.Code != 250 {
		t.Fatalf("EHLO: %s %d %q", r.Status, r.Code, r.Info)
	}
	be.mu.Lock()
	helos := append([]string(nil), be.helos...)
	be.refuse = errors.New("busy, try later")
	be.mu.Unlock()
	// Each check ran twice: blocking, then on the check loop.
	if len(helos) != 4 || helos[0] != "localhost" || helos[1] != "localhost" || helos[2] != "lb.example.org" || helos[3] != "lb.example.org" {
		t.Fatalf("HELO domains %q", helos)
	}
	wantResult(t, runSpec(t, ctx, spec, addr), StatusL7STS, 451, "4.0.0 busy, try later")

	t.Run("banner not 2xx", func(t *testing.T) {
		a := listen(t, func(c net.Conn) { io.WriteString(c, "554 5.3.2 no service here\r\n") })
		wantResult(t, runSpec(t, ctx, spec, a), StatusL7STS, 554, "5.3.2 no service here")
	})
	t.Run("not SMTP", func(t *testing.T) {
		a := listen(t, func(c net.Conn) { io.WriteString(c, "+OK POP3 ready\r\n") })
		wantResult(t, runSpec(t, ctx, spec, a), StatusL7RSP, 0, "+OK POP3 ready")
	})
}

func redisServer(t *testing.T, reply string) string {
	return listen(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		var cmd []string
		for i := 0; i < 3; i++ { // *1, $4, PING
			l, err := br.ReadString('\n')
			if err != nil {
				return
			}
			cmd = append(cmd, strings.TrimRight(l, "\r\n"))
		}
		if strings.Join(cmd, " ") == "*1 $4 PING" {
			io.WriteString(c, reply)
		}
		br.ReadByte() // hold the connection until the checker closes it
	})
}

func TestRedisCheck(t *testing.T) {
	ctx := ctxT(t)
	spec := &Spec{Rules: mustRules(t, "redis-check"), Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, redisServer(t, "+PONG\r\n")), StatusL7OK, 0, "Redis server is ok")
	wantResult(t, runSpec(t, ctx, spec, redisServer(t, "-LOADING Redis is loading the dataset in memory\r\n")),
		StatusL7STS, 0, "-LOADING Redis is loading the dataset in memory")
	wantResult(t, runSpec(t, ctx, spec, redisServer(t, "-NOAUTH Authentication required.\r\n")),
		StatusL7STS, 0, "-NOAUTH Authentication required.")
}

// pgServer reads a startup packet, records the user and answers with msg.
func pgServer(t *testing.T, msg []byte, users chan<- string) string {
	return listen(t, func(c net.Conn) {
		var hdr [8]byte
		if _, err := io.ReadFull(c, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[:4]))
		if binary.BigEndian.Uint32(hdr[4:]) != 196608 || n < 8 || n > 10000 {
			return
		}
		params := make([]byte, n-8)
		if _, err := io.ReadFull(c, params); err != nil {
			return
		}
		kv := strings.Split(string(params), "\x00")
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i] == "user" {
				users <- kv[i+1]
			}
		}
		c.Write(msg)
		c.Read(make([]byte, 1))
	})
}

func pgMsg(typ byte, payload []byte) []byte {
	out := []byte{typ}
	out = binary.BigEndian.AppendUint32(out, uint32(len(payload)+4))
	return append(out, payload...)
}

func TestPgSQLCheck(t *testing.T) {
	ctx := ctxT(t)
	users := make(chan string, 10)
	spec := &Spec{Rules: mustRules(t, "pgsql-check", "user", "haproxy"), Inter: 2 * time.Second}
	authOK := pgMsg('R', []byte{0, 0, 0, 0})
	md5 := pgMsg('R', []byte{0, 0, 0, 5, 1, 2, 3, 4})
	sasl := pgMsg('R', append([]byte{0, 0, 0, 10}, "SCRAM-SHA-256\x00\x00"...))
	errMsg := pgMsg('E', []byte("SFATAL\x00VFATAL\x00C28000\x00Mno pg_hba.conf entry for host \"127.0.0.1\"\x00\x00"))
	tests := []struct {
		name string
		msg  []byte
		st   Status
		info string
	}{
		{"AuthenticationOk", authOK, StatusL7OK, "PostgreSQL server is ok"},
		{"MD5 password request", md5, StatusL7OK, "PostgreSQL server is ok"},
		{"SASL request", sasl, StatusL7OK, "PostgreSQL server is ok"},
		{"ErrorResponse", errMsg, StatusL7RSP, `FATAL: no pg_hba.conf entry for host "127.0.0.1"`},
		{"not PostgreSQL", []byte("HTTP/1.0 400 Bad Request\r\n\r\n"), StatusL7STS, "PostgreSQL unknown error"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantResult(t, runSpec(t, ctx, spec, pgServer(t, tc.msg, users)), tc.st, 0, tc.info)
			if u := <-users; u != "haproxy" {
				t.Fatalf("user %q", u)
			}
		})
	}
}

func TestSSLHelloCheck(t *testing.T) {
	ctx := ctxT(t)
	cfg := selfSigned(t)
	tlsAddr := listen(t, func(c net.Conn) { tls.Server(c, cfg).Handshake() })
	spec := &Spec{Rules: mustRules(t, "ssl-hello-chk"), Inter: 2 * time.Second}
	wantResult(t, runSpec(t, ctx, spec, tlsAddr), StatusL6OK, 0, "")

	plain := listen(t, func(c net.Conn) {
		c.Read(make([]byte, 1024))
		io.WriteString(c, "HTTP/1.1 400 Bad Request\r\n\r\n")
	})
	wantResult(t, runSpec(t, ctx, spec, plain), StatusL6RSP, 0, "")
	quick := &Spec{Rules: spec.Rules, Inter: 200 * time.Millisecond}
	wantResult(t, runSpec(t, ctx, quick, silent(t)), StatusL6TOUT, 0, "")

	t.Run("crypto/tls answers our ClientHello with a ServerHello", func(t *testing.T) {
		c, err := net.Dial("tcp", tlsAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Write(clientHello()); err != nil {
			t.Fatal(err)
		}
		var rec [6]byte
		if _, err := io.ReadFull(c, rec[:]); err != nil {
			t.Fatal(err)
		}
		if rec[0] != 0x16 || rec[1] != 0x03 || rec[5] != 0x02 {
			t.Fatalf("record % x is not a ServerHello", rec)
		}
	})
}

func TestParseRules(t *testing.T) {
	if r, err := ParseRules("", nil, words("expect status 200"), nil); r != nil || err != nil {
		t.Fatalf("no option: %v %v", r, err)
	}
	for _, tc := range []struct {
		option string
		args   []string
		want   string
	}{
		{"mysql-check", nil, "'option mysql-check' is not supported"},
		{"ldap-check", nil, "'option ldap-check' is not supported"},
		{"external-check", nil, "not supported"},
		{"frob-check", nil, "unknown check option 'frob-check'"},
		{"redis-check", []string{"x"}, "takes no argument"},
		{"ssl-hello-chk", []string{"x"}, "takes no argument"},
		{"tcp-check", []string{"x"}, "takes no argument"},
		{"pgsql-check", []string{"usr", "x"}, "only supports optional values: 'user'"},
		{"pgsql-check", []string{"user"}, "expects a username"},
		{"smtpchk", []string{"HELO", "a", "b"}, "unexpected argument 'b'"},
	} {
		_, err := ParseRules(tc.option, tc.args, nil, nil)
		var re *RuleError
		if !errors.As(err, &re) || re.Line != -1 || !strings.Contains(re.Msg, tc.want) {
			t.Errorf("%s %v: %v", tc.option, tc.args, err)
		}
	}
	// pgsql startup packet layout
	r := mustRules(t, "pgsql-check", "user", "bob")
	pkt := r.steps[1].data
	if !bytes.Equal(pkt[4:8], []byte{0, 3, 0, 0}) || !bytes.Equal(pkt[8:], []byte("user\x00bob\x00\x00")) || int(binary.BigEndian.Uint32(pkt)) != len(pkt) {
		t.Fatalf("startup packet % x", pkt)
	}
}
