package poller

import (
	"container/heap"
	"context"
	"time"

	"github.com/teams-exporter/teams-exporter/ledger"
)

// Settling.
//
// Graph publishes a call record some time after the call and raises its
// version when late telemetry (streams, feedback, network data) arrives;
// Microsoft's call records FAQ tells consumers to wait for the next
// version. A record is observed once, so observing its first version loses
// what came later for good. A record the poller learns of, by a listing or
// a change notification, therefore waits in the settling set until it has
// not changed for Config.SettleDelay, and only then is fetched (at that
// moment Graph gives its latest version) and ingested. Listed and notified
// records share the set, the rule and the fetch path: a listing says when
// the record last changed (lastModifiedDateTime), a notification says that
// it changed when it arrived; the later of the two counts, and a newer
// version, listed or notified, makes the record wait again.
//
// Nothing about a waiting record is saved. It is not ingested, so after a
// restart a listing finds it again and it waits from the same
// lastModifiedDateTime; a notification that was not followed by a listing
// is left to the listing, as every notification is. The one way to lose a
// record is the look-back's edge: once its start leaves the look-back
// window it is never listed again. So a waiting record is fetched unsettled
// when its start comes within settleEdgeMargin of that edge: after a
// restart it might not be listed again before it leaves.

// pendingRecord is a record waiting to settle. Times are Unix nanoseconds,
// as in listedRecord: the set holds what a busy tenant publishes during the
// settle delay, and a time.Time takes three times the room.
type pendingRecord struct {
	id           string
	due          int64 // fetch at or after this time
	lastModified int64 // the latest lastModifiedDateTime listed; 0: none listed
	start        int64 // the listed start; 0: only notified, not listed yet
	version      int64 // the highest version listed; 0: none listed
	// dueAt and startAt are the record's positions in the queue's heaps;
	// startAt is -1 while it has no listed start.
	dueAt, startAt int
}

// maxSettling bounds the records waiting to settle. Listed ones are at most
// the records of a listing, which the listing holds anyway; beyond the bound
// notified ids are dropped and a re-list is asked for instead: the dropped
// ids' records started before the request, so a sweep begun after it lists
// them (requestRelist).
const maxSettling = 200_000

// settleQueue holds the records waiting to settle, by id and in two heaps:
// by due time, and (those listed) by start, since a record reaching the
// look-back's edge is fetched whether settled or not. A wake-up between
// polls looks at the first of each heap, not at every record waiting (up
// to maxSettling): BenchmarkSettleWakeUp. Only the polling goroutine uses it.
type settleQueue struct {
	byID    map[string]*pendingRecord
	byDue   pendingHeap
	byStart pendingHeap
}

func newSettleQueue() *settleQueue {
	return &settleQueue{byID: map[string]*pendingRecord{}, byStart: pendingHeap{byStart: true}}
}

func (q *settleQueue) len() int { return len(q.byID) }

// get returns the record waiting under id. A caller that changes its due
// time or start puts it back.
func (q *settleQueue) get(id string) (*pendingRecord, bool) {
	r, ok := q.byID[id]
	return r, ok
}

// put adds r, or, when it waits already, reorders the heaps after a change
// of its due time or start (both only move it, never remove it).
func (q *settleQueue) put(r *pendingRecord) {
	if _, ok := q.byID[r.id]; !ok {
		q.byID[r.id] = r
		r.startAt = -1
		heap.Push(&q.byDue, r)
	} else {
		heap.Fix(&q.byDue, r.dueAt)
	}
	switch {
	case r.start == 0:
	case r.startAt < 0:
		heap.Push(&q.byStart, r)
	default:
		heap.Fix(&q.byStart, r.startAt)
	}
}

func (q *settleQueue) remove(r *pendingRecord) {
	delete(q.byID, r.id)
	heap.Remove(&q.byDue, r.dueAt)
	if r.startAt >= 0 {
		heap.Remove(&q.byStart, r.startAt)
	}
}

// take removes and returns the records due at now, and those whose start
// is before edge (all Unix nanoseconds).
func (q *settleQueue) take(now, edge int64) []dueRecord {
	var due []dueRecord
	for len(q.byDue.recs) > 0 && q.byDue.recs[0].due <= now {
		r := q.byDue.recs[0]
		q.remove(r)
		due = append(due, dueRecord{id: r.id, start: r.start})
	}
	for len(q.byStart.recs) > 0 && q.byStart.recs[0].start < edge {
		r := q.byStart.recs[0]
		q.remove(r)
		due = append(due, dueRecord{id: r.id, start: r.start})
	}
	return due
}

// next returns when the first waiting record is due: its due time, or its
// start plus edgeOffset (when it reaches the look-back's edge) if earlier;
// false when none waits.
func (q *settleQueue) next(edgeOffset int64) (int64, bool) {
	if len(q.byDue.recs) == 0 {
		return 0, false
	}
	at := q.byDue.recs[0].due
	if len(q.byStart.recs) > 0 {
		at = min(at, q.byStart.recs[0].start+edgeOffset)
	}
	return at, true
}

// listed puts the listed records not ingested yet (unseen) into the queue,
// or makes those already there wait for a newer version, by the rule of
// settling: due delay after their last change.
func (q *settleQueue) listed(listed listing, unseen []string, now time.Time, delay time.Duration) {
	nowNs := now.UnixNano()
	for _, id := range unseen {
		l := listed[id]
		r, known := q.byID[id]
		if !known {
			r = &pendingRecord{id: id}
		}
		if l.start != 0 {
			r.start = l.start // the listing's start prunes the id (see ingest)
		}
		// A new version makes the record wait again, whatever its
		// lastModifiedDateTime says: a clock that went back, or a first
		// listing with an absurd time, must not let it be fetched early.
		if !known || l.version > r.version || l.lastModified > r.lastModified {
			changed := l.lastModified
			if known && l.version > r.version && l.lastModified <= r.lastModified {
				changed = nowNs // a new version whose time is not newer: seen changed now
			}
			// A record without lastModifiedDateTime waits from when it was
			// listed; one modified "in the future" (Graph's clock ahead of
			// ours, or a hostile value) waits from now, not from a time that
			// may never come. A later listing of the same version does not
			// push it back.
			if changed == 0 || changed > nowNs {
				changed = nowNs
			}
			r.lastModified = max(r.lastModified, l.lastModified)
			r.version = max(r.version, l.version)
			r.due = max(r.due, changed+int64(delay))
		}
		q.put(r)
	}
}

// pendingHeap orders waiting records by due time, or by listed start.
type pendingHeap struct {
	recs    []*pendingRecord
	byStart bool
}

func (h *pendingHeap) Len() int { return len(h.recs) }

func (h *pendingHeap) Less(i, j int) bool {
	if h.byStart {
		return h.recs[i].start < h.recs[j].start
	}
	return h.recs[i].due < h.recs[j].due
}

func (h *pendingHeap) Swap(i, j int) {
	h.recs[i], h.recs[j] = h.recs[j], h.recs[i]
	h.setAt(i)
	h.setAt(j)
}

func (h *pendingHeap) Push(x any) {
	h.recs = append(h.recs, x.(*pendingRecord))
	h.setAt(len(h.recs) - 1)
}

func (h *pendingHeap) Pop() any {
	last := len(h.recs) - 1
	r := h.recs[last]
	h.recs[last] = nil
	h.recs = h.recs[:last]
	if h.byStart {
		r.startAt = -1
	} else {
		r.dueAt = -1
	}
	return r
}

func (h *pendingHeap) setAt(i int) {
	if h.byStart {
		h.recs[i].startAt = i
	} else {
		h.recs[i].dueAt = i
	}
}

// settleNotified puts a notified record into the settling set: it changed
// at, and waits from then. A record already ingested is not put there: a
// notification says nothing a listing does not (an update is counted when
// the listing shows its new version).
func (p *Poller) settleNotified(id string, at time.Time) {
	due := at.UnixNano() + int64(p.cfg.SettleDelay)
	if r, known := p.settling.get(id); known {
		if due > r.due {
			r.due = due
			p.settling.put(r)
		}
		return
	}
	if p.settling.len() >= maxSettling {
		p.requestRelist(p.now(), p.now())
		return
	}
	if p.ledger.Has(ledger.CallRecords, id) {
		return
	}
	p.settling.put(&pendingRecord{id: id, due: due})
}

// settleEdgeMargin is how close to the look-back's edge a waiting record's
// start may come before it is fetched unsettled. After a restart, which
// forgets the settling set, a record is listed again within two sweeps of
// the look-back (the sweep in progress may have passed its slice already)
// plus a poll interval or two of rounding; it must still be inside the
// look-back by then. Records that old rarely still change: the margin
// costs little completeness.
func (p *Poller) settleEdgeMargin() time.Duration {
	return 2 * (p.model.sweepPeriod() + p.model.interval)
}

// checkSettleWindow logs, once, when records cannot wait for the settle
// delay before the look-back's edge forces their fetch: when the settle
// delay plus settleEdgeMargin is not shorter than the look-back, every
// listed record is fetched at once, unsettled. The margin grows with a
// stretched poll interval, so Poll checks again after a stretch.
func (p *Poller) checkSettleWindow() {
	if p.cfg.SettleDelay <= 0 || p.settleWarned {
		return
	}
	if margin := p.settleEdgeMargin(); p.cfg.SettleDelay+margin >= p.cfg.Lookback {
		p.settleWarned = true
		p.log.Warn("the look-back is too short for the settle delay: records near its edge are ingested before they settle; lengthen the look-back or shorten the full-scan interval",
			"settle_delay", p.cfg.SettleDelay, "edge_margin", margin, "lookback", p.cfg.Lookback)
	}
}

// takeSettled removes from the settling set, and returns, the records due
// at now: settled, or too close to the look-back's edge to wait.
func (p *Poller) takeSettled(now time.Time) []dueRecord {
	edge := now.Add(-p.cfg.Lookback + p.settleEdgeMargin()).UnixNano()
	return p.settling.take(now.UnixNano(), edge)
}

// nextSettled returns how long until the next waiting record is due, or
// false when none waits. Waits are at least notifiedGather, so that records
// settling one by one are fetched several to a $batch.
func (p *Poller) nextSettled() (time.Duration, bool) {
	first, ok := p.settling.next(int64(p.cfg.Lookback - p.settleEdgeMargin())) // start+offset: when a record reaches the edge
	if !ok {
		return 0, false
	}
	return max(time.Unix(0, first).Sub(p.now()), notifiedGather), true
}

// fetchSettled fetches and ingests the waiting records that are due,
// between polls, through the same $batch path and exactly-once ledger as a
// poll. A record that cannot be fetched is left to the listing, which finds
// it again.
func (p *Poller) fetchSettled(ctx context.Context) {
	if p.cfg.Notifications != nil {
		p.takeNotified()
	}
	now := p.now()
	due := p.takeSettled(now)
	defer p.updateSettling()
	if len(due) == 0 {
		return
	}
	res := p.fetchAndIngest(ctx, due, now, &progress{})
	// The ledger saves when due; waitForPoll asks it again when the
	// interval has passed.
	p.ledger.SaveIfDue()
	p.log.Debug("fetched settled records", "due", len(due), "ingested", res.ingested)
}

// updateSettling publishes the number of records waiting to settle.
func (p *Poller) updateSettling() {
	p.metrics.settling.Set(float64(p.settling.len()))
}

// requestRelist asks, at now, for the look-back to be listed again, as
// requested at at. A sweep lists start times up to when it began, so a
// request is answered by a sweep begun at or after it was made:
//   - a request made before the pending or running re-list's sweep began
//     (or before the last re-list's sweep began) changes nothing, so that
//     a missed event replayed (by Graph, or by whoever captured one) costs
//     no more than one re-list;
//   - a later one, about records that sweep does not list, asks for one
//     more re-list after it (relistMore): a storm costs at most two sweeps.
func (p *Poller) requestRelist(at, now time.Time) {
	if p.relistSince.IsZero() {
		if !p.relistCovered.IsZero() && !at.After(p.relistCovered) {
			p.log.Debug("re-list request made before the last re-list's sweep began; nothing more to list")
			return
		}
		p.relistSince = now
		return
	}
	// Pending: the sweep that answers it began at or after relistSince. If
	// it has not begun yet, it begins after now, so after at.
	pos := p.ledger.Position()
	if running := !pos.SweepStart.Before(p.relistSince) && pos.SweepNext < p.model.sweepSlices(); running && at.After(pos.SweepStart) {
		p.relistMore = true
	}
}

// relistEnded is told that a sweep begun at sweepStart has ended, at now:
// it answers the pending re-list if it began at or after the request, and
// then a request made during it starts the next.
func (p *Poller) relistEnded(sweepStart, now time.Time) {
	if p.relistSince.IsZero() || sweepStart.Before(p.relistSince) {
		return
	}
	p.relistSince, p.relistCovered = time.Time{}, sweepStart
	if p.relistMore {
		p.relistMore = false
		p.relistSince = now
	}
}
