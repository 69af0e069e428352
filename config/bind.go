package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// addrUse tells checkAddr where an address appears (reference §1.7).
type addrUse int

const (
	addrBind   addrUse = iota // port mandatory, ranges allowed
	addrServer                // port optional, +N/-N offsets allowed
	addrLog                   // port optional
	addrPeer                  // host:port required (mailers, nameservers)
)

// addrPrefixes are the known family/protocol prefixes ("ipv4@"...), and
// whether the rest is a path or number rather than host:port.
var addrPrefixes = map[string]string{
	"ipv4": "inet", "ipv6": "inet", "ip": "inet", "unix": "path", "abns": "path", "abnsz": "path",
	"fd": "fd", "sockpair": "fd", "tcp": "inet", "tcp4": "inet", "tcp6": "inet",
	"udp": "dgram", "udp4": "dgram", "udp6": "dgram", "quic4": "quic", "quic6": "quic",
	"uxst": "path", "uxdg": "path", "mptcp": "inet", "mptcp4": "inet", "mptcp6": "inet",
}

// checkAddr validates one address as written in the configuration.
func checkAddr(addr string, use addrUse) error {
	rest := addr
	kind := "inet"
	if at := strings.IndexByte(addr, '@'); at >= 0 {
		prefix := strings.TrimPrefix(strings.TrimPrefix(addr[:at], "stream+"), "dgram+")
		k, ok := addrPrefixes[prefix]
		if !ok {
			return fmt.Errorf("unknown address family or protocol '%s@' in '%s'", addr[:at], addr)
		}
		kind, rest = k, addr[at+1:]
		if strings.HasPrefix(addr, "dgram+") && kind == "inet" {
			kind = "dgram"
		}
	}
	switch kind {
	case "path":
		if rest == "" {
			return fmt.Errorf("missing socket path in '%s'", addr)
		}
		return nil
	case "fd":
		if _, err := strconv.Atoi(rest); err != nil {
			return fmt.Errorf("invalid file descriptor number in '%s'", addr)
		}
		return nil
	case "quic":
		if use == addrBind {
			return fmt.Errorf("QUIC listeners ('%s') are not supported by Moonbus", addr)
		}
		return fmt.Errorf("QUIC addresses are only valid on 'bind' lines ('%s')", addr)
	case "dgram":
		if use == addrBind || use == addrServer {
			return fmt.Errorf("datagram address '%s' cannot be used here (stream socket expected)", addr)
		}
	}
	if strings.HasPrefix(rest, "/") {
		if rest != addr && kind == "inet" {
			return fmt.Errorf("a path is not a valid address for '%s'", addr)
		}
		return nil // a unix socket path
	}
	colon := strings.LastIndexByte(rest, ':')
	if colon < 0 {
		if use == addrBind || use == addrPeer {
			return fmt.Errorf("missing port specification in '%s'", addr)
		}
		if rest == "" {
			return fmt.Errorf("missing address in '%s'", addr)
		}
		return nil
	}
	host, port := rest[:colon], rest[colon+1:]
	if host == "" && (use == addrServer || use == addrPeer || use == addrLog) {
		return fmt.Errorf("missing address in '%s'", addr)
	}
	if port == "" {
		if use == addrBind || use == addrPeer {
			return fmt.Errorf("missing port specification in '%s'", addr)
		}
		return nil
	}
	return checkPort(addr, port, use)
}

func checkPort(addr, port string, use addrUse) error {
	if use == addrServer && (port[0] == '+' || port[0] == '-') {
		if n, err := strconv.Atoi(port[1:]); err != nil || n < 0 || n > 65535 {
			return fmt.Errorf("invalid port offset '%s' in '%s'", port, addr)
		}
		return nil
	}
	lo, hi, isRange := strings.Cut(port, "-")
	if isRange && use != addrBind {
		return fmt.Errorf("port ranges are only allowed on 'bind' lines ('%s')", addr)
	}
	a, err1 := strconv.Atoi(lo)
	b := a
	var err2 error
	if isRange {
		b, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || a < 0 || b > 65535 || b < a || (use != addrBind && a == 0) {
		return fmt.Errorf("invalid port '%s' in '%s'", port, addr)
	}
	return nil
}

// bindParams lists the bind parameters and how many arguments each takes.
// Those with a field in Bind are handled in parseBind; the others go to
// Bind.Other as written.
var bindParams = map[string]int{
	"ssl": 0, "crt": 1, "crt-list": 1, "alpn": 1, "ca-file": 1, "verify": 1,
	"ssl-min-ver": 1, "ssl-max-ver": 1, "accept-proxy": 0, "maxconn": 1, "v4v6": 0,
	"v6only": 0, "name": 1, "id": 1, "level": 1, "mode": 1, "user": 1, "group": 1,
	"severity-output": 1,
	// accepted without behaviour here
	"uid": 1, "gid": 1, "transparent": 0, "tfo": 0, "defer-accept": 0, "npn": 1, "no-alpn": 0,
	"allow-0rtt": 0, "prefer-client-ciphers": 0, "strict-sni": 0, "generate-certificates": 0,
	"no-ca-names": 0, "no-sslv3": 0, "no-tlsv10": 0, "no-tlsv11": 0, "no-tlsv12": 0,
	"no-tlsv13": 0, "force-sslv3": 0, "force-tlsv10": 0, "force-tlsv11": 0,
	"force-tlsv12": 0, "force-tlsv13": 0, "no-tls-tickets": 0, "tls-tickets": 0,
	"expose-fd": 1, "process": 1, "thread": 1, "interface": 1, "backlog": 1, "nice": 1,
	"mss": 1, "namespace": 1, "tcp-ut": 1, "ciphers": 1, "ciphersuites": 1, "curves": 1,
	"ecdhe": 1, "sigalgs": 1, "client-sigalgs": 1, "crl-file": 1, "ca-ignore-err": 1,
	"crt-ignore-err": 1, "ca-verify-file": 1, "ca-sign-file": 1, "ca-sign-pass": 1,
	"ocsp-update": 1, "proto": 1, "accept-netscaler-cip": 1, "guid-prefix": 1,
	"idle-ping": 1, "shards": 1, "quic-cc-algo": 1, "quic-socket": 1, "quic-force-retry": 0,
	"ssl-reuse": 0, "no-ssl-reuse": 0, "sni-filter": 1, "ktls": 1, "label": 1,
}

// parseBind parses "<addr>[,<addr>...] [params]" of a bind or stats socket line.
func (p *parser) parseBind(words []string, stats bool) (*Bind, error) {
	b := &Bind{Pos: p.pos()}
	use := addrBind
	for _, a := range strings.Split(words[0], ",") {
		if a == "" {
			return nil, fmt.Errorf(": empty address in the list")
		}
		if stats && !strings.HasPrefix(a, "/") && !strings.Contains(a, "@") && !strings.Contains(a, ":") {
			return nil, fmt.Errorf(": missing port specification in '%s'", a)
		}
		if err := checkAddr(a, use); err != nil {
			return nil, fmt.Errorf(": %w", err)
		}
		b.Addrs = append(b.Addrs, a)
	}
	if stats {
		b.Level = "operator"
	}
	for i := 1; i < len(words); i++ {
		kw := words[i]
		n, ok := bindParams[kw]
		if !ok {
			msg := fmt.Sprintf("in section '%s': unknown keyword '%s'", p.secKw, kw)
			if s := suggest(kw, keysOf(bindParams)); s != "" {
				msg += fmt.Sprintf("; did you mean '%s' maybe ?", s)
			}
			return nil, fmt.Errorf("%s", msg)
		}
		if i+n >= len(words) {
			if n > 0 {
				return nil, fmt.Errorf(": '%s' expects an argument", kw)
			}
		}
		var v string
		if n > 0 {
			v = words[i+1]
		}
		if err := setBindParam(b, kw, v, stats); err != nil {
			return nil, fmt.Errorf(": %w", err)
		}
		i += n
	}
	return b, nil
}

func setBindParam(b *Bind, kw, v string, stats bool) error {
	var err error
	switch kw {
	case "ssl":
		b.SSL = true
	case "crt":
		b.Crts = append(b.Crts, v)
	case "crt-list":
		b.CrtList = v
	case "alpn":
		b.ALPN = strings.Split(v, ",")
	case "ca-file":
		b.CAFile = v
	case "verify":
		if v != "none" && v != "optional" && v != "required" {
			return fmt.Errorf("'verify' expects 'none', 'optional' or 'required', got '%s'", v)
		}
		b.Verify = v
	case "ssl-min-ver", "ssl-max-ver":
		switch v {
		case "SSLv3", "TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3":
		default:
			return fmt.Errorf("'%s' expects one of SSLv3, TLSv1.0, TLSv1.1, TLSv1.2, TLSv1.3, got '%s'", kw, v)
		}
		if kw == "ssl-min-ver" {
			b.SSLMinVer = v
		} else {
			b.SSLMaxVer = v
		}
	case "accept-proxy":
		b.AcceptProxy = true
	case "maxconn":
		b.Maxconn, err = parseInt(kw, v, 0, math.MaxInt32)
	case "v4v6":
		b.V4V6 = true
	case "v6only":
		b.V6Only = true
	case "name":
		b.Name = v
	case "id":
		b.ID, err = parseInt(kw, v, 1, math.MaxInt32)
	case "level":
		if v != "user" && v != "operator" && v != "admin" {
			return fmt.Errorf("'level' only supports 'user', 'operator', and 'admin', got '%s'", v)
		}
		b.Level = v
	case "mode":
		m, perr := strconv.ParseUint(v, 8, 32)
		if perr != nil || m > 0o7777 {
			return fmt.Errorf("'mode' expects an octal permission mode, got '%s'", v)
		}
		b.Mode = uint32(m)
	case "user":
		b.User = v
	case "group":
		b.Group = v
	case "severity-output":
		if v != "none" && v != "number" && v != "string" {
			return fmt.Errorf("'severity-output' expects 'none', 'number' or 'string', got '%s'", v)
		}
		b.SeverityOutput = v
	default:
		if v != "" {
			b.Other = append(b.Other, kw+" "+v)
		} else {
			b.Other = append(b.Other, kw)
		}
	}
	return err
}
