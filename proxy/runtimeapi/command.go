package runtimeapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime/debug"
	"sort"
	"strings"

	"moonbus/bus"
	"moonbus/proxy"
)

// Level is an access level of the runtime API (reference §6.2).
type Level int

// Access levels, lowest first.
const (
	LevelUser Level = iota
	LevelOperator
	LevelAdmin
)

// String returns "user", "operator" or "admin".
func (l Level) String() string {
	switch l {
	case LevelUser:
		return "user"
	case LevelAdmin:
		return "admin"
	}
	return "operator"
}

// ParseLevel parses "user", "operator" or "admin"; "" means operator (the
// default level of a stats socket).
func ParseLevel(s string) (Level, bool) {
	switch s {
	case "user":
		return LevelUser, true
	case "", "operator":
		return LevelOperator, true
	case "admin":
		return LevelAdmin, true
	}
	return LevelOperator, false
}

// Command is one runtime API command. Registering a command is one call to
// (*Server).Register.
type Command struct {
	// Words select the command: the first len(Words) words of a request
	// must equal them ("show", "stat"). The longest match wins.
	Words []string
	// Level is the minimum access level; below it the reply is
	// "Permission denied".
	Level Level
	// Usage is the syntax shown by help ("show stat [<iid|proxy> <type> <sid>]").
	Usage string
	// Help is the one-line description shown after the usage.
	Help string
	// Handler runs the command. It writes its reply to the Call; a returned
	// error is printed as the reply's last line. The framing (the final
	// empty line, no empty line inside) is added by the server.
	Handler func(c *Call) error
	// Hidden keeps the command out of the help list.
	Hidden bool
}

// Call is one execution of a command.
type Call struct {
	// Args are the words of the request, the command's own words included.
	Args []string
	// Payload is the text sent after a "<<" marker (each line ends with a
	// newline); HasPayload tells whether a payload was given.
	Payload    string
	HasPayload bool

	out  *bytes.Buffer
	sess *session
	srv  *Server
	ctx  context.Context
}

// Write appends to the command's reply.
func (c *Call) Write(p []byte) (int, error) { return c.out.Write(p) }

// Printf appends formatted text to the reply.
func (c *Call) Printf(format string, a ...any) { fmt.Fprintf(c.out, format, a...) }

// Arg returns argument i ("" when absent).
func (c *Call) Arg(i int) string {
	if i < len(c.Args) {
		return c.Args[i]
	}
	return ""
}

// Level returns the current access level of the session.
func (c *Call) Level() Level { return c.sess.level }

// Context is cancelled when the server stops.
func (c *Call) Context() context.Context { return c.ctx }

// Engine returns the current proxy engine (nil when none is running).
func (c *Call) Engine() *proxy.Engine {
	if c.srv.opts.Engine == nil {
		return nil
	}
	return c.srv.opts.Engine()
}

// Bus returns the event bus (nil when none).
func (c *Call) Bus() *bus.Bus { return c.srv.opts.Bus }

// errNoEngine is returned by commands that need a running engine.
var errNoEngine = errorText("No configuration is running.")

// engine returns the current engine or errNoEngine.
func (c *Call) engine() (*proxy.Engine, error) {
	e := c.Engine()
	if e == nil {
		return nil, errNoEngine
	}
	return e, nil
}

// errorText is an error whose text is printed as is.
type errorText string

func (e errorText) Error() string { return string(e) }

// Register adds a command, replacing one with the same words.
func (s *Server) Register(cmd Command) {
	s.cmdMu.Lock()
	defer s.cmdMu.Unlock()
	for i, c := range s.cmds {
		if equalWords(c.Words, cmd.Words) {
			s.cmds[i] = cmd
			return
		}
	}
	s.cmds = append(s.cmds, cmd)
}

func equalWords(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// lookup returns the command whose words are the longest prefix of args.
func (s *Server) lookup(args []string) (Command, bool) {
	s.cmdMu.RLock()
	defer s.cmdMu.RUnlock()
	best, n := Command{}, 0
	for _, c := range s.cmds {
		if len(c.Words) > len(args) || len(c.Words) <= n {
			continue
		}
		if equalWords(c.Words, args[:len(c.Words)]) {
			best, n = c, len(c.Words)
		}
	}
	return best, n > 0
}

// usageList writes the usage lines of the commands visible at lvl whose
// first words match prefix (all when prefix is empty), sorted.
func (s *Server) usageList(w io.Writer, lvl Level, match func(c Command) bool) {
	s.cmdMu.RLock()
	var lines []string
	for _, c := range s.cmds {
		if c.Hidden || c.Level > lvl || (match != nil && !match(c)) {
			continue
		}
		lines = append(lines, fmt.Sprintf("  %-39s : %s\n", c.Usage, c.Help))
	}
	s.cmdMu.RUnlock()
	sort.Strings(lines)
	for _, l := range lines {
		io.WriteString(w, l)
	}
}

// commonWords counts the leading words of c equal to args.
func commonWords(c Command, args []string) int {
	n := 0
	for n < len(c.Words) && n < len(args) && c.Words[n] == args[n] {
		n++
	}
	return n
}

// unknown writes HAProxy's reply to an unknown command (reference §6.1).
func (s *Server) unknown(w io.Writer, lvl Level, args []string) {
	best := 0
	s.cmdMu.RLock()
	for _, c := range s.cmds {
		if c.Hidden || c.Level > lvl {
			continue
		}
		if n := commonWords(c, args); n > best {
			best = n
		}
	}
	s.cmdMu.RUnlock()
	word := ""
	if len(args) > 0 {
		word = args[0]
	}
	if best == 0 {
		fmt.Fprintf(w, "Unknown command: '%s'. Please enter one of the following commands only:\n", word)
		s.usageList(w, lvl, nil)
		return
	}
	fmt.Fprintf(w, "Unknown command: '%s', but maybe one of the following ones is a better match:\n", word)
	s.usageList(w, lvl, func(c Command) bool { return commonWords(c, args) == best })
}

// run executes one request and writes its framed reply to w: the output
// without empty lines, then one empty line. quit writes nothing.
func (s *Server) run(ctx context.Context, sess *session, req Request, w io.Writer) {
	var out bytes.Buffer
	s.dispatch(ctx, sess, req, &out)
	if sess.quit {
		return
	}
	w.Write(frame(out.Bytes()))
}

// frame removes empty lines from a reply, ends it with a newline and adds
// the terminating empty line.
func frame(b []byte) []byte {
	out := make([]byte, 0, len(b)+2)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		var line []byte
		if i < 0 {
			line, b = b, nil
		} else {
			line, b = b[:i], b[i+1:]
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			continue
		}
		out = append(out, line...)
		out = append(out, '\n')
	}
	return append(out, '\n')
}

func (s *Server) dispatch(ctx context.Context, sess *session, req Request, out *bytes.Buffer) {
	cmd, ok := s.lookup(req.Args)
	if !ok {
		s.unknown(out, sess.level, req.Args)
		return
	}
	if sess.level < cmd.Level {
		out.WriteString("Permission denied\n")
		return
	}
	c := &Call{Args: req.Args, Payload: req.Payload, HasPayload: req.HasPayload, out: out, sess: sess, srv: s, ctx: ctx}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error(fmt.Sprintf("runtime API: command '%s' panicked: %v\n%s", strings.Join(cmd.Words, " "), r, debug.Stack()))
			out.WriteString("Internal error.\n")
		}
	}()
	if err := cmd.Handler(c); err != nil {
		msg := err.Error()
		out.WriteString(msg)
		if !strings.HasSuffix(msg, "\n") {
			out.WriteByte('\n')
		}
	}
}
