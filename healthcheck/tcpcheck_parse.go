package healthcheck

import (
	"encoding/hex"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// RuleError is a check configuration error. Line is the index of the
// offending line in the slice given to the parser (-1 for the option line
// itself); the caller turns it into file:line.
type RuleError struct {
	Line int
	Msg  string
}

// Error returns the message, without position.
func (e *RuleError) Error() string { return e.Msg }

func ruleErr(line int, format string, args ...any) *RuleError {
	return &RuleError{Line: line, Msg: fmt.Sprintf(format, args...)}
}

// ParseTCPCheck compiles "option tcp-check" with its "tcp-check" lines. Each
// line holds the words after "tcp-check" (["send", "PING\r\n"],
// ["expect", "string", "+PONG"]...). Supported: connect [default] [port N]
// [addr A] [ssl] [sni S] [alpn A] [linger] [send-proxy] [comment C];
// send <str>; send-binary <hex>; expect [min-recv N] [comment C]
// [ok-status S] [error-status S] [tout-status S] [on-success TEXT]
// [on-error TEXT] [!] string|rstring|binary|rbinary <pattern>; comment <text>.
// Log-format variants (send-lf, string-lf, on-error with %[...]), set-var,
// unset-var and status-code are refused with an error naming the word.
func ParseTCPCheck(lines [][]string) (*Rules, error) {
	rules := &Rules{proto: protoTCPCheck}
	var pendingComment string
	hasConnect := false
	for _, w := range lines {
		if len(w) > 0 && w[0] == "connect" {
			hasConnect = true
		}
	}
	firstReal := true
	for i, w := range lines {
		if len(w) == 0 {
			continue
		}
		var st *step
		var err error
		switch w[0] {
		case "comment":
			if len(w) < 2 {
				return nil, ruleErr(i, "'tcp-check comment' expects a string as argument")
			}
			pendingComment = strings.Join(w[1:], " ")
			continue
		case "connect":
			st, err = parseConnect("tcp-check", i, w[1:])
		case "send":
			if len(w) < 2 {
				return nil, ruleErr(i, "'tcp-check send' expects a string as argument")
			}
			st = &step{kind: stepSend, data: []byte(w[1])}
			err = parseTrailingComment("tcp-check send", i, w[2:], st)
		case "send-binary":
			if len(w) < 2 {
				return nil, ruleErr(i, "'tcp-check send-binary' expects a hexadecimal string as argument")
			}
			b, herr := hex.DecodeString(w[1])
			if herr != nil {
				return nil, ruleErr(i, "'tcp-check send-binary' : invalid hexadecimal string '%s'", w[1])
			}
			st = &step{kind: stepSend, data: b}
			err = parseTrailingComment("tcp-check send-binary", i, w[2:], st)
		case "expect":
			st, err = parseExpect("tcp-check", i, w[1:], false)
		case "send-lf", "send-binary-lf", "set-var", "unset-var", "set-var-fmt":
			return nil, ruleErr(i, "'tcp-check %s' is not supported by Moonbus", w[0])
		default:
			return nil, ruleErr(i, "'tcp-check' : unknown directive '%s' (expects 'comment', 'connect', 'send', 'send-binary' or 'expect')", w[0])
		}
		if err != nil {
			return nil, err
		}
		if hasConnect && firstReal && st.kind != stepConnect {
			return nil, ruleErr(i, "'tcp-check %s' : first step MUST also be a 'connect', optionally preceded by a 'comment', when there is a 'connect' step in the tcp-check ruleset", w[0])
		}
		firstReal = false
		if st.comment == "" {
			st.comment = pendingComment
		}
		pendingComment = ""
		rules.steps = append(rules.steps, st)
	}
	finishSteps(rules)
	return rules, nil
}

// finishSteps adds the implicit first connect when needed and numbers the
// steps.
func finishSteps(rules *Rules) {
	if len(rules.steps) == 0 || rules.steps[0].kind != stepConnect {
		imp := &step{kind: stepConnect, implicit: true, isDefault: true}
		rules.steps = append([]*step{imp}, rules.steps...)
		for i, st := range rules.steps {
			st.index = i
		}
		return
	}
	for i, st := range rules.steps {
		st.index = i
	}
}

func parseTrailingComment(kw string, line int, w []string, st *step) error {
	for i := 0; i < len(w); i++ {
		if w[i] == "comment" && i+1 < len(w) {
			st.comment = w[i+1]
			i++
			continue
		}
		return ruleErr(line, "'%s' : unknown keyword '%s'", kw, w[i])
	}
	return nil
}

// parseConnect parses the options of a "connect" rule.
func parseConnect(kw string, line int, w []string) (*step, error) {
	st := &step{kind: stepConnect}
	for i := 0; i < len(w); i++ {
		need := func() (string, error) {
			if i+1 >= len(w) {
				return "", ruleErr(line, "'%s connect' : '%s' expects an argument", kw, w[i])
			}
			i++
			return w[i], nil
		}
		switch w[i] {
		case "default":
			st.isDefault = true
		case "ssl":
			st.ssl = true
		case "linger":
			st.linger = true
		case "send-proxy":
			st.sendProxy = true
		case "port":
			v, err := need()
			if err != nil {
				return nil, err
			}
			p, perr := strconv.Atoi(v)
			if perr != nil || p < 1 || p > 65535 {
				return nil, ruleErr(line, "'%s connect' : invalid port '%s' (only a number is supported)", kw, v)
			}
			st.port = p
		case "addr":
			v, err := need()
			if err != nil {
				return nil, err
			}
			st.addr = v
		case "sni":
			v, err := need()
			if err != nil {
				return nil, err
			}
			st.sni = v
		case "alpn":
			v, err := need()
			if err != nil {
				return nil, err
			}
			st.alpn = strings.Split(v, ",")
		case "comment":
			v, err := need()
			if err != nil {
				return nil, err
			}
			st.comment = v
		case "via-socks4", "proto", "send-proxy-v2":
			return nil, ruleErr(line, "'%s connect' : '%s' is not supported by Moonbus", kw, w[i])
		default:
			return nil, ruleErr(line, "'%s connect' : unknown keyword '%s'", kw, w[i])
		}
	}
	return st, nil
}

// parseExpect parses "expect [options] [!] <match> <pattern>" for tcp-check
// (http false) or http-check (http true).
func parseExpect(kw string, line int, w []string, http bool) (*step, error) {
	st := &step{kind: stepExpect, minRecv: -1}
	i := 0
	need := func() (string, error) {
		if i+1 >= len(w) {
			return "", ruleErr(line, "'%s expect' : '%s' expects an argument", kw, w[i])
		}
		i++
		return w[i], nil
	}
	statusArg := func(allowed ...Status) (Status, error) {
		v, err := need()
		if err != nil {
			return 0, err
		}
		s, ok := ParseStatus(v)
		if ok {
			for _, a := range allowed {
				if s == a {
					return s, nil
				}
			}
		}
		names := make([]string, len(allowed))
		for j, a := range allowed {
			names[j] = a.Short()
		}
		return 0, ruleErr(line, "'%s expect' : '%s' only supports %s as argument, got '%s'", kw, w[i-1], strings.Join(names, ", "), v)
	}
	for ; i < len(w); i++ {
		var err error
		switch w[i] {
		case "min-recv":
			var v string
			if v, err = need(); err == nil {
				n, nerr := strconv.Atoi(v)
				if nerr != nil || n < -1 {
					return nil, ruleErr(line, "'%s expect' : invalid min-recv '%s'", kw, v)
				}
				st.minRecv = n
			}
		case "comment":
			st.comment, err = need()
		case "ok-status":
			st.okStatus, err = statusArg(StatusL7OK, StatusL7OKC, StatusL6OK, StatusL4OK)
		case "error-status":
			st.errStatus, err = statusArg(StatusL7RSP, StatusL7STS, StatusL6RSP, StatusL4CON)
		case "tout-status":
			st.toutStatus, err = statusArg(StatusL7TOUT, StatusL6TOUT, StatusL4TOUT)
		case "on-success", "on-error":
			var v string
			if v, err = need(); err == nil {
				if strings.Contains(v, "%") {
					return nil, ruleErr(line, "'%s expect' : log-format strings in '%s' are not supported by Moonbus", kw, w[i-1])
				}
				if w[i-1] == "on-success" {
					st.onSuccess = v
				} else {
					st.onError = v
				}
			}
		case "status-code":
			return nil, ruleErr(line, "'%s expect' : 'status-code' is not supported by Moonbus", kw)
		case "!":
			st.inverse = true
		default:
			rest := w[i:]
			if len(rest[0]) > 1 && rest[0][0] == '!' {
				st.inverse = true
				rest = append([]string{rest[0][1:]}, rest[1:]...)
			}
			return finishExpect(kw, line, st, rest, http)
		}
		if err != nil {
			return nil, err
		}
	}
	return nil, ruleErr(line, "'%s expect' : expects a match type and a pattern", kw)
}

func finishExpect(kw string, line int, st *step, w []string, http bool) (*step, error) {
	m := w[0]
	switch m {
	case "string-lf", "binary-lf", "hdr", "fhdr", "rbinary-lf":
		return nil, ruleErr(line, "'%s expect %s' is not supported by Moonbus", kw, m)
	}
	if len(w) < 2 {
		return nil, ruleErr(line, "'%s expect %s' expects a pattern as argument", kw, m)
	}
	if len(w) > 2 {
		return nil, ruleErr(line, "'%s expect %s' : unexpected word '%s' after the pattern", kw, m, w[2])
	}
	pat := w[1]
	var err error
	compile := func() (*regexp.Regexp, error) {
		re, cerr := regexp.Compile(pat)
		if cerr != nil {
			return nil, ruleErr(line, "'%s expect %s' : invalid regex '%s': %v", kw, m, pat, cerr)
		}
		return re, nil
	}
	switch {
	case http && m == "status":
		st.match = matchHTTPStatus
		st.codes, err = parseCodes(pat)
		if err != nil {
			return nil, ruleErr(line, "'%s expect status' : %v", kw, err)
		}
	case http && m == "rstatus":
		st.match = matchHTTPRStatus
		st.re, err = compile()
	case http && m == "string":
		st.match = matchHTTPBody
		st.pattern = []byte(pat)
	case http && m == "rstring":
		st.match = matchHTTPRBody
		st.re, err = compile()
	case !http && m == "string":
		st.match = matchString
		st.pattern = []byte(pat)
	case !http && m == "rstring":
		st.match = matchRString
		st.re, err = compile()
	case !http && m == "binary":
		b, herr := hex.DecodeString(pat)
		if herr != nil || len(b) == 0 {
			return nil, ruleErr(line, "'%s expect binary' : invalid hexadecimal string '%s'", kw, pat)
		}
		st.match = matchBinary
		st.pattern = b
	case !http && m == "rbinary":
		st.match = matchRBinary
		st.re, err = compile()
	default:
		if http {
			return nil, ruleErr(line, "'%s expect' : unknown match type '%s' (expects 'status', 'rstatus', 'string' or 'rstring')", kw, m)
		}
		return nil, ruleErr(line, "'%s expect' : unknown match type '%s' (expects 'string', 'rstring', 'binary' or 'rbinary')", kw, m)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// parseCodes parses "200,201,300-310".
func parseCodes(s string) ([][2]int, error) {
	var out [][2]int
	for _, part := range strings.Split(s, ",") {
		lo, hi, rng := strings.Cut(part, "-")
		a, err := strconv.Atoi(strings.TrimSpace(lo))
		if err != nil {
			return nil, fmt.Errorf("invalid status code '%s'", part)
		}
		b := a
		if rng {
			if b, err = strconv.Atoi(strings.TrimSpace(hi)); err != nil || b < a {
				return nil, fmt.Errorf("invalid status code range '%s'", part)
			}
		}
		out = append(out, [2]int{a, b})
	}
	return out, nil
}
