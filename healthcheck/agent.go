package healthcheck

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
	"time"
)

// AgentSpec is a server's agent check ("agent-check", reference §5.5).
type AgentSpec struct {
	// Addr is "agent-addr" (IP or host, optionally with a port); empty
	// means the server's address.
	Addr string
	// Port is "agent-port"; required.
	Port int
	// Send is "agent-send": sent as given once connected (add your own
	// "\n").
	Send string
	// Inter is "agent-inter" (default 2s); without CheckTimeout it bounds
	// the whole check.
	Inter time.Duration
	// ConnectTimeout and CheckTimeout are the backend's "timeout connect"
	// and "timeout check", with the same meaning as for Spec.
	ConnectTimeout time.Duration
	CheckTimeout   time.Duration
}

// Probe runs the agent check; it implements Prober.
func (a *AgentSpec) Probe(ctx context.Context, t ProbeTarget) (Result, *AgentReply) {
	return a.Run(ctx, t.Addr)
}

// Run connects to the agent, sends Send, reads one line and parses it. The
// reply is nil when no complete line was read. Failing to reach the agent
// gives a FAILED result that Health.Apply never counts against the server.
func (a *AgentSpec) Run(ctx context.Context, serverAddr string) (Result, *AgentReply) {
	start := time.Now()
	addr, err := checkAddr(serverAddr, a.Addr, a.Port)
	if err != nil {
		return Result{Status: StatusSockErr, Info: err.Error(), Duration: time.Since(start)}, nil
	}
	if portMissing(addr) {
		return Result{Status: StatusSockErr, Info: errNoPort.Error(), Duration: time.Since(start)}, nil
	}
	connDL, afterConnect := checkDeadlines(start, a.Inter, a.ConnectTimeout, a.CheckTimeout)
	c, err := dial(ctx, addr, connDL)
	if err != nil {
		st, info := connectStatus(err)
		return Result{Status: st, Info: info, Duration: time.Since(start)}, nil
	}
	defer closeReset(c)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
	defer stop()
	dl := connDL
	if afterConnect > 0 {
		dl = time.Now().Add(afterConnect)
	}
	_ = c.SetDeadline(dl)
	step := 2
	if a.Send != "" {
		if _, err := io.WriteString(c, a.Send); err != nil {
			return ioResult(err, start), nil
		}
		step = 3
	}
	bufp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bufp)
	buf := (*bufp)[:0]
	for {
		if i := bytes.IndexAny(buf, "\r\n"); i >= 0 {
			reply := ParseAgentReply(string(buf[:i]))
			r := reply.Result()
			r.Duration = time.Since(start)
			return r, &reply
		}
		if len(buf) == cap(buf) {
			return Result{Status: StatusChecked, Info: "Ignoring incomplete line from agent", Duration: time.Since(start)}, nil
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == nil {
			continue
		}
		if bytes.ContainsAny(buf, "\r\n") {
			continue
		}
		switch {
		case isTimeout(err):
			return Result{Status: StatusL7TOUT, Duration: time.Since(start)}, nil
		case len(buf) > 0:
			return Result{Status: StatusChecked, Info: "Ignoring incomplete line from agent", Duration: time.Since(start)}, nil
		case errors.Is(err, io.EOF):
			return Result{Status: StatusL7RSP, Info: "TCPCHK got an empty response at step " + strconv.Itoa(step), Duration: time.Since(start)}, nil
		}
		return ioResult(err, start), nil
	}
}

func ioResult(err error, start time.Time) Result {
	if isTimeout(err) {
		return Result{Status: StatusL7TOUT, Duration: time.Since(start)}
	}
	return Result{Status: StatusSockErr, Info: errnoText(err), Duration: time.Since(start)}
}

// AgentReply is one parsed agent line. Words not present leave the server
// unchanged; when a category appears several times the last word wins.
type AgentReply struct {
	// Line is the line as received, without its CR/LF.
	Line string
	// State is "up", "down", "stopped", "fail" or "" (lower case).
	State string
	// Reason is the text after '#' (only meaningful with a State).
	Reason string
	// Admin is "ready", "drain", "maint" or "".
	Admin string
	// HasWeight tells whether a weight was given: "NN%" and "weight:NN%"
	// are relative to the server's initial weight (WeightPercent true),
	// "weight:N" is absolute.
	HasWeight     bool
	Weight        int
	WeightPercent bool
	// HasMaxconn tells whether "maxconn:N" was given.
	HasMaxconn bool
	Maxconn    int
	// Unknown is the first word that was not understood.
	Unknown string
	// Warning is the first problem found in a weight or maxconn word
	// (HAProxy's wording); that word is then not applied.
	Warning string
}

// ParseAgentReply parses an agent line (without its line ending): words
// separated by spaces, tabs or commas, an optional "#reason" at the end
// ("down#bad disk" and "down #bad disk" are the same).
func ParseAgentReply(line string) AgentReply {
	r := AgentReply{Line: line}
	rest := line
	for rest != "" {
		c := rest[0]
		if c == ' ' || c == '\t' || c == ',' {
			rest = rest[1:]
			continue
		}
		if c == '#' {
			r.Reason = strings.TrimLeft(rest[1:], " \t")
			break
		}
		// A '#' also ends a word, so "down#bad disk" reads as "down #bad disk"
		// (HAProxy only starts the reason at the beginning of a word).
		end := strings.IndexAny(rest, " \t,#")
		if end < 0 {
			end = len(rest)
		}
		word := rest[:end]
		rest = rest[end:]
		lw := strings.ToLower(word)
		switch {
		case lw == "up" || lw == "down" || lw == "stopped" || lw == "fail":
			r.State = lw
		case lw == "ready" || lw == "drain" || lw == "maint":
			r.Admin = lw
		case word[0] >= '0' && word[0] <= '9' && strings.Contains(word, "%"):
			r.setWeight(word)
		case strings.HasPrefix(lw, "weight:"):
			r.setWeight(word[len("weight:"):])
		case strings.HasPrefix(lw, "maxconn:"):
			v := word[len("maxconn:"):]
			n, err := strconv.Atoi(v)
			switch {
			case v == "":
				r.warn("Require <maxconn>.")
			case err != nil:
				r.warn("Trailing garbage in maxconn string.")
			case n < 0:
				r.warn("Maxconn must be positive.")
			default:
				r.HasMaxconn, r.Maxconn = true, n
			}
		default:
			if r.Unknown == "" {
				r.Unknown = word
			}
		}
	}
	return r
}

func (r *AgentReply) warn(s string) {
	if r.Warning == "" {
		r.Warning = s
	}
}

// setWeight parses "NN%" or "N" as HAProxy's server_parse_weight_change_request.
func (r *AgentReply) setWeight(s string) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		r.warn("Require <weight> or <weight%>.")
		return
	}
	n, err := strconv.Atoi(s[:i])
	if err != nil {
		n = 1 << 30
	}
	switch {
	case s[i:] == "%":
		r.HasWeight, r.Weight, r.WeightPercent = true, min(n, 25600), true
	case s[i:] != "":
		r.warn("Trailing garbage in weight string.")
	case n > 256:
		r.warn("Absolute weight can only be between 0 and 256 inclusive.")
	default:
		r.HasWeight, r.Weight, r.WeightPercent = true, n, false
	}
}

// EffectiveWeight returns the weight the reply asks for, given the server's
// initial weight, and false when the reply has none: a percentage is of the
// initial weight, capped at 256.
func (r *AgentReply) EffectiveWeight(initial int) (int, bool) {
	if !r.HasWeight {
		return 0, false
	}
	if !r.WeightPercent {
		return r.Weight, true
	}
	return min(initial*r.Weight/100, 256), true
}

// Result returns the check result of the reply: L7OK for "up", L7STS for
// "down", "stopped" and "fail", CHECKED (no health change) otherwise, with
// HAProxy's info texts ("via agent : down (bad disk)", "agent reports an
// error : <word>", "agent warns : <text>").
func (r *AgentReply) Result() Result {
	res := Result{Status: StatusChecked}
	switch r.State {
	case "up":
		res.Status = StatusL7OK
	case "down", "stopped", "fail":
		res.Status = StatusL7STS
	}
	switch {
	case r.State != "":
		msg := r.Reason
		if msg == "" || res.Status == StatusL7OK {
			switch {
			case r.Unknown != "":
				msg = r.Unknown
			case r.Warning != "":
				msg = r.Warning
			}
		}
		res.Info = "via agent : " + r.State
		if msg != "" {
			res.Info += " (" + msg + ")"
		}
	case r.Unknown != "":
		res.Info = "agent reports an error : " + r.Unknown
	case r.Warning != "":
		res.Info = "agent warns : " + r.Warning
	}
	return res
}
