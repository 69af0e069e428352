package proxy

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Addr is a parsed HAProxy address (reference §1.7).
type Addr struct {
	Network string // "tcp", "tcp4", "tcp6", "unix"
	Host    string // host or IP (empty = any), or the unix path
	Port    int    // 0 = unset (server: same as the client's destination port)
	PortEnd int    // bind port ranges p1-p2 (0 = single port)
	Offset  bool   // server "+N"/"-N": Port is an offset added to the client's destination port
}

// String renders the address for dialing or listening (host:port or path).
func (a Addr) String() string {
	if a.Network == "unix" {
		return a.Host
	}
	return net.JoinHostPort(a.Host, strconv.Itoa(a.Port))
}

// ParseAddr parses "ipv4@1.2.3.4:80", ":80", "*:8080", "[::1]:80", "::1:80",
// "/run/x.sock", "unix@/run/x.sock", "host:port", "host". portRequired is set
// for bind lines.
func ParseAddr(s string, portRequired bool) (Addr, error) {
	var a Addr
	a.Network = "tcp"
	orig := s
	if i := strings.Index(s, "@"); i > 0 {
		prefix := s[:i]
		if j := strings.LastIndex(prefix, "+"); j >= 0 {
			prefix = prefix[j+1:] // stream+ipv4@
		}
		rest := s[i+1:]
		switch prefix {
		case "ipv4", "tcp4":
			a.Network = "tcp4"
		case "ipv6", "tcp6":
			a.Network = "tcp6"
		case "ip", "tcp":
			a.Network = "tcp"
		case "unix", "uxst":
			a.Network = "unix"
			a.Host = rest
			if rest == "" {
				return a, fmt.Errorf("missing path in address '%s'", orig)
			}
			return a, nil
		case "udp", "udp4", "udp6", "uxdg", "abns", "abnsz", "fd", "sockpair", "quic4", "quic6", "mptcp", "mptcp4", "mptcp6":
			return a, fmt.Errorf("address family '%s@' is not supported here", prefix)
		default:
			return a, fmt.Errorf("unknown address family '%s@' in '%s'", prefix, orig)
		}
		s = rest
	}
	if strings.HasPrefix(s, "/") {
		a.Network = "unix"
		a.Host = s
		return a, nil
	}
	host, port := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return a, fmt.Errorf("invalid address '%s'", orig)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return a, fmt.Errorf("invalid address '%s'", orig)
			}
			port = rest[1:]
		}
	default:
		if i := strings.LastIndex(s, ":"); i >= 0 {
			host, port = s[:i], s[i+1:]
			// "::1" alone: an IPv6 address without port.
			if strings.Count(s, ":") > 1 && net.ParseIP(s) != nil {
				host, port = s, ""
			}
		}
	}
	if host == "*" {
		host = ""
	}
	if host == "::" && a.Network == "tcp" {
		a.Network = "tcp6"
		host = ""
	}
	a.Host = host
	if port == "" {
		if portRequired {
			return a, fmt.Errorf("missing port number in '%s'", orig)
		}
		return a, nil
	}
	if port[0] == '+' || port[0] == '-' {
		if portRequired {
			return a, fmt.Errorf("invalid port '%s' in '%s'", port, orig)
		}
		n, err := strconv.Atoi(port)
		if err != nil {
			return a, fmt.Errorf("invalid port offset '%s' in '%s'", port, orig)
		}
		a.Port, a.Offset = n, true
		return a, nil
	}
	if p1, p2, ok := strings.Cut(port, "-"); ok && portRequired {
		lo, err1 := strconv.Atoi(p1)
		hi, err2 := strconv.Atoi(p2)
		if err1 != nil || err2 != nil || lo < 1 || hi > 65535 || hi < lo {
			return a, fmt.Errorf("invalid port range '%s' in '%s'", port, orig)
		}
		a.Port, a.PortEnd = lo, hi
		return a, nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (portRequired && n == 0 && port != "0") {
		return a, fmt.Errorf("invalid port '%s' in '%s'", port, orig)
	}
	a.Port = n
	return a, nil
}
