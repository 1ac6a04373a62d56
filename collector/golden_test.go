package collector

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/sites"
)

// The golden file is written by hand from the observation model in docs/design.md, not generated: see the
// comment at its top for the reasoning behind every series.
const expandedGolden = "testdata/callrecord-expanded.golden"

func TestGoldenExpanded(t *testing.T) {
	for _, native := range []bool{false, true} {
		c := newTestCollector(native)
		st := c.Ingest(loadRecord(t, expandedPath))
		// Stream histograms: 5 values of stream 1 and 7 of stream 2, each
		// seen by both clients (24); 4 classified streams; 5 network values
		// per client (10); records, duration, sessions, feedback (4);
		// 4 transport and 2 Wi-Fi streams, 2 device event ratios, 4 glitch
		// rates, 1 feedback token (13); 4 codec and 4 client streams (8).
		if want := (Stats{Observations: 63}); st != want {
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

// TestGoldenExpandedSites: the site families of the same record with a
// building file that holds the caller's subnet and not the callee's.
func TestGoldenExpandedSites(t *testing.T) {
	m, _, err := sites.Parse(strings.NewReader("10.150.0.0,n,16,HQ,,,,Seattle,,US,,NOAM,1,0\n"))
	if err != nil {
		t.Fatal(err)
	}
	c := New(Options{Sites: func() *sites.Map { return m }})
	c.Ingest(loadRecord(t, expandedPath))
	f, err := os.Open("testdata/callrecord-expanded-sites.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c.Snapshot(), f, "teams_site_streams_total", "teams_site_audio_jitter_seconds",
		"teams_site_audio_packet_loss_ratio", "teams_site_audio_round_trip_time_seconds"); err != nil {
		t.Error(err)
	}
}
