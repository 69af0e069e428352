package runtimeapi

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"moonbus/bus"
)

// registerBuiltins installs every built-in command.
func (s *Server) registerBuiltins() {
	for _, c := range []Command{
		{Words: []string{"help"}, Level: LevelUser, Usage: "help [<command>]", Help: "list matching or all commands", Handler: s.cmdHelp},
		{Words: []string{"prompt"}, Level: LevelUser, Usage: "prompt [help|n|i|p|timed]", Help: "toggle interactive mode with prompt", Handler: cmdPrompt},
		{Words: []string{"quit"}, Level: LevelUser, Usage: "quit", Help: "disconnect", Handler: cmdQuit},
		{Words: []string{"echo"}, Level: LevelUser, Usage: "echo <text>", Help: "print text to the output", Handler: cmdEcho},
		{Words: []string{"show", "cli", "level"}, Level: LevelUser, Usage: "show cli level", Help: "display the level of the current CLI session", Handler: cmdShowLevel},
		{Words: []string{"operator"}, Level: LevelUser, Usage: "operator", Help: "lower the level of the current CLI session to operator", Handler: cmdSetLevel(LevelOperator)},
		{Words: []string{"user"}, Level: LevelUser, Usage: "user", Help: "lower the level of the current CLI session to user", Handler: cmdSetLevel(LevelUser)},
		{Words: []string{"show", "version"}, Level: LevelUser, Usage: "show version", Help: "show version of the current process", Handler: s.cmdShowVersion},
		{Words: []string{"show", "info"}, Level: LevelUser, Usage: "show info", Help: "report information about the running process", Handler: s.cmdShowInfo},
		{Words: []string{"show", "stat"}, Level: LevelUser, Usage: "show stat [<iid|proxy> <type> <sid>] [up|no-maint]", Help: "report counters for each proxy and server", Handler: cmdShowStat},
		{Words: []string{"show", "servers", "state"}, Level: LevelUser, Usage: "show servers state [<backend>]", Help: "dump volatile server information (all or for a single backend)", Handler: cmdServersState},
		{Words: []string{"show", "backend"}, Level: LevelUser, Usage: "show backend", Help: "list backends in the current running config", Handler: cmdShowBackend},
		{Words: []string{"show", "sess"}, Level: LevelOperator, Usage: "show sess", Help: "report the list of current streams", Handler: cmdShowSess},
		{Words: []string{"show", "errors"}, Level: LevelOperator, Usage: "show errors", Help: "report last request and/or response errors for each proxy", Handler: cmdShowErrors},
		{Words: []string{"show", "events"}, Level: LevelUser, Usage: "show events [json] [<n>]", Help: "show the last events of the bus", Handler: cmdShowEvents},
		{Words: []string{"clear", "counters"}, Level: LevelOperator, Usage: "clear counters [all]", Help: "clear max statistics counters (or all counters)", Handler: cmdClearCounters},
		{Words: []string{"show", "table"}, Level: LevelOperator, Usage: "show table [<table> [data.<type> <op> <v>]* [key <k>]]", Help: "report table usage stats or dump this table's contents", Handler: cmdShowTable},
		{Words: []string{"clear", "table"}, Level: LevelAdmin, Usage: "clear table <table> [data.<type> <op> <v>]* [key <k>]", Help: "remove entries from a table", Handler: cmdClearTable},
		{Words: []string{"get", "var"}, Level: LevelOperator, Usage: "get var <name>", Help: "retrieve contents of a process-wide variable", Handler: cmdGetVar},
		{Words: []string{"set", "var"}, Level: LevelOperator, Usage: "set var <name> [expr|fmt] <value>", Help: "set a process-wide variable", Handler: cmdSetVar},
		{Words: []string{"set", "server"}, Level: LevelAdmin, Usage: "set server <bk>/<srv> [opts]", Help: "change a server's state, weight, address or check port", Handler: cmdSetServer},
		{Words: []string{"enable", "server"}, Level: LevelAdmin, Usage: "enable server <bk>/<srv>", Help: "enable a disabled server (use 'set server' instead)", Handler: cmdEnableServer},
		{Words: []string{"disable", "server"}, Level: LevelAdmin, Usage: "disable server <bk>/<srv>", Help: "disable a server for maintenance (use 'set server' instead)", Handler: cmdDisableServer},
		{Words: []string{"enable", "health"}, Level: LevelAdmin, Usage: "enable health <bk>/<srv>", Help: "enable health checks", Handler: cmdEnableHealth},
		{Words: []string{"disable", "health"}, Level: LevelAdmin, Usage: "disable health <bk>/<srv>", Help: "disable health checks", Handler: cmdDisableHealth},
		{Words: []string{"enable", "agent"}, Level: LevelAdmin, Usage: "enable agent <bk>/<srv>", Help: "enable agent checks", Handler: cmdEnableAgent},
		{Words: []string{"disable", "agent"}, Level: LevelAdmin, Usage: "disable agent <bk>/<srv>", Help: "disable agent checks", Handler: cmdDisableAgent},
		{Words: []string{"set", "weight"}, Level: LevelAdmin, Usage: "set weight <bk>/<srv> <weight>", Help: "change a server's weight (deprecated)", Handler: cmdSetWeight},
		{Words: []string{"get", "weight"}, Level: LevelUser, Usage: "get weight <bk>/<srv>", Help: "report a server's current weight", Handler: cmdGetWeight},
		{Words: []string{"set", "maxconn", "server"}, Level: LevelAdmin, Usage: "set maxconn server <bk>/<srv> <value>", Help: "change a server's maxconn setting", Handler: cmdMaxconnServer},
		{Words: []string{"set", "maxconn", "frontend"}, Level: LevelAdmin, Usage: "set maxconn frontend <frontend> <value>", Help: "change a frontend's maxconn setting", Handler: cmdMaxconnFrontend},
		{Words: []string{"set", "maxconn", "global"}, Level: LevelAdmin, Usage: "set maxconn global <value>", Help: "change the per-process maxconn setting", Handler: cmdMaxconnGlobal},
		{Words: []string{"add", "server"}, Level: LevelAdmin, Usage: "add server <bk>/<srv> <addr>[:<port>] [args]*", Help: "create a new server", Handler: cmdAddServer},
		{Words: []string{"del", "server"}, Level: LevelAdmin, Usage: "del server <bk>/<srv>", Help: "remove a dynamically added server", Handler: cmdDelServer},
		{Words: []string{"shutdown", "sessions", "server"}, Level: LevelAdmin, Usage: "shutdown sessions server <bk>/<srv>", Help: "kill sessions on a server", Handler: cmdShutdownSessions},
		{Words: []string{"disable", "frontend"}, Level: LevelAdmin, Usage: "disable frontend <frontend>", Help: "temporarily disable specific frontend", Handler: cmdDisableFrontend},
		{Words: []string{"enable", "frontend"}, Level: LevelAdmin, Usage: "enable frontend <frontend>", Help: "re-enable specific frontend", Handler: cmdEnableFrontend},
		{Words: []string{"shutdown", "frontend"}, Level: LevelAdmin, Usage: "shutdown frontend <frontend>", Help: "stop a specific frontend", Handler: cmdShutdownFrontend},
		{Words: []string{"wait"}, Level: LevelAdmin, Usage: "wait <delay_ms> [srv-removable <bk>/<srv>]", Help: "wait the specified delay or condition", Handler: cmdWait},
	} {
		s.Register(c)
	}
}

func (s *Server) cmdHelp(c *Call) error {
	c.Printf("The following commands are valid at this level:\n")
	want := c.Args[1:]
	var match func(Command) bool
	if len(want) > 0 {
		any := false
		s.cmdMu.RLock()
		for _, cmd := range s.cmds {
			if commonWords(cmd, want) == min(len(want), len(cmd.Words)) && commonWords(cmd, want) > 0 {
				any = true
			}
		}
		s.cmdMu.RUnlock()
		if any {
			match = func(cmd Command) bool {
				n := commonWords(cmd, want)
				return n > 0 && n == min(len(want), len(cmd.Words))
			}
		}
	}
	s.usageList(c, c.Level(), match)
	return nil
}

func cmdPrompt(c *Call) error {
	switch c.Arg(1) {
	case "":
		if c.sess.mode == modeOneShot {
			c.sess.mode = modePrompt
		} else {
			c.sess.mode = modeOneShot
		}
	case "n":
		c.sess.mode = modeOneShot
	case "i":
		c.sess.mode = modeInteractive
	case "p":
		c.sess.mode = modePrompt
	case "timed":
		c.sess.mode = modeTimed
	case "help":
		c.Printf("Usage: prompt [help|n|i|p|timed]\n")
		c.Printf("  n      : non-interactive mode (one command line per connection)\n")
		c.Printf("  i      : interactive mode without prompt\n")
		c.Printf("  p      : interactive mode with prompt\n")
		c.Printf("  timed  : interactive mode with a prompt showing the uptime\n")
	default:
		return errorText("Unknown prompt mode, expects 'n', 'i', 'p', 'timed' or 'help'.")
	}
	return nil
}

func cmdQuit(c *Call) error {
	c.sess.quit = true
	return nil
}

func cmdEcho(c *Call) error {
	c.Printf("%s\n", strings.Join(c.Args[1:], " "))
	return nil
}

func cmdShowLevel(c *Call) error {
	c.Printf("%s\n", c.Level())
	return nil
}

func cmdSetLevel(l Level) func(c *Call) error {
	return func(c *Call) error {
		if c.sess.level < l {
			return errorText("Permission denied")
		}
		c.sess.level = l
		return nil
	}
}

func (s *Server) cmdShowVersion(c *Call) error {
	c.Printf("%s\n", s.opts.Version)
	return nil
}

func (s *Server) cmdShowInfo(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	for _, f := range e.Info(s.opts.Version, s.opts.ReleaseDate, time.Now()) {
		c.Printf("%s: %v\n", f.Name, f.Value)
	}
	return nil
}

func cmdShowBackend(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	c.Printf("# name\n")
	for _, p := range e.Proxies() {
		if p.IsBackend() {
			c.Printf("%s\n", p.Name())
		}
	}
	return nil
}

func cmdShowSess(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	now := time.Now()
	for _, si := range e.Sessions() {
		c.Printf("0x%x: proto=tcpv4 src=%s fe=%s be=<NONE> srv=<none> age=%s\n", si.ID, si.Src, si.Frontend, humanAge(now.Sub(si.Accepted)))
	}
	return nil
}

// humanAge renders a duration the way "show sess" does ("5s", "2m3s").
func humanAge(d time.Duration) string {
	s := int64(d / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%dm", s/3600, (s%3600)/60)
	}
	return fmt.Sprintf("%dd%dh", s/86400, (s%86400)/3600)
}

func cmdShowErrors(c *Call) error {
	c.Printf("Total events captured on [%s] : 0\n", time.Now().Format("02/Jan/2006:15:04:05.000"))
	return nil
}

// ShowEventsHeader is the first line of "show events" in text form.
const ShowEventsHeader = "# time seq type object detail"

// cmdShowEvents implements our "show events [json] [<n>]": the last n events
// of the bus history (all kept ones by default), oldest first, one per line:
// as text (ShowEventsHeader) or as the events' JSON form.
func cmdShowEvents(c *Call) error {
	b := c.Bus()
	if b == nil {
		return errorText("No event bus.")
	}
	asJSON, n := false, 0
	for _, a := range c.Args[2:] {
		switch {
		case a == "json":
			asJSON = true
		default:
			v, err := strconv.Atoi(a)
			if err != nil || v < 0 {
				return errorText("Usage: show events [json] [<n>]")
			}
			n = v
		}
	}
	evs := b.History(n)
	if asJSON {
		for _, e := range evs {
			j, err := json.Marshal(e)
			if err != nil {
				return fmt.Errorf("encoding event %d: %w", e.Seq, err)
			}
			c.Printf("%s\n", j)
		}
		return nil
	}
	c.Printf("%s\n", ShowEventsHeader)
	for _, e := range evs {
		c.Printf("%s\n", EventLine(e))
	}
	return nil
}

// EventLine renders one event in the text form of "show events":
//
//	<time RFC 3339 ms UTC> <seq> <TYPE> <proxy>/<server>|<backend> <detail>
func EventLine(e *bus.Event) string {
	var sb strings.Builder
	sb.WriteString(e.When.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
	fmt.Fprintf(&sb, " %d %s ", e.Seq, e.Type)
	switch {
	case e.Server != nil:
		sb.WriteString(e.Server.ProxyName + "/" + e.Server.Name)
	case e.Backend != nil:
		sb.WriteString(e.Backend.ProxyName)
	default:
		sb.WriteString("-")
	}
	switch {
	case e.State != nil:
		st := e.State
		fmt.Fprintf(&sb, " old_state=%s new_state=%s admin=%t cause=%s requeued=%d", st.OldState, st.NewState, st.Admin, strconv.Quote(st.Cause), st.Requeued)
		if st.Check != nil {
			fmt.Fprintf(&sb, " check=%s/%s", st.Check.Reason.Short, st.Check.Result)
		}
	case e.Admin != nil:
		a := e.Admin
		fmt.Fprintf(&sb, " old_admin=%s new_admin=%s cause=%s requeued=%d", a.OldAdmin, a.NewAdmin, strconv.Quote(a.Cause), a.Requeued)
	case e.Check != nil:
		ch := e.Check
		fmt.Fprintf(&sb, " agent=%t result=%s reason=%s health=%d/%d/%d duration=%d", ch.Agent, ch.Result, ch.Reason.Short, ch.Health.Cur, ch.Health.Rise, ch.Health.Fall, ch.Duration)
	case e.Backend != nil:
		fmt.Fprintf(&sb, " active=%d backup=%d", e.Backend.Active, e.Backend.Backup)
	case e.Snapshot != nil && e.Snapshot.Addr != "":
		fmt.Fprintf(&sb, " addr=%s", e.Snapshot.Addr)
	default:
		sb.WriteString(" -")
	}
	return sb.String()
}
