// Package smtptest runs real SMTP servers in process for tests, as
// net/http/httptest does for HTTP: only tests import it.
//
// Start listens on 127.0.0.1:0 and speaks SMTP through
// github.com/emersion/go-smtp, in clear, with STARTTLS or with implicit TLS
// (a fresh self-signed certificate for 127.0.0.1 and localhost that
// ClientTLS trusts), optionally requiring AUTH PLAIN, LOGIN or CRAM-MD5
// with one user and password. Every accepted message is recorded as a
// Mail, with its envelope, HELO name, authenticated user, headers, decoded
// subject and body, and raw data; Received returns them and WaitMails or
// WaitMail wait for them. RefuseConns, FailData and RejectData make the
// next connections or transactions fail so that retries can be tested. The
// server is closed by t.Cleanup.
package smtptest

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
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Mode is how the server uses TLS. Its values are the words of a mailer
// line's tls option.
type Mode string

const (
	Plain       Mode = "none"     // no TLS at all (the zero Mode too)
	StartTLS    Mode = "starttls" // clear, with STARTTLS offered
	ImplicitTLS Mode = "implicit" // TLS from the first byte
)

// waitTimeout bounds WaitMails and WaitMail.
const waitTimeout = 10 * time.Second

// Options configures Start. The zero value is a plain server without AUTH.
type Options struct {
	Mode Mode
	// Mechanisms lists the AUTH mechanisms offered, among "PLAIN", "LOGIN"
	// and "CRAM-MD5". When it is not empty, MAIL FROM is refused (502
	// 5.7.0, go-smtp's ErrAuthRequired) until the client authenticated as
	// User with Password. A Plain server offers AUTH in clear, a
	// StartTLS one only after STARTTLS.
	Mechanisms     []string
	User, Password string
}

// Mail is one message the server accepted.
type Mail struct {
	Helo    string   // the client's EHLO or HELO name
	From    string   // envelope sender (MAIL FROM)
	To      []string // envelope recipients (RCPT TO), in order
	User    string   // authenticated user, "" without AUTH
	TLS     bool     // whether the transaction ran over TLS
	Header  mail.Header
	Subject string // the Subject header, RFC 2047 decoded
	Body    string // decoded when quoted-printable, CRLF turned into LF
	RawBody string // the body as received: not decoded, CRLF kept
	Raw     []byte // the whole DATA payload as received
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is the server's address, 127.0.0.1:port.
	Addr string

	t      testing.TB
	opts   Options
	client *tls.Config

	refuse   atomic.Int32 // connections still to close at once
	failData atomic.Int32 // DATA commands still to answer 451
	rejData  atomic.Int32 // DATA commands still to answer 554
	conns    atomic.Int32

	mu      sync.Mutex
	mails   []Mail
	arrived chan struct{} // closed, and replaced, when a mail arrives
}

// Start starts a server as o says and arranges for t.Cleanup to close it.
// The returned server's WaitMails and WaitMail report failures to t, so
// call them from the goroutine that runs t.
func Start(t testing.TB, o Options) *Server {
	t.Helper()
	if o.Mode == "" {
		o.Mode = Plain
	}
	s := &Server{t: t, opts: o, arrived: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "localhost"
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	var l net.Listener = &refusingListener{Listener: ln, s: s}
	switch o.Mode {
	case Plain:
		srv.AllowInsecureAuth = true
	case StartTLS, ImplicitTLS:
		cert, pool, err := selfSigned()
		if err != nil {
			ln.Close()
			t.Fatal(err)
		}
		s.client = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if o.Mode == ImplicitTLS {
			l = tls.NewListener(l, srv.TLSConfig)
		}
	default:
		ln.Close()
		t.Fatalf("smtptest: unknown mode %q", o.Mode)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(l)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		<-done
	})
	return s
}

// ClientTLS returns a client configuration that trusts the server's
// certificate, or nil in Plain mode.
func (s *Server) ClientTLS() *tls.Config {
	if s.client == nil {
		return nil
	}
	return s.client.Clone()
}

// RefuseConns makes the server close the next n connections as soon as it
// accepts them, before any greeting (and before the TLS handshake).
func (s *Server) RefuseConns(n int) { s.refuse.Store(int32(n)) }

// FailData makes the server answer the next n DATA commands with a
// temporary failure, 451 4.3.0, after reading the message.
func (s *Server) FailData(n int) { s.failData.Store(int32(n)) }

// RejectData makes the server answer the next n DATA commands with a
// permanent failure, 554 5.7.1, after reading the message. FailData's
// failures come first.
func (s *Server) RejectData(n int) { s.rejData.Store(int32(n)) }

// Conns returns how many TCP connections the server accepted, refused ones
// included.
func (s *Server) Conns() int { return int(s.conns.Load()) }

// Received returns the mails accepted so far, oldest first.
func (s *Server) Received() []Mail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.mails)
}

// WaitMails waits until at least n mails arrived and returns all of them;
// it fails the test after 10 seconds.
func (s *Server) WaitMails(n int) []Mail {
	s.t.Helper()
	return s.wait(fmt.Sprintf("%d mails", n), func(m []Mail) bool { return len(m) >= n })
}

// WaitMail waits until a mail for which match returns true arrived and
// returns the first such mail; it fails the test after 10 seconds.
func (s *Server) WaitMail(what string, match func(Mail) bool) Mail {
	s.t.Helper()
	mails := s.wait(what, func(m []Mail) bool { return slices.ContainsFunc(m, match) })
	return mails[slices.IndexFunc(mails, match)]
}

// wait returns the mails once done accepts them, checking at each arrival.
func (s *Server) wait(what string, done func([]Mail) bool) []Mail {
	s.t.Helper()
	timer := time.NewTimer(waitTimeout)
	defer timer.Stop()
	for {
		s.mu.Lock()
		mails, arrived := slices.Clone(s.mails), s.arrived
		s.mu.Unlock()
		if done(mails) {
			return mails
		}
		select {
		case <-arrived:
		case <-timer.C:
			var subjects []string
			for _, m := range mails {
				subjects = append(subjects, fmt.Sprintf("%q", m.Subject))
			}
			s.t.Fatalf("smtptest: no %s after %v; got %d mails, subjects [%s]",
				what, waitTimeout, len(mails), strings.Join(subjects, ", "))
			return mails
		}
	}
}

func (s *Server) add(m Mail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mails = append(s.mails, m)
	close(s.arrived)
	s.arrived = make(chan struct{})
}

// take consumes one of the n failures left in c, if any.
func take(c *atomic.Int32) bool {
	for {
		n := c.Load()
		if n <= 0 {
			return false
		}
		if c.CompareAndSwap(n, n-1) {
			return true
		}
	}
}

type refusingListener struct {
	net.Listener
	s *Server
}

func (l *refusingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.s.conns.Add(1)
		if !take(&l.s.refuse) {
			return c, nil
		}
		c.Close()
	}
}

// session is one SMTP connection's state, from EHLO on.
type session struct {
	s    *Server
	c    *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string { return ss.s.opts.Mechanisms }

func (ss *session) Auth(mech string) (sasl.Server, error) {
	check := func(user, pass string) error {
		if user != ss.s.opts.User || pass != ss.s.opts.Password {
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
		return &cramServer{user: ss.s.opts.User, pass: ss.s.opts.Password, done: func(user string) { ss.user = user }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if len(ss.s.opts.Mechanisms) > 0 && ss.user == "" {
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
	if take(&ss.s.failData) {
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}
	if take(&ss.s.rejData) {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "rejected"}
	}
	m, err := parse(raw)
	if err != nil {
		return err
	}
	_, m.TLS = ss.c.TLSConnectionState()
	m.Helo, m.From, m.To, m.User = ss.c.Hostname(), ss.from, slices.Clone(ss.to), ss.user
	ss.s.add(m)
	return nil
}

func (ss *session) Reset() { ss.from, ss.to = "", nil }

func (ss *session) Logout() error { return nil }

// parse fills the content fields of a Mail from the DATA payload.
func parse(raw []byte) (Mail, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Mail{}, err
	}
	rawBody, err := io.ReadAll(msg.Body)
	if err != nil {
		return Mail{}, err
	}
	body := rawBody
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		if body, err = io.ReadAll(quotedprintable.NewReader(bytes.NewReader(rawBody))); err != nil {
			return Mail{}, err
		}
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		return Mail{}, err
	}
	return Mail{
		Header: msg.Header, Subject: subject, Body: strings.ReplaceAll(string(body), "\r\n", "\n"),
		RawBody: string(rawBody), Raw: raw,
	}, nil
}

// loginServer is the server side of AUTH LOGIN, which go-sasl lacks.
type loginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (l *loginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step++
		if len(resp) > 0 { // an initial response carries the user name
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
	user, pass string
	done       func(user string)
	challenge  string
}

func (c *cramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == "" {
		c.challenge = fmt.Sprintf("<%s.%d@localhost>", rand.Text(), time.Now().UnixNano())
		return []byte(c.challenge), false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	mac := hmac.New(md5.New, []byte(c.pass))
	mac.Write([]byte(c.challenge))
	want := hex.EncodeToString(mac.Sum(nil))
	if !ok || user != c.user || !hmac.Equal([]byte(digest), []byte(want)) {
		return nil, true, smtp.ErrAuthFailed
	}
	c.done(user)
	return nil, true, nil
}

// selfSigned makes a certificate for 127.0.0.1 and localhost, valid for an
// hour around now, and a pool that trusts it.
func selfSigned() (tls.Certificate, *x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
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
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool, nil
}
