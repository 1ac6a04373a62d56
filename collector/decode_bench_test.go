package collector

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/graphsim"
)

// BenchmarkDecodeIngest measures what one record costs from Graph JSON to
// the store: json.Unmarshal into graph.CallRecord, then Ingest into one
// reused collector (its series exist after the first iteration, as in a
// running exporter). SetBytes makes MB/s the rate of Graph JSON.
func BenchmarkDecodeIngest(b *testing.B) {
	expanded, err := os.ReadFile(expandedPath)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		json []byte
	}{
		{"expanded", expanded},
		{"meeting20", benchMeetingJSON(b, 20)},
		{"allhands300", benchMeetingJSON(b, 300)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			c := New(Options{NativeHistograms: true})
			b.SetBytes(int64(len(tc.json)))
			b.ReportAllocs()
			for b.Loop() {
				var rec graph.CallRecord
				if err := json.Unmarshal(tc.json, &rec); err != nil {
					b.Fatal(err)
				}
				c.Ingest(&rec)
			}
		})
	}
}

// benchMeetingJSON builds a meeting record with the given number of
// sessions (one per person) from graphsim's generated meetings: the first
// generated meeting is the base, and its sessions are replaced by
// sessions gathered from all the generated meetings, so the mix of
// platforms, networks and media stays graphsim's.
func benchMeetingJSON(tb testing.TB, sessions int) []byte {
	tb.Helper()
	start := time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)
	recs, _ := graphsim.Generate(graphsim.GenOptions{Seed: 4, Count: 3000, Start: start, End: start.Add(24 * time.Hour)})
	var base *graphsim.Record
	var pool []graphsim.Session
	var people []graphsim.IdentitySet
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
		tb.Fatalf("graphsim gave %d meeting sessions, want %d", len(pool), sessions)
	}
	rec := *base
	rec.Sessions = pool[:sessions]
	// Graph lists at most 130 participants, as graphsim does.
	rec.Participants = people[:min(sessions, 130, len(people))]
	b, err := json.Marshal(rec)
	if err != nil {
		tb.Fatal(err)
	}
	var check graph.CallRecord
	if err := json.Unmarshal(b, &check); err != nil {
		tb.Fatalf("decode generated record: %v", err)
	}
	if len(check.Sessions) != sessions {
		tb.Fatalf("generated record has %d sessions, want %d", len(check.Sessions), sessions)
	}
	return b
}
