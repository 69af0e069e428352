package natsbridge

import (
	"bytes"
	"fmt"

	"github.com/nats-io/nats.go"
)

// onCLI answers one runtime API request received on <prefix>.cli.<instance>
// or <prefix>.cli: the payload is one command line (commands separated by
// ';', optionally followed by a "<<" payload, as on the stats socket); the
// reply is the output the stats socket would write, at Options.CLILevel,
// with a Moonbus-Instance header naming the instance. Requests run
// concurrently (at most cliConcurrency at once, then the subscription waits),
// so a slow command ("wait 5s") does not hold the others up.
func (b *Bridge) onCLI(m *nats.Msg) {
	b.cliRequests.Add(1)
	if m.Reply == "" {
		b.cliErrors.Add(1)
		return // a publish, not a request: nobody would read the answer
	}
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return
	}
	b.wg.Add(1)
	b.mu.Unlock()
	select {
	case b.cliSem <- struct{}{}:
	case <-b.stop:
		b.wg.Done()
		return
	}
	go func() {
		defer b.wg.Done()
		defer func() { <-b.cliSem }()
		b.answer(m)
	}()
}

func (b *Bridge) answer(m *nats.Msg) {
	var out bytes.Buffer
	var err error
	if b.opts.Execute == nil {
		err = fmt.Errorf("the runtime API is not available")
	} else {
		err = b.opts.Execute(b.opts.CLILevel, string(m.Data), &out)
	}
	if err != nil {
		b.cliErrors.Add(1)
		out.Reset()
		fmt.Fprintf(&out, "%v\n\n", err)
	}
	data := out.Bytes()
	nc := b.Conn()
	if max := nc.MaxPayload(); max > 0 && int64(len(data)) > max-256 {
		b.cliErrors.Add(1)
		data = fmt.Appendf(nil, "Reply too large for NATS: %d bytes (server max_payload %d); use the stats socket.\n\n", len(data), max)
	}
	reply := &nats.Msg{Subject: m.Reply, Data: data, Header: nats.Header{HeaderInstance: []string{b.instance}}}
	if err := nc.PublishMsg(reply); err != nil {
		b.cliErrors.Add(1)
		b.log.Warn(fmt.Sprintf("nats '%s': runtime API reply: %v", b.name, err))
	}
}
