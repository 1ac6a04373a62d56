package poller

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
)

// listingBenchRecords makes n listed records as the list decoder leaves
// them: a fresh id string each, type and modalities strings of their own.
func listingBenchRecords(n int) []graph.CallRecord {
	start := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	recs := make([]graph.CallRecord, n)
	for i := range recs {
		t := start.Add(time.Duration(i) * time.Second)
		recs[i] = graph.CallRecord{
			ID:                   fmt.Sprintf("%08x-2966-4b6b-925b-%012x", i, i),
			Version:              1,
			Type:                 strings.Clone("groupCall"),
			Modalities:           []string{strings.Clone("audio"), strings.Clone("video")},
			StartDateTime:        t,
			EndDateTime:          t.Add(time.Minute),
			LastModifiedDateTime: t.Add(2 * time.Minute),
		}
	}
	return recs
}

// BenchmarkListingMemory reports the heap a full scan holds per listed
// record (B/record): the listing as kept, and whole records for reference.
func BenchmarkListingMemory(b *testing.B) {
	const n = 100_000
	for _, bm := range []struct {
		name string
		keep func(recs []graph.CallRecord) any
	}{
		{"listing", func(recs []graph.CallRecord) any {
			l := listing{}
			for i := range recs {
				l.add(&recs[i])
			}
			return l
		}},
		{"whole-records", func(recs []graph.CallRecord) any {
			m := map[string]graph.CallRecord{}
			for _, r := range recs {
				m[r.ID] = r
			}
			return m
		}},
	} {
		b.Run(bm.name, func(b *testing.B) {
			var perRecord float64
			for b.Loop() {
				var ms runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&ms)
				before := ms.HeapAlloc
				recs := listingBenchRecords(n)
				kept := bm.keep(recs)
				recs = nil // the pages are gone once listed
				_ = recs
				runtime.GC()
				runtime.ReadMemStats(&ms)
				perRecord = float64(ms.HeapAlloc-before) / n
				runtime.KeepAlive(kept)
			}
			b.ReportMetric(perRecord, "B/record")
		})
	}
}
