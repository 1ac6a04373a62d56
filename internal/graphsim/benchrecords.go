package graphsim

import (
	"encoding/json"
	"fmt"
	"time"
)

// MeetingJSON builds the Graph JSON of one meeting record with the given
// number of sessions (one per person), the large records of the exporter's
// decode benchmarks. It is shared by collector's BenchmarkDecodeIngest and
// the Graph SDK comparison module (bench/sdkcompare), so both measure the
// same bytes. The records come from Generate with seed 4: the first
// generated meeting is the base, and its sessions are replaced by sessions
// gathered from all the generated meetings, so the mix of platforms,
// networks and media stays the generator's.
func MeetingJSON(sessions int) ([]byte, error) {
	start := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	recs := Generate(GenOptions{Seed: 4, Count: 3000, Start: start, End: start.Add(24 * time.Hour)})
	var base *Record
	var pool []Session
	var people []IdentitySet
	for i := range recs {
		r := &recs[i]
		if r.JoinWebURL == nil || len(r.Sessions) == 0 {
			continue // not a meeting
		}
		if base == nil {
			base = r
		}
		pool = append(pool, r.Sessions...)
		people = append(people, r.Participants...)
		if len(pool) >= sessions {
			break
		}
	}
	if base == nil || len(pool) < sessions {
		return nil, fmt.Errorf("generated %d meeting sessions, want %d", len(pool), sessions)
	}
	rec := *base
	rec.Sessions = pool[:sessions]
	// Graph lists at most 130 participants, as Generate does.
	rec.Participants = people[:min(sessions, 130, len(people))]
	b, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("marshal meeting record: %w", err)
	}
	return b, nil
}
