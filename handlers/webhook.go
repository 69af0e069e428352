package handlers

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"text/template"
	"time"

	"moonbus/bus"
	"moonbus/config"
	"moonbus/mailers"
)

// Webhook defaults (DESIGN §5).
const (
	DefaultWebhookTimeout = 5 * time.Second
	// Headers of a signed request.
	HeaderTimestamp = "X-Moonbus-Timestamp"
	HeaderSignature = "X-Moonbus-Signature"
)

// DefaultWebhookEvents are the events a webhook without an `event` line
// posts: the state changes people alert on.
var DefaultWebhookEvents = []bus.Type{bus.ServerUp, bus.ServerDown, bus.BackendUp, bus.BackendDown}

// WebhookOptions tune a webhook beyond its configuration section.
type WebhookOptions struct {
	// Logger receives delivery failures (default slog.Default()).
	Logger *slog.Logger
	// Client sends the requests (default: a client of its own with
	// keep-alive connections). Each attempt is bounded by the webhook's
	// timeout whatever the client's settings.
	Client *http.Client
	// Flap overrides mailers.DefaultFlapPolicy (Changes 0 disables damping).
	Flap *mailers.FlapPolicy
	// RetryBase and RetryMax bound the exponential backoff between attempts
	// (defaults 500ms and 30s).
	RetryBase, RetryMax time.Duration
}

// Webhook is the notifier of DESIGN §5: it POSTs the bus events it is
// configured for to a URL, through a mailers.Pipeline (filter by event type
// and backend → group-wait → dedup and flap damping → retry → record).
//
// Body: the event JSON (bus.Event's MarshalJSON) for one event; with
// group-wait, always {"events":[...]} holding every event of the window in
// order; with a template, the template's output. The pipeline's own alerts
// are posted as {"type":"FLAPPING"|"SETTLED","subject":"be/srv","text":...,
// "changes":n,"state":"UP"|"DOWN","event":<last event>}.
//
// Headers: Content-Type: application/json, User-Agent: Moonbus-Webhook, the
// configured `header` lines (already environment-expanded by the parser; a
// configured Content-Type or Host replaces the default), and with a secret
// X-Moonbus-Timestamp: <unix seconds> and X-Moonbus-Signature: sha256=<hex
// HMAC-SHA256(secret, timestamp + "." + body)>, computed for each attempt.
//
// Retries: 5xx, 408, 429 and connection errors are retried with exponential
// backoff up to `retries` times; Retry-After (seconds or HTTP date) on 429
// and 503 is honoured; other statuses are not retried. The secret, header
// values and the URL's password and query values never appear in logs,
// errors or records.
type Webhook struct {
	name      string
	u         *url.URL
	safeURL   string
	types     map[bus.Type]bool
	backends  map[string]bool
	headers   [][2]string
	secret    []byte
	tmpl      *template.Template
	timeout   time.Duration
	groupWait time.Duration
	client    *http.Client
	ownClient bool
	redact    *mailers.Redactor
	log       *slog.Logger
	p         *mailers.Pipeline
}

// NewWebhook builds a webhook from its configuration section. It reads and
// parses the template file, if any.
func NewWebhook(cfg *config.Webhook, opts WebhookOptions) (*Webhook, error) {
	if cfg == nil {
		return nil, errors.New("webhook: no configuration")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// url.Parse errors quote the URL, which may hold a token: say less.
		return nil, fmt.Errorf("webhook %s: url must be an absolute http or https URL", cfg.Name)
	}
	w := &Webhook{
		name:      cfg.Name,
		u:         u,
		safeURL:   mailers.RedactURL(u),
		types:     map[bus.Type]bool{},
		headers:   cfg.Headers,
		secret:    []byte(cfg.Secret),
		timeout:   cfg.Timeout,
		groupWait: cfg.GroupWait,
		client:    opts.Client,
		log:       opts.Logger,
	}
	if w.timeout <= 0 {
		w.timeout = DefaultWebhookTimeout
	}
	if w.log == nil {
		w.log = slog.Default()
	}
	if w.client == nil {
		w.client = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
		w.ownClient = true
	}
	types := DefaultWebhookEvents
	if len(cfg.Events) > 0 {
		if types, err = bus.ParseTypes(cfg.Events); err != nil {
			return nil, fmt.Errorf("webhook %s: event: %w", cfg.Name, err)
		}
	}
	for _, t := range types {
		w.types[t] = true
	}
	if len(cfg.Backends) > 0 {
		w.backends = map[string]bool{}
		for _, b := range cfg.Backends {
			w.backends[b] = true
		}
	}
	if cfg.Template != "" {
		src, err := os.ReadFile(cfg.Template)
		if err != nil {
			return nil, fmt.Errorf("webhook %s: template: %w", cfg.Name, err)
		}
		w.tmpl, err = template.New(cfg.Template).Funcs(templateFuncs).Option("missingkey=zero").Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("webhook %s: template: %w", cfg.Name, err)
		}
	}
	secrets := append(mailers.URLSecrets(u), cfg.Secret)
	for _, h := range cfg.Headers {
		if !harmlessHeader(h[0]) {
			secrets = append(secrets, h[1])
		}
	}
	w.redact = mailers.NewRedactor(secrets...)
	flap := mailers.DefaultFlapPolicy
	if opts.Flap != nil {
		flap = *opts.Flap
	}
	retries := max(cfg.Retries, 0)
	w.p = mailers.New(mailers.Options{
		Name:      w.Target(),
		Senders:   []mailers.Sender{(*webhookSender)(w)},
		Filter:    w.verdict,
		GroupWait: cfg.GroupWait,
		Flap:      flap,
		Retry:     mailers.RetryPolicy{Attempts: 1 + retries, Base: opts.RetryBase, Max: opts.RetryMax},
		Secrets:   secrets,
		Logger:    w.log,
	})
	return w, nil
}

// harmlessHeader tells the headers whose values are not treated as secrets.
func harmlessHeader(name string) bool {
	switch http.CanonicalHeaderKey(name) {
	case "Content-Type", "Accept", "User-Agent", "Host":
		return true
	}
	return false
}

// Target returns "webhook/<name>", the webhook's name in records and logs.
func (w *Webhook) Target() string { return "webhook/" + w.name }

// Pipeline returns the webhook's pipeline (records, counters, `show alerts`).
func (w *Webhook) Pipeline() *mailers.Pipeline { return w.p }

// Start starts the pipeline.
func (w *Webhook) Start(ctx context.Context) error { return w.p.Start(ctx) }

// Stop delivers what is queued until ctx ends, then stops.
func (w *Webhook) Stop(ctx context.Context) error {
	err := w.p.Stop(ctx)
	if w.ownClient {
		w.client.CloseIdleConnections()
	}
	return err
}

// eventProxy returns the backend an event is about.
func eventProxy(e *bus.Event) string {
	switch {
	case e.Server != nil:
		return e.Server.ProxyName
	case e.Backend != nil:
		return e.Backend.ProxyName
	}
	return ""
}

// Handle submits an event to the pipeline if the webhook's backend filter
// lets it through. It never blocks.
func (w *Webhook) Handle(e *bus.Event) {
	if e == nil {
		return
	}
	if w.backends != nil && !w.backends[eventProxy(e)] {
		return
	}
	a := &mailers.Alert{ID: mailers.EventID(e), Kind: e.Type.String(), Level: mailers.LevelNotice, Event: e}
	if e.Server != nil {
		a.Subject = e.Server.ProxyName + "/" + e.Server.Name
		switch e.Type {
		case bus.ServerUp:
			a.State = mailers.StateUp
		case bus.ServerDown:
			a.State = mailers.StateDown
			a.Level = mailers.LevelAlert
		}
	}
	if !w.types[e.Type] && a.State == "" {
		return // neither posted nor a state change to observe
	}
	a.Text = mailers.Describe(e)
	w.p.Submit(a)
}

// verdict is the pipeline's filter: configured types are delivered, other
// state changes only observed for flap damping.
func (w *Webhook) verdict(a *mailers.Alert) mailers.Verdict {
	if a.Event != nil && w.types[a.Event.Type] {
		return mailers.Deliver
	}
	if a.State != "" {
		return mailers.Observe
	}
	return mailers.Drop
}

// metaJSON is the body of a pipeline alert (FLAPPING, SETTLED).
type metaJSON struct {
	Type    string     `json:"type"`
	Subject string     `json:"subject,omitempty"`
	Text    string     `json:"text"`
	Changes int        `json:"changes"`
	State   string     `json:"state,omitempty"`
	Time    string     `json:"time"`
	Event   *bus.Event `json:"event,omitempty"`
}

func alertJSON(a *mailers.Alert) ([]byte, error) {
	if a.Kind == mailers.KindFlapping || a.Kind == mailers.KindSettled || a.Event == nil {
		return json.Marshal(metaJSON{Type: a.Kind, Subject: a.Subject, Text: a.Text, Changes: a.Changes,
			State: a.State, Time: a.Time.UTC().Format(time.RFC3339Nano), Event: a.Event})
	}
	return json.Marshal(a.Event)
}

// Body renders the request body for a batch (exported for tests and for
// `moonbus -c` style dry runs).
func (w *Webhook) Body(batch []*mailers.Alert) ([]byte, error) {
	if w.tmpl != nil {
		var b bytes.Buffer
		if err := w.tmpl.Execute(&b, newTemplateData(batch, w.groupWait > 0)); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		return b.Bytes(), nil
	}
	if w.groupWait <= 0 && len(batch) == 1 {
		return alertJSON(batch[0])
	}
	var b bytes.Buffer
	b.WriteString(`{"events":[`)
	for i, a := range batch {
		if i > 0 {
			b.WriteByte(',')
		}
		j, err := alertJSON(a)
		if err != nil {
			return nil, err
		}
		b.Write(j)
	}
	b.WriteString("]}")
	return b.Bytes(), nil
}

// Sign returns the X-Moonbus-Signature value for a body sent at timestamp ts
// (unix seconds, as sent in X-Moonbus-Timestamp): "sha256=" + hex
// HMAC-SHA256(secret, ts + "." + body).
func Sign(secret []byte, ts string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// webhookSender is the mailers.Sender side of a Webhook.
type webhookSender Webhook

// Target returns the webhook's target name.
func (s *webhookSender) Target() string { return (*Webhook)(s).Target() }

// Send posts one batch.
func (s *webhookSender) Send(ctx context.Context, batch []*mailers.Alert) (bool, error) {
	w := (*Webhook)(s)
	body, err := w.Body(batch)
	if err != nil {
		return false, fmt.Errorf("webhook %s: %w", w.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, w.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.u.String(), bytes.NewReader(body))
	if err != nil {
		return false, fmt.Errorf("webhook %s: request for %s: %s", w.name, w.safeURL, w.redact.Error(err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Moonbus-Webhook")
	for _, h := range w.headers {
		switch k := http.CanonicalHeaderKey(h[0]); k {
		case "Host":
			req.Host = h[1]
		case "Content-Type", "User-Agent":
			req.Header.Set(k, h[1])
		default:
			req.Header.Add(k, h[1])
		}
	}
	if len(w.secret) > 0 {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(w.secret, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return true, fmt.Errorf("webhook %s: POST %s: %s", w.name, w.safeURL, w.redact.Error(err))
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 256))
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("webhook %s: POST %s: HTTP %s%s", w.name, w.safeURL, resp.Status, bodyNote(w.redact.String(string(snippet))))
	retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout || resp.StatusCode == http.StatusTooManyRequests
	if ra := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); retry && ra > 0 {
		return true, &mailers.RetryAfterError{After: ra, Err: err}
	}
	return retry, err
}

func bodyNote(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "?"))
	if s == "" {
		return ""
	}
	return ": " + strconv.Quote(s)
}

// parseRetryAfter reads a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		if n < 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// TemplateAlert is one alert as a webhook template sees it: the event's
// fields (.Type, .Seq, .Server.Name, .State.NewState, ...) plus the alert's.
type TemplateAlert struct {
	*bus.Event
	Kind    string // event type name, or FLAPPING / SETTLED
	Text    string // human text: HAProxy's log/mail text for state changes
	Subject string // "be/srv" for server events
	Status  string // UP or DOWN for state changes ("" otherwise)
	Changes int    // FLAPPING: state changes seen; SETTLED: alerts held back
	JSON    string // the alert's JSON form, as posted without a template
}

// TemplateData is the value a webhook template runs on: the first (or only)
// alert's fields directly, and every alert of the batch in .Events.
type TemplateData struct {
	TemplateAlert
	Events  []TemplateAlert
	Batched bool // group-wait is set
}

func newTemplateData(batch []*mailers.Alert, batched bool) TemplateData {
	d := TemplateData{Batched: batched}
	for _, a := range batch {
		j, _ := alertJSON(a)
		d.Events = append(d.Events, TemplateAlert{Event: a.Event, Kind: a.Kind, Text: a.Text,
			Subject: a.Subject, Status: a.State, Changes: a.Changes, JSON: string(j)})
	}
	if len(d.Events) > 0 {
		d.TemplateAlert = d.Events[0]
	}
	if d.Event == nil {
		d.Event = &bus.Event{}
	}
	return d
}

// templateFuncs are available in webhook templates: json (marshal a value;
// strings come out quoted and escaped, ready to embed in a JSON body).
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}
