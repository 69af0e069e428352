// Package natsbridge bridges a Moonbus event bus to NATS (DESIGN §4.6): one
// Bridge per `nats` configuration section.
//
//   - Events out: every bus event whose type the section's `publish` line
//     selects is published on <prefix>.event.<instance>.<TYPE>.<proxy>[.<server>]
//     (see EventSubject) with the event's JSON form (bus.Event.MarshalJSON)
//     as the body and a Nats-Msg-Id header ("<instance>-<boot id>-<seq>")
//     that lets a JetStream stream drop a copy sent twice.
//   - Buffering: the bus handler never blocks; it encodes the event and
//     appends it to the bridge's own bounded outbox. One publisher goroutine
//     sends the outbox in batches and removes a batch only once the server has
//     confirmed it: with a `stream`, every event is a JetStream publish and
//     the confirmation is its stored acknowledgement; without one, a flush
//     round trip (the server has routed the batch to the subscribers it had
//     then). While NATS is unreachable events stay
//     in the outbox and go out in order after the reconnect; a batch whose
//     confirmation was lost is sent again (at least once: the copies have the
//     same Nats-Msg-Id and seq). When the outbox is full the oldest waiting
//     event is dropped, counted, and logged (one warning when a burst of drops
//     starts, one with the total when it ends, at most one of each per
//     second). nats.go's own reconnect buffer is disabled so that the bound
//     and the accounting are the bridge's.
//   - `stream <name> [max-age <t>]`: after every (re)connect, before it
//     publishes anything, the bridge creates or updates a JetStream stream
//     over <prefix>.event.> (so a stream on a restarted server with a fresh
//     store catches the buffered events too).
//   - `cli on`: the runtime API answers requests on <prefix>.cli.<instance>
//     and on <prefix>.cli (every instance replies); see Options.Execute.
//   - `alert-dedup on`: Claim claims an alert incident in a JetStream
//     key-value bucket so that one instance of the fleet sends it.
//
// The daemon starts and serves without NATS: Start never waits for a
// connection, nats.go keeps reconnecting forever.
package natsbridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"moonbus/bus"
	"moonbus/config"
)

// Defaults.
const (
	// DefaultBuffer is the outbox bound (events) when Options.Buffer is 0.
	DefaultBuffer = 10000
	// DefaultCLILevel is the runtime API level of requests over NATS.
	DefaultCLILevel = "admin"
	// DefaultPrefix is the subject prefix of a section without `prefix`.
	DefaultPrefix = "moonbus"

	maxBatch            = 256
	defaultFlushTimeout = 2 * time.Second
	defaultReconnect    = time.Second
	maxJSFailures       = 3
	cliConcurrency      = 8
	logEvery            = time.Second
)

// HeaderInstance is the reply header naming the instance that answered a
// runtime API request.
const HeaderInstance = "Moonbus-Instance"

// Options tune a Bridge beyond its configuration section.
type Options struct {
	// Bus is the bus whose events are published (required).
	Bus *bus.Bus
	// Instance is the instance name used when the section has no
	// `instance` line (default: the host name).
	Instance string
	// Logger receives connection changes, drops and errors (default:
	// discarded).
	Logger *slog.Logger
	// Execute runs one runtime API request (Daemon.Execute). With `cli on`
	// and a nil Execute, requests are answered with an error.
	Execute func(level, input string, w io.Writer) error
	// CLILevel is the access level of requests over NATS (default admin).
	CLILevel string
	// Buffer bounds the outbox (default DefaultBuffer events).
	Buffer int
	// ReconnectWait is the pause between reconnect attempts (default 1s).
	ReconnectWait time.Duration
	// FlushTimeout bounds the confirmation of one batch (default 2s).
	FlushTimeout time.Duration
}

// Bridge is one `nats` section at work. Create it with New, then Start and
// Stop it; its methods are safe for concurrent use.
type Bridge struct {
	cfg      config.NATS
	name     string
	instance string
	prefix   string
	types    []bus.Type
	opts     Options
	log      *slog.Logger
	url      string
	natsOpts []nats.Option
	idBase   string
	out      *outbox
	flushTO  time.Duration

	mu       sync.Mutex
	nc       *nats.Conn
	js       jetstream.JetStream
	sub      *bus.Subscription
	cliSubs  []*nats.Subscription
	kv       jetstream.KeyValue
	started  bool
	stopped  bool
	detached bool
	wg       sync.WaitGroup // CLI requests

	stop      chan struct{}
	pubDone   chan struct{}
	pubKick   chan struct{} // (re)connected: the publisher retries
	needSetup atomic.Bool   // (re)connected: JetStream to set up before publishing
	cliSem    chan struct{}
	jsFails   int // publisher-owned: consecutive failed stream batches
	futs      []jetstream.PubAckFuture

	published, buffered, resent   atomic.Uint64
	connects, reconnects, discons atomic.Uint64
	cliRequests, cliErrors        atomic.Uint64
	claimsWon, claimsLost, failed atomic.Uint64
	streamReady                   atomic.Bool
	lastDropWarn                  atomic.Int64 // unix nano
	failMu                        sync.Mutex
	lastFail                      string    // last connection error logged
	lastFailAt                    time.Time // when
	unreported                    uint64    // publisher-owned
	lastDropTotal                 time.Time // publisher-owned
}

// New builds the bridge of one section; it does not connect yet. It checks
// what can be checked before connecting: event types, credentials and TLS
// files.
func New(cfg *config.NATS, opts Options) (*Bridge, error) {
	if cfg == nil {
		return nil, errors.New("natsbridge: no configuration")
	}
	if opts.Bus == nil {
		return nil, fmt.Errorf("nats %s: no bus", cfg.Name)
	}
	if len(cfg.URLs) == 0 {
		return nil, fmt.Errorf("nats %s: no url", cfg.Name)
	}
	b := &Bridge{
		cfg:     *cfg,
		name:    cfg.Name,
		prefix:  cfg.Prefix,
		opts:    opts,
		log:     opts.Logger,
		url:     strings.Join(cfg.URLs, ","),
		flushTO: opts.FlushTimeout,
		stop:    make(chan struct{}),
		pubDone: make(chan struct{}),
		pubKick: make(chan struct{}, 1),
		cliSem:  make(chan struct{}, cliConcurrency),
	}
	if b.prefix == "" {
		b.prefix = DefaultPrefix
	}
	if err := bus.ValidSubject(b.prefix, false); err != nil || strings.Contains(b.prefix, ".") {
		return nil, fmt.Errorf("nats %s: prefix %q is not one subject token", cfg.Name, b.prefix)
	}
	b.instance = cfg.Instance
	if b.instance == "" {
		b.instance = opts.Instance
	}
	if b.instance == "" {
		b.instance, _ = os.Hostname()
	}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.opts.CLILevel == "" {
		b.opts.CLILevel = DefaultCLILevel
	}
	if b.flushTO <= 0 {
		b.flushTO = defaultFlushTimeout
	}
	buf := opts.Buffer
	if buf <= 0 {
		buf = DefaultBuffer
	}
	b.out = newOutbox(buf)
	publish := cfg.Publish
	if len(publish) == 0 {
		publish = []string{"SERVER", "BACKEND"}
	}
	types, err := bus.ParseTypes(publish)
	if err != nil {
		return nil, fmt.Errorf("nats %s: publish: %w", cfg.Name, err)
	}
	b.types = types
	var id [6]byte
	_, _ = rand.Read(id[:])
	b.idBase = b.instance + "-" + hex.EncodeToString(id[:]) + "-"
	if b.natsOpts, err = b.connOptions(); err != nil {
		return nil, fmt.Errorf("nats %s: %w", cfg.Name, err)
	}
	return b, nil
}

// connOptions turns the section into nats.go options.
func (b *Bridge) connOptions() ([]nats.Option, error) {
	c := &b.cfg
	wait := b.opts.ReconnectWait
	if wait <= 0 {
		wait = defaultReconnect
	}
	o := []nats.Option{
		nats.Name("moonbus " + b.instance),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(wait/10, wait/10),
		nats.ReconnectBufSize(-1), // our outbox buffers, with our bound
		nats.ConnectHandler(b.onConnect),
		nats.ReconnectHandler(b.onReconnect),
		nats.DisconnectErrHandler(b.onDisconnect),
		nats.ReconnectErrHandler(b.onConnectFailed),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			b.log.Warn(fmt.Sprintf("nats '%s': %v", b.name, err))
		}),
	}
	if c.User != "" || c.Password != "" {
		o = append(o, nats.UserInfo(c.User, c.Password))
	}
	if c.Token != "" {
		o = append(o, nats.Token(c.Token))
	}
	if c.Creds != "" {
		if _, err := os.Stat(c.Creds); err != nil {
			return nil, fmt.Errorf("creds: %w", err)
		}
		o = append(o, nats.UserCredentials(c.Creds))
	}
	if c.NKey != "" {
		opt, err := nats.NkeyOptionFromSeed(c.NKey)
		if err != nil {
			return nil, fmt.Errorf("nkey: %w", err)
		}
		o = append(o, opt)
	}
	if c.TLSCA != "" {
		if _, err := os.Stat(c.TLSCA); err != nil {
			return nil, fmt.Errorf("tls-ca: %w", err)
		}
		o = append(o, nats.RootCAs(c.TLSCA))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return nil, errors.New("tls-cert and tls-key go together")
	}
	if c.TLSCert != "" {
		for _, f := range []string{c.TLSCert, c.TLSKey} {
			if _, err := os.Stat(f); err != nil {
				return nil, fmt.Errorf("tls-cert/tls-key: %w", err)
			}
		}
		o = append(o, nats.ClientCert(c.TLSCert, c.TLSKey))
	}
	return o, nil
}

// Name returns the section name.
func (b *Bridge) Name() string { return b.name }

// Instance returns the instance name used in subjects.
func (b *Bridge) Instance() string { return b.instance }

// Prefix returns the subject prefix.
func (b *Bridge) Prefix() string { return b.prefix }

// Config returns the section the bridge was built from.
func (b *Bridge) Config() config.NATS { return b.cfg }

// SameConfig reports whether the bridge was built from an identical section
// (file positions aside): a reload then keeps it and its connection.
func (b *Bridge) SameConfig(cfg *config.NATS, instance string) bool {
	a, c := b.cfg, *cfg
	a.Pos, c.Pos = config.Pos{}, config.Pos{}
	if !equalNATS(&a, &c) {
		return false
	}
	want := cfg.Instance
	if want == "" {
		want = instance
	}
	if want == "" {
		want, _ = os.Hostname()
	}
	return want == b.instance
}

func equalNATS(a, b *config.NATS) bool {
	return a.Name == b.Name && strings.Join(a.URLs, ",") == strings.Join(b.URLs, ",") &&
		a.Instance == b.Instance && a.Prefix == b.Prefix &&
		strings.Join(a.Publish, " ") == strings.Join(b.Publish, " ") && a.CLI == b.CLI &&
		a.Stream == b.Stream && a.StreamMaxAge == b.StreamMaxAge && a.AlertDedup == b.AlertDedup &&
		a.User == b.User && a.Password == b.Password && a.Token == b.Token && a.Creds == b.Creds &&
		a.TLSCA == b.TLSCA && a.TLSCert == b.TLSCert && a.TLSKey == b.TLSKey && a.NKey == b.NKey
}

// AlertDedup reports whether the section asks for fleet-wide alert dedup.
func (b *Bridge) AlertDedup() bool { return b.cfg.AlertDedup }

// Start connects (in the background: an unreachable server is retried
// forever), subscribes to the bus and, with `cli on`, to the runtime API
// subjects. It fails only on a configuration nats.go refuses.
func (b *Bridge) Start(_ context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started || b.stopped {
		return fmt.Errorf("nats %s: already started", b.name)
	}
	nc, err := nats.Connect(b.url, b.natsOpts...)
	if err != nil {
		return fmt.Errorf("nats %s: %w", b.name, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(b.flushTO), jetstream.WithPublishAsyncMaxPending(2*maxBatch))
	if err != nil {
		nc.Close()
		return fmt.Errorf("nats %s: jetstream: %w", b.name, err)
	}
	b.nc, b.js = nc, js
	b.started = true
	if b.cfg.CLI {
		for _, subj := range []string{CLISubject(b.prefix, b.instance), CLIFleetSubject(b.prefix)} {
			s, err := nc.Subscribe(subj, b.onCLI)
			if err != nil {
				nc.Close()
				b.nc, b.js, b.started, b.cliSubs = nil, nil, false, nil
				return fmt.Errorf("nats %s: subscribing to %s: %w", b.name, subj, err)
			}
			b.cliSubs = append(b.cliSubs, s)
		}
	}
	b.sub = b.opts.Bus.Subscribe("nats/"+b.name, bus.Filter{Types: b.types}, bus.DropOldest, b.onEvent,
		bus.QueueLen(max(len(b.out.buf), bus.DefaultQueueLen)))
	go b.publisher()
	return nil
}

// Detach stops taking bus events and runtime API requests without closing
// the connection (a reload: the new bridge takes over at once, this one
// still delivers its outbox in Stop).
func (b *Bridge) Detach() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detachLocked()
}

func (b *Bridge) detachLocked() {
	if b.detached {
		return
	}
	b.detached = true
	if b.sub != nil {
		b.sub.Unsub()
	}
	for _, s := range b.cliSubs {
		_ = s.Unsubscribe()
	}
}

// Stop detaches, delivers what the outbox holds while NATS is reachable and
// ctx allows (at most a few seconds), then closes the connection and waits
// for runtime API requests in progress until ctx ends.
func (b *Bridge) Stop(ctx context.Context) error {
	b.mu.Lock()
	if b.stopped {
		b.mu.Unlock()
		return nil
	}
	b.stopped = true
	started := b.started
	b.detachLocked()
	nc := b.nc
	b.mu.Unlock()
	if !started {
		return nil
	}
	deadline := time.Now().Add(2 * b.flushTO)
	for b.out.len() > 0 && nc.IsConnected() && ctx.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // shutdown only: the publisher drains
	}
	close(b.stop)
	<-b.pubDone
	b.reportDrops(true)
	if n := b.out.len(); n > 0 {
		b.log.Warn(fmt.Sprintf("nats '%s': stopped with %d events not delivered", b.name, n))
	}
	nc.Close()
	done := make(chan struct{})
	go func() { b.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("nats %s: stopping: %w", b.name, ctx.Err())
	}
}

// Conn returns the NATS connection (nil before Start).
func (b *Bridge) Conn() *nats.Conn {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.nc
}

// kick tells the publisher about a (re)connection: JetStream is set up
// again, then the outbox is sent.
func (b *Bridge) kick() {
	b.needSetup.Store(true)
	select {
	case b.pubKick <- struct{}{}:
	default:
	}
}

// serverURL names the server nc is connected to, credentials hidden.
func (b *Bridge) serverURL(nc *nats.Conn) string {
	if u := nc.ConnectedUrlRedacted(); u != "" {
		return u
	}
	return "the server" // not connected any more, or not quite yet
}

func (b *Bridge) onConnect(nc *nats.Conn) {
	b.connects.Add(1)
	b.log.Info(fmt.Sprintf("nats '%s': connected to %s as instance '%s'", b.name, b.serverURL(nc), b.instance))
	b.kick()
}

func (b *Bridge) onReconnect(nc *nats.Conn) {
	b.reconnects.Add(1)
	b.log.Info(fmt.Sprintf("nats '%s': reconnected to %s; %d events waiting", b.name, b.serverURL(nc), b.out.len()))
	b.kick()
}

func (b *Bridge) onDisconnect(_ *nats.Conn, err error) {
	b.discons.Add(1)
	b.mu.Lock()
	stopped := b.stopped
	b.mu.Unlock()
	if stopped {
		return
	}
	msg := fmt.Sprintf("nats '%s': disconnected; buffering up to %d events until reconnected", b.name, len(b.out.buf))
	if err != nil {
		msg = fmt.Sprintf("nats '%s': disconnected (%v); buffering up to %d events until reconnected", b.name, err, len(b.out.buf))
	}
	b.log.Warn(msg)
}

// onConnectFailed logs why a (re)connection attempt failed: a new reason at
// once, the same one again at most once a minute.
func (b *Bridge) onConnectFailed(_ *nats.Conn, err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	b.failMu.Lock()
	quiet := msg == b.lastFail && time.Since(b.lastFailAt) < time.Minute
	if !quiet {
		b.lastFail, b.lastFailAt = msg, time.Now()
	}
	b.failMu.Unlock()
	if !quiet {
		b.log.Warn(fmt.Sprintf("nats '%s': cannot connect (%v); retrying, events are buffered", b.name, err))
	}
}

// onEvent is the bus handler: encode, append to the outbox. It never blocks.
func (b *Bridge) onEvent(e *bus.Event) {
	data, err := e.MarshalJSON()
	if err != nil {
		b.log.Error(fmt.Sprintf("nats '%s': encoding %s event: %v", b.name, e.Type, err))
		return
	}
	m := outMsg{
		subject: EventSubject(b.prefix, b.instance, e),
		id:      b.idBase + strconv.FormatUint(e.Seq, 10),
		data:    data,
	}
	if !b.nc.IsConnected() {
		b.buffered.Add(1)
	}
	if _, first := b.out.push(m); first {
		now := time.Now().UnixNano()
		if last := b.lastDropWarn.Load(); now-last >= int64(logEvery) && b.lastDropWarn.CompareAndSwap(last, now) {
			b.log.Warn(fmt.Sprintf("nats '%s': outbox full (%d events): dropping the oldest events until NATS catches up", b.name, len(b.out.buf)))
		}
	}
}

// publisher sends the outbox in order, one confirmed batch at a time.
func (b *Bridge) publisher() {
	defer close(b.pubDone)
	nc := b.nc
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	var batch []outMsg
	was := false // connected at the last look (the callbacks run late)
	for {
		now := nc.IsConnected()
		if now && (!was || b.needSetup.Load()) {
			b.needSetup.Store(false)
			b.setup()
		}
		was = now
		if b.out.len() == 0 || !nc.IsConnected() {
			retry.Reset(250 * time.Millisecond) // safety net for a missed wake-up
			select {
			case <-b.stop:
				return
			case <-b.out.wake:
			case <-b.pubKick:
			case <-retry.C:
			}
			continue
		}
		batch = b.out.take(batch[:0], maxBatch)
		sent, err := b.send(nc, batch)
		if err != nil {
			b.out.abort()
			b.resent.Add(uint64(sent))
			clear(batch)
			retry.Reset(50 * time.Millisecond)
			select {
			case <-b.stop:
				return
			case <-b.pubKick:
			case <-retry.C:
			}
			continue
		}
		b.unreported += b.out.commit()
		b.published.Add(uint64(len(batch)))
		clear(batch)
		b.reportDrops(false)
	}
}

// send publishes a batch and waits for the server's confirmation. It
// returns how many messages were handed to the connection.
func (b *Bridge) send(nc *nats.Conn, batch []outMsg) (int, error) {
	if b.cfg.Stream != "" && b.streamReady.Load() && b.jsFails < maxJSFailures {
		n, err := b.sendStream(batch)
		if err == nil || !nc.IsConnected() {
			b.jsFails = 0
			return n, err
		}
		// Connected, yet the stream did not store the batch: set it up
		// again; after a few failures in a row publish without it until
		// the next reconnect, so the events still reach subscribers.
		b.jsFails++
		b.needSetup.Store(true)
		if b.jsFails == maxJSFailures {
			b.log.Warn(fmt.Sprintf("nats '%s': stream '%s' does not store events (%v); publishing without it until reconnected", b.name, b.cfg.Stream, err))
		}
		return n, err
	}
	for i := range batch {
		m := &batch[i]
		msg := &nats.Msg{Subject: m.subject, Data: m.data, Header: nats.Header{"Nats-Msg-Id": []string{m.id}}}
		if err := nc.PublishMsg(msg); err != nil {
			return i, err
		}
	}
	if err := nc.FlushTimeout(b.flushTO); err != nil {
		return len(batch), err
	}
	return len(batch), nil
}

// sendStream publishes a batch to the stream and waits for every
// acknowledgement (stored, or a duplicate of a stored copy).
func (b *Bridge) sendStream(batch []outMsg) (int, error) {
	futs := b.futs[:0]
	defer func() { clear(futs); b.futs = futs[:0] }()
	for i := range batch {
		m := &batch[i]
		msg := &nats.Msg{Subject: m.subject, Data: m.data, Header: nats.Header{"Nats-Msg-Id": []string{m.id}}}
		f, err := b.js.PublishMsgAsync(msg, jetstream.WithRetryAttempts(0))
		if err != nil {
			return i, err
		}
		futs = append(futs, f)
	}
	timer := time.NewTimer(b.flushTO + b.flushTO/2) // the acks time out first
	defer timer.Stop()
	for _, f := range futs {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return len(batch), fmt.Errorf("stream: %w", err)
		case <-timer.C:
			return len(batch), errors.New("stream: no acknowledgement")
		}
	}
	return len(batch), nil
}

// reportDrops logs the drops of the bursts that ended, at most once per
// second (or now, when stopping). It runs on the publisher goroutine, or
// after it has ended.
func (b *Bridge) reportDrops(force bool) {
	if b.unreported == 0 || (!force && time.Since(b.lastDropTotal) < logEvery) {
		return
	}
	b.log.Warn(fmt.Sprintf("nats '%s': %d events were dropped because the outbox was full (%d dropped in total)",
		b.name, b.unreported, b.out.totalDropped()))
	b.unreported = 0
	b.lastDropTotal = time.Now()
}

// setup creates or updates the stream and the dedup bucket after a
// (re)connect (or after the stream refused a batch). A failure is logged; events are published all the same (a
// server without JetStream still gets them) and the next reconnect tries
// again.
func (b *Bridge) setup() {
	if b.cfg.Stream != "" {
		if err := b.ensureStream(); err != nil {
			b.streamReady.Store(false)
			b.log.Warn(fmt.Sprintf("nats '%s': stream '%s': %v", b.name, b.cfg.Stream, err))
		} else {
			b.streamReady.Store(true)
		}
	}
	if b.cfg.AlertDedup {
		if _, err := b.bucket(true); err != nil {
			b.log.Warn(fmt.Sprintf("nats '%s': alert dedup bucket: %v (alerts are sent without fleet dedup until it works)", b.name, err))
		}
	}
}

// ensureStream creates or updates the stream over this prefix's events.
func (b *Bridge) ensureStream() error {
	ctx, cancel := context.WithTimeout(context.Background(), b.flushTO)
	defer cancel()
	_, err := b.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.cfg.Stream,
		Description: "Moonbus events (" + b.prefix + ")",
		Subjects:    []string{EventsPattern(b.prefix)},
		MaxAge:      b.cfg.StreamMaxAge,
		Duplicates:  min(2*time.Minute, max(b.cfg.StreamMaxAge, 0)),
	})
	if err != nil {
		return fmt.Errorf("create or update: %w", err)
	}
	return nil
}

// Stats are a bridge's counters.
type Stats struct {
	Name        string
	Instance    string
	Prefix      string
	Status      string // nats.go's connection status: CONNECTED, RECONNECTING...
	Server      string // connected URL, credentials redacted ("" when not connected)
	Published   uint64 // events confirmed by the server
	Queued      int    // events in the outbox now
	Buffered    uint64 // events that arrived while disconnected
	Dropped     uint64 // events dropped because the outbox was full
	Resent      uint64 // events sent again after an unconfirmed batch
	Connects    uint64
	Reconnects  uint64
	Disconnects uint64
	CLIRequests uint64
	CLIErrors   uint64
	ClaimsWon   uint64 // alert incidents this instance claimed (and sent)
	ClaimsLost  uint64 // alert incidents another instance had claimed (suppressed here)
	ClaimErrors uint64 // claims that failed (alert sent anyway)
	StreamReady bool
}

// Stats returns the bridge's counters.
func (b *Bridge) Stats() Stats {
	b.mu.Lock()
	nc := b.nc
	b.mu.Unlock()
	s := Stats{
		Name: b.name, Instance: b.instance, Prefix: b.prefix, Status: "NOT STARTED",
		Published: b.published.Load(), Queued: b.out.len(), Buffered: b.buffered.Load(),
		Dropped: b.out.totalDropped(), Resent: b.resent.Load(), Connects: b.connects.Load(),
		Reconnects: b.reconnects.Load(), Disconnects: b.discons.Load(),
		CLIRequests: b.cliRequests.Load(), CLIErrors: b.cliErrors.Load(),
		ClaimsWon: b.claimsWon.Load(), ClaimsLost: b.claimsLost.Load(), ClaimErrors: b.failed.Load(),
		StreamReady: b.streamReady.Load(),
	}
	if nc != nil {
		s.Status = nc.Status().String()
		if nc.IsConnected() {
			s.Server = nc.ConnectedUrlRedacted()
		}
	}
	return s
}

// WriteStats writes s as "Key: value" lines (the runtime API's `show nats`).
func WriteStats(w io.Writer, s Stats) error {
	stream := "-"
	if s.StreamReady {
		stream = "ready"
	}
	_, err := fmt.Fprintf(w, "Name: %s\nInstance: %s\nPrefix: %s\nStatus: %s\nServer: %s\n"+
		"Published: %d\nQueued: %d\nBuffered: %d\nDropped: %d\nResent: %d\n"+
		"Connects: %d\nReconnects: %d\nDisconnects: %d\nCliRequests: %d\nCliErrors: %d\n"+
		"DedupWon: %d\nDedupLost: %d\nDedupErrors: %d\nStream: %s\n",
		s.Name, s.Instance, s.Prefix, s.Status, orDash(s.Server),
		s.Published, s.Queued, s.Buffered, s.Dropped, s.Resent,
		s.Connects, s.Reconnects, s.Disconnects, s.CLIRequests, s.CLIErrors,
		s.ClaimsWon, s.ClaimsLost, s.ClaimErrors, stream)
	return err
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
