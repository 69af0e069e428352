package proxy

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// The HTML form of the stats page: a header with the process information,
// a legend and the display options, then one table per proxy with its
// FRONTEND line, its servers and its BACKEND line, the columns of the
// "show stat" CSV grouped as HAProxy's page groups them (queue, session
// rate, sessions, bytes, denied, errors, warnings, server). With "stats
// admin" the server lines get a checkbox and each backend a form.

const statsCSS = `body{font-family:system-ui,-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;font-size:13px;margin:12px 16px;color:#1d2430;background:#fff}
h1{font-size:20px;margin:0 0 4px;color:#23395b}h1 small{font-size:13px;font-weight:normal;color:#58657a}
h2{font-size:15px;margin:0 0 10px;color:#23395b}h3{font-size:14px;margin:18px 0 6px}
a{color:#1f5fbf;text-decoration:none}a:hover{text-decoration:underline}
.top{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.box{border:1px solid #c9d1de;border-radius:4px;padding:8px 10px;background:#f7f9fc;line-height:1.5}
.legend td{padding:1px 6px}.legend .sw{width:22px;border:1px solid #9aa5b5}
.msg{margin:10px 0;padding:8px 10px;border-radius:4px;border:1px solid}.msg.ok{background:#e3f6e3;border-color:#6bb36b}
.msg.warn{background:#fff4d6;border-color:#d9a520}.msg.err{background:#fde3e3;border-color:#d05050}.msg a{float:right}
table.px{border-collapse:collapse;margin:6px 0 2px;white-space:nowrap}
table.px th,table.px td{border:1px solid #c4ccd8;padding:2px 5px;text-align:right}
table.px th{background:#e7ecf4;font-weight:600;text-align:center}
table.px th.name{background:#23395b;color:#fff;text-align:left;font-size:14px}
table.px td.name{text-align:left;font-weight:600}
table.px td.st{text-align:center}
.desc{font-weight:normal;font-size:12px;color:#cfd9ea;margin-left:8px}
.lgd{display:block;font-weight:normal;font-size:11px;color:#58657a}
tr.fe td,tr.be td{background:#eef1f6;font-weight:600}
tr.up td{background:#b9f0b9}tr.goingdown td{background:#f6f38a}tr.goingup td{background:#ffc87a}
tr.down td{background:#ff9e9e}tr.maint td{background:#d9b48f}tr.drain td{background:#a9c4ff}
tr.nolb td{background:#c5b3f2}tr.nocheck td{background:#e2e4e8}
tr.bup td{background:#a9e3f5}tr.bgoingdown td{background:#d7f28a}tr.bgoingup td{background:#ffd9a8}
.adm{margin:2px 0 14px}.adm select,.adm input{font-size:12px}
.sw.up{background:#b9f0b9}.sw.goingdown{background:#f6f38a}.sw.goingup{background:#ffc87a}.sw.down{background:#ff9e9e}
.sw.maint{background:#d9b48f}.sw.drain{background:#a9c4ff}.sw.nolb{background:#c5b3f2}.sw.nocheck{background:#e2e4e8}
.sw.bup{background:#a9e3f5}.sw.bgoingdown{background:#d7f28a}.sw.bgoingup{background:#ffd9a8}
`

// statsLegend lists the row colours and what they mean.
var statsLegend = [...][2]string{
	{"up", "active UP"}, {"bup", "backup UP"},
	{"goingdown", "active UP, going down"}, {"bgoingdown", "backup UP, going down"},
	{"goingup", "active or backup DOWN, going up"}, {"down", "active or backup DOWN"},
	{"maint", "DOWN for maintenance (MAINT)"}, {"drain", "draining (DRAIN) or weight 0"},
	{"nolb", "soft stopped (NOLB)"}, {"nocheck", "UP, not checked"},
}

// statsActions are the admin form's actions, in menu order.
var statsActions = [...][2]string{
	{"ready", "Set state to READY"}, {"drain", "Set state to DRAIN"}, {"maint", "Set state to MAINT"},
	{"dhlth", "Health: disable checks"}, {"ehlth", "Health: enable checks"},
	{"hrunn", "Health: force UP"}, {"hnolb", "Health: force NOLB"}, {"hdown", "Health: force DOWN"},
	{"dagent", "Agent: disable checks"}, {"eagent", "Agent: enable checks"},
	{"arunn", "Agent: force UP"}, {"adown", "Agent: force DOWN"},
	{"shutdown", "Kill sessions"},
}

// statsMessages are the texts of the ";st=" result codes.
var statsMessages = map[string][2]string{
	"DONE": {"ok", "Action processed successfully."},
	"NONE": {"warn", "Nothing has changed."},
	"PART": {"warn", "Action partially processed: some server names are unknown or ambiguous."},
	"ERRP": {"err", "Action not processed: invalid parameters (unknown action or backend, or no server checked)."},
	"EXCD": {"err", "Action not processed: the request is too large; retry with fewer servers at a time."},
	"DENY": {"err", "Action denied."},
	"IVAL": {"err", "Invalid request."},
	"UNKN": {"err", "Unexpected result."},
}

// statsColumns are the data columns under their groups.
var statsColumns = [...]struct {
	group string
	names []string
}{
	{"Queue", []string{"Cur", "Max", "Limit"}},
	{"Session rate", []string{"Cur", "Max", "Limit"}},
	{"Sessions", []string{"Cur", "Max", "Limit", "Total", "LbTot", "Last"}},
	{"Bytes", []string{"In", "Out"}},
	{"Denied", []string{"Req", "Resp"}},
	{"Errors", []string{"Req", "Conn", "Resp"}},
	{"Warnings", []string{"Retr", "Redis"}},
	{"Server", []string{"Status", "LastChk", "Wght", "Act", "Bck", "Chk", "Dwn", "Dwntme", "Thrtle"}},
}

// htmlOut accumulates the page and sends it in pieces.
type htmlOut struct {
	b   []byte
	a   *HTTPApplet
	err error
}

func (h *htmlOut) s(s string) *htmlOut { h.b = append(h.b, s...); return h }

func (h *htmlOut) esc(s string) *htmlOut {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			h.b = append(h.b, "&amp;"...)
		case '<':
			h.b = append(h.b, "&lt;"...)
		case '>':
			h.b = append(h.b, "&gt;"...)
		case '"':
			h.b = append(h.b, "&quot;"...)
		case '\'':
			h.b = append(h.b, "&#39;"...)
		default:
			h.b = append(h.b, c)
		}
	}
	return h
}

func (h *htmlOut) i(v int64) *htmlOut { h.b = strconv.AppendInt(h.b, v, 10); return h }

func (h *htmlOut) flush(final bool) {
	if h.err == nil {
		h.b, h.err = sendChunks(h.a, h.b, final)
	}
}

// humanSecs renders a duration in seconds as HAProxy's page does: "42s",
// "5m12s", "3h04m", "2d5h".
func humanSecs(s int64) string {
	if s < 0 {
		s = 0
	}
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return strconv.FormatInt(s/60, 10) + "m" + pad2(s%60) + "s"
	case s < 86400:
		return strconv.FormatInt(s/3600, 10) + "h" + pad2(s%3600/60) + "m"
	}
	return strconv.FormatInt(s/86400, 10) + "d" + strconv.FormatInt(s%86400/3600, 10) + "h"
}

func pad2(v int64) string {
	if v < 10 {
		return "0" + strconv.FormatInt(v, 10)
	}
	return strconv.FormatInt(v, 10)
}

// serveHTML answers with the HTML page.
func (sp *statsPage) serveHTML(t *Txn, a *HTTPApplet, r *statsRequest) {
	e := sp.px.e
	now := time.Now()
	admin := sp.isAdmin(t)
	a.SetStatus(200, "")
	a.AddHeader("content-type", "text/html; charset=utf-8")
	a.AddHeader("cache-control", "no-cache")
	if sp.refresh > 0 && !r.norefresh {
		a.AddHeader("refresh", strconv.FormatInt(sp.refresh, 10))
	}
	h := &htmlOut{a: a, b: make([]byte, 0, 40<<10)}
	base := string(sp.uri)
	title := "Statistics Report for pid " + strconv.Itoa(os.Getpid())
	if sp.node != "" {
		title += " on " + sp.node
	}
	h.s("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>").esc(title).s("</title>\n<style>\n").s(statsCSS).s("</style></head>\n<body>\n<h1>Moonbus")
	if !sp.conf.HideVersion {
		h.s(" <small>version ").esc(e.statsOpts.Version)
		if e.statsOpts.ReleaseDate != "" {
			h.s(", released ").esc(e.statsOpts.ReleaseDate)
		}
		h.s("</small>")
	}
	h.s("</h1>\n<h2>").esc(title).s("</h2>\n")
	if sp.desc != "" {
		h.s("<p>").esc(sp.desc).s("</p>\n")
	}
	sp.writeInfo(h, r, now)
	if m, ok := statsMessages[r.status]; ok {
		h.s("<div class=\"msg ").s(m[0]).s("\"><a href=\"").esc(base + r.flags()).s("\" title=\"Remove this message\">[X]</a>").esc(m[1]).s("</div>\n")
	}
	filter := sp.filterProxy(r)
	for _, p := range e.proxies {
		if filter != nil && !filter(p) {
			continue
		}
		sp.writeProxy(h, p, r, admin, now)
		h.flush(false)
	}
	h.s("</body></html>\n")
	h.flush(true)
}

// writeInfo writes the general process information, the legend and the
// display options.
func (sp *statsPage) writeInfo(h *htmlOut, r *statsRequest, now time.Time) {
	e := sp.px.e
	info := map[string]any{}
	for _, f := range e.Info(e.statsOpts.Version, e.statsOpts.ReleaseDate, now) {
		info[f.Name] = f.Value
	}
	v := func(name string) string {
		switch x := info[name].(type) {
		case int64:
			return strconv.FormatInt(x, 10)
		case string:
			return x
		}
		return ""
	}
	h.s("<h3>General process information</h3>\n<div class=\"top\">\n<div class=\"box\">")
	h.s("<b>pid = </b>").s(v("Pid")).s(" (process #1, nbproc = 1, nbthread = ").s(v("Nbthread")).s(")<br>\n")
	h.s("<b>uptime = </b>").s(v("Uptime")).s("<br>\n")
	h.s("<b>system limits:</b> ulimit-n = ").s(v("Ulimit-n")).s("; maxsock = ").s(v("Maxsock")).s("; maxconn = ").s(v("Maxconn")).s("<br>\n")
	h.s("<b>current conns = </b>").s(v("CurrConns")).s("; <b>conn rate = </b>").s(v("ConnRate")).s("/sec; <b>session rate = </b>").s(v("SessRate")).s("/sec<br>\n")
	h.s("<b>total conns = </b>").s(v("CumConns")).s("; <b>total requests = </b>").s(v("CumReq")).s("; <b>running tasks = </b>").s(v("Tasks"))
	if v("Stopping") == "1" {
		h.s("<br>\n<b>stopping</b>")
	}
	h.s("</div>\n<div class=\"box\"><table class=\"legend\">")
	for i := 0; i < len(statsLegend); i += 2 {
		h.s("<tr>")
		for _, l := range statsLegend[i:min(i+2, len(statsLegend))] {
			h.s("<td class=\"sw ").s(l[0]).s("\"></td><td>").s(l[1]).s("</td>")
		}
		h.s("</tr>")
	}
	h.s("</table>Note: \"NOLB\"/\"DRAIN\" = UP with load-balancing disabled.</div>\n<div class=\"box\"><b>Display options:</b><br>\n")
	base := string(sp.uri)
	alt := *r
	alt.status = ""
	alt.up = !r.up
	if r.up {
		h.s("&bull; <a href=\"").esc(base + alt.flags()).s("\">Show all servers</a><br>\n")
	} else {
		h.s("&bull; <a href=\"").esc(base + alt.flags()).s("\">Hide 'DOWN' servers</a><br>\n")
	}
	if sp.refresh > 0 {
		alt = *r
		alt.status = ""
		alt.norefresh = !r.norefresh
		if r.norefresh {
			h.s("&bull; <a href=\"").esc(base + alt.flags()).s("\">Enable refresh</a><br>\n")
		} else {
			h.s("&bull; <a href=\"").esc(base + alt.flags()).s("\">Disable refresh</a><br>\n")
		}
	}
	alt = *r
	alt.status = ""
	h.s("&bull; <a href=\"").esc(base + alt.flags()).s("\">Refresh now</a><br>\n")
	h.s("&bull; <a href=\"").esc(base + alt.flags() + ";csv").s("\">CSV export</a>\n</div>\n</div>\n")
}

// rowClass returns the CSS class of a server line.
func rowClass(s *Server, status string) string {
	var c string
	switch {
	case strings.HasPrefix(status, "MAINT"):
		return "maint"
	case strings.HasPrefix(status, "DRAIN"):
		return "drain"
	case strings.HasPrefix(status, "NOLB"):
		return "nolb"
	case status == "no check":
		return "nocheck"
	case status == "UP":
		c = "up"
	case strings.HasPrefix(status, "UP"):
		c = "goingdown"
	case strings.HasPrefix(status, "DOWN ") && status[5] >= '0' && status[5] <= '9':
		return "goingup" // "DOWN 1/2"; "DOWN (agent)" is down
	default:
		return "down"
	}
	if s.backup {
		return "b" + c
	}
	return c
}

// cell writes one data cell; an absent value prints empty.
func (h *htmlOut) cell(v StatValue) *htmlOut {
	h.s("<td>")
	if v.Kind == StatStr {
		h.esc(v.Str)
	} else if v.Kind == StatInt {
		h.i(v.Int)
	}
	return h.s("</td>")
}

func (h *htmlOut) cellS(s string) *htmlOut { return h.s("<td>").esc(s).s("</td>") }

// writeProxy writes the table of one proxy.
func (sp *statsPage) writeProxy(h *htmlOut, p *Proxy, r *statsRequest, admin bool, now time.Time) {
	form := admin && p.isBE && len(p.Servers()) > 0
	base := string(sp.uri)
	if form {
		h.s("<form method=\"post\" action=\"").esc(base + r.flags()).s("\">\n")
	}
	h.s("<table class=\"px\" id=\"").esc(p.name).s("\">\n<tr><th class=\"name\" rowspan=\"2\"")
	if form {
		h.s(" colspan=\"2\"")
	}
	h.s("><a href=\"#").esc(p.name).s("\" style=\"color:inherit\">").esc(p.name).s("</a>")
	if d := p.conf.Description; d != "" {
		h.s("<span class=\"desc\">").esc(d).s("</span>")
	}
	if sp.conf.ShowLegends {
		h.s("<span class=\"lgd\" style=\"color:#cfd9ea\">cap: ")
		switch {
		case p.isFE && p.isBE:
			h.s("FE BE")
		case p.isFE:
			h.s("FE")
		default:
			h.s("BE")
		}
		h.s(", mode: ").s(p.mode.String()).s(", id: ").i(int64(p.uuid)).s("</span>")
	}
	h.s("</th>")
	for _, g := range statsColumns {
		h.s("<th colspan=\"").i(int64(len(g.names))).s("\">").s(g.group).s("</th>")
	}
	h.s("</tr>\n<tr>")
	for _, g := range statsColumns {
		for _, n := range g.names {
			h.s("<th>").s(n).s("</th>")
		}
	}
	h.s("</tr>\n")
	if p.isFE {
		sp.writeFrontendRow(h, p.FrontendStatRow(now), form)
	}
	if p.isBE {
		f := AllStats()
		f.Up = r.up
		for _, s := range p.Servers() {
			if f.WantServer(s) {
				sp.writeServerRow(h, s, s.StatRow(now), form, now)
			}
		}
		sp.writeBackendRow(h, p.BackendStatRow(now), form)
	}
	h.s("</table>\n")
	if form {
		h.s("<div class=\"adm\">Choose the action to perform on the checked servers: <select name=\"action\"><option value=\"\"></option>")
		for _, a := range statsActions {
			h.s("<option value=\"").s(a[0]).s("\">").s(a[1]).s("</option>")
		}
		h.s("</select><input type=\"hidden\" name=\"b\" value=\"#").i(int64(p.uuid)).s("\"> <input type=\"submit\" value=\"Apply\"></div>\n</form>\n")
	} else {
		h.s("<div class=\"adm\"></div>\n")
	}
}

func (sp *statsPage) writeFrontendRow(h *htmlOut, row *StatRow, form bool) {
	h.s("<tr class=\"fe\">")
	if form {
		h.s("<td></td>")
	}
	h.s("<td class=\"name\">Frontend</td><td></td><td></td><td></td>")
	h.cell(row[stRate]).cell(row[stRateMax])
	if row[stRateLim].Int > 0 {
		h.cell(row[stRateLim])
	} else {
		h.s("<td></td>")
	}
	h.cell(row[stScur]).cell(row[stSmax]).cell(row[stSlim]).cell(row[stStot]).s("<td></td><td></td>")
	h.cell(row[stBin]).cell(row[stBout]).cell(row[stDreq]).cell(row[stDresp]).cell(row[stEreq])
	h.s("<td></td><td></td><td></td><td></td>")
	h.s("<td class=\"st\">").esc(row[stStatus].Str).s("</td>")
	h.s("<td></td><td></td><td></td><td></td><td></td><td></td><td></td><td></td></tr>\n")
}

func (sp *statsPage) writeServerRow(h *htmlOut, s *Server, row *StatRow, form bool, now time.Time) {
	status := row[stStatus].Str
	h.s("<tr class=\"").s(rowClass(s, status)).s("\">")
	if form {
		h.s("<td><input type=\"checkbox\" name=\"s\" value=\"").esc(s.name).s("\"></td>")
	}
	h.s("<td class=\"name\"")
	if sp.conf.ShowLegends {
		h.s(" title=\"addr: ").esc(s.AddrString()).s(", id: ").i(int64(s.puid))
		if c := s.conf.Cookie; c != "" {
			h.s(", cookie: ").esc(c)
		}
		h.s("\"")
	}
	h.s(">").esc(s.name)
	if t := row[stTracked]; t.Kind == StatStr {
		h.s(" <span class=\"lgd\">via ").esc(t.Str).s("</span>")
	}
	if sp.conf.ShowLegends {
		h.s("<span class=\"lgd\">").esc(s.AddrString()).s("</span>")
	}
	h.s("</td>")
	h.cell(row[stQcur]).cell(row[stQmax])
	if row[stQlimit].Kind == StatInt {
		h.cell(row[stQlimit])
	} else {
		h.cellS("-")
	}
	h.cell(row[stRate]).cell(row[stRateMax]).s("<td></td>")
	h.cell(row[stScur]).cell(row[stSmax])
	if row[stSlim].Kind == StatInt {
		h.cell(row[stSlim])
	} else {
		h.cellS("-")
	}
	h.cell(row[stStot]).cell(row[stLbtot])
	if ls := row[stLastsess].Int; ls >= 0 {
		h.cellS(humanSecs(ls))
	} else {
		h.cellS("?")
	}
	h.cell(row[stBin]).cell(row[stBout]).s("<td></td>").cell(row[stDresp])
	h.s("<td></td>").cell(row[stEcon]).cell(row[stEresp]).cell(row[stWretr]).cell(row[stWredis])
	h.s("<td class=\"st\">")
	if status != "no check" {
		h.s(humanSecs(row[stLastchg].Int)).s(" ")
	}
	h.esc(status).s("</td>")
	h.s("<td class=\"st\">")
	if cs := row[stCheckStatus]; cs.Kind == StatStr {
		h.esc(cs.Str)
		if c := row[stCheckCode]; c.Kind == StatInt {
			h.s("/").i(c.Int)
		}
		if d := row[stCheckDuration]; d.Kind == StatInt {
			h.s(" in ").i(d.Int).s("ms")
		}
	}
	h.s("</td>").cell(row[stWeight])
	if s.backup {
		h.s("<td class=\"st\">-</td><td class=\"st\">Y</td>")
	} else {
		h.s("<td class=\"st\">Y</td><td class=\"st\">-</td>")
	}
	h.cell(row[stChkfail]).cell(row[stChkdown])
	if d := row[stDowntime]; d.Kind == StatInt {
		h.cellS(humanSecs(d.Int))
	} else {
		h.s("<td></td>")
	}
	if th := row[stThrottle]; th.Kind == StatInt {
		h.cellS(strconv.FormatInt(th.Int, 10) + " %")
	} else {
		h.cellS("-")
	}
	h.s("</tr>\n")
}

func (sp *statsPage) writeBackendRow(h *htmlOut, row *StatRow, form bool) {
	h.s("<tr class=\"be\">")
	if form {
		h.s("<td></td>")
	}
	h.s("<td class=\"name\">Backend</td>")
	h.cell(row[stQcur]).cell(row[stQmax]).s("<td></td>")
	h.cell(row[stRate]).cell(row[stRateMax]).s("<td></td>")
	h.cell(row[stScur]).cell(row[stSmax]).cell(row[stSlim]).cell(row[stStot]).cell(row[stLbtot])
	if ls := row[stLastsess].Int; ls >= 0 {
		h.cellS(humanSecs(ls))
	} else {
		h.cellS("?")
	}
	h.cell(row[stBin]).cell(row[stBout]).cell(row[stDreq]).cell(row[stDresp])
	h.s("<td></td>").cell(row[stEcon]).cell(row[stEresp]).cell(row[stWretr]).cell(row[stWredis])
	h.s("<td class=\"st\">").s(humanSecs(row[stLastchg].Int)).s(" ").esc(row[stStatus].Str).s("</td><td></td>")
	h.cell(row[stWeight]).cell(row[stAct]).cell(row[stBck]).s("<td></td>").cell(row[stChkdown])
	h.cellS(humanSecs(row[stDowntime].Int)).s("<td></td></tr>\n")
}
