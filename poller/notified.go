package poller

import (
	"time"

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

// notifiedGather is the least time between two fetches of settled records,
// so that records notified (or settling) one by one are fetched several to
// a $batch.
const notifiedGather = time.Second

// takeNotified moves queued ids into the settling set (see settle.go).
func (p *Poller) takeNotified() {
	for {
		batch := p.cfg.Notifications.Take(10_000)
		if len(batch) == 0 {
			break
		}
		for _, n := range batch {
			p.settleNotified(n.ID, n.At)
		}
	}
	p.updateSettling()
}

// betweenPollsSave is the least time between two saves of records ingested
// between polls (settled or notified). A save writes the whole state file
// and publishes a new snapshot: records settling one by one would otherwise
// write it every SaveInterval all day long (5,760 times), while a minute
// bounds both the writes (1,440 a day at most) and how long an ingested
// record waits to be scraped.
const betweenPollsSave = time.Minute

// saveIfDue saves records ingested between polls once betweenPollsSave (or
// the longer SaveInterval) has passed since the last save, and returns how
// long until it is due otherwise.
func (p *Poller) saveIfDue() time.Duration {
	if !p.unsaved {
		return 0
	}
	if wait := max(p.cfg.SaveInterval, betweenPollsSave) - p.now().Sub(p.lastSave); wait > 0 {
		return wait
	}
	_ = p.save() // the ledger counts and logs a failure
	return 0
}
