package config

import (
	"fmt"

	"strings"
)

// parenArg splits "name(arg)" into name and arg; ok is false without parentheses.
func parenArg(s string) (name, arg string, ok bool, err error) {
	open := strings.IndexByte(s, '(')
	if open < 0 {
		return s, "", false, nil
	}
	if !strings.HasSuffix(s, ")") {
		return "", "", false, fmt.Errorf("missing closing ')' in '%s'", s)
	}
	return s[:open], s[open+1 : len(s)-1], true, nil
}

func kwBalance(p *parser, px *Proxy, a []string) error {
	if err := p.once("balance"); err != nil {
		return err
	}
	if len(a) < 2 {
		return fmt.Errorf("'balance' expects a load balancing algorithm")
	}
	algo, arg, hasArg, err := parenArg(a[1])
	if err != nil {
		return fmt.Errorf("'balance' : %w", err)
	}
	rest := a[2:]
	b := &Balance{Pos: p.pos(), Algo: algo}
	noArgs := func() error {
		if hasArg {
			return fmt.Errorf("'balance %s' does not take an argument", algo)
		}
		if len(rest) > 0 {
			return fmt.Errorf("'balance %s' cannot handle unexpected argument '%s'", algo, rest[0])
		}
		return nil
	}
	switch algo {
	case "roundrobin", "static-rr", "leastconn", "first", "source":
		err = noArgs()
	case "uri":
		if hasArg {
			return fmt.Errorf("'balance uri' does not take a parenthesized argument")
		}
		for i := 0; i < len(rest); i++ {
			switch rest[i] {
			case "whole", "path-only":
			case "len", "depth":
				if i+1 >= len(rest) || !positiveInt(rest[i+1]) {
					return fmt.Errorf("'balance uri %s' expects a positive integer", rest[i])
				}
				i++
			default:
				return fmt.Errorf("'balance uri' only accepts parameters 'whole', 'len', 'depth' and 'path-only', got '%s'", rest[i])
			}
		}
		b.Opts = clone(rest)
	case "url_param":
		if hasArg || len(rest) == 0 {
			return fmt.Errorf("'balance url_param' requires an URL parameter name")
		}
		b.Arg, rest = rest[0], rest[1:]
		if len(rest) > 0 {
			if rest[0] != "check_post" || len(rest) > 2 {
				return fmt.Errorf("'balance url_param' only accepts 'check_post [<max_wait>]', got '%s'", rest[0])
			}
			if len(rest) == 2 && !positiveInt(rest[1]) {
				return fmt.Errorf("'balance url_param check_post' expects a positive max_wait, got '%s'", rest[1])
			}
		}
		b.Opts = clone(rest)
	case "hdr":
		if !hasArg || arg == "" {
			return fmt.Errorf("'balance hdr' requires an HTTP header field name: hdr(<name>)")
		}
		if len(rest) > 1 || (len(rest) == 1 && rest[0] != "use_domain_only") {
			return fmt.Errorf("'balance hdr(%s)' only accepts 'use_domain_only', got '%s'", arg, rest[0])
		}
		b.Arg, b.Opts = arg, clone(rest)
	case "random":
		b.Arg = "2"
		if hasArg {
			if !positiveInt(arg) {
				return fmt.Errorf("'balance random(<draws>)' expects a positive integer, got '%s'", arg)
			}
			b.Arg = arg
		}
		if len(rest) > 0 {
			return fmt.Errorf("'balance random' cannot handle unexpected argument '%s'", rest[0])
		}
	case "rdp-cookie":
		b.Arg = "mstshash"
		if hasArg && arg != "" {
			b.Arg = arg
		}
		if len(rest) > 0 {
			return fmt.Errorf("'balance rdp-cookie' cannot handle unexpected argument '%s'", rest[0])
		}
	case "hash":
		if hasArg || len(rest) == 0 {
			return fmt.Errorf("'balance hash' expects a sample expression")
		}
		b.Arg = strings.Join(rest, " ")
	case "log-hash", "sticky":
		return fmt.Errorf("'balance %s' is only for 'mode log', which Moonbus does not implement", algo)
	default:
		return fmt.Errorf("'balance' : unknown load balancing algorithm '%s' (roundrobin, static-rr, leastconn, first, source, uri, url_param, hdr(<name>), random, rdp-cookie, hash)", a[1])
	}
	if err != nil {
		return err
	}
	px.Balance = b
	return nil
}

func kwHashType(p *parser, px *Proxy, a []string) error {
	if len(a) < 2 || len(a) > 4 {
		return fmt.Errorf("'hash-type' expects 'map-based' or 'consistent', then an optional function and 'avalanche'")
	}
	if a[1] != "map-based" && a[1] != "consistent" {
		return fmt.Errorf("'hash-type' expects 'map-based' or 'consistent', got '%s'", a[1])
	}
	for i, w := range a[2:] {
		switch {
		case i == 0 && (w == "sdbm" || w == "djb2" || w == "wt6" || w == "crc32" || w == "none"):
		case w == "avalanche" && i == len(a)-3:
		default:
			return fmt.Errorf("'hash-type %s' : unknown hash function or modifier '%s' (sdbm, djb2, wt6, crc32, none, avalanche)", a[1], w)
		}
	}
	px.HashType = strings.Join(a[1:], " ")
	return nil
}

// storeKinds lists the stick-table data types and their arguments:
// 0 = none, 'p' = a period, 'n' = a count, 'b' = a count and a period.
var storeKinds = map[string]byte{
	"conn_cnt": 0, "conn_cur": 0, "sess_cnt": 0, "http_req_cnt": 0, "http_err_cnt": 0,
	"http_fail_cnt": 0, "bytes_in_cnt": 0, "bytes_out_cnt": 0, "glitch_cnt": 0,
	"gpc0": 0, "gpc1": 0, "gpt0": 0, "server_id": 0, "server_key": 0, "server_name": 0,
	"conn_rate": 'p', "sess_rate": 'p', "http_req_rate": 'p', "http_err_rate": 'p',
	"http_fail_rate": 'p', "bytes_in_rate": 'p', "bytes_out_rate": 'p', "glitch_rate": 'p',
	"gpc0_rate": 'p', "gpc1_rate": 'p',
	"gpc": 'n', "gpt": 'n', "gpc_rate": 'b',
}

// splitTopCommas splits s on commas outside parentheses.
func splitTopCommas(s string) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseStoreItem(s string) (StoreItem, error) {
	name, arg, hasArg, err := parenArg(s)
	if err != nil {
		return StoreItem{}, err
	}
	kind, ok := storeKinds[name]
	if !ok {
		return StoreItem{}, fmt.Errorf("unknown data type '%s'", name)
	}
	it := StoreItem{Name: name}
	switch kind {
	case 0:
		if hasArg {
			return it, fmt.Errorf("data type '%s' does not take an argument", name)
		}
	case 'p':
		if !hasArg {
			return it, fmt.Errorf("data type '%s' expects a period: %s(<period>)", name, name)
		}
		it.Period, err = parseTimer("store "+name, arg)
		if err == nil && it.Period == 0 {
			err = fmt.Errorf("data type '%s' expects a non-zero period", name)
		}
	case 'n', 'b':
		parts := strings.Split(arg, ",")
		if !hasArg || (kind == 'n' && len(parts) != 1) || (kind == 'b' && len(parts) != 2) {
			if kind == 'n' {
				return it, fmt.Errorf("data type '%s' expects a count: %s(<nb>)", name, name)
			}
			return it, fmt.Errorf("data type '%s' expects a count and a period: %s(<nb>,<period>)", name, name)
		}
		it.Count, err = parseInt("store "+name, parts[0], 1, 100)
		if err == nil && kind == 'b' {
			it.Period, err = parseTimer("store "+name, parts[1])
		}
	}
	return it, err
}

func kwStickTable(p *parser, px *Proxy, a []string) error {
	if err := p.once("stick-table"); err != nil {
		return err
	}
	st := &StickTable{Pos: p.pos()}
	sizeSet := false
	for i := 1; i < len(a); i++ {
		kw := a[i]
		need := func() (string, error) {
			if i+1 >= len(a) {
				return "", fmt.Errorf("'stick-table' : '%s' expects an argument", kw)
			}
			i++
			return a[i], nil
		}
		var v string
		var err error
		switch kw {
		case "nopurge":
			st.NoPurge = true
			continue
		case "recv-only":
			st.Other = append(st.Other, kw)
			continue
		}
		if v, err = need(); err != nil {
			return err
		}
		switch kw {
		case "type":
			switch v {
			case "ip", "ipv4", "ipv6", "integer", "string", "binary":
				st.Type = v
			default:
				return fmt.Errorf("'stick-table' : unknown type '%s' (ip, ipv4, ipv6, integer, string, binary)", v)
			}
			if (v == "string" || v == "binary") && i+2 < len(a) && a[i+1] == "len" {
				n, err := parseInt("stick-table len", a[i+2], 1, 65535)
				if err != nil {
					return err
				}
				st.Len = n
				i += 2
			}
		case "size":
			n, err := ParseSize(v)
			if err != nil || n == 0 {
				return fmt.Errorf("'stick-table' : invalid size '%s'", v)
			}
			st.Size, sizeSet = n, true
		case "expire":
			st.Expire, err = parseTimer("stick-table expire", v)
		case "peers":
			st.Peers = v
		case "store":
			for _, item := range splitTopCommas(v) {
				it, err := parseStoreItem(item)
				if err != nil {
					return fmt.Errorf("'stick-table store' : %w", err)
				}
				st.Store = append(st.Store, it)
			}
		case "write-to", "srvkey", "brates-factor":
			st.Other = append(st.Other, kw+" "+v)
		case "len":
			return fmt.Errorf("'stick-table' : 'len' is only valid after 'type string' or 'type binary'")
		default:
			return fmt.Errorf("'stick-table' : unknown argument '%s'", kw)
		}
		if err != nil {
			return err
		}
	}
	if st.Type == "" {
		return fmt.Errorf("'stick-table' : missing type")
	}
	if !sizeSet {
		return fmt.Errorf("'stick-table' : missing size")
	}
	if (st.Type == "string" || st.Type == "binary") && st.Len == 0 {
		st.Len = 32
	}
	px.StickTable = st
	return nil
}
