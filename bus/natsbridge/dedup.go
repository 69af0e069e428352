package natsbridge

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Fleet-wide alert dedup (`alert-dedup on`).
//
// An alert is about an object — a target (webhook/ops, mailers/m1/smtp1)
// and a server or backend, in one dimension (operational state, admin
// state, check result...) — and carries a label saying what happened in
// that dimension (DOWN, UP, MAINT...). Every instance of the fleet sees the
// same incidents and would send the same alert; before sending, an
// instance claims it in a JetStream key-value bucket, one key per object
// holding the last claimed incident {instance, label, when}:
//
//   - no key: create-if-absent (kv.Create) claims it; if another instance
//     created it first, look again.
//   - the key holds the same label, claimed within DedupWindow of this
//     alert's event time: the incident is already alerted — lost.
//   - the key holds another label claimed later than this alert's event:
//     this alert is stale (the fleet has already reported what followed) —
//     lost.
//   - otherwise (a new incident: the state changed since, or the same label
//     long after): compare-and-set (kv.Update at the read revision) claims
//     it; on a conflict, look again.
//
// One key per object rather than per incident is what lets DOWN, UP, DOWN
// within a minute be three alerts while a second instance's DOWN for the
// same incident is suppressed. The bucket's TTL (DedupTTL) forgets quiet
// objects. Claims use the events' wall-clock times: instances need roughly
// synchronised clocks (NTP), well within DedupWindow.

// Dedup parameters.
const (
	// DedupWindow is how far apart two instances' events with the same
	// label may be and still be one incident.
	DedupWindow = time.Minute
	// DedupTTL is how long the bucket keeps an object's last incident.
	DedupTTL = time.Hour
	// claimTimeout bounds one claim (all its round trips).
	claimTimeout = 2 * time.Second
)

// ErrNotConnected is returned by Claim while NATS is unreachable.
var ErrNotConnected = errors.New("natsbridge: not connected to NATS")

// claimValue is the stored incident.
type claimValue struct {
	Instance string `json:"instance"`
	Label    string `json:"label"`
	When     int64  `json:"when"` // unix nanoseconds of the event
}

// BucketName returns the key-value bucket of a prefix's alert claims: the
// prefix with every character a bucket name cannot hold replaced by '_',
// then "_alerts".
func BucketName(prefix string) string {
	var sb strings.Builder
	for _, r := range prefix {
		if r < 0x80 && (r == '-' || r == '_' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
	}
	sb.WriteString("_alerts")
	return sb.String()
}

// claimKey maps an object to a valid key ([-/_=.a-zA-Z0-9]+ whatever the
// names hold).
func claimKey(object string) string {
	h := sha256.Sum256([]byte(object))
	return "o." + hex.EncodeToString(h[:16])
}

// bucket returns the dedup bucket, creating or updating it when needed (or
// always with refresh).
func (b *Bridge) bucket(refresh bool) (jetstream.KeyValue, error) {
	b.mu.Lock()
	kv, nc, js := b.kv, b.nc, b.js
	b.mu.Unlock()
	if kv != nil && !refresh {
		return kv, nil
	}
	if nc == nil || !nc.IsConnected() {
		return nil, ErrNotConnected
	}
	ctx, cancel := context.WithTimeout(context.Background(), b.flushTO)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      BucketName(b.prefix),
		Description: "Moonbus fleet-wide alert claims",
		TTL:         DedupTTL,
		History:     1,
	})
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", BucketName(b.prefix), err)
	}
	b.mu.Lock()
	b.kv = kv
	b.mu.Unlock()
	return kv, nil
}

// Claim claims the incident label of object (any string naming the target,
// the server or backend and the dimension; see the comment above) for an
// event that happened at when. It reports whether this instance won, and
// when it did not, which instance holds the incident. An error means the
// claim could not be made (NATS down, JetStream unavailable): the caller
// should send anyway (fail open); such claims are counted in
// Stats.ClaimErrors.
func (b *Bridge) Claim(ctx context.Context, object, label string, when time.Time) (won bool, owner string, err error) {
	won, owner, err = b.claim(ctx, object, label, when)
	switch {
	case err != nil:
		b.failed.Add(1)
	case won:
		b.claimsWon.Add(1)
	default:
		b.claimsLost.Add(1)
	}
	return won, owner, err
}

func (b *Bridge) claim(ctx context.Context, object, label string, when time.Time) (bool, string, error) {
	kv, err := b.bucket(false)
	if err != nil {
		return false, "", err
	}
	if nc := b.Conn(); nc == nil || !nc.IsConnected() {
		return false, "", ErrNotConnected
	}
	ctx, cancel := context.WithTimeout(ctx, claimTimeout)
	defer cancel()
	key := claimKey(object)
	mine, err := json.Marshal(claimValue{Instance: b.instance, Label: label, When: when.UnixNano()})
	if err != nil {
		return false, "", fmt.Errorf("claim: %w", err)
	}
	for range 8 {
		e, err := kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			if _, err := kv.Create(ctx, key, mine); err == nil {
				return true, b.instance, nil
			} else if !errors.Is(err, jetstream.ErrKeyExists) {
				return false, "", fmt.Errorf("claim: %w", err)
			}
			continue // created meanwhile: look at it
		}
		if err != nil {
			return false, "", fmt.Errorf("claim: %w", err)
		}
		var prev claimValue
		if json.Unmarshal(e.Value(), &prev) == nil && prev.Instance != b.instance {
			d := time.Duration(when.UnixNano() - prev.When)
			if prev.Label == label && d < DedupWindow && d > -DedupWindow {
				return false, prev.Instance, nil
			}
			if prev.Label != label && prev.When > when.UnixNano() {
				return false, prev.Instance, nil
			}
		}
		if _, err := kv.Update(ctx, key, mine, e.Revision()); err == nil {
			return true, b.instance, nil
		} else if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) && !errors.Is(err, jetstream.ErrKeyExists) {
			return false, "", fmt.Errorf("claim: %w", err)
		}
	}
	return false, "", errors.New("claim: too many concurrent updates")
}
