package poller

// The simulated tenant's workload, shared by TestSimulatedDay,
// TestCatchUpAtQuota and the poller tests: a fake clock, a day of records drawn
// from the generator, and Graph's request counts split as the budgets of
// BENCHMARKS.md need them.

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
)

// Assumptions of the simulated day, stated once:
//   - each user takes part in 2.5 call records a day (calls and meetings);
//   - the records' start times follow one region's working day (econHourWeights);
//   - record shapes (type, duration, sessions, including meetings of more than
//     60 sessions) are drawn from graphsim.Generate; segments are dropped,
//     since they change bytes, not requests;
//   - a record becomes visible when its call has ended plus a delay drawn as
//     graphsim draws it (exponential, mean 30 min, at most 150 min), and 15%
//     get a second version 20 minutes later;
//   - the list page size scales with the tenant (999 at 10,000 users, the
//     client's default and graphsim's maximum), so that records per page,
//     which the list budget is about, stay those of the tenant BENCHMARKS.md describes.
const (
	econRecordsPerUserDay = 2.5
	econPageSizeAt10k     = 999
	econPoolSize          = 500
	econBumpShare         = 0.15
)

// econHourWeights is the share of a day's calls starting in each hour.
var econHourWeights = [24]float64{
	0.3, 0.2, 0.2, 0.2, 0.3, 0.6, 1.5, 4, 8, 10, 10, 9.5,
	6.5, 8.5, 9.5, 9, 7, 4.5, 2.5, 1.8, 1.5, 1.2, 0.8, 0.5,
}

// econClock is the fake clock shared by the poller and the test; the
// poller reads it from its fetch goroutines too.
type econClock struct{ ns atomic.Int64 }

func (c *econClock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *econClock) set(t time.Time)     { c.ns.Store(t.UnixNano()) }
func (c *econClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// econRecord is a record of the simulated day with when it appears in
// Graph. It is held as the pool record it is shaped like, so that a day
// of a million records waiting to appear takes tens of bytes each, not the
// kilobytes of a Record with its sessions.
type econRecord struct {
	shape      *graphsim.Record // the pool record
	id         [16]byte
	start      int64 // Unix nanoseconds, as are visible and bump
	visible    int64 // first version listed from here on
	bump       int64 // second version; zero: none
	listedOnly bool  // without sessions: ingested before the day, listed, never fetched
}

// record returns the record as it appears in Graph.
func (e *econRecord) record() graphsim.Record {
	r := econClone(*e.shape, econFormatUUID(e.id), time.Unix(0, e.start).UTC())
	r.LastModifiedDateTime = time.Unix(0, e.visible).UTC()
	if e.listedOnly {
		r.Sessions = nil
	}
	return r
}

// econDay draws n records starting in [from, from+24h) by the hour weights,
// shaped like pool records.
func econDay(rng *rand.Rand, pool []graphsim.Record, from time.Time, n int) []econRecord {
	total := 0.0
	for _, w := range econHourWeights {
		total += w
	}
	out := make([]econRecord, 0, n)
	for range n {
		x, h := rng.Float64()*total, 0
		for ; h < 23 && x >= econHourWeights[h]; h++ {
			x -= econHourWeights[h]
		}
		start := from.Add(time.Duration(h)*time.Hour + time.Duration(rng.Int64N(int64(time.Hour)))).Truncate(time.Microsecond)
		shape := &pool[rng.IntN(len(pool))]
		e := econRecord{shape: shape, id: econUUIDBytes(rng), start: start.UnixNano()}
		end := shape.EndDateTime.Add(start.Sub(shape.StartDateTime))
		delay := time.Duration(math.Min(rng.ExpFloat64()*30, 150) * float64(time.Minute))
		e.visible = end.Add(delay).UnixNano()
		if rng.Float64() < econBumpShare {
			e.bump = e.visible + int64(20*time.Minute)
		}
		out = append(out, e)
	}
	return out
}

// econClone is src moved to start under a new id, at version 1.
func econClone(src graphsim.Record, id string, start time.Time) graphsim.Record {
	shift := start.Sub(src.StartDateTime)
	r := src
	r.ID, r.Version = id, 1
	r.StartDateTime, r.EndDateTime = start, src.EndDateTime.Add(shift)
	r.Sessions = make([]graphsim.Session, len(src.Sessions))
	for i, s := range src.Sessions {
		s.StartDateTime, s.EndDateTime = s.StartDateTime.Add(shift), s.EndDateTime.Add(shift)
		r.Sessions[i] = s
	}
	return r
}

// econUUID is a random UUID in Graph's canonical form.
func econUUID(rng *rand.Rand) string { return econFormatUUID(econUUIDBytes(rng)) }

func econUUIDBytes(rng *rand.Rand) [16]byte {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.UintN(256))
	}
	return b
}

func econFormatUUID(b [16]byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// econPool draws record shapes from the generator, without segments and
// with at most two participants: they change bytes, not requests.
func econPool(seed int64) []graphsim.Record {
	pool := graphsim.Generate(graphsim.GenOptions{Seed: seed, Count: econPoolSize, Start: time.Unix(0, 0)})
	for i := range pool {
		pool[i].Participants = pool[i].Participants[:min(2, len(pool[i].Participants))]
		for j := range pool[i].Sessions {
			pool[i].Sessions[j].Segments = nil
		}
	}
	return pool
}

// econCounts are the tenant's request counts split as the budgets need.
type econCounts struct {
	list, batches, batchItems, directGets, sessions, tokens int64
}

func econCountsOf(s graphsim.RequestStats) econCounts {
	return econCounts{
		list: s.List, batches: s.Batch, batchItems: s.BatchItems,
		directGets: s.Get - s.BatchItems, sessions: s.Sessions, tokens: s.Token,
	}
}

func (c econCounts) sub(o econCounts) econCounts {
	return econCounts{
		list: c.list - o.list, batches: c.batches - o.batches, batchItems: c.batchItems - o.batchItems,
		directGets: c.directGets - o.directGets, sessions: c.sessions - o.sessions, tokens: c.tokens - o.tokens,
	}
}

// fetchRequests counts Graph requests for records: each $batch item, each
// direct get and each sessions page.
func (c econCounts) fetchRequests() int64 { return c.batchItems + c.directGets + c.sessions }

// econCheckExactlyOnce checks that every record that appeared during the
// measured day was ingested once: the ingested count and every call-quality
// series equal the truth of those records (appeared of them).
func econCheckExactlyOnce(t *testing.T, p *Poller, reg *prometheus.Registry, truth simtruth.Truth, appeared int) {
	t.Helper()
	if got := econCounterValue(p.metrics.ingested); got != float64(appeared) {
		t.Errorf("ingested %v records, want each of the %d that appeared exactly once", got, appeared)
	}
	assertCallQuality(t, truth, gatherText(t, reg))
}

func econCounterValue(c prometheus.Counter) float64 { return testutil.ToFloat64(c) }

// econSchedule adds records to the tenant when they become visible and
// publishes their second versions when due. A record is built when it is
// added (the tenant holds it then), so that a day of a million records is
// not held twice.
type econSchedule struct {
	tenant  *graphsim.Tenant
	records []econRecord
	events  []econEvent
	next    int
}

type econEvent struct {
	at     int64 // Unix nanoseconds
	record int32 // index in records
	bump   bool  // a new version of the record; false: add it
}

func (s *econSchedule) plan(e econRecord) {
	i := int32(len(s.records))
	s.records = append(s.records, e)
	s.events = append(s.events, econEvent{at: e.visible, record: i})
	if e.bump != 0 {
		s.events = append(s.events, econEvent{at: e.bump, record: i, bump: true})
	}
}

// applyUntil applies the events due at t, calling added for each record added.
func (s *econSchedule) applyUntil(t time.Time, added func(graphsim.Record)) {
	if s.next == 0 {
		sort.SliceStable(s.events, func(i, j int) bool { return s.events[i].at < s.events[j].at })
	}
	for ; s.next < len(s.events) && s.events[s.next].at <= t.UnixNano(); s.next++ {
		ev := s.events[s.next]
		e := &s.records[ev.record]
		if ev.bump {
			s.tenant.Bump(econFormatUUID(e.id))
			continue
		}
		r := e.record()
		s.tenant.Add(r)
		added(r)
	}
}
