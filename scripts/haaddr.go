package scripts

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
)

// haAddr is a destination parsed from HAProxy's address syntax.
type haAddr struct {
	network string // tcp, tcp4, tcp6, unix
	host    string // IP or name ("" for unix)
	port    string
	path    string // unix socket path (abstract: "@name")
}

func (a haAddr) dialAddr() string {
	if a.network == "unix" {
		return a.path
	}
	return net.JoinHostPort(a.host, a.port)
}

// errPortMissing is returned for an IP address without a port.
var errPortMissing = fmt.Errorf("port missing")

// parseHAAddr parses "ip:port", "[v6]:port", "host:port", "ipv4@...",
// "ipv6@...", "tcp@/tcp4@/tcp6@...", "unix@/path", "/path" and "abns@name".
// overridePort, when > 0, replaces any port in s (it allows a bare IPv6
// address, as Socket:connect(addr, port) does).
func parseHAAddr(s string, overridePort int) (haAddr, error) {
	var a haAddr
	network := "tcp"
	if i := strings.Index(s, "@"); i >= 0 && !strings.HasPrefix(s, "/") {
		prefix := s[:i]
		rest := s[i+1:]
		switch prefix {
		case "ipv4", "tcp4":
			network = "tcp4"
		case "ipv6", "tcp6":
			network = "tcp6"
		case "tcp":
		case "unix":
			return haAddr{network: "unix", path: rest}, nil
		case "abns":
			return haAddr{network: "unix", path: "@" + rest}, nil
		default:
			return a, fmt.Errorf("unsupported address family '%s@'", prefix)
		}
		s = rest
	}
	if strings.HasPrefix(s, "/") {
		return haAddr{network: "unix", path: s}, nil
	}
	a.network = network
	host, port := s, ""
	if overridePort > 0 {
		host = strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
		port = strconv.Itoa(overridePort)
	} else if strings.HasPrefix(s, "[") {
		h, p, err := net.SplitHostPort(s)
		if err != nil {
			if strings.HasSuffix(s, "]") {
				return a, errPortMissing
			}
			return a, err
		}
		host, port = h, p
	} else if i := strings.LastIndexByte(s, ':'); i >= 0 {
		// As str2sa_range: the last colon separates the port, so an IPv6
		// address needs brackets or a port ("::1:25" is ::1 port 25).
		host, port = s[:i], s[i+1:]
	}
	if s == "" {
		return a, fmt.Errorf("missing address")
	}
	if port == "" {
		return a, errPortMissing
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return a, fmt.Errorf("invalid port '%s'", port)
	}
	a.host, a.port = host, port
	return a, nil
}

// formatSockAddr formats an address as Socket:getpeername() does: "ip:port"
// for IPv4, "[ip]:port" for IPv6, the path for unix sockets.
func formatSockAddr(addr net.Addr) (string, bool) {
	switch x := addr.(type) {
	case *net.TCPAddr:
		if ip4 := x.IP.To4(); ip4 != nil {
			return ip4.String() + ":" + strconv.Itoa(x.Port), true
		}
		return "[" + x.IP.String() + "]:" + strconv.Itoa(x.Port), true
	case *net.UnixAddr:
		return x.Name, true
	}
	return "", false
}

// connSet tracks the connections scripts opened, so Close can close them.
type connSet struct {
	mu sync.Mutex
	m  map[net.Conn]struct{}
}

func (s *connSet) add(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[net.Conn]struct{}{}
	}
	s.m[c] = struct{}{}
}

func (s *connSet) remove(c net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, c)
}

func (s *connSet) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m {
		_ = c.Close()
	}
	s.m = nil
}
