package poller

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// scanSettling is the settling set as settle.go kept it before settleQueue:
// a map, scanned whole at every wake-up to find the first due record and
// the records due. It is the baseline of BenchmarkSettleWakeUp and the
// reference TestSettleQueueMatchesScan holds the queue to.
type scanSettling map[string]pendingRecord

func (s scanSettling) listed(listed listing, unseen []string, now time.Time, delay time.Duration) {
	nowNs := now.UnixNano()
	for _, id := range unseen {
		r := listed[id]
		e, known := s[id]
		if r.start != 0 {
			e.start = r.start
		}
		if !known || r.version > e.version || r.lastModified > e.lastModified {
			changed := r.lastModified
			if known && r.version > e.version && r.lastModified <= e.lastModified {
				changed = nowNs
			}
			if changed == 0 || changed > nowNs {
				changed = nowNs
			}
			e.lastModified = max(e.lastModified, r.lastModified)
			e.version = max(e.version, r.version)
			e.due = max(e.due, changed+int64(delay))
		}
		s[id] = e
	}
}

func (s scanSettling) notified(id string, due int64) {
	if e, known := s[id]; !known || due > e.due {
		e.due = due
		s[id] = e
	}
}

func (s scanSettling) take(now, edge int64) []dueRecord {
	var due []dueRecord
	for id, e := range s {
		if e.due > now && (e.start == 0 || e.start >= edge) {
			continue
		}
		delete(s, id)
		due = append(due, dueRecord{id: id, start: e.start})
	}
	return due
}

func (s scanSettling) next(edgeOffset int64) (int64, bool) {
	if len(s) == 0 {
		return 0, false
	}
	first := int64(0)
	for _, e := range s {
		at := e.due
		if e.start != 0 {
			at = min(at, e.start+edgeOffset)
		}
		if first == 0 || at < first {
			first = at
		}
	}
	return first, true
}

// notified is settleNotified without the ledger and the bound.
func (q *settleQueue) notified(id string, due int64) {
	r, known := q.get(id)
	if !known {
		r = &pendingRecord{id: id}
	} else if due <= r.due {
		return
	}
	r.due = due
	q.put(r)
}

// TestSettleQueueMatchesScan drives the queue and the scan it replaced
// with the same random listings, notifications and wake-ups: every
// wake-up takes the same records, and both say the same next due time.
func TestSettleQueueMatchesScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const (
		delay    = 30 * time.Minute
		lookback = 24 * time.Hour
		margin   = 3 * time.Hour
	)
	q, ref := newSettleQueue(), scanSettling{}
	var taken, atEdge int
	for step := range 3000 {
		now = now.Add(time.Duration(rng.IntN(120)) * time.Second)
		switch op := rng.IntN(4); op {
		case 0, 1: // a listing of a few records, some listed before
			l := listing{}
			var ids []string
			for range 1 + rng.IntN(20) {
				id := fmt.Sprintf("r%d", rng.IntN(400))
				l[id] = listedRecord{
					version:      int64(1 + rng.IntN(4)),
					start:        now.Add(-time.Duration(rng.Int64N(int64(lookback)))).UnixNano(),
					lastModified: now.Add(time.Duration(rng.Int64N(int64(2*time.Hour))) - 90*time.Minute).UnixNano(),
				}
				if rng.IntN(10) == 0 {
					l[id] = listedRecord{version: 1} // no times
				}
				ids = append(ids, id)
			}
			q.listed(l, ids, now, delay)
			ref.listed(l, ids, now, delay)
		case 2: // a notification
			id := fmt.Sprintf("r%d", rng.IntN(400))
			due := now.Add(delay).UnixNano()
			q.notified(id, due)
			ref.notified(id, due)
		case 3: // a wake-up
			edge := now.Add(-lookback + margin).UnixNano()
			got, want := q.take(now.UnixNano(), edge), ref.take(now.UnixNano(), edge)
			byID := func(a, b dueRecord) int {
				if a.id < b.id {
					return -1
				}
				if a.id > b.id {
					return 1
				}
				return 0
			}
			slices.SortFunc(got, byID)
			slices.SortFunc(want, byID)
			if !slices.Equal(got, want) {
				t.Fatalf("step %d: took %v, the scan %v", step, got, want)
			}
			for _, d := range got {
				taken++
				if d.start != 0 && d.start < edge {
					atEdge++
				}
			}
		}
		gotAt, gotOK := q.next(int64(lookback - margin))
		wantAt, wantOK := ref.next(int64(lookback - margin))
		if gotAt != wantAt || gotOK != wantOK || q.len() != len(ref) {
			t.Fatalf("step %d: next %d %v (len %d), the scan %d %v (len %d)", step, gotAt, gotOK, q.len(), wantAt, wantOK, len(ref))
		}
	}
	if taken < 100 || atEdge < 10 {
		t.Errorf("the wake-ups took %d records, %d of them at the edge: the test exercises too little", taken, atEdge)
	}
}

// BenchmarkSettleWakeUp is a wake-up between polls with 200,000 records
// waiting (maxSettling): when is the next due, take those due (about ten),
// and ten more arrive. The scan is what settle.go did before settleQueue.
func BenchmarkSettleWakeUp(b *testing.B) {
	const (
		waiting = maxSettling
		delay   = 30 * time.Minute
		perWake = 10
	)
	lookback, margin := 24*time.Hour, 3*time.Hour
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// Records listed over the last half hour, due over the next, their
	// starts inside the look-back and away from its edge.
	fill := func(add func(l listing, ids []string, now time.Time)) {
		l, ids := listing{}, make([]string, 0, waiting)
		for i := range waiting {
			id := fmt.Sprintf("%08x-2966-4b6b-925b-%012x", i, i)
			mod := start.Add(-delay + time.Duration(i)*delay/waiting)
			l[id] = listedRecord{version: 1, start: mod.Add(-2 * time.Hour).UnixNano(), lastModified: mod.UnixNano()}
			ids = append(ids, id)
		}
		add(l, ids, start)
	}
	step := delay * perWake / waiting
	for _, bm := range []struct {
		name string
		make func() (add func(listing, []string, time.Time), wake func(now time.Time) int)
	}{
		{"impl=scan", func() (func(listing, []string, time.Time), func(time.Time) int) {
			s := scanSettling{}
			return func(l listing, ids []string, now time.Time) { s.listed(l, ids, now, delay) },
				func(now time.Time) int {
					s.next(int64(lookback - margin))
					return len(s.take(now.UnixNano(), now.Add(-lookback+margin).UnixNano()))
				}
		}},
		{"impl=heap", func() (func(listing, []string, time.Time), func(time.Time) int) {
			q := newSettleQueue()
			return func(l listing, ids []string, now time.Time) { q.listed(l, ids, now, delay) },
				func(now time.Time) int {
					q.next(int64(lookback - margin))
					return len(q.take(now.UnixNano(), now.Add(-lookback+margin).UnixNano()))
				}
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			add, wake := bm.make()
			fill(add)
			now, n := start, 0
			arrivals := listing{}
			ids := make([]string, perWake)
			for b.Loop() {
				now = now.Add(step)
				wake(now)
				clear(arrivals)
				for i := range perWake {
					ids[i] = fmt.Sprintf("new-%d", n)
					arrivals[ids[i]] = listedRecord{version: 1, start: now.Add(-time.Hour).UnixNano(), lastModified: now.UnixNano()}
					n++
				}
				add(arrivals, ids, now)
			}
		})
	}
}
