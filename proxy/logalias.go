package proxy

import (
	"net/netip"
	"strconv"
	"time"
)

// aliases are HAProxy's log-format variables (reference §9).
var aliases map[string]aliasFunc

func init() {
	aliases = map[string]aliasFunc{
		"ci": func(b []byte, t *Txn) []byte { return appendIP(b, t.s.src) },
		"cp": func(b []byte, t *Txn) []byte { return appendPort(b, t.s.src) },
		"fi": func(b []byte, t *Txn) []byte { return appendIP(b, t.s.dst) },
		"fp": func(b []byte, t *Txn) []byte { return appendPort(b, t.s.dst) },
		"bi": func(b []byte, t *Txn) []byte { return appendConnAddr(b, t, true, false) },
		"bp": func(b []byte, t *Txn) []byte { return appendConnAddr(b, t, true, true) },
		"si": func(b []byte, t *Txn) []byte { return appendConnAddr(b, t, false, false) },
		"sp": func(b []byte, t *Txn) []byte { return appendConnAddr(b, t, false, true) },
		"t":  func(b []byte, t *Txn) []byte { return appendDate(b, t.tAccept, true) },
		"tr": func(b []byte, t *Txn) []byte { return appendDate(b, t.reqDate(), true) },
		"trg": func(b []byte, t *Txn) []byte {
			return append(appendDate(b, t.reqDate().UTC(), false), " +0000"...)
		},
		"trl": func(b []byte, t *Txn) []byte {
			d := t.reqDate()
			return appendZone(appendDate(b, d, false), d)
		},
		"T":  func(b []byte, t *Txn) []byte { return append(appendDate(b, t.tAccept.UTC(), false), " +0000"...) },
		"Tl": func(b []byte, t *Txn) []byte { return appendZone(appendDate(b, t.tAccept, false), t.tAccept) },
		"Ts": func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, t.tAccept.Unix(), 10) },
		"ms": func(b []byte, t *Txn) []byte { return appendInt3(b, t.tAccept.Nanosecond()/1e6) },
		"ft": func(b []byte, t *Txn) []byte {
			b = append(b, t.fe.name...)
			if t.s.tls != nil {
				b = append(b, '~')
			}
			return b
		},
		"f": func(b []byte, t *Txn) []byte { return append(b, t.fe.name...) },
		"b": func(b []byte, t *Txn) []byte {
			if t.be != nil {
				return append(b, t.be.name...)
			}
			return append(b, t.fe.name...)
		},
		"s": func(b []byte, t *Txn) []byte {
			switch {
			case t.service != "":
				return append(b, t.service...)
			case t.srv != nil:
				return append(b, t.srv.name...)
			}
			return append(b, "<NOSRV>"...)
		},
		"ST":  func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, int64(t.status), 10) },
		"B":   func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, t.bytesOut, 10) },
		"U":   func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, t.bytesIn, 10) },
		"CC":  func(b []byte, t *Txn) []byte { return append(b, '-') },
		"CS":  func(b []byte, t *Txn) []byte { return append(b, '-') },
		"tsc": func(b []byte, t *Txn) []byte { return append(b, t.term[0], t.term[1], '-', '-') },
		"ts":  func(b []byte, t *Txn) []byte { return append(b, t.term[0], t.term[1]) },
		"ac":  func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, t.s.e.CurrConns.Load(), 10) },
		"fc":  func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, int64(t.fe.feConns.Load()), 10) },
		"bc": func(b []byte, t *Txn) []byte {
			if t.be == nil {
				return append(b, '0')
			}
			return strconv.AppendInt(b, t.be.BeCounters.Scur.Load(), 10)
		},
		"sc": func(b []byte, t *Txn) []byte {
			if t.srv == nil {
				return append(b, '0')
			}
			return strconv.AppendInt(b, int64(t.srv.cur.Load()), 10)
		},
		"rc": func(b []byte, t *Txn) []byte {
			if t.redisp {
				b = append(b, '+')
			}
			return strconv.AppendInt(b, int64(t.retries), 10)
		},
		"sq": func(b []byte, t *Txn) []byte {
			if t.srv == nil {
				return append(b, '0')
			}
			return strconv.AppendInt(b, int64(t.srv.queue.len()), 10)
		},
		"bq": func(b []byte, t *Txn) []byte {
			if t.be == nil {
				return append(b, '0')
			}
			return strconv.AppendInt(b, int64(t.be.queue.len()), 10)
		},
		"hr":  func(b []byte, t *Txn) []byte { return t.rules.appendCaptures(b, t, false, true) },
		"hs":  func(b []byte, t *Txn) []byte { return t.rules.appendCaptures(b, t, true, true) },
		"hrl": func(b []byte, t *Txn) []byte { return t.rules.appendCaptures(b, t, false, false) },
		"hsl": func(b []byte, t *Txn) []byte { return t.rules.appendCaptures(b, t, true, false) },
		"r": func(b []byte, t *Txn) []byte {
			if t.badReq || t.req.method.n == 0 {
				return append(b, "<BADREQ>"...)
			}
			b = append(b, t.req.get(t.req.origMethod)...)
			b = append(b, ' ')
			b = append(b, t.req.get(t.req.origURI)...)
			b = append(b, ' ')
			return append(b, t.req.get(t.req.proto)...)
		},
		"HM": func(b []byte, t *Txn) []byte { return append(b, t.req.get(t.req.origMethod)...) },
		"HU": func(b []byte, t *Txn) []byte { return append(b, t.req.get(t.req.origURI)...) },
		"HV": func(b []byte, t *Txn) []byte { return append(b, t.req.get(t.req.proto)...) },
		"HP": func(b []byte, t *Txn) []byte {
			u := t.req.get(t.req.origURI)
			for i, c := range u {
				if c == '?' {
					return append(b, u[:i]...)
				}
			}
			return append(b, u...)
		},
		"HPO": func(b []byte, t *Txn) []byte { return append(b, uriPathOnly(t.req.get(t.req.origURI))...) },
		"HQ": func(b []byte, t *Txn) []byte {
			u := t.req.get(t.req.origURI)
			for i, c := range u {
				if c == '?' {
					return append(b, u[i:]...)
				}
			}
			return b
		},
		"TR": func(b []byte, t *Txn) []byte { tr, _, _, _, _ := t.timers(); return strconv.AppendInt(b, tr, 10) },
		"Tw": func(b []byte, t *Txn) []byte { _, tw, _, _, _ := t.timers(); return strconv.AppendInt(b, tw, 10) },
		"Tc": func(b []byte, t *Txn) []byte { _, _, tc, _, _ := t.timers(); return strconv.AppendInt(b, tc, 10) },
		"Tr": func(b []byte, t *Txn) []byte { _, _, _, tr, _ := t.timers(); return strconv.AppendInt(b, tr, 10) },
		"Ta": func(b []byte, t *Txn) []byte { _, _, _, _, ta := t.timers(); return strconv.AppendInt(b, ta, 10) },
		"Tt": func(b []byte, t *Txn) []byte {
			end := t.tEnd
			if end.IsZero() {
				end = time.Now()
			}
			return strconv.AppendInt(b, ms(end.Sub(t.tAccept)), 10)
		},
		"Th": func(b []byte, t *Txn) []byte { return append(b, '0') },
		"Ti": func(b []byte, t *Txn) []byte {
			if t.tReq.IsZero() {
				return append(b, '0')
			}
			return strconv.AppendInt(b, ms(t.tReq.Sub(t.tAccept)), 10)
		},
		"Tq": func(b []byte, t *Txn) []byte {
			if t.tHdr.IsZero() {
				return append(b, "-1"...)
			}
			return strconv.AppendInt(b, ms(t.tHdr.Sub(t.tAccept)), 10)
		},
		"Td": func(b []byte, t *Txn) []byte {
			_, _, _, tr, ta := t.timers()
			if ta < 0 || tr < 0 {
				return append(b, "-1"...)
			}
			_, tw, tc, _, _ := t.timers()
			return strconv.AppendInt(b, ta-maxI64(tw, 0)-maxI64(tc, 0)-tr, 10)
		},
		"Tu":  func(b []byte, t *Txn) []byte { _, _, _, _, ta := t.timers(); return strconv.AppendInt(b, ta, 10) },
		"ID":  func(b []byte, t *Txn) []byte { return append(b, '-') },
		"H":   func(b []byte, t *Txn) []byte { return append(b, t.s.e.hostname()...) },
		"pid": func(b []byte, t *Txn) []byte { return append(b, pidString...) },
		"rt":  func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, t.s.e.CumReq.Load(), 10) },
		"lc":  func(b []byte, t *Txn) []byte { return strconv.AppendInt(b, t.s.e.CumReq.Load(), 10) },
		"sslv": func(b []byte, t *Txn) []byte {
			if t.s.tls == nil {
				return append(b, '-')
			}
			return append(b, tlsVersionName(t.s.tls.Version)...)
		},
		"sslc": func(b []byte, t *Txn) []byte {
			if t.s.tls == nil {
				return append(b, '-')
			}
			return append(b, tlsCipherName(t.s.tls.CipherSuite)...)
		},
	}
}

func (t *Txn) reqDate() time.Time {
	if !t.tReq.IsZero() {
		return t.tReq
	}
	return t.tAccept
}

func appendIP(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, "unix"...)
	}
	return ap.Addr().AppendTo(b)
}

func appendPort(b []byte, ap netip.AddrPort) []byte {
	if !ap.IsValid() {
		return append(b, "unix"...)
	}
	return strconv.AppendInt(b, int64(ap.Port()), 10)
}

// appendConnAddr appends the backend-side local (%bi/%bp) or server
// (%si/%sp) address of the transaction's server connection.
func appendConnAddr(b []byte, t *Txn, local, port bool) []byte {
	c := t.st.server.Load()
	if c == nil {
		if port {
			return append(b, '-')
		}
		return append(b, '-')
	}
	a := c.tc.Conn.RemoteAddr()
	if local {
		a = c.tc.Conn.LocalAddr()
	}
	ap := addrPortOf(a)
	if port {
		return appendPort(b, ap)
	}
	return appendIP(b, ap)
}

func uriPathOnly(u []byte) []byte {
	// Strip scheme and authority of absolute URIs, then the query.
	if i := indexOf(u, "://"); i >= 0 {
		rest := u[i+3:]
		if j := indexOf(rest, "/"); j >= 0 {
			u = rest[j:]
		} else {
			u = []byte("/")
		}
	}
	if i := indexOf(u, "?"); i >= 0 {
		u = u[:i]
	}
	return u
}

func indexOf(b []byte, s string) int {
	for i := 0; i+len(s) <= len(b); i++ {
		if string(b[i:i+len(s)]) == s {
			return i
		}
	}
	return -1
}
