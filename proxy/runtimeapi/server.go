package runtimeapi

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/proxy"
)

// Limits of the framing.
const (
	// MaxPayload is the largest payload (and line) accepted: 128 kB.
	MaxPayload = 128 << 10
	// DefaultTimeout is the idle timeout of a CLI connection ("stats timeout").
	DefaultTimeout = 10 * time.Second
	// DefaultMaxconn is the number of concurrent CLI connections ("stats maxconn").
	DefaultMaxconn = 10
)

// Options configure a Server.
type Options struct {
	// Engine returns the current proxy engine; it changes on reload.
	Engine func() *proxy.Engine
	// Bus is the event bus ("show events"); nil disables that command.
	Bus *bus.Bus
	// Sockets are the "stats socket" lines (config Global.StatsSockets).
	Sockets []*config.Bind
	// Timeout is the idle timeout of a connection ("stats timeout");
	// 0 means DefaultTimeout.
	Timeout time.Duration
	// Maxconn bounds the concurrent connections ("stats maxconn"); further
	// connections wait to be accepted. 0 means DefaultMaxconn.
	Maxconn int
	// Logger receives the server's messages; nil discards them.
	Logger *slog.Logger
	// Version is printed by "show version" and "show info".
	Version string
	// ReleaseDate is the Release_date of "show info".
	ReleaseDate string
	// Extra are commands registered by other components (Lua's
	// core.register_cli, "show alerts"); they replace built-ins with the
	// same words.
	Extra []Command
}

// Server is the runtime API: it serves the stats sockets and executes
// commands for other transports through Execute.
type Server struct {
	opts    Options
	log     *slog.Logger
	timeout time.Duration

	cmdMu sync.RWMutex
	cmds  []Command

	ctx    context.Context
	cancel context.CancelFunc

	mu      sync.Mutex
	lns     []*sockListener
	conns   map[net.Conn]struct{}
	stopped bool
	wg      sync.WaitGroup
	slots   chan struct{}
}

// sockListener is one bound stats socket.
type sockListener struct {
	ln    net.Listener
	level Level
}

// session is the state of one CLI conversation.
type session struct {
	level   Level
	mode    promptMode
	quit    bool
	started time.Time
}

type promptMode int

const (
	modeOneShot promptMode = iota // non-interactive: one line, then close
	modeInteractive
	modePrompt
	modeTimed
)

// New returns a Server with the built-in commands and opts.Extra
// registered. Nothing is bound before Start.
func New(opts Options) *Server {
	s := &Server{opts: opts, log: opts.Logger, timeout: opts.Timeout, conns: map[net.Conn]struct{}{}}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.timeout <= 0 {
		s.timeout = DefaultTimeout
	}
	n := opts.Maxconn
	if n <= 0 {
		n = DefaultMaxconn
	}
	s.slots = make(chan struct{}, n)
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.registerBuiltins()
	for _, c := range opts.Extra {
		s.Register(c)
	}
	return s
}

// Start binds every stats socket: a unix path (with its "mode" permissions)
// or "ipv4@host:port", "ipv6@...", "host:port". On error nothing stays bound.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return errors.New("runtime API server stopped")
	}
	var lns []*sockListener
	fail := func(err error) error {
		for _, l := range lns {
			_ = l.ln.Close()
		}
		return err
	}
	for _, b := range s.opts.Sockets {
		lvl, ok := ParseLevel(b.Level)
		if !ok {
			return fail(fmt.Errorf("stats socket: unknown level '%s'", b.Level))
		}
		for _, a := range b.Addrs {
			ln, err := listen(a, b.Mode)
			if err != nil {
				return fail(fmt.Errorf("stats socket %s: %w", a, err))
			}
			lns = append(lns, &sockListener{ln: ln, level: lvl})
		}
	}
	s.lns = append(s.lns, lns...)
	for _, l := range lns {
		s.wg.Add(1)
		go s.acceptLoop(l)
	}
	return nil
}

// listen binds one stats socket address.
func listen(addr string, mode uint32) (net.Listener, error) {
	a, err := proxy.ParseAddr(addr, false)
	if err != nil {
		return nil, err
	}
	if a.Network == "unix" {
		if fi, err := os.Lstat(a.Host); err == nil && fi.Mode()&os.ModeSocket != 0 {
			_ = os.Remove(a.Host)
		}
		ln, err := net.Listen("unix", a.Host)
		if err != nil {
			return nil, fmt.Errorf("cannot bind UNIX socket: %w", err)
		}
		if mode != 0 {
			if err := os.Chmod(a.Host, os.FileMode(mode)); err != nil {
				_ = ln.Close()
				return nil, fmt.Errorf("cannot change UNIX socket ownership: %w", err)
			}
		}
		return ln, nil
	}
	if a.Port == 0 && !strings.HasSuffix(addr, ":0") {
		return nil, fmt.Errorf("missing port number in '%s'", addr)
	}
	ln, err := net.Listen(a.Network, a.String())
	if err != nil {
		return nil, fmt.Errorf("cannot bind socket: %w", err)
	}
	return ln, nil
}

// Addrs returns the bound addresses in configuration order (useful with
// port 0).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.lns))
	for i, l := range s.lns {
		out[i] = l.ln.Addr()
	}
	return out
}

// Stop closes the sockets and every open connection, cancels running
// commands and waits for the server's goroutines. It is idempotent.
func (s *Server) Stop() {
	s.mu.Lock()
	s.stopped = true
	for _, l := range s.lns {
		_ = l.ln.Close()
	}
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.cancel()
	s.wg.Wait()
}

func (s *Server) acceptLoop(l *sockListener) {
	defer s.wg.Done()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		c, err := l.ln.Accept()
		if err != nil {
			<-s.slots
			if errors.Is(err, net.ErrClosed) || s.ctx.Err() != nil {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			s.log.Warn(fmt.Sprintf("runtime API: accept error: %v", err))
			select {
			case <-time.After(100 * time.Millisecond):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		s.mu.Lock()
		if s.stopped {
			s.mu.Unlock()
			_ = c.Close()
			<-s.slots
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				_ = c.Close()
				<-s.slots
				s.wg.Done()
			}()
			s.serve(c, l.level)
		}()
	}
}

// errLineTooLong is returned by readLine beyond MaxPayload bytes.
var errLineTooLong = errors.New("line too long")

// readLine reads one line without its end of line; a last line without a
// newline is returned with io.EOF.
func readLine(br *bufio.Reader) (string, error) {
	var buf []byte
	for {
		frag, err := br.ReadSlice('\n')
		buf = append(buf, frag...)
		if len(buf) > MaxPayload {
			return "", errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil {
			if len(buf) > 0 && errors.Is(err, io.EOF) {
				return string(bytes.TrimRight(buf, "\r")), nil
			}
			return "", err
		}
		return string(bytes.TrimRight(buf[:len(buf)-1], "\r")), nil
	}
}

// serve runs one CLI connection.
func (s *Server) serve(c net.Conn, lvl Level) {
	sess := &session{level: lvl, started: time.Now()}
	br := bufio.NewReaderSize(c, 4096)
	bw := bufio.NewWriter(c)
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.timeout))
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, errLineTooLong) {
				bw.WriteString(string(frame([]byte(tooLargeMsg))))
				_ = bw.Flush()
			}
			return
		}
		reqs, pat, want := parseLine(line)
		if want {
			payload, err := s.readPayload(c, br, bw, sess, pat)
			if err != nil {
				if errors.Is(err, errLineTooLong) {
					bw.WriteString(string(frame([]byte(tooLargeMsg))))
					_ = bw.Flush()
				}
				return
			}
			if n := len(reqs); n > 0 && reqs[n-1].HasPayload {
				reqs[n-1].Payload = payload
			}
		}
		for _, r := range reqs {
			s.run(s.ctx, sess, r, bw)
			if sess.quit {
				break
			}
		}
		if sess.quit || sess.mode == modeOneShot {
			_ = bw.Flush()
			return
		}
		bw.WriteString(sess.prompt())
		_ = c.SetWriteDeadline(time.Now().Add(s.timeout))
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

const tooLargeMsg = "The command payload is too large, the limit is 128 kB.\n"

// readPayload reads payload lines until the terminator (an empty line, or a
// line equal to pattern), showing the "+ " prompt in prompt mode.
func (s *Server) readPayload(c net.Conn, br *bufio.Reader, bw *bufio.Writer, sess *session, pattern string) (string, error) {
	var b strings.Builder
	for {
		if sess.mode >= modePrompt {
			bw.WriteString("+ ")
			if err := bw.Flush(); err != nil {
				return "", err
			}
		}
		_ = c.SetReadDeadline(time.Now().Add(s.timeout))
		line, err := readLine(br)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return b.String(), nil
			}
			return "", err
		}
		if line == pattern {
			return b.String(), nil
		}
		if b.Len()+len(line)+1 > MaxPayload {
			return "", errLineTooLong
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
}

// prompt returns the prompt to print after a reply.
func (sess *session) prompt() string {
	switch sess.mode {
	case modePrompt:
		return "> "
	case modeTimed:
		up := int64(time.Since(sess.started) / time.Second)
		return fmt.Sprintf("[%d:%02d:%02d:%02d]> ", up/86400, (up%86400)/3600, (up%3600)/60, up%60)
	}
	return ""
}

// Execute runs input as if it came from a stats socket at the given level
// ("user", "operator" or "admin") and writes the framed replies to w: every
// reply ends with an empty line. input is one command line (commands
// separated by ';'); when it ends with a "<<" marker, the following lines
// of input are the payload. Prompt commands have no effect; "quit" stops
// the remaining commands. It is used by transports other than the sockets
// (the NATS bridge) and by tests.
func (s *Server) Execute(level, input string, w io.Writer) error {
	lvl, ok := ParseLevel(level)
	if !ok {
		return fmt.Errorf("runtime API: unknown level '%s'", level)
	}
	line, rest, _ := strings.Cut(input, "\n")
	line = strings.TrimRight(line, "\r")
	reqs, pat, want := parseLine(line)
	if want {
		var b strings.Builder
		for rest != "" {
			var l string
			l, rest, _ = strings.Cut(rest, "\n")
			l = strings.TrimRight(l, "\r")
			if l == pat {
				break
			}
			b.WriteString(l)
			b.WriteByte('\n')
		}
		if b.Len() > MaxPayload {
			_, err := w.Write(frame([]byte(tooLargeMsg)))
			return err
		}
		if n := len(reqs); n > 0 && reqs[n-1].HasPayload {
			reqs[n-1].Payload = b.String()
		}
	}
	sess := &session{level: lvl, started: time.Now()}
	var out bytes.Buffer
	for _, r := range reqs {
		s.run(s.ctx, sess, r, &out)
		if sess.quit {
			break
		}
	}
	_, err := w.Write(out.Bytes())
	return err
}
