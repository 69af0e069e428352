package mailers

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

// receivedMail is one message accepted by the test SMTP server.
type receivedMail struct {
	Helo, From string
	To         []string
	User       string // authenticated user, "" without AUTH
	TLS        bool
	Header     mail.Header
	Subject    string // decoded and unfolded
	Body       string // decoded (quoted-printable), CRLF turned into LF
}

// smtpServer is an in-process SMTP server speaking real SMTP (go-smtp) on
// 127.0.0.1:0, in one of three TLS modes, with optional AUTH.
type smtpServer struct {
	t     *testing.T
	addr  string
	mode  string // none, starttls, implicit
	user  string
	pass  string
	mechs []string
	pool  *x509.CertPool // trusts the server certificate

	failData     atomic.Int32 // reply 451 to the next n DATA commands
	failDataPerm atomic.Int32 // reply 554 to the next n DATA commands
	refuse       atomic.Int32 // close the next n connections at once
	conns        atomic.Int32

	mu    sync.Mutex
	mails []receivedMail
}

type smtpServerOpts struct {
	mode       string
	user, pass string
	mechs      []string // PLAIN, LOGIN, CRAM-MD5
}

func startSMTP(t *testing.T, o smtpServerOpts) *smtpServer {
	t.Helper()
	if o.mode == "" {
		o.mode = "none"
	}
	s := &smtpServer{t: t, mode: o.mode, user: o.user, pass: o.pass, mechs: o.mechs}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	var l net.Listener
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = l.Addr().String()
	l = &refusingListener{Listener: l, s: s}
	switch o.mode {
	case "none":
		srv.AllowInsecureAuth = true
	case "starttls", "implicit":
		cert, pool := selfSigned(t)
		s.pool = pool
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
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

// clientTLS returns the TLS configuration a client needs to trust the server.
func (s *smtpServer) clientTLS() *tls.Config {
	if s.pool == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.pool, MinVersion: tls.VersionTLS12}
}

func (s *smtpServer) received() []receivedMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]receivedMail(nil), s.mails...)
}

// waitMails polls until n mails arrived, and returns them.
func (s *smtpServer) waitMails(n int) []receivedMail {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := s.received()
		if len(m) >= n {
			return m
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("got %d mails, want %d", len(m), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

type refusingListener struct {
	net.Listener
	s *smtpServer
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.conns.Add(1)
		if l.s.refuse.Load() > 0 {
			l.s.refuse.Add(-1)
			c.Close()
			continue
		}
		return c, nil
	}
}

type session struct {
	s    *smtpServer
	c    *smtp.Conn
	user string
	from string
	to   []string
}

func (s *smtpServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &session{s: s, c: c}, nil
}

func (ss *session) AuthMechanisms() []string { return ss.s.mechs }

func (ss *session) Auth(mech string) (sasl.Server, error) {
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
		return &loginServer{check: check}, nil
	case "CRAM-MD5":
		return &cramServer{s: ss.s, done: func(user string) { ss.user = user }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(ss.s.mechs) > 0 && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if ss.s.failData.Load() > 0 {
		ss.s.failData.Add(-1)
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	if ss.s.failDataPerm.Load() > 0 {
		ss.s.failDataPerm.Add(-1)
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected"}
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
	ss.s.mails = append(ss.s.mails, receivedMail{
		Helo: ss.c.Hostname(), From: ss.from, To: append([]string(nil), ss.to...), User: ss.user, TLS: isTLS,
		Header: msg.Header, Subject: subj, Body: strings.ReplaceAll(string(body), "\r\n", "\n"),
	})
	ss.s.mu.Unlock()
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// loginServer is the server side of AUTH LOGIN (go-sasl has only the client).
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 { // initial response carries the user name
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

// cramServer is the server side of AUTH CRAM-MD5 (RFC 2195).
type cramServer struct {
	s         *smtpServer
	done      func(user string)
	challenge string
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
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

// selfSigned makes a certificate for 127.0.0.1 and localhost, and a pool
// that trusts it.
func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "moonbus test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
