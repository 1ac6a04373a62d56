package ledger

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/teams-exporter/teams-exporter/graph"
)

// versionRecord is a call record in which a Teams client of version v
// sends one audio stream.
func versionRecord(id, v string) *graph.CallRecord {
	rec := ledgerTestRecord(id)
	client := graph.Endpoint{UserAgent: graph.UserAgent{ODataType: graph.TypeClientUserAgent, Platform: "windows",
		ProductFamily: "teams", ApplicationVersion: graph.ShortString(v)}}
	server := graph.Endpoint{ODataType: graph.TypeServiceEndpoint}
	rec.Sessions[0].Segments = []graph.Segment{{Caller: client, Callee: server, Media: []graph.Media{{
		Label: "main-audio", Streams: []graph.MediaStream{{StreamDirection: graph.CallerToCallee}},
	}}}}
	return rec
}

// versionsShown are the client_version values of the published series,
// other included.
func versionsShown(l *Ledger) map[string]bool {
	out := map[string]bool{}
	for _, ss := range l.Snapshot().Series {
		if ss.Metric == "teams_client_streams_total" {
			out[ss.Labels["client_version"]] = true
		}
	}
	return out
}

// TestLearnedValuesSurviveRestarts: the first 50 client versions keep
// their own label value across restarts of the state (a checkpoint, then
// frames of the log replayed over it), so the 51st version seen is other
// after a restart as before it, and a version learned before is itself.
func TestLearnedValuesSurviveRestarts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	l := ledgerTestOpen(t, path)
	version := func(i int) string { return fmt.Sprintf("24%03d.100.3000.%d", i, i) }
	// Versions 1 to 30 go into the first save (a checkpoint), 31 to 50 into
	// frames of the log, two saves.
	for i := 1; i <= 50; i++ {
		observe(l, versionRecord(fmt.Sprintf("r%d", i), version(i)))
		if i == 30 || i == 40 || i == 50 {
			if err := l.Save(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	for restart := range 2 {
		l = ledgerTestOpen(t, path)
		shown := versionsShown(l)
		if got := len(shown); shown["other"] && got != 51 || !shown["other"] && got != 50 {
			t.Fatalf("restart %d: %d values restored, want the 50 versions (and other after the first restart)", restart, got)
		}
		observe(l, versionRecord(fmt.Sprintf("new-%d", restart), version(51+restart)))
		observe(l, versionRecord(fmt.Sprintf("old-%d", restart), version(45)))
		if err := l.Save(); err != nil {
			t.Fatal(err)
		}
		shown = versionsShown(l)
		if shown[version(51+restart)] || !shown["other"] || len(shown) != 51 {
			t.Errorf("restart %d: the %dth version has a value of its own, or other is missing: %d values", restart, 51+restart, len(shown))
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
