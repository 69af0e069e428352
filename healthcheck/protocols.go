package healthcheck

import (
	"bytes"
	"encoding/binary"
	"regexp"
	"strconv"
	"strings"
)

// ParseRules compiles a backend's check program from its check option and
// rule lines: option is the check option name ("" for none, "httpchk",
// "tcp-check", "smtpchk", "redis-check", "pgsql-check", "ssl-hello-chk"),
// args the words after it, httpCheck and tcpCheck the words after each
// "http-check" / "tcp-check" line. It returns nil rules (a plain TCP connect
// check) when option is "". Errors are *RuleError values naming the offending
// word; Line -1 designates the option line.
func ParseRules(option string, args []string, httpCheck, tcpCheck [][]string) (*Rules, error) {
	switch option {
	case "":
		return nil, nil
	case "httpchk":
		return ParseHTTPCheck(args, httpCheck)
	case "tcp-check":
		if len(args) > 0 {
			return nil, ruleErr(-1, "'option tcp-check' takes no argument, got '%s'", args[0])
		}
		return ParseTCPCheck(tcpCheck)
	case "smtpchk":
		return smtpRules(args)
	case "redis-check":
		if len(args) > 0 {
			return nil, ruleErr(-1, "'option redis-check' takes no argument, got '%s'", args[0])
		}
		return redisRules(), nil
	case "pgsql-check":
		return pgsqlRules(args)
	case "ssl-hello-chk":
		if len(args) > 0 {
			return nil, ruleErr(-1, "'option ssl-hello-chk' takes no argument, got '%s'", args[0])
		}
		return sslHelloRules(), nil
	case "mysql-check", "ldap-check", "spop-check", "external-check":
		return nil, ruleErr(-1, "'option %s' is not supported by Moonbus", option)
	}
	return nil, ruleErr(-1, "unknown check option '%s'", option)
}

// firstLine returns buf up to the first CR or LF (HAProxy's cut_crlf).
func firstLine(buf []byte) string {
	if i := bytes.IndexAny(buf, "\r\n"); i >= 0 {
		buf = buf[:i]
	}
	return string(buf)
}

func smtpText(buf []byte) string {
	if len(buf) < 4 {
		return ""
	}
	return firstLine(bytes.TrimLeft(buf[4:], " "))
}

func smtpCode(buf []byte) int {
	if len(buf) < 3 {
		return 0
	}
	n, err := strconv.Atoi(string(buf[:3]))
	if err != nil {
		return 0
	}
	return n
}

var (
	reSMTPReply = regexp.MustCompile("^[0-9]{3}[- \r]")
	reSMTPOK    = regexp.MustCompile("^2[0-9]{2}[- \r]")
)

// smtpRules is "option smtpchk [HELO|EHLO <domain>]": expect a 2xx banner,
// send HELO/EHLO, expect a 2xx reply. The code is the SMTP reply code.
func smtpRules(args []string) (*Rules, error) {
	cmd := "HELO localhost"
	if len(args) >= 2 && (strings.EqualFold(args[0], "HELO") || strings.EqualFold(args[0], "EHLO")) {
		cmd = strings.ToUpper(args[0]) + " " + args[1]
	}
	if len(args) > 2 {
		return nil, ruleErr(-1, "'option smtpchk' : unexpected argument '%s' (expects [HELO|EHLO <domain>])", args[2])
	}
	reply := func() *step {
		return &step{kind: stepExpect, match: matchRString, re: reSMTPReply, minRecv: 4,
			errStatus: StatusL7RSP, errorInfo: firstLine}
	}
	ok := func(success bool) *step {
		st := &step{kind: stepExpect, match: matchRString, re: reSMTPOK, minRecv: 4,
			errStatus: StatusL7STS, errorInfo: smtpText, codeOf: smtpCode}
		if success {
			st.successInfo = smtpText
		}
		return st
	}
	r := &Rules{proto: protoSMTP, steps: []*step{
		{kind: stepConnect, implicit: true, isDefault: true, linger: true},
		reply(), ok(false),
		{kind: stepSend, data: []byte(cmd + "\r\n")},
		reply(), ok(true),
	}}
	finishSteps(r)
	return r, nil
}

// redisRules is "option redis-check": PING, expect +PONG.
func redisRules() *Rules {
	r := &Rules{proto: protoRedis, steps: []*step{
		{kind: stepConnect, implicit: true, isDefault: true},
		{kind: stepSend, data: []byte("*1\r\n$4\r\nPING\r\n")},
		{kind: stepExpect, match: matchString, pattern: []byte("+PONG\r\n"), minRecv: 7,
			errStatus: StatusL7STS, errorInfo: firstLine, onSuccess: "Redis server is ok"},
	}}
	finishSteps(r)
	return r
}

// pgsqlRules is "option pgsql-check [user <name>]": a protocol 3.0 startup
// packet; an authentication request or AuthenticationOk ('R') passes, an
// ErrorResponse ('E') fails with its severity and message.
func pgsqlRules(args []string) (*Rules, error) {
	user := ""
	switch {
	case len(args) == 0:
	case len(args) == 2 && args[0] == "user":
		user = args[1]
	case args[0] == "user":
		return nil, ruleErr(-1, "'option pgsql-check user' expects a username")
	default:
		return nil, ruleErr(-1, "'option pgsql-check' only supports optional values: 'user', got '%s'", args[0])
	}
	body := []byte{0, 3, 0, 0}
	body = append(body, "user\x00"...)
	body = append(body, user...)
	body = append(body, 0, 0)
	pkt := binary.BigEndian.AppendUint32(nil, uint32(len(body)+4))
	pkt = append(pkt, body...)
	r := &Rules{proto: protoPgSQL, steps: []*step{
		{kind: stepConnect, implicit: true, isDefault: true, linger: true},
		{kind: stepSend, data: pkt},
		{kind: stepExpect, match: matchCustom, minRecv: 5, custom: pgsqlExpect, onSuccess: "PostgreSQL server is ok"},
	}}
	finishSteps(r)
	return r, nil
}

func pgsqlExpect(r *runner, st *step, last bool) (evalRet, Result) {
	buf := r.buf()
	if len(buf) < 5 {
		if !last {
			return evalWait, Result{}
		}
		return evalStop, r.result(StatusL7RSP, "PostgreSQL unknown error")
	}
	n := int(binary.BigEndian.Uint32(buf[1:5]))
	switch buf[0] {
	case 'R':
		if len(buf) < 9 {
			if !last {
				return evalWait, Result{}
			}
			return evalStop, r.result(StatusL7STS, "PostgreSQL unknown error")
		}
		code := binary.BigEndian.Uint32(buf[5:9])
		// AuthenticationOk (0) and the request for a password, Kerberos,
		// GSS, SSPI or SASL exchange: the server speaks the protocol.
		if n >= 8 && n <= 4096 && code <= 12 && code != 1 {
			return evalContinue, Result{}
		}
		return evalStop, r.result(StatusL7STS, "PostgreSQL unknown error")
	case 'E':
		if len(buf) < 1+n && !last && n <= bufSize {
			return evalWait, Result{}
		}
		return evalStop, r.result(StatusL7RSP, pgsqlError(buf[5:min(len(buf), 1+n)]))
	}
	return evalStop, r.result(StatusL7STS, "PostgreSQL unknown error")
}

// pgsqlError turns ErrorResponse fields into "SEVERITY: message".
func pgsqlError(fields []byte) string {
	var sev, msg string
	for len(fields) > 1 {
		t := fields[0]
		end := bytes.IndexByte(fields[1:], 0)
		if end < 0 {
			end = len(fields) - 1
		}
		v := string(fields[1 : 1+end])
		switch t {
		case 'S':
			if sev == "" {
				sev = v
			}
		case 'V':
			sev = v
		case 'M':
			msg = v
		}
		fields = fields[min(len(fields), 2+end):]
	}
	switch {
	case sev != "" && msg != "":
		return sev + ": " + msg
	case msg != "":
		return msg
	case sev != "":
		return sev
	}
	return "PostgreSQL unknown error"
}

var reSSLHello = regexp.MustCompile("^1[56]")

// sslHelloRules is "option ssl-hello-chk": send a ClientHello, pass on an
// SSL/TLS handshake (0x16) or alert (0x15) record, as HAProxy does.
func sslHelloRules() *Rules {
	r := &Rules{proto: protoSSLHello, steps: []*step{
		{kind: stepConnect, implicit: true},
		{kind: stepSend, data: clientHello()},
		{kind: stepExpect, match: matchRBinary, re: reSSLHello, minRecv: 5,
			okStatus: StatusL6OK, errStatus: StatusL6RSP, toutStatus: StatusL6TOUT},
	}}
	finishSteps(r)
	return r
}

// clientHello builds a TLS 1.2 ClientHello that current TLS stacks (Go's
// crypto/tls, OpenSSL) answer with a ServerHello.
func clientHello() []byte {
	u16 := func(b []byte, v int) []byte { return append(b, byte(v>>8), byte(v)) }
	var hs []byte
	hs = append(hs, 0x03, 0x03) // client_version TLS 1.2
	for i := 0; i < 32; i++ {
		hs = append(hs, byte(0x4d+i)) // random: any value will do
	}
	hs = append(hs, 0) // no session id
	suites := []int{0xc02f, 0xc02b, 0xc030, 0xc02c, 0xcca8, 0xcca9, 0xc013, 0xc009, 0xc014, 0xc00a, 0x009c, 0x009d, 0x002f, 0x0035}
	hs = u16(hs, 2*len(suites))
	for _, s := range suites {
		hs = u16(hs, s)
	}
	hs = append(hs, 1, 0) // compression: null
	var ext []byte
	groups := []int{0x001d, 0x0017, 0x0018}
	ext = u16(ext, 0x000a)
	ext = u16(ext, 2+2*len(groups))
	ext = u16(ext, 2*len(groups))
	for _, g := range groups {
		ext = u16(ext, g)
	}
	ext = append(ext, 0x00, 0x0b, 0x00, 0x02, 0x01, 0x00) // ec_point_formats: uncompressed
	sigs := []int{0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201}
	ext = u16(ext, 0x000d)
	ext = u16(ext, 2+2*len(sigs))
	ext = u16(ext, 2*len(sigs))
	for _, s := range sigs {
		ext = u16(ext, s)
	}
	ext = append(ext, 0xff, 0x01, 0x00, 0x01, 0x00) // renegotiation_info
	hs = u16(hs, len(ext))
	hs = append(hs, ext...)
	msg := []byte{0x01, byte(len(hs) >> 16), byte(len(hs) >> 8), byte(len(hs))}
	msg = append(msg, hs...)
	rec := []byte{0x16, 0x03, 0x01}
	rec = u16(rec, len(msg))
	return append(rec, msg...)
}
