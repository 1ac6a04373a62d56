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

// datedRelists is implemented by a Notifications source that also tells
// when a re-list was asked for (*notifications.Receiver does).
type datedRelists interface {
	TakeRelistRequest() (at time.Time, relist bool)
}

// takeRelist reports (once) that the look-back must be listed again, and
// since when; now when the source does not tell.
func takeRelist(n Notifications, now time.Time) (time.Time, bool) {
	if d, ok := n.(datedRelists); ok {
		return d.TakeRelistRequest()
	}
	return now, n.TakeRelist()
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
