package config

import (
	"fmt"
	"math"
	"net/url"
	"os"
	"strings"
	"time"
)

// Defaults of our additions (DESIGN §5).
const (
	defaultWebhookTimeout = 5 * time.Second
	defaultWebhookRetries = 5
	defaultNATSPrefix     = "moonbus"
)

// eventNames are the event types and families a webhook or nats section may
// name; they match package bus.
var eventNames = map[string]bool{
	"SERVER": true, "BACKEND": true,
	"SERVER_ADD": true, "SERVER_DEL": true, "SERVER_UP": true, "SERVER_DOWN": true,
	"SERVER_STATE": true, "SERVER_ADMIN": true, "SERVER_CHECK": true, "SERVER_INETADDR": true,
	"BACKEND_DOWN": true, "BACKEND_UP": true,
}

func checkEvents(kw string, names []string) error {
	if len(names) == 0 {
		return fmt.Errorf("'%s' expects at least one event type or family", kw)
	}
	for _, n := range names {
		if !eventNames[n] {
			return fmt.Errorf("'%s' : unknown event type or family '%s' (expects %s)", kw, n, strings.Join(keysOf(eventNames), ", "))
		}
	}
	return nil
}

var webhookKeywords = []string{"url", "event", "backend", "header", "secret", "template", "timeout", "retries", "group-wait"}

func (p *parser) webhookKeyword(a []string) {
	w := p.wh
	var err error
	switch a[0] {
	case "url":
		var u string
		if u, err = oneArg(a); err == nil {
			pu, perr := url.Parse(u)
			if perr != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
				err = fmt.Errorf("'url' expects an http:// or https:// URL")
			} else {
				w.URL = u
			}
		}
	case "event":
		if err = checkEvents("event", a[1:]); err == nil {
			w.Events = append(w.Events, a[1:]...)
		}
	case "backend":
		if len(a) < 2 {
			err = fmt.Errorf("'backend' expects at least one backend name")
		} else {
			w.Backends = append(w.Backends, a[1:]...)
		}
	case "header":
		if err = exactArgs(a, 2); err == nil {
			w.Headers = append(w.Headers, [2]string{a[1], a[2]})
		}
	case "secret":
		if len(a) != 2 {
			err = fmt.Errorf("'secret' expects exactly one argument")
		} else {
			w.Secret = a[1]
		}
	case "template":
		var f string
		if f, err = oneArg(a); err == nil {
			if _, serr := os.Stat(f); serr != nil {
				err = fmt.Errorf("'template' : cannot read file <%s> : %w", f, unwrapPathError(serr))
			} else {
				w.Template = f
			}
		}
	case "timeout":
		w.Timeout, err = timeArg(a)
		if err == nil && w.Timeout == 0 {
			err = fmt.Errorf("'timeout' expects a positive time")
		}
	case "retries":
		w.Retries, err = intArg(a, 0, math.MaxInt32)
	case "group-wait":
		w.GroupWait, err = timeArg(a)
	default:
		p.unknownKeyword(a[0], webhookKeywords)
		return
	}
	p.report(err)
}

var natsKeywords = []string{"url", "instance", "prefix", "publish", "cli", "stream", "alert-dedup", "user", "password", "token", "creds", "tls-ca", "tls-cert", "tls-key", "nkey"}

func (p *parser) natsKeyword(a []string) {
	n := p.nats
	var err error
	switch a[0] {
	case "url":
		if len(a) < 2 {
			err = fmt.Errorf("'url' expects <nats-url>[,<nats-url>...]")
			break
		}
		for _, word := range a[1:] {
			for _, u := range strings.Split(word, ",") {
				full := u
				if !strings.Contains(u, "://") {
					full = "nats://" + u // nats.go adds the scheme too
				}
				pu, perr := url.Parse(full)
				if perr != nil || pu.Host == "" {
					err = fmt.Errorf("'url' : invalid NATS URL '%s'", u)
					break
				}
				n.URLs = append(n.URLs, u)
			}
		}
	case "instance":
		n.Instance, err = oneArg(a)
	case "prefix":
		var v string
		if v, err = oneArg(a); err == nil {
			if v == "" || strings.ContainsAny(v, ".*> \t") {
				err = fmt.Errorf("'prefix' expects one subject token (no '.', '*', '>' or spaces), got '%s'", v)
			} else {
				n.Prefix = v
			}
		}
	case "publish":
		if err = checkEvents("publish", a[1:]); err == nil {
			n.Publish = clone(a[1:])
		}
	case "cli", "alert-dedup":
		var v string
		if v, err = choiceArg(a, "on", "off"); err == nil {
			if a[0] == "cli" {
				n.CLI = v == "on"
			} else {
				n.AlertDedup = v == "on"
			}
		}
	case "stream":
		if len(a) != 2 && !(len(a) == 4 && a[2] == "max-age") {
			err = fmt.Errorf("'stream' expects <name> [max-age <time>]")
			break
		}
		n.Stream = a[1]
		if len(a) == 4 {
			n.StreamMaxAge, err = parseTimer("stream max-age", a[3])
		}
	case "user":
		n.User, err = oneArg(a)
	case "password", "token":
		if len(a) != 2 {
			err = fmt.Errorf("'%s' expects exactly one argument", a[0])
		} else if a[0] == "password" {
			n.Password = a[1]
		} else {
			n.Token = a[1]
		}
	case "creds":
		n.Creds, err = oneArg(a)
	case "tls-ca":
		n.TLSCA, err = oneArg(a)
	case "tls-cert":
		n.TLSCert, err = oneArg(a)
	case "tls-key":
		n.TLSKey, err = oneArg(a)
	case "nkey":
		n.NKey, err = oneArg(a)
	default:
		p.unknownKeyword(a[0], natsKeywords)
		return
	}
	p.report(err)
}
