package proxy

import (
	"bufio"
	"net"
	"regexp"
	"time"
)

// Accessors for the Lua host (package scripts): what the TXN, HTTP, Channel
// and Listener classes need from a transaction, a proxy and the engine
// beyond the sample.Stream interface. They are called from the goroutine
// that serves the transaction (Lua runs on it).

// LuaData returns the value the Lua host attached to the transaction (nil
// at the start of every transaction: it is not kept across the requests of
// a keep-alive connection).
func (t *Txn) LuaData() any { return t.rules.priv }

// SetLuaData attaches a value to the transaction for the Lua host.
func (t *Txn) SetLuaData(v any) { t.rules.priv = v }

// LogLevel returns the transaction's log level (-1: not logged).
func (t *Txn) LogLevel() int { return t.logLevel }

// SetLogLevel sets the transaction's log level (0..7, or -1 for silent), as
// set-log-level and Lua's txn:set_loglevel do.
func (t *Txn) SetLogLevel(l int) { t.logLevel = l }

// ClientConn returns the client's network connection (socket options such
// as set_fc_tos).
func (t *Txn) ClientConn() net.Conn { return t.s.raw }

// CloseClient makes the client connection close after this transaction.
func (t *Txn) CloseClient() { t.closeCli = true }

// LocalReply sends a complete HTTP response built by the Lua host
// (txn:done(reply)) after the http-after-response rules, accounting it like
// an http-request return.
func (t *Txn) LocalReply(status int, raw []byte) {
	t.setTerm('L', 'R')
	t.countStatus(status)
	t.fe.Counters.Intercepted.Add(1)
	t.writeLocal(raw)
}

// SetRespStatus changes the response status and reason ("" = the standard
// phrase), as http-response set-status does.
func (t *Txn) SetRespStatus(code int, reason string) {
	t.rsp.SetStatus(code, reason)
	t.status = code
}

// ClientReader returns the buffered reader of the client connection: in
// TCP mode its buffered bytes are the request channel's contents.
func (t *Txn) ClientReader() *bufio.Reader { return t.s.br }

// SetClientReader replaces the client reader (TCP mode only), so that
// rewritten request bytes are what the rules, the applet and the server see.
func (t *Txn) SetClientReader(br *bufio.Reader) { t.s.br = br }

// SetClientReadDeadline sets the read deadline of the client connection
// (zero clears it).
func (t *Txn) SetClientReadDeadline(d time.Time) {
	if t.s.conn != nil {
		t.s.conn.setReadDeadline(d)
	}
}

// BufSize returns tune.bufsize.
func (t *Txn) BufSize() int { return t.s.e.bufsize }

// ReplaceHeader applies re to every header field named name, replacing the
// match with repl where \0..\9 refer to the submatches; with perValue, each
// comma-separated value is matched on its own (replace-value). Field order
// is kept.
func (m *Msg) ReplaceHeader(name string, re *regexp.Regexp, repl []byte, perValue bool) {
	for i := range m.headers {
		h := &m.headers[i]
		if !equalFold(m.get(h.name), name) {
			continue
		}
		v := m.get(h.value)
		var out []byte
		changed := false
		if perValue {
			start := 0
			for j := 0; j <= len(v); j++ {
				if j < len(v) && v[j] != ',' {
					continue
				}
				part := trimSpace(v[start:j])
				if start > 0 {
					out = append(out, ", "...)
				}
				if sm := re.FindSubmatchIndex(part); sm != nil {
					out = expandBackrefs(out, repl, part, sm)
					changed = true
				} else {
					out = append(out, part...)
				}
				start = j + 1
			}
		} else if sm := re.FindSubmatchIndex(v); sm != nil {
			out = expandBackrefs(nil, repl, v, sm)
			changed = true
		}
		if changed {
			h.value = m.appendBytes(out)
		}
	}
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// SendLog sends a message to the proxy's loggers at a syslog level.
func (p *Proxy) SendLog(level int, msg string) { p.sendLog(level, msg) }

// HasLoggers reports whether the proxy has log targets.
func (p *Proxy) HasLoggers() bool { return len(p.logs) > 0 }

// ListenerNames returns the names of the proxy's listeners in bind order
// ("sock-<id>" for unnamed ones).
func (p *Proxy) ListenerNames() []string {
	out := make([]string, len(p.listeners))
	for i, l := range p.listeners {
		out[i] = l.name
	}
	return out
}

// ListenerStats returns the "show stat" fields of the proxy's i-th
// listener (Lua's Listener:get_stats()), nil when there is no such one.
func (p *Proxy) ListenerStats(i int) map[string]any {
	if i < 0 || i >= len(p.listeners) {
		return nil
	}
	l := p.listeners[i]
	c := &l.Counters
	status := p.FrontendStatus()
	return map[string]any{
		"pxname": p.name, "svname": l.name,
		"scur": c.Scur.Load(), "smax": c.Smax.Load(), "slim": int64(p.maxconn.Load()), "stot": c.Stot.Load(),
		"bin": c.Bin.Load(), "bout": c.Bout.Load(), "dreq": c.Dreq.Load(), "dresp": c.Dresp.Load(),
		"ereq": c.Ereq.Load(), "dcon": c.DCon.Load(), "dses": c.DSes.Load(),
		"status": status, "pid": int64(1), "iid": int64(p.uuid), "sid": int64(l.id), "type": int64(3),
		"mode": p.mode.String(),
	}
}

// GlobalLog sends a message to the global loggers; it reports whether
// there was any.
func (e *Engine) GlobalLog(level int, msg string) bool {
	if len(e.globalLogs) == 0 {
		return false
	}
	now := time.Now()
	b := []byte(msg)
	for _, t := range e.globalLogs {
		t.send(level, b, now)
	}
	return true
}

// ServerReader returns the buffered reader of the server connection of a
// TCP stream (the response channel's contents in tcp-response rules), nil
// before a server is connected.
func (t *Txn) ServerReader() *bufio.Reader {
	if c := t.st.server.Load(); c != nil {
		return c.br
	}
	return nil
}
