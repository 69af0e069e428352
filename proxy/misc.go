package proxy

import (
	"bytes"
	"crypto/tls"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// lbKey computes the hash key of hash-based algorithms for the request.
func (t *Txn) lbKey() lbKey {
	be := t.be
	if be == nil || be.conf == nil || be.conf.Balance == nil {
		return lbKey{}
	}
	b := be.conf.Balance
	var h uint32
	switch b.Algo {
	case "source":
		a := t.s.src.Addr()
		if !a.IsValid() {
			return lbKey{}
		}
		s := a.AsSlice()
		h = sdbmHash(s)
	case "uri":
		if !t.IsHTTP() {
			return lbKey{}
		}
		u := t.req.URI()
		whole, pathOnly := false, false
		depth, length := 0, 0
		for i := 0; i < len(b.Opts); i++ {
			switch b.Opts[i] {
			case "whole":
				whole = true
			case "path-only":
				pathOnly = true
			case "depth":
				if i+1 < len(b.Opts) {
					depth, _ = strconv.Atoi(b.Opts[i+1])
					i++
				}
			case "len":
				if i+1 < len(b.Opts) {
					length, _ = strconv.Atoi(b.Opts[i+1])
					i++
				}
			}
		}
		if pathOnly || !whole {
			if i := bytes.IndexByte(u, '?'); i >= 0 {
				u = u[:i]
			}
		}
		if depth > 0 {
			n := 0
			for i, c := range u {
				if c == '/' {
					n++
					if n > depth {
						u = u[:i]
						break
					}
				}
			}
		}
		if length > 0 && len(u) > length {
			u = u[:length]
		}
		h = sdbmHash(u)
	case "url_param":
		if !t.IsHTTP() {
			return lbKey{}
		}
		v, ok := queryParam(t.req.URI(), b.Arg)
		if !ok {
			return lbKey{}
		}
		h = sdbmHash(v)
	case "hdr":
		if !t.IsHTTP() {
			return lbKey{}
		}
		v, ok := t.req.Header(b.Arg)
		if !ok || len(v) == 0 {
			return lbKey{}
		}
		for _, o := range b.Opts {
			if o == "use_domain_only" {
				v = domainOnly(v)
			}
		}
		h = sdbmHash(v)
	default:
		return lbKey{}
	}
	if !be.hashConsistent() {
		h = fullAvalanche(h)
	}
	return lbKey{hash: h, valid: true}
}

// queryParam returns the first value of a query parameter (not decoded).
func queryParam(uri []byte, name string) ([]byte, bool) {
	q := bytes.IndexByte(uri, '?')
	if q < 0 {
		return nil, false
	}
	rest := uri[q+1:]
	for len(rest) > 0 {
		var kv []byte
		if i := bytes.IndexAny(rest, "&;"); i >= 0 {
			kv, rest = rest[:i], rest[i+1:]
		} else {
			kv, rest = rest, nil
		}
		k, v := kv, []byte(nil)
		if i := bytes.IndexByte(kv, '='); i >= 0 {
			k, v = kv[:i], kv[i+1:]
		}
		if string(k) == name {
			return v, true
		}
	}
	return nil, false
}

// domainOnly keeps the main domain part of a host (use_domain_only).
func domainOnly(h []byte) []byte {
	if i := bytes.IndexByte(h, ':'); i >= 0 {
		h = h[:i]
	}
	parts := bytes.Split(h, []byte("."))
	if len(parts) >= 2 {
		return parts[len(parts)-2]
	}
	return h
}

// matchExcept reports whether a client address is in an "except" network.
func matchExcept(except string, a netip.Addr) bool {
	for _, n := range strings.Split(except, ",") {
		if p, err := netip.ParsePrefix(n); err == nil {
			if p.Contains(a) {
				return true
			}
			continue
		}
		if x, err := netip.ParseAddr(n); err == nil && x == a {
			return true
		}
	}
	return false
}

// observeL4 and observeL7 feed passive health checks (observe layer4/7).
// They are wired to the health checker by SetObserver.
func (s *Server) observeL4(ok bool) {
	if o := s.observer.Load(); o != nil {
		(*o).ObserveL4(ok)
	}
}

func (s *Server) observeL7(status int) {
	if o := s.observer.Load(); o != nil {
		(*o).ObserveL7(status)
	}
}

// Observer receives passive health observations of a server's real traffic.
type Observer interface {
	ObserveL4(ok bool)
	ObserveL7(status int)
}

// SetObserver installs the passive health observer of a server.
func (s *Server) SetObserver(o Observer) {
	if o == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&o)
}

// hostname returns the system host name (cached).
func (e *Engine) hostname() string {
	e.hostOnce.Do(func() { e.host, _ = os.Hostname() })
	return e.host
}

func tlsVersionName(v uint16) string {
	switch v {
	case tls.VersionTLS10:
		return "TLSv1"
	case tls.VersionTLS11:
		return "TLSv1.1"
	case tls.VersionTLS12:
		return "TLSv1.2"
	case tls.VersionTLS13:
		return "TLSv1.3"
	}
	return "unknown"
}

func tlsCipherName(c uint16) string { return tls.CipherSuiteName(c) }

// nowTime is the clock of rate fetches.
func nowTime() time.Time { return time.Now() }
