package mailers

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Record statuses.
const (
	StatusSent       = "sent"
	StatusFailed     = "failed"
	StatusSuppressed = "suppressed"
)

// Record is the outcome of one batch for one target, or one suppressed alert.
type Record struct {
	Time     time.Time // when the outcome was known
	Target   string    // sender target ("webhook/ops", "mailers/m1/smtp1"); the pipeline name for suppressed alerts
	Status   string    // StatusSent, StatusFailed or StatusSuppressed
	Attempts int       // delivery attempts made (0 for suppressed)
	Alerts   int       // alerts in the batch
	Kind     string    // kind of the first alert
	Key      string    // group key
	Text     string    // text of the first alert, with " (+N more)" for a batch
	Error    string    // last error (redacted), or the suppression reason
}

// Counters are a pipeline's totals since it was created.
type Counters struct {
	Sent       uint64 // batches delivered, counted per target
	Failed     uint64 // batches given up on, counted per target
	Retried    uint64 // attempts after a first failed one
	Suppressed uint64 // alerts withheld by dedup or flap damping
}

// Add returns the sum of two sets of counters.
func (c Counters) Add(o Counters) Counters {
	return Counters{c.Sent + o.Sent, c.Failed + o.Failed, c.Retried + o.Retried, c.Suppressed + o.Suppressed}
}

type counters struct {
	sent, failed, retried, suppressed atomic.Uint64
}

func (c *counters) load() Counters {
	return Counters{c.sent.Load(), c.failed.Load(), c.retried.Load(), c.suppressed.Load()}
}

// ring is a bounded, thread-safe list of the most recent records.
type ring struct {
	mu   sync.Mutex
	buf  []Record
	next int
	full bool
}

func newRing(n int) *ring { return &ring{buf: make([]Record, n)} }

func (r *ring) add(rec Record) {
	r.mu.Lock()
	r.buf[r.next] = rec
	r.next++
	if r.next == len(r.buf) {
		r.next = 0
		r.full = true
	}
	r.mu.Unlock()
}

// last returns up to n records, oldest first; n <= 0 means all kept.
func (r *ring) last(n int) []Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	size := r.next
	if r.full {
		size = len(r.buf)
	}
	if n <= 0 || n > size {
		n = size
	}
	out := make([]Record, 0, n)
	start := r.next - n
	if start < 0 {
		start += len(r.buf)
	}
	for i := 0; i < n; i++ {
		out = append(out, r.buf[(start+i)%len(r.buf)])
	}
	return out
}

// ShowAlertsHeader is the first line of `show alerts`.
const ShowAlertsHeader = "# time target status attempts alerts kind text error"

// WriteRecords writes records in the `show alerts` format of the runtime API:
// the header line ShowAlertsHeader, then one line per record, oldest first:
//
//	<time RFC 3339, ms, UTC> <target> <status> <attempts> <alerts> <kind> "<text>" "<error>"
//
// text and error are Go-quoted strings (error is "" after a success); secrets
// were redacted before the records were kept.
func WriteRecords(w io.Writer, recs []Record) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(ShowAlertsHeader)
	bw.WriteByte('\n')
	for _, r := range recs {
		kind := r.Kind
		if kind == "" {
			kind = "-"
		}
		fmt.Fprintf(bw, "%s %s %s %d %d %s %s %s\n",
			r.Time.UTC().Format("2006-01-02T15:04:05.000Z07:00"), r.Target, r.Status,
			r.Attempts, r.Alerts, kind, strconv.Quote(r.Text), strconv.Quote(r.Error))
	}
	return bw.Flush()
}

// ShowAlerts writes the most recent records of several pipelines, merged in
// time order, in the format of WriteRecords; n <= 0 means every kept record.
// It is the whole of the runtime API command `show alerts [<n>]`.
func ShowAlerts(w io.Writer, n int, pipelines ...*Pipeline) error {
	var all []Record
	for _, p := range pipelines {
		if p != nil {
			all = append(all, p.Records(0)...)
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].Time.Before(all[j].Time) })
	if n > 0 && len(all) > n {
		all = all[len(all)-n:]
	}
	return WriteRecords(w, all)
}
