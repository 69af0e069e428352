package runtimeapi

import (
	"net"
	"strconv"
	"strings"
	"time"

	"moonbus/bus"
	"moonbus/proxy"
)

func cmdShowStat(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	f := proxy.AllStats()
	var pos []string
	args := c.Args[2:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "domain":
			i++
			if i >= len(args) || (args[i] != "proxy" && args[i] != "resolvers") {
				return errorText("'domain' option must be 'proxy' or 'resolvers'.")
			}
			if args[i] == "resolvers" {
				return nil
			}
		case "up":
			f.Up = true
		case "no-maint":
			f.NoMaint = true
		case "desc":
		case "typed", "json", "float":
			return errorText("'show stat " + a + "' is not supported; use the CSV form.")
		default:
			pos = append(pos, a)
		}
	}
	if len(pos) > 0 {
		if len(pos) != 3 {
			return errorText("Usage: show stat [<iid|proxy> <type> <sid>] [up|no-maint]")
		}
		if p := e.Proxy(pos[0]); p != nil {
			f.IID = p.UUID()
		} else {
			f.IID, _ = strconv.Atoi(pos[0])
			if f.IID == 0 {
				return errorText("No such proxy.")
			}
		}
		f.Types, _ = strconv.Atoi(pos[1])
		f.SID, _ = strconv.Atoi(pos[2])
	}
	buf := e.AppendStatCSV(nil, &f, time.Now())
	_, err = c.Write(buf)
	return err
}

// ServersStateHeader is the header line of "show servers state".
const ServersStateHeader = "# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight srv_time_since_last_change srv_check_status srv_check_result srv_check_health srv_check_state srv_agent_state bk_f_forced_id srv_f_forced_id srv_fqdn srv_port srvrecord srv_use_ssl srv_check_port srv_check_addr srv_agent_addr srv_agent_port"

func cmdServersState(c *Call) error {
	e, err := c.engine()
	if err != nil {
		return err
	}
	list := e.Proxies()
	if name := c.Arg(3); name != "" {
		p := findBackend(e, name)
		if p == nil {
			return errorText("Can't find backend.")
		}
		list = []*proxy.Proxy{p}
	}
	c.Printf("1\n%s\n", ServersStateHeader)
	now := time.Now()
	var b strings.Builder
	for _, p := range list {
		if !p.IsBackend() {
			continue
		}
		for _, s := range p.Servers() {
			b.Reset()
			ServerStateLine(&b, s, now)
			c.Printf("%s\n", b.String())
		}
	}
	return nil
}

// Check status codes of "show servers state" (HAProxy's enum
// healthcheck_status).
var checkStatusCodes = map[string]int{
	"UNK": 0, "INI": 1, "START": 2, "CHECKED": 3, "HANA": 4, "SOCKERR": 5, "L4OK": 6, "L4TOUT": 7,
	"L4CON": 8, "L6OK": 9, "L6TOUT": 10, "L6RSP": 11, "L7TOUT": 12, "L7RSP": 13, "L7OK": 15,
	"L7OKC": 16, "L7STS": 17, "PROCERR": 18, "PROCTOUT": 19, "PROCOK": 20,
}

// checkResult returns srv_check_result: 0 unknown, 1 neutral, 2 failed,
// 3 passed, 4 condpass.
func checkResult(short string) int {
	switch short {
	case "L4OK", "L6OK", "L7OK", "PROCOK":
		return 3
	case "L7OKC":
		return 4
	case "CHECKED":
		return 1
	case "", "UNK", "INI", "START":
		return 0
	}
	return 2
}

// checkStateBits returns srv_check_state / srv_agent_state: 0x02
// configured, 0x04 enabled, 0x08 paused (maintenance), 0x10 agent.
func checkStateBits(ci proxy.CheckInfo, agent bool, maint bool) int {
	if !ci.Configured {
		return 0
	}
	v := 0x02
	if ci.Enabled {
		v |= 0x04
	}
	if maint && !agent {
		v |= 0x08
	}
	if agent {
		v |= 0x10
	}
	return v
}

// ServerStateLine appends one "show servers state" line for s (the
// server-state-file format); empty values print as "-".
func ServerStateLine(b *strings.Builder, s *proxy.Server, now time.Time) {
	p := s.Proxy()
	host, port := splitAddr(s.AddrString())
	hc, ac := s.HealthInfo(), s.AgentInfo()
	status := 1
	if hc.Last != nil {
		if v, ok := checkStatusCodes[hc.Last.Short]; ok {
			status = v
		}
	}
	result := 0
	if hc.Last != nil {
		result = checkResult(hc.Last.Short)
	}
	conf := s.Conf()
	// The configuration numbers every proxy and server, so whether an id
	// was forced with "id" is not known here: both flags print 0.
	forcedBE, forcedSrv := 0, 0
	ssl := 0
	if conf.SSL {
		ssl = 1
	}
	dash := func(v string) string {
		if v == "" {
			return "-"
		}
		return v
	}
	maint := s.Admin()&bus.MaintMask != 0
	fields := []string{
		strconv.Itoa(p.UUID()), p.Name(), strconv.Itoa(s.PUID()), s.Name(), dash(host),
		strconv.Itoa(int(s.Op())), strconv.Itoa(int(s.Admin())), strconv.Itoa(s.UWeight()), strconv.Itoa(s.IWeight()),
		strconv.FormatInt(now.Unix()-s.LastChange().Unix(), 10),
		strconv.Itoa(status), strconv.Itoa(result), strconv.Itoa(hc.Health),
		strconv.Itoa(checkStateBits(hc, false, maint)), strconv.Itoa(checkStateBits(ac, true, maint)),
		strconv.Itoa(forcedBE), strconv.Itoa(forcedSrv), "-", port, "-", strconv.Itoa(ssl),
		strconv.Itoa(s.CheckPort()), dash(conf.Addr), dash(conf.AgentAddr), strconv.Itoa(conf.AgentPort),
	}
	b.WriteString(strings.Join(fields, " "))
}

// splitAddr splits "ip:port" (IPv6 without brackets) or a unix path.
func splitAddr(a string) (host, port string) {
	if strings.HasPrefix(a, "/") {
		return a, "0"
	}
	i := strings.LastIndexByte(a, ':')
	if i < 0 {
		return a, "0"
	}
	host, port = a[:i], a[i+1:]
	if net.ParseIP(host) == nil && host != "" {
		return a, "0"
	}
	return host, port
}
