package collector

import (
	"os"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The golden file is written by hand from SPEC, not generated: see the
// comment at its top for the reasoning behind every series.
const expandedGolden = "testdata/callrecord-expanded.golden"

func TestGoldenExpanded(t *testing.T) {
	for _, native := range []bool{false, true} {
		c := newTestCollector(native)
		st := c.Ingest(loadRecord(t, expandedPath))
		// Stream histograms: 5 values of stream 1 and 7 of stream 2, each
		// seen by both clients (24); 4 classified streams; 5 network values
		// per client (10); records, duration, sessions, feedback (4).
		if want := (Stats{Observations: 42}); st != want {
			t.Errorf("native=%v: stats %+v, want %+v", native, st, want)
		}
		f, err := os.Open(expandedGolden)
		if err != nil {
			t.Fatal(err)
		}
		// CollectAndCompare uses a pedantic registry: descriptors and
		// label sets are checked too.
		if err := testutil.CollectAndCompare(c.Snapshot(), f); err != nil {
			t.Errorf("native=%v: %v", native, err)
		}
		f.Close()
	}
}
