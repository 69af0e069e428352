package moonbus

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// An in-process SMTP server speaking real SMTP (go-smtp) on 127.0.0.1:0 for
// the daemon's native mailer: plain, STARTTLS or implicit TLS, with
// optional AUTH PLAIN, LOGIN and CRAM-MD5.

// gotMail is one message accepted by the test SMTP server.
type gotMail struct {
	Helo, From string
	To         []string
	User       string // authenticated user, "" without AUTH
	TLS        bool
	Header     mail.Header
	Subject    string // decoded
	Body       string // decoded, CRLF turned into LF
}

type mailServer struct {
	t     *testing.T
	port  string
	user  string
	pass  string
	mechs []string

	failData atomic.Int32 // reply 451 to the next n DATA commands
	conns    atomic.Int32

	mu    sync.Mutex
	mails []gotMail
}

type mailServerOpts struct {
	mode       string // none, starttls, implicit
	user, pass string
	mechs      []string // PLAIN, LOGIN, CRAM-MD5
}

func startMailServer(t *testing.T, o mailServerOpts) *mailServer {
	t.Helper()
	if o.mode == "" {
		o.mode = "none"
	}
	s := &mailServer{t: t, user: o.user, pass: o.pass, mechs: o.mechs}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.conns.Add(1)
		return &mailSession{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, s.port, _ = net.SplitHostPort(l.Addr().String())
	switch o.mode {
	case "none":
		srv.AllowInsecureAuth = true
	case "starttls", "implicit":
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{mailCert(t)}, MinVersion: tls.VersionTLS12}
		if o.mode == "implicit" {
			l = tls.NewListener(l, srv.TLSConfig)
		}
	default:
		t.Fatalf("unknown mode %q", o.mode)
	}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return s
}

func (s *mailServer) received() []gotMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]gotMail(nil), s.mails...)
}

// waitMails polls until n mails arrived, and returns them.
func (s *mailServer) waitMails(n int) []gotMail {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := s.received()
		if len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("got %d mails, want %d: %+v", len(m), n, m)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type mailSession struct {
	s    *mailServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (ss *mailSession) AuthMechanisms() []string { return ss.s.mechs }

func (ss *mailSession) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != ss.s.user || pass != ss.s.pass {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}
	switch mech {
	case sasl.Plain:
		return sasl.NewPlainServer(func(_, user, pass string) error { return check(user, pass) }), nil
	case sasl.Login:
		return &mailLoginServer{check: check}, nil
	case "CRAM-MD5":
		return &mailCramServer{s: ss.s, done: func(user string) { ss.user = user }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *mailSession) Mail(from string, _ *smtp.MailOptions) error {
	if len(ss.s.mechs) > 0 && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *mailSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *mailSession) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.failData.Load() > 0 {
		ss.s.failData.Add(-1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	var body []byte
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body, err = io.ReadAll(quotedprintable.NewReader(msg.Body))
	} else {
		body, err = io.ReadAll(msg.Body)
	}
	if err != nil {
		return err
	}
	subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return err
	}
	_, isTLS := ss.c.TLSConnectionState()
	ss.s.mu.Lock()
	ss.s.mails = append(ss.s.mails, gotMail{
		Helo: ss.c.Hostname(), From: ss.from, To: append([]string(nil), ss.to...), User: ss.user, TLS: isTLS,
		Header: msg.Header, Subject: subj, Body: strings.ReplaceAll(string(body), "\r\n", "\n"),
	})
	ss.s.mu.Unlock()
	return nil
}

func (ss *mailSession) Reset() { ss.from, ss.to = "", nil }

func (ss *mailSession) Logout() error { return nil }

// mailLoginServer is the server side of AUTH LOGIN (go-sasl has only the
// client).
type mailLoginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *mailLoginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 {
			l.user = string(resp)
			l.step++
			return []byte("Password:"), false, nil
		}
		return []byte("Username:"), false, nil
	case 1:
		l.user = string(resp)
		l.step++
		return []byte("Password:"), false, nil
	case 2:
		l.step++
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, errors.New("unexpected LOGIN step")
}

// mailCramServer is the server side of AUTH CRAM-MD5 (RFC 2195).
type mailCramServer struct {
	s         *mailServer
	done      func(user string)
	challenge string
}

func (c *mailCramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = fmt.Sprintf("<%d.%d@localhost>", time.Now().UnixNano(), c.s.conns.Load())
		return []byte(c.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	mac := hmac.New(md5.New, []byte(c.s.pass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	if !ok || user != c.s.user || !hmac.Equal([]byte(digest), []byte(want)) {
		return nil, true, smtp.ErrAuthFailed
	}
	c.done(user)
	return nil, true, nil
}

// mailCert makes a self-signed certificate for 127.0.0.1.
func mailCert(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "moonbus test smtp"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
