package mailers

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/textproto"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	mail "github.com/wneessen/go-mail"

	"moonbus/config"
)

// Defaults of the native mailer.
const (
	DefaultMailTimeout   = 10 * time.Second
	DefaultSubjectPrefix = "[Moonbus Alert]"
)

// DateLayout is strftime "%a, %d %b %Y %T %z (%Z)", the Date header HAProxy
// writes.
const DateLayout = "Mon, 02 Jan 2006 15:04:05 -0700 (MST)"

// SMTPOptions configure an SMTPSender: one mailer of a mailers section plus
// the email-alert settings of the proxy whose alerts it carries.
type SMTPOptions struct {
	// Section is the mailers section name (for the target name).
	Section string
	// Mailer is the "mailer" line: address, tls none|starttls|implicit,
	// auth plain|login|cram-md5, user, password.
	Mailer *config.Mailer
	// Timeout is "timeout mail" of the section, applied to each connection
	// (default DefaultMailTimeout).
	Timeout time.Duration
	// From and To are the envelope and header addresses (email-alert from/to;
	// To may list several addresses separated by commas).
	From, To string
	// MyHostname is the EHLO/HELO name (default: the system hostname).
	MyHostname string
	// SubjectPrefix starts every Subject (default DefaultSubjectPrefix).
	SubjectPrefix string
	// TLSConfig is the base TLS configuration (RootCAs of a private CA...);
	// ServerName defaults to the mailer's host.
	TLSConfig *tls.Config
	// Logger receives "Can't send email alert to <mailer>: <reason>".
	Logger *slog.Logger
}

// SMTPSender is a Sender that mails alerts through one SMTP server with
// go-mail. A batch of one alert gives Subject "<prefix> <msg>" and body
// "<msg>"; a group-wait batch of n gives Subject "<prefix> <first msg> (+n-1
// more)" and one <msg> per body line, in order.
type SMTPSender struct {
	target, mailer string
	host           string
	port           int
	tlsMode, auth  string
	user, password string
	timeout        time.Duration
	helo           string
	from           string
	to             []string
	prefix         string
	tlsConfig      *tls.Config
	log            *slog.Logger
	redact         *Redactor
}

// NewSMTPSender validates the options and returns a sender.
func NewSMTPSender(o SMTPOptions) (*SMTPSender, error) {
	m := o.Mailer
	if m == nil {
		return nil, errors.New("mailers: no mailer given")
	}
	addr := m.Addr
	for _, p := range []string{"ipv4@", "ipv6@"} {
		addr = strings.TrimPrefix(addr, p)
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("mailer %s: address %q: %w", m.Name, m.Addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 1 || port > 65535 {
		return nil, fmt.Errorf("mailer %s: address %q: invalid port", m.Name, m.Addr)
	}
	s := &SMTPSender{
		target:   "mailers/" + o.Section + "/" + m.Name,
		mailer:   m.Name,
		host:     host,
		port:     port,
		tlsMode:  strings.ToLower(m.TLS),
		auth:     strings.ToLower(m.Auth),
		user:     m.User,
		password: m.Password,
		timeout:  o.Timeout,
		helo:     o.MyHostname,
		from:     o.From,
		prefix:   o.SubjectPrefix,
		log:      o.Logger,
		redact:   NewRedactor(m.Password, "\x00"+m.User+"\x00"+m.Password),
	}
	switch s.tlsMode {
	case "", "none":
		s.tlsMode = "none"
	case "starttls", "implicit":
	default:
		return nil, fmt.Errorf("mailer %s: unknown tls mode %q (none, starttls or implicit)", m.Name, m.TLS)
	}
	switch s.auth {
	case "":
	case "plain", "login", "cram-md5":
		if s.user == "" {
			return nil, fmt.Errorf("mailer %s: auth %s needs a user", m.Name, s.auth)
		}
	default:
		return nil, fmt.Errorf("mailer %s: unknown auth %q (plain, login or cram-md5)", m.Name, m.Auth)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultMailTimeout
	}
	if s.helo == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			s.helo = h
		} else {
			s.helo = "localhost"
		}
	}
	if s.prefix == "" {
		s.prefix = DefaultSubjectPrefix
	}
	for _, t := range strings.Split(o.To, ",") {
		if t = strings.TrimSpace(t); t != "" {
			s.to = append(s.to, t)
		}
	}
	if s.from == "" || len(s.to) == 0 {
		return nil, fmt.Errorf("mailer %s: email-alert from and to are required", m.Name)
	}
	if o.TLSConfig != nil {
		s.tlsConfig = o.TLSConfig.Clone()
	} else {
		s.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if s.tlsConfig.ServerName == "" {
		s.tlsConfig.ServerName = host
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.auth != "" && s.tlsMode == "none" && s.auth != "cram-md5" {
		s.log.Warn(fmt.Sprintf("mailer %s: auth %s without TLS sends the password in clear text", m.Name, s.auth))
	}
	return s, nil
}

// Target returns "mailers/<section>/<mailer>".
func (s *SMTPSender) Target() string { return s.target }

// Compose returns the Subject and body of the mail for a batch.
func (s *SMTPSender) Compose(batch []*Alert) (subject, body string) {
	if len(batch) == 0 {
		return s.prefix, ""
	}
	subject = s.prefix + " " + batch[0].Text
	if len(batch) > 1 {
		subject += fmt.Sprintf(" (+%d more)", len(batch)-1)
	}
	var b strings.Builder
	for _, a := range batch {
		b.WriteString(a.Text)
		b.WriteString("\n")
	}
	return subject, b.String()
}

// Send mails one batch. Connection, TLS and 4xx failures are retryable;
// 5xx replies, address and configuration errors are not. A failure is
// logged as HAProxy does: "Can't send email alert to <mailer>: <reason>".
func (s *SMTPSender) Send(ctx context.Context, batch []*Alert) (bool, error) {
	retry, err := s.send(ctx, batch)
	if err != nil {
		reason := s.redact.Error(err)
		s.log.Warn(fmt.Sprintf("Can't send email alert to %s: %s", s.mailer, reason))
		return retry, errors.New(reason)
	}
	return false, nil
}

func (s *SMTPSender) send(ctx context.Context, batch []*Alert) (bool, error) {
	subject, body := s.Compose(batch)
	msg := mail.NewMsg(mail.WithNoDefaultUserAgent())
	if err := msg.From(s.from); err != nil {
		return false, fmt.Errorf("from address %q: %w", s.from, err)
	}
	if err := msg.To(s.to...); err != nil {
		return false, fmt.Errorf("to address %q: %w", strings.Join(s.to, ","), err)
	}
	msg.Subject(subject)
	msg.SetGenHeader(mail.HeaderDate, time.Now().Format(DateLayout))
	msg.SetGenHeader(mail.HeaderXMailer, "Moonbus")
	msg.SetBodyString(mail.TypeTextPlain, body)

	opts := []mail.Option{
		mail.WithPort(s.port),
		mail.WithTimeout(s.timeout),
		mail.WithHELO(s.helo),
		mail.WithTLSConfig(s.tlsConfig),
	}
	switch s.tlsMode {
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	case "starttls":
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	case "implicit":
		opts = append(opts, mail.WithSSL(), mail.WithTLSPolicy(mail.NoTLS))
	}
	if s.auth != "" {
		plain := s.tlsMode == "none"
		var t mail.SMTPAuthType
		switch s.auth {
		case "plain":
			t = mail.SMTPAuthPlain
			if plain {
				t = mail.SMTPAuthPlainNoEnc
			}
		case "login":
			t = mail.SMTPAuthLogin
			if plain {
				t = mail.SMTPAuthLoginNoEnc
			}
		case "cram-md5":
			t = mail.SMTPAuthCramMD5
		}
		opts = append(opts, mail.WithSMTPAuth(t), mail.WithUsername(s.user), mail.WithPassword(s.password))
	}
	client, err := mail.NewClient(s.host, opts...)
	if err != nil {
		return false, fmt.Errorf("smtp client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		return smtpRetryable(err), err
	}
	return false, nil
}

// smtpRetryable classifies a go-mail error: an SMTP reply decides by its
// code (4xx yes, 5xx no); address errors no; network, timeout and TLS
// handshake failures yes; a certificate that does not verify no.
func smtpRetryable(err error) bool {
	var se *mail.SendError
	if errors.As(err, &se) {
		switch se.Reason {
		case mail.ErrGetSender, mail.ErrGetRcpts, mail.ErrNoUnencoded:
			return false
		}
		if code := se.ErrorCode(); code != 0 {
			return code >= 400 && code < 500
		}
		if se.IsTemp() {
			return true
		}
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 400 && te.Code < 500
	}
	if code := leadingCode(err.Error()); code != 0 {
		return code >= 400 && code < 500
	}
	var certErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	if errors.As(err, &certErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr) {
		return false
	}
	var ne net.Error
	var recErr tls.RecordHeaderError
	var alert tls.AlertError
	switch {
	case errors.As(err, &ne), errors.As(err, &recErr), errors.As(err, &alert),
		errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, mail.ErrNoActiveConnection):
		return true
	}
	return false
}

// leadingCode finds an SMTP reply code at the start of the innermost text
// of an error ("dial failed: 421 4.3.0 try later" → 421).
func leadingCode(s string) int {
	for _, part := range strings.Split(s, ": ") {
		if len(part) >= 4 && part[3] == ' ' && (part[0] == '4' || part[0] == '5') {
			if n, err := strconv.Atoi(part[:3]); err == nil {
				return n
			}
		}
	}
	return 0
}
