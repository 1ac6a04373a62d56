//go:build !race

package collector

import "testing"

// TestIngestAllocations guards the hot path: once the series exist, a
// record costs one allocation (the cloned exemplar id). The race detector
// makes sync.Pool drop items, hence the build tag.
func TestIngestAllocations(t *testing.T) {
	rec := loadRecord(t, expandedPath)
	c := New(Options{NativeHistograms: true})
	c.Ingest(rec)
	if n := testing.AllocsPerRun(100, func() { c.Ingest(rec) }); n > 1 {
		t.Errorf("%v allocations per Ingest, want at most 1", n)
	}
}
