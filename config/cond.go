package config

import (
	"fmt"
	"strconv"
	"strings"
)

// features are the build features reported by feature(<name>).
var features = map[string]bool{
	"LUA": true, "OPENSSL": true, "THREAD": true, "PROMEX": true,
	"TFO": false, "NS": false, "QUIC": false, "ZLIB": false, "SLZ": false,
	"PCRE": false, "PCRE2": false, "DEVICEATLAS": false, "51DEGREES": false, "WURFL": false,
}

// enabledOptions are the process options reported by enabled(<name>).
var enabledOptions = map[string]bool{
	"POLL": false, "EPOLL": true, "KQUEUE": false, "EVPORTS": false,
	"SPLICE": true, "GETADDRINFO": false, "REUSEPORT": true,
	"FAST-FORWARD": true, "SERVER-SSL-VERIFY-NONE": false,
}

// condEnv gives the condition evaluator its inputs.
type condEnv struct {
	lookup  lookupFunc
	version string
}

// condParser evaluates one ".if"/".elif" expression (reference §1.4).
type condParser struct {
	s   string
	pos int
	env condEnv
}

// evalCond evaluates the words of a ".if" line, re-joined with single spaces.
func evalCond(words []string, env condEnv) (bool, error) {
	c := &condParser{s: strings.Join(words, " "), env: env}
	c.skipSpaces()
	if c.pos >= len(c.s) {
		return false, nil // an empty condition is false
	}
	v, err := c.expr()
	if err != nil {
		return false, err
	}
	c.skipSpaces()
	if c.pos < len(c.s) {
		return false, fmt.Errorf("unexpected character '%c' at position %d", c.s[c.pos], c.pos+1)
	}
	return v, nil
}

func (c *condParser) skipSpaces() {
	for c.pos < len(c.s) && (c.s[c.pos] == ' ' || c.s[c.pos] == '\t') {
		c.pos++
	}
}

func (c *condParser) peek(tok string) bool {
	c.skipSpaces()
	return strings.HasPrefix(c.s[c.pos:], tok)
}

// expr := and { "||" and }
func (c *condParser) expr() (bool, error) {
	v, err := c.and()
	if err != nil {
		return false, err
	}
	for c.peek("||") {
		c.pos += 2
		r, err := c.and()
		if err != nil {
			return false, err
		}
		v = v || r
	}
	return v, nil
}

// and := term { "&&" term }
func (c *condParser) and() (bool, error) {
	v, err := c.term()
	if err != nil {
		return false, err
	}
	for c.peek("&&") {
		c.pos += 2
		r, err := c.term()
		if err != nil {
			return false, err
		}
		v = v && r
	}
	return v, nil
}

// term := "!" term | "(" expr ")" | integer | predicate "(" args ")"
func (c *condParser) term() (bool, error) {
	c.skipSpaces()
	if c.pos >= len(c.s) {
		return false, fmt.Errorf("missing term at end of condition")
	}
	switch ch := c.s[c.pos]; {
	case ch == '!':
		c.pos++
		v, err := c.term()
		return !v, err
	case ch == '(':
		c.pos++
		v, err := c.expr()
		if err != nil {
			return false, err
		}
		if !c.peek(")") {
			return false, fmt.Errorf("expected ')' at position %d", c.pos+1)
		}
		c.pos++
		return v, nil
	case ch == '-' || (ch >= '0' && ch <= '9'):
		start := c.pos
		c.pos++
		for c.pos < len(c.s) && c.s[c.pos] >= '0' && c.s[c.pos] <= '9' {
			c.pos++
		}
		n, err := strconv.ParseInt(c.s[start:c.pos], 10, 64)
		if err != nil {
			return false, fmt.Errorf("invalid number '%s' at position %d", c.s[start:c.pos], start+1)
		}
		return n != 0, nil
	}
	return c.predicate()
}

func (c *condParser) predicate() (bool, error) {
	start := c.pos
	for c.pos < len(c.s) && (isVarChar(c.s[c.pos])) {
		c.pos++
	}
	name := c.s[start:c.pos]
	nargs, known := predicateArgs[name]
	if name == "" || !known {
		return false, fmt.Errorf("unparsable conditional expression '%s' at position %d", c.s[start:], start+1)
	}
	if c.pos >= len(c.s) || c.s[c.pos] != '(' {
		return false, fmt.Errorf("predicate '%s' expects its arguments in parentheses", name)
	}
	c.pos++
	inner, err := c.argList()
	if err != nil {
		return false, fmt.Errorf("predicate '%s': %w", name, err)
	}
	args, err := SplitArgs(inner)
	if err != nil {
		return false, fmt.Errorf("predicate '%s': %w", name, err)
	}
	if len(args) != nargs {
		return false, fmt.Errorf("predicate '%s' expects %d argument(s), got %d", name, nargs, len(args))
	}
	return c.evalPredicate(name, args), nil
}

// argList returns the raw text up to the closing parenthesis (outside
// quotes) and moves past it.
func (c *condParser) argList() (string, error) {
	start := c.pos
	squote, dquote := false, false
	for c.pos < len(c.s) {
		ch := c.s[c.pos]
		switch {
		case squote:
			squote = ch != '\''
		case ch == '\\':
			c.pos++
		case ch == '\'' && !dquote:
			squote = true
		case ch == '"':
			dquote = !dquote
		case ch == ')' && !dquote:
			inner := c.s[start:c.pos]
			c.pos++
			return inner, nil
		}
		c.pos++
	}
	return "", fmt.Errorf("missing closing ')'")
}

var predicateArgs = map[string]int{
	"defined": 1, "streq": 2, "strneq": 2, "strstr": 2, "feature": 1,
	"version_atleast": 1, "version_before": 1, "enabled": 1,
	"openssl_version_atleast": 1, "openssl_version_before": 1,
	"ssllib_name_startswith": 1, "awslc_api_atleast": 1, "awslc_api_before": 1,
	"fips_mode": 0,
}

func (c *condParser) evalPredicate(name string, args []string) bool {
	switch name {
	case "defined":
		_, ok := c.env.lookup(args[0])
		return ok
	case "streq":
		return args[0] == args[1]
	case "strneq":
		return args[0] != args[1]
	case "strstr":
		return strings.Contains(args[0], args[1])
	case "feature":
		return features[args[0]]
	case "enabled":
		return enabledOptions[args[0]]
	case "version_atleast":
		return compareVersions(c.env.version, args[0]) >= 0
	case "version_before":
		return compareVersions(c.env.version, args[0]) < 0
	}
	// TLS library predicates: Moonbus uses Go's TLS stack, not a TLS library
	// these predicates know about, so they are all false.
	return false
}

// compareVersions compares dotted versions numerically ("3.2" vs "2.8.1");
// anything after the first character that is neither a digit nor a dot
// ("-dev1") is ignored. Missing parts count as 0.
func compareVersions(a, b string) int {
	pa, pb := versionParts(a), versionParts(b)
	for len(pa) < len(pb) {
		pa = append(pa, 0)
	}
	for len(pb) < len(pa) {
		pb = append(pb, 0)
	}
	for i := range pa {
		switch {
		case pa[i] < pb[i]:
			return -1
		case pa[i] > pb[i]:
			return 1
		}
	}
	return 0
}

func versionParts(v string) []int {
	end := 0
	for end < len(v) && (v[end] == '.' || (v[end] >= '0' && v[end] <= '9')) {
		end++
	}
	var parts []int
	for _, f := range strings.Split(v[:end], ".") {
		n, _ := strconv.Atoi(f)
		parts = append(parts, n)
	}
	return parts
}
