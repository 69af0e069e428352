package config

import (
	"fmt"
	"math"
	"strings"
	"time"
)

const defaultMailTimeout = 10 * time.Second

func newResolvers(pos Pos, name string) *Resolvers {
	return &Resolvers{
		Pos: pos, Name: name,
		Timeouts:            map[string]time.Duration{"resolve": time.Second, "retry": time.Second},
		Hold:                map[string]time.Duration{"nx": 30 * time.Second, "other": 30 * time.Second, "refused": 30 * time.Second, "timeout": 30 * time.Second, "valid": 10 * time.Second, "obsolete": 0},
		ResolveRetries:      3,
		AcceptedPayloadSize: 512,
	}
}

var resolversKeywords = []string{"nameserver", "parse-resolv-conf", "timeout", "hold", "resolve_retries", "accepted_payload_size"}

func (p *parser) resolversKeyword(a []string) {
	r := p.res
	var err error
	switch a[0] {
	case "nameserver":
		if err = exactArgs(a, 2); err == nil {
			if err = checkAddr(a[2], addrLog); err == nil {
				for _, ns := range r.Nameservers {
					if ns.Name == a[1] {
						err = fmt.Errorf("nameserver '%s' already exists in resolvers section '%s' (declared at %s)", a[1], r.Name, ns.Pos)
					}
				}
			}
			if err == nil {
				r.Nameservers = append(r.Nameservers, Nameserver{Pos: p.pos(), Name: a[1], Addr: a[2]})
			}
		}
	case "parse-resolv-conf":
		r.ParseResolvConf = true
		err = noArg(a)
	case "timeout":
		if len(a) < 2 || (a[1] != "resolve" && a[1] != "retry") {
			err = fmt.Errorf("'timeout' expects 'resolve' or 'retry' in a resolvers section")
			break
		}
		var d time.Duration
		if d, err = timeArg(a[1:]); err == nil {
			r.Timeouts[a[1]] = d
		}
	case "hold":
		if len(a) < 2 {
			err = fmt.Errorf("'hold' expects a status and a time")
			break
		}
		if _, known := r.Hold[a[1]]; !known {
			err = fmt.Errorf("'hold' expects 'nx', 'other', 'refused', 'timeout', 'valid' or 'obsolete', got '%s'", a[1])
			break
		}
		var d time.Duration
		if d, err = timeArg(a[1:]); err == nil {
			r.Hold[a[1]] = d
		}
	case "resolve_retries":
		r.ResolveRetries, err = intArg(a, 1, math.MaxInt32)
	case "accepted_payload_size":
		r.AcceptedPayloadSize, err = intArg(a, 512, 65535)
	default:
		p.unknownKeyword(a[0], resolversKeywords)
		return
	}
	p.report(err)
}

func (p *parser) mailersKeyword(a []string) {
	m := p.mailers
	switch a[0] {
	case "mailer":
		p.report(p.mailer(m, a))
	case "timeout":
		if len(a) < 2 || a[1] != "mail" {
			p.errorf("'timeout' expects 'mail' in a mailers section")
			return
		}
		d, err := timeArg(a[1:])
		if err == nil && d == 0 {
			err = fmt.Errorf("'timeout mail' expects a positive time")
		}
		if err == nil {
			m.Timeout = d
		}
		p.report(err)
	default:
		p.unknownKeyword(a[0], []string{"mailer", "timeout"})
	}
}

// mailer parses "mailer <name> <host>:<port> [tls none|starttls|implicit]
// [auth plain|login|cram-md5] [user <u>] [password <p>]". The password never
// appears in a message.
func (p *parser) mailer(m *Mailers, a []string) error {
	if len(a) < 3 {
		return fmt.Errorf("'mailer' expects <name> and <addr>:<port> as arguments")
	}
	if r := invalidNameChar(a[1]); r != 0 {
		return fmt.Errorf("character '%c' is not permitted in mailer name '%s'", r, a[1])
	}
	for _, other := range m.Mailers {
		if other.Name == a[1] {
			return fmt.Errorf("mailer '%s' already exists in mailers section '%s' (declared at %s)", a[1], m.Name, other.Pos)
		}
	}
	if err := checkAddr(a[2], addrPeer); err != nil {
		return fmt.Errorf("'mailer %s' : %w", a[1], err)
	}
	ml := &Mailer{Pos: p.pos(), Name: a[1], Addr: a[2], TLS: "none"}
	rest := a[3:]
	for len(rest) > 0 {
		kw := rest[0]
		if len(rest) < 2 {
			return fmt.Errorf("'mailer %s' : '%s' expects an argument", ml.Name, kw)
		}
		v := rest[1]
		switch kw {
		case "tls":
			if v != "none" && v != "starttls" && v != "implicit" {
				return fmt.Errorf("'mailer %s' : 'tls' expects 'none', 'starttls' or 'implicit', got '%s'", ml.Name, v)
			}
			ml.TLS = v
		case "auth":
			if v != "plain" && v != "login" && v != "cram-md5" {
				return fmt.Errorf("'mailer %s' : 'auth' expects 'plain', 'login' or 'cram-md5', got '%s'", ml.Name, v)
			}
			ml.Auth = v
		case "user":
			ml.User = v
		case "password":
			ml.Password = v
		default:
			return fmt.Errorf("'mailer %s' : unknown parameter '%s' (tls, auth, user, password)", ml.Name, kw)
		}
		rest = rest[2:]
	}
	if ml.Auth != "" && (ml.User == "" || ml.Password == "") {
		return fmt.Errorf("'mailer %s' : 'auth %s' needs 'user' and 'password'", ml.Name, ml.Auth)
	}
	if ml.Auth == "" && (ml.User != "" || ml.Password != "") {
		return fmt.Errorf("'mailer %s' : 'user' and 'password' need 'auth plain|login|cram-md5'", ml.Name)
	}
	m.Mailers = append(m.Mailers, ml)
	return nil
}

func (p *parser) userlistKeyword(a []string) {
	ul := p.ul
	switch a[0] {
	case "group":
		if len(a) < 2 {
			p.errorf("'group' expects <name> as an argument")
			return
		}
		for _, g := range ul.Groups {
			if g.Name == a[1] {
				p.errorf("userlist '%s' : group '%s' already exists", ul.Name, a[1])
				return
			}
		}
		g := &UserGroup{Name: a[1]}
		rest := a[2:]
		if len(rest) > 0 {
			if rest[0] != "users" || len(rest) != 2 {
				p.errorf("'group %s' : expects 'users <user>[,<user>...]'", a[1])
				return
			}
			g.Users = strings.Split(rest[1], ",")
		}
		ul.Groups = append(ul.Groups, g)
	case "user":
		p.report(p.user(ul, a))
	default:
		p.unknownKeyword(a[0], []string{"group", "user"})
	}
}

func (p *parser) user(ul *Userlist, a []string) error {
	if len(a) < 2 {
		return fmt.Errorf("'user' expects <name> as an argument")
	}
	for _, u := range ul.Users {
		if u.Name == a[1] {
			return fmt.Errorf("userlist '%s' : user '%s' already exists", ul.Name, a[1])
		}
	}
	u := &User{Name: a[1]}
	rest := a[2:]
	for len(rest) > 0 {
		if len(rest) < 2 {
			return fmt.Errorf("'user %s' : '%s' expects an argument", u.Name, rest[0])
		}
		switch rest[0] {
		case "password":
			u.Password, u.Insecure = rest[1], false
		case "insecure-password":
			u.Password, u.Insecure = rest[1], true
		case "groups":
			u.Groups = strings.Split(rest[1], ",")
		default:
			return fmt.Errorf("'user %s' : unknown parameter '%s' (password, insecure-password, groups)", u.Name, rest[0])
		}
		rest = rest[2:]
	}
	ul.Users = append(ul.Users, u)
	return nil
}

func (p *parser) httpErrorsKeyword(a []string) {
	if a[0] != "errorfile" {
		p.unknownKeyword(a[0], []string{"errorfile"})
		return
	}
	code, file, ok, err := p.parseErrorfile(a)
	if err != nil {
		p.report(err)
		return
	}
	if ok {
		p.he.Files[code] = file
	}
}
