package poller

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// Notifications is the source of notified record ids;
// *notifications.Receiver implements it.
type Notifications interface {
	Take(n int) []notifications.Notified
	// Notified is signalled when ids are queued.
	Notified() <-chan struct{}
	// TakeRelist reports (once) that the look-back must be listed again.
	TakeRelist() bool
	// Subscribed reports whether a subscription is delivering notifications.
	Subscribed() bool
}

// maxNotifiedPending bounds the notified ids waiting to settle; beyond it
// ids are dropped and the look-back is listed again instead.
const maxNotifiedPending = 200_000

// notifiedGather is the least time between two fetches of notified records,
// so that notifications arriving one by one are fetched twenty to a $batch.
const notifiedGather = time.Second

// takeNotified moves queued ids into the settling set.
func (p *Poller) takeNotified() {
	for {
		batch := p.cfg.Notifications.Take(10_000)
		if len(batch) == 0 {
			return
		}
		for _, n := range batch {
			if prev, ok := p.notified[n.ID]; ok && !n.At.After(prev) {
				continue
			}
			if len(p.notified) >= maxNotifiedPending {
				p.relist = true
				continue
			}
			p.notified[n.ID] = n.At
		}
	}
}

// nextNotified returns how long until the next notified record settles, or
// false when none waits.
func (p *Poller) nextNotified() (time.Duration, bool) {
	if len(p.notified) == 0 {
		return 0, false
	}
	var first time.Time
	for _, at := range p.notified {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return max(first.Add(p.cfg.SettleDelay).Sub(p.now()), notifiedGather), true
}

// fetchNotified fetches and ingests the notified records that have settled
// (their last notification is SettleDelay old), through the same $batch
// path and the same exactly-once ledger as listed ones. A record already
// ingested is not fetched: a notification says nothing that listing does not
// (an update is counted when the listing shows its new version). A record
// that cannot be fetched is left to the listing, which is the safety net.
func (p *Poller) fetchNotified(ctx context.Context) {
	p.takeNotified()
	now := p.now()
	var due []string
	for id, at := range p.notified {
		if now.Before(at.Add(p.cfg.SettleDelay)) {
			continue
		}
		delete(p.notified, id)
		if !p.ledger.Has(ledger.CallRecords, id) {
			due = append(due, id)
		}
	}
	if len(due) == 0 {
		return
	}
	cutoff := now.Add(-p.cfg.Lookback)
	var ingested, old atomic.Int64
	p.src.GetCallRecords(ctx, due, func(id string, rec *graph.CallRecord, err error) {
		if err != nil {
			if ctx.Err() == nil {
				p.fetchFailed(id, err)
			}
			return
		}
		// An update of a record older than the look-back: its id may have
		// been forgotten already, and ingesting it again would count it
		// twice.
		if rec.StartDateTime.Before(cutoff) {
			old.Add(1)
			return
		}
		// Not listed: the body's start time is all there is. One without
		// (zero is before the cutoff above) is left to the listing.
		if p.ingest(rec, rec.StartDateTime) {
			ingested.Add(1)
		}
	})
	p.metrics.skipped.WithLabelValues(ReasonUpdated).Add(float64(old.Load()))
	// Notified records come a few at a time: saving after each fetch would
	// write the whole state and drop the snapshot's cached encodings every
	// few seconds. Save once per SaveInterval at most; waitForPoll saves
	// what is left when the interval has passed.
	p.unsaved = true
	p.saveIfDue()
	p.log.Debug("fetched notified records", "due", len(due), "ingested", ingested.Load())
}

// saveIfDue saves unsaved notified records once SaveInterval has passed
// since the last save, and returns how long until it is due otherwise.
func (p *Poller) saveIfDue() time.Duration {
	if !p.unsaved {
		return 0
	}
	if wait := p.cfg.SaveInterval - p.now().Sub(p.lastSave); wait > 0 {
		return wait
	}
	_ = p.save() // the ledger counts and logs a failure
	return 0
}
