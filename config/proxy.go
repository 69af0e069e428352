package config

import (
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
)

// Capabilities: which kinds of section accept a keyword.
const (
	capD uint8 = 1 << iota // defaults
	capF                   // frontend (and listen)
	capB                   // backend (and listen)

	capAll = capD | capF | capB
)

func proxyCaps(k ProxyKind) uint8 {
	switch k {
	case KindDefaults:
		return capD
	case KindFrontend:
		return capF
	case KindBackend:
		return capB
	}
	return capF | capB
}

// capName names the capability a keyword with capabilities c needs.
func capName(c uint8) string {
	if c&capF != 0 {
		return "frontend"
	}
	return "backend"
}

// hardCapKeywords are refused (instead of ignored with a warning, as HAProxy
// does) in a proxy without the capability they need: they define where
// traffic goes, so silently dropping them would hide a mistake.
var hardCapKeywords = map[string]bool{
	"bind": true, "server": true, "server-template": true, "default-server": true,
	"use_backend": true, "default_backend": true, "use-server": true, "tcp-response": true,
}

// pxKeyword describes one proxy keyword.
type pxKeyword struct {
	caps uint8
	rule bool // a rule keyword: in defaults, only named sections accept it
	fn   func(p *parser, px *Proxy, a []string) error
}

var proxyKeywords map[string]pxKeyword

func init() {
	proxyKeywords = map[string]pxKeyword{
		"mode":                {capAll, false, kwMode},
		"bind":                {capF, false, kwBind},
		"default_backend":     {capD | capF, false, kwDefaultBackend},
		"use_backend":         {capF, false, kwUseBackend},
		"use-server":          {capB, false, kwUseServer},
		"balance":             {capD | capB, false, kwBalance},
		"hash-type":           {capD | capB, false, kwHashType},
		"server":              {capB, false, kwServer},
		"default-server":      {capD | capB, false, kwDefaultServer},
		"server-template":     {capB, false, kwServerTemplate},
		"timeout":             {capAll, false, kwTimeout},
		"retries":             {capD | capB, false, kwRetries},
		"option":              {capAll, false, kwOption},
		"http-check":          {capD | capB, false, kwHTTPCheck},
		"tcp-check":           {capD | capB, false, kwTCPCheck},
		"log":                 {capAll, false, kwLog},
		"log-format":          {capD | capF, false, kwLogFormat},
		"log-format-sd":       {capD | capF, false, kwLogFormat},
		"error-log-format":    {capD | capF, false, kwLogFormat},
		"log-tag":             {capAll, false, kwLogTag},
		"maxconn":             {capD | capF, false, kwMaxconn},
		"fullconn":            {capD | capB, false, kwFullconn},
		"stick-table":         {capF | capB, false, kwStickTable},
		"stick":               {capB, false, kwStick},
		"http-request":        {capAll, true, kwHTTPRule},
		"http-response":       {capAll, true, kwHTTPRule},
		"http-after-response": {capAll, true, kwHTTPRule},
		"tcp-request":         {capAll, true, kwTCPRequest},
		"tcp-response":        {capD | capB, true, kwTCPResponse},
		"acl":                 {capAll, true, kwACL},
		"capture":             {capF, false, kwCapture},
		"errorfile":           {capAll, false, kwErrorfile},
		"errorfiles":          {capAll, false, kwErrorfiles},
		"redirect":            {capF | capB, false, kwRedirect},
		"email-alert":         {capAll, false, kwEmailAlert},
		"disabled":            {capAll, false, kwDisabled},
		"enabled":             {capAll, false, kwDisabled},
		"monitor-uri":         {capD | capF, false, kwMonitorURI},
		"monitor":             {capF, false, kwMonitor},
		"description":         {capF | capB, false, kwDescription},
		"id":                  {capF | capB, false, kwID},
		"stats":               {capAll, false, kwStats},
		"unique-id-format":    {capD | capF, false, kwUniqueID},
		"unique-id-header":    {capD | capF, false, kwUniqueID},
		"cookie":              {capD | capB, false, kwCookie},
		"auto-weight":         {capD | capB, false, kwAutoWeight},
	}
}

// builtinProxy returns a proxy with HAProxy's built-in defaults.
func builtinProxy() *Proxy {
	return &Proxy{
		Mode:       "tcp",
		Retries:    3,
		EmailAlert: EmailAlert{Level: "alert", SubjectPrefix: defaultSubjectPrefix},
	}
}

const defaultSubjectPrefix = "[Moonbus Alert]"

// beginProxy opens a defaults, frontend, backend or listen section.
func (p *parser) beginProxy(words []string) {
	kind := ProxyKind(words[0])
	rest := words[1:]
	name, from := "", ""
	if kind != KindDefaults || (len(rest) > 0 && rest[0] != "from") {
		if len(rest) == 0 || rest[0] == "" {
			p.errorf("'%s' expects <name> as an argument", words[0])
			return
		}
		name, rest = rest[0], rest[1:]
		if r := invalidNameChar(name); r != 0 {
			p.errorf("character '%c' is not permitted in '%s' name '%s'", r, words[0], name)
			return
		}
	}
	if len(rest) > 0 && rest[0] == "from" {
		if len(rest) < 2 {
			p.errorf("'from' expects a defaults section name")
			return
		}
		from, rest = rest[1], rest[2:]
	}
	if len(rest) > 0 {
		p.errorf("'%s' cannot handle unexpected argument '%s'", words[0], rest[0])
	}

	var base *Proxy
	if from != "" {
		base = p.namedDefaults[from]
		if base == nil {
			if other, ok := p.proxies[from]; ok {
				p.errorf("%s '%s' cannot inherit from %s '%s': only a defaults section can be used with 'from'", kind, name, other.Kind, from)
			} else {
				p.errorf("defaults section '%s' not found for %s '%s'", from, kind, name)
			}
		}
	} else if kind != KindDefaults {
		base = p.defaults
	}
	if base != nil && hasTrafficRules(base) {
		p.checkRulesInheritance(base, kind, name)
	}
	var px *Proxy
	if base == nil {
		px = builtinProxy()
	} else {
		px = cloneProxy(base)
		trimForKind(px, kind)
	}
	px.Pos, px.Kind, px.Name, px.From = p.pos(), kind, name, from
	px.ID, px.Description = 0, ""

	if base != nil && base.Name != "" {
		u := p.defaultsUse[base]
		if u == nil {
			u = &defaultsUsage{}
			p.defaultsUse[base] = u
		}
		if from != "" {
			u.explicit = true
		} else {
			u.implicit = append(u.implicit, px)
		}
	}
	if kind == KindDefaults {
		if name != "" {
			if prev, dup := p.namedDefaults[name]; dup {
				p.warnf("defaults section '%s' has the same name as another defaults section declared at %s; 'from %s' now refers to this one", name, prev.Pos, name)
			}
			p.namedDefaults[name] = px
		}
		p.defaults = px
		p.cfg.Defaults = append(p.cfg.Defaults, px)
	} else {
		if prev, dup := p.proxies[name]; dup {
			p.errorf("%s '%s' has the same name as %s '%s' declared at %s", kind, name, prev.Kind, name, prev.Pos)
		} else {
			p.proxies[name] = px
		}
		p.cfg.Proxies = append(p.cfg.Proxies, px)
	}
	p.sec, p.px, p.secName = secProxy, px, name
	p.pxOnce = map[string]Pos{}
}

// hasTrafficRules reports whether a defaults section defines TCP/HTTP rules.
func hasTrafficRules(d *Proxy) bool {
	return len(d.HTTPRequest)+len(d.HTTPResponse)+len(d.HTTPAfterResponse)+
		len(d.TCPRequestConnection)+len(d.TCPRequestSession)+len(d.TCPRequestContent)+
		len(d.TCPResponseContent) > 0
}

// checkRulesInheritance applies HAProxy's limits on defaults sections with
// TCP/HTTP rules: another defaults section cannot inherit from them, and
// frontends and backends cannot both use the same one (the rules would run
// twice).
func (p *parser) checkRulesInheritance(base *Proxy, kind ProxyKind, name string) {
	if kind == KindDefaults {
		p.errorf("a defaults section cannot inherit from a defaults section defining TCP/HTTP rules (defaults section at %s)", base.Pos)
		return
	}
	u := p.defaultsUse[base]
	if u == nil {
		u = &defaultsUsage{}
		p.defaultsUse[base] = u
	}
	caps, me := proxyCaps(kind), string(kind)+" "+name
	for i, c := range []uint8{capF, capB} {
		if other := u.side[1-i]; caps&c != 0 && other != "" && other != me {
			p.errorf("frontends and backends cannot inherit from the same defaults section if it defines TCP/HTTP rules (defaults section at %s)", base.Pos)
			return
		}
	}
	for i, c := range []uint8{capF, capB} {
		if caps&c != 0 && u.side[i] == "" {
			u.side[i] = me
		}
	}
}

// proxyKeyword handles one line of a proxy section.
func (p *parser) proxyKeyword(words []string) {
	px := p.px
	kw := words[0]
	mod := ""
	if kw == "no" || kw == "default" {
		if len(words) < 2 || (words[1] != "option" && !(kw == "no" && words[1] == "log")) {
			p.errorf("negation/default is currently supported only for 'option' and 'log' ('%s')", strings.Join(words, " "))
			return
		}
		mod, words, kw = kw, words[1:], words[1]
	}
	def, ok := proxyKeywords[kw]
	if !ok {
		p.otherProxyKeyword(px, words)
		return
	}
	if def.caps&proxyCaps(px.Kind) == 0 {
		switch {
		case px.Kind == KindDefaults:
			p.errorf("'%s' not allowed in 'defaults' section", kw)
		case hardCapKeywords[kw]:
			p.errorf("'%s' not allowed because %s '%s' has no %s capability", kw, px.Kind, px.Name, capName(def.caps))
		default:
			p.warnf("'%s' ignored because %s '%s' has no %s capability", kw, px.Kind, px.Name, capName(def.caps))
		}
		return
	}
	if def.rule && px.Kind == KindDefaults && px.Name == "" {
		p.errorf("'%s' not allowed in anonymous 'defaults' section (rules are only accepted in named defaults sections)", kw)
		return
	}
	if kw == "log" && mod == "no" {
		if len(words) > 1 {
			p.errorf("'no log' cannot handle unexpected argument '%s'", words[1])
			return
		}
		px.Logs, px.LogGlobal, px.NoLog = nil, false, true
		return
	}
	if kw == "option" {
		p.report(p.option(px, words, mod))
		return
	}
	p.report(def.fn(p, px, words))
}

// otherProxyKeyword handles keywords outside the main table.
func (p *parser) otherProxyKeyword(px *Proxy, words []string) {
	kw := words[0]
	if repl, ok := removedProxy[kw]; ok {
		p.errorf("The '%s' directive is not supported anymore since HAProxy 2.1. Use '%s' instead.", kw, repl)
		return
	}
	if unimplementedProxy[kw] {
		p.errorf("'%s' is an HAProxy keyword that Moonbus does not implement", kw)
		return
	}
	if ignoredProxy[kw] {
		p.warnf("'%s' has no effect in Moonbus, ignored", kw)
		return
	}
	if caps, ok := tuneProxyKeywords[kw]; ok {
		if caps&proxyCaps(px.Kind) == 0 {
			p.warnf("'%s' ignored because %s '%s' has no %s capability", kw, px.Kind, px.Name, capName(caps&^capD))
			return
		}
		if len(words) < 2 {
			p.errorf("'%s' expects an argument", kw)
			return
		}
		px.OtherKeywords = append(px.OtherKeywords, Line{Pos: p.pos(), Words: words})
		return
	}
	known := keysOf(proxyKeywords)
	for k := range tuneProxyKeywords {
		known = append(known, k)
	}
	p.unknownKeyword(kw, known)
}

// once reports an error when kw was already given in the current section.
func (p *parser) once(kw string) error {
	if prev, seen := p.pxOnce[kw]; seen {
		return fmt.Errorf("'%s' was already set at %s", kw, prev)
	}
	p.pxOnce[kw] = p.pos()
	return nil
}

// checkCond checks an optional "if|unless <condition>" tail.
func checkCond(kw string, rest []string) error {
	if len(rest) == 0 {
		return nil
	}
	if rest[0] != "if" && rest[0] != "unless" {
		return fmt.Errorf("'%s' : expects 'if' or 'unless' followed by a condition, found '%s'", kw, rest[0])
	}
	if len(rest) == 1 {
		return fmt.Errorf("'%s' : missing condition after '%s'", kw, rest[0])
	}
	return nil
}

func kwMode(p *parser, px *Proxy, a []string) error {
	if err := exactArgs(a, 1); err != nil {
		return err
	}
	switch a[1] {
	case "tcp", "http":
		px.Mode = a[1]
	case "log", "spop":
		return fmt.Errorf("'mode %s' is an HAProxy keyword that Moonbus does not implement", a[1])
	default:
		return fmt.Errorf("'mode' expects 'tcp' or 'http', got '%s'", a[1])
	}
	return nil
}

func kwBind(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'bind' expects {<path>|[addr1]:port1[-end1]}{,...} [param*] as arguments")
	}
	b, err := p.parseBind(a[1:], false)
	if err != nil {
		return fmt.Errorf("'bind %s' %w", a[1], err)
	}
	px.Binds = append(px.Binds, b)
	return nil
}

func kwDefaultBackend(p *parser, px *Proxy, a []string) error {
	name, err := oneArg(a)
	if err != nil {
		return err
	}
	px.DefaultBackend, px.DefaultBackendPos = name, p.pos()
	return nil
}

func kwUseBackend(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'use_backend' expects a backend name")
	}
	if err := checkCond(a[0], a[2:]); err != nil {
		return err
	}
	px.UseBackends = append(px.UseBackends, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func kwUseServer(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'use-server' expects a server name")
	}
	if len(a) < 4 || (a[2] != "if" && a[2] != "unless") {
		return fmt.Errorf("'use-server' requires either 'if' or 'unless' followed by a condition")
	}
	px.UseServers = append(px.UseServers, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func kwRetries(p *parser, px *Proxy, a []string) (err error) {
	px.Retries, err = intArg(a, 0, math.MaxInt32)
	return
}

func kwMaxconn(p *parser, px *Proxy, a []string) (err error) {
	px.Maxconn, err = intArg(a, 0, math.MaxInt32)
	return
}

func kwFullconn(p *parser, px *Proxy, a []string) (err error) {
	px.Fullconn, err = intArg(a, 0, math.MaxInt32)
	return
}

func kwDisabled(p *parser, px *Proxy, a []string) error {
	px.Disabled = a[0] == "disabled"
	return noArg(a)
}

func kwDescription(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'description' expects a string argument")
	}
	px.Description = strings.Join(a[1:], " ")
	return nil
}

func kwID(p *parser, px *Proxy, a []string) (err error) {
	px.ID, err = intArg(a, 1, math.MaxInt32)
	return
}

func kwACL(p *parser, px *Proxy, a []string) error {
	if len(a) < 3 {
		return fmt.Errorf("'acl' expects a name and a criterion")
	}
	if r := invalidNameChar(a[1]); r != 0 {
		return fmt.Errorf("'acl' : character '%c' is not permitted in acl name '%s'", r, a[1])
	}
	px.ACLs = append(px.ACLs, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func kwHTTPRule(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'%s' expects an action", a[0])
	}
	l := Line{Pos: p.pos(), Words: clone(a[1:])}
	switch a[0] {
	case "http-request":
		px.HTTPRequest = append(px.HTTPRequest, l)
	case "http-response":
		px.HTTPResponse = append(px.HTTPResponse, l)
	default:
		px.HTTPAfterResponse = append(px.HTTPAfterResponse, l)
	}
	return nil
}

func kwTCPRequest(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'tcp-request' expects 'connection', 'session', 'content' or 'inspect-delay'")
	}
	caps := proxyCaps(px.Kind)
	switch a[1] {
	case "connection", "session":
		if caps&(capD|capF) == 0 {
			return fmt.Errorf("'tcp-request %s' not allowed because %s '%s' has no frontend capability", a[1], px.Kind, px.Name)
		}
	case "content":
	case "inspect-delay":
		d, err := timeArg(a[1:])
		if err != nil {
			return err
		}
		px.TCPRequestInspectDelay = d
		return nil
	default:
		return fmt.Errorf("'tcp-request' expects 'connection', 'session', 'content' or 'inspect-delay', got '%s'", a[1])
	}
	if len(a) < 3 {
		return fmt.Errorf("'tcp-request %s' expects an action", a[1])
	}
	l := Line{Pos: p.pos(), Words: clone(a[2:])}
	switch a[1] {
	case "connection":
		px.TCPRequestConnection = append(px.TCPRequestConnection, l)
	case "session":
		px.TCPRequestSession = append(px.TCPRequestSession, l)
	default:
		px.TCPRequestContent = append(px.TCPRequestContent, l)
	}
	return nil
}

func kwTCPResponse(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'tcp-response' expects 'content' or 'inspect-delay'")
	}
	switch a[1] {
	case "content":
		if len(a) < 3 {
			return fmt.Errorf("'tcp-response content' expects an action")
		}
		px.TCPResponseContent = append(px.TCPResponseContent, Line{Pos: p.pos(), Words: clone(a[2:])})
	case "inspect-delay":
		d, err := timeArg(a[1:])
		if err != nil {
			return err
		}
		px.TCPResponseInspectDelay = d
	default:
		return fmt.Errorf("'tcp-response' expects 'content' or 'inspect-delay', got '%s'", a[1])
	}
	return nil
}

func kwRedirect(p *parser, px *Proxy, a []string) error {
	if len(a) < 3 {
		return fmt.Errorf("'redirect' expects 'location', 'prefix' or 'scheme' followed by a value")
	}
	switch a[1] {
	case "location", "prefix", "scheme":
	default:
		return fmt.Errorf("'redirect' expects 'location', 'prefix' or 'scheme', got '%s'", a[1])
	}
	px.Redirects = append(px.Redirects, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func kwCapture(p *parser, px *Proxy, a []string) error {
	ok := false
	switch {
	case len(a) == 5 && a[1] == "cookie" && a[3] == "len":
		ok = positiveInt(a[4])
	case len(a) == 6 && (a[1] == "request" || a[1] == "response") && a[2] == "header" && a[4] == "len":
		ok = positiveInt(a[5])
	}
	if !ok {
		return fmt.Errorf("'capture' expects 'cookie <name> len <n>', 'request header <name> len <n>' or 'response header <name> len <n>'")
	}
	px.Captures = append(px.Captures, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func positiveInt(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}

// errorfileCodes are the status codes "errorfile" can replace.
var errorfileCodes = map[int]bool{
	200: true, 400: true, 401: true, 403: true, 404: true, 405: true, 407: true, 408: true,
	410: true, 413: true, 425: true, 429: true, 500: true, 501: true, 502: true, 503: true, 504: true,
}

// parseErrorfile checks "<code> <file>" and that the file is readable.
func (p *parser) parseErrorfile(a []string) (int, string, bool, error) {
	if err := exactArgs(a, 2); err != nil {
		return 0, "", false, fmt.Errorf("'%s' expects <status_code> and <file> as arguments", a[0])
	}
	code, err := strconv.Atoi(a[1])
	if err != nil {
		return 0, "", false, fmt.Errorf("'%s' expects a status code, got '%s'", a[0], a[1])
	}
	f, err := os.Open(a[2])
	if err != nil {
		return 0, "", false, fmt.Errorf("'%s' : error opening file <%s> : %w", a[0], a[2], unwrapPathError(err))
	}
	f.Close()
	if !errorfileCodes[code] {
		p.warnf("status code %d not handled by '%s', error customization will be ignored", code, a[0])
		return code, a[2], false, nil
	}
	return code, a[2], true, nil
}

func kwErrorfile(p *parser, px *Proxy, a []string) error {
	code, file, ok, err := p.parseErrorfile(a)
	if err != nil || !ok {
		return err
	}
	if px.ErrorFiles == nil {
		px.ErrorFiles = map[int]string{}
	}
	px.ErrorFiles[code] = file
	return nil
}

func kwErrorfiles(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'errorfiles' expects an http-errors section name")
	}
	for _, c := range a[2:] {
		if n, err := strconv.Atoi(c); err != nil || !errorfileCodes[n] {
			return fmt.Errorf("'errorfiles' : status code '%s' is not handled", c)
		}
	}
	px.ErrorFilesRefs = append(px.ErrorFilesRefs, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

// syslogLevels are the syslog levels, in order (index = level number).
var syslogLevels = []string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

func isLevel(s string) bool {
	for _, l := range syslogLevels {
		if s == l {
			return true
		}
	}
	return false
}

func kwEmailAlert(p *parser, px *Proxy, a []string) error {
	if len(a) < 3 {
		return fmt.Errorf("'email-alert' expects 'mailers', 'from', 'to', 'level', 'myhostname', 'group-wait' or 'subject-prefix' followed by a value")
	}
	ea := &px.EmailAlert
	sub := a[1]
	if sub != "subject-prefix" && len(a) > 3 {
		return fmt.Errorf("'email-alert %s' cannot handle unexpected argument '%s'", sub, a[3])
	}
	switch sub {
	case "mailers":
		ea.Mailers, ea.MailersPos = a[2], p.pos()
	case "from":
		ea.From = a[2]
	case "to":
		ea.To = a[2]
	case "myhostname":
		ea.MyHostname = a[2]
	case "level":
		if !isLevel(a[2]) {
			return fmt.Errorf("'email-alert level' : unknown level '%s'", a[2])
		}
		ea.Level = a[2]
	case "group-wait":
		d, err := parseTimer("email-alert group-wait", a[2])
		if err != nil {
			return err
		}
		ea.GroupWait = d
	case "subject-prefix":
		ea.SubjectPrefix = strings.Join(a[2:], " ")
	default:
		return fmt.Errorf("'email-alert' expects 'mailers', 'from', 'to', 'level', 'myhostname', 'group-wait' or 'subject-prefix', got '%s'", sub)
	}
	return nil
}

func kwMonitorURI(p *parser, px *Proxy, a []string) (err error) {
	px.MonitorURI, err = oneArg(a)
	return
}

func kwMonitor(p *parser, px *Proxy, a []string) error {
	if len(a) < 4 || a[1] != "fail" || (a[2] != "if" && a[2] != "unless") {
		return fmt.Errorf("'monitor' expects 'fail' followed by 'if' or 'unless' and a condition")
	}
	px.MonitorFail = append(px.MonitorFail, Line{Pos: p.pos(), Words: clone(a[2:])})
	return nil
}

func kwUniqueID(p *parser, px *Proxy, a []string) error {
	v, err := oneFormatArg(a)
	if err != nil {
		return err
	}
	if a[0] == "unique-id-format" {
		px.UniqueIDFormat = v
	} else {
		px.UniqueIDHeader = v
	}
	return nil
}

// oneFormatArg is oneArg with HAProxy's hint for log-format-like arguments.
func oneFormatArg(a []string) (string, error) {
	if len(a) > 2 {
		return "", fmt.Errorf("'%s' expects only one argument, don't forget to escape spaces", a[0])
	}
	return oneArg(a)
}

func kwCookie(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'cookie' expects <cookie_name> as argument")
	}
	px.Cookie = &Line{Pos: p.pos(), Words: clone(a[1:])}
	return nil
}

func kwStick(p *parser, px *Proxy, a []string) error {
	if len(a) < 3 {
		return fmt.Errorf("'stick' expects 'on', 'match', 'store-request' or 'store-response' followed by a pattern")
	}
	switch a[1] {
	case "on", "match", "store-request", "store-response":
	default:
		return fmt.Errorf("'stick' expects 'on', 'match', 'store-request' or 'store-response', got '%s'", a[1])
	}
	px.StickRules = append(px.StickRules, Line{Pos: p.pos(), Words: clone(a[1:])})
	return nil
}

func kwAutoWeight(p *parser, px *Proxy, a []string) error {
	if len(a) != 2 && len(a) != 4 {
		return fmt.Errorf("'auto-weight' expects 'checks' or 'latency' and an optional 'floor <pct>'")
	}
	aw := &AutoWeight{Pos: p.pos(), Mode: a[1], Floor: 10}
	if a[1] != "checks" && a[1] != "latency" {
		return fmt.Errorf("'auto-weight' expects 'checks' or 'latency', got '%s'", a[1])
	}
	if len(a) == 4 {
		if a[2] != "floor" {
			return fmt.Errorf("'auto-weight %s' : unknown parameter '%s', expects 'floor <pct>'", a[1], a[2])
		}
		n, err := parseInt("auto-weight floor", strings.TrimSuffix(a[3], "%"), 0, 100)
		if err != nil {
			return err
		}
		aw.Floor = n
	}
	px.AutoWeight = aw
	return nil
}

func clone(s []string) []string { return append([]string(nil), s...) }
