package collector

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
)

const expandedPath = "../graph/testdata/callrecord-expanded.json"

func loadRecord(t testing.TB, path string) *graph.CallRecord {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rec graph.CallRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	return &rec
}

func num(v float64) graph.Number { return graph.Number{Value: v, Valid: true} }

func ms(v float64) graph.Duration {
	return graph.Duration{Value: time.Duration(v * float64(time.Millisecond)), Valid: true}
}

func clientEndpoint(platform string) graph.Endpoint {
	return graph.Endpoint{
		ODataType: graph.TypeParticipantEndpoint,
		UserAgent: graph.UserAgent{ODataType: graph.TypeClientUserAgent, Platform: platform},
	}
}

func serverEndpoint() graph.Endpoint {
	return graph.Endpoint{
		ODataType: graph.TypeServiceEndpoint,
		UserAgent: graph.UserAgent{ODataType: graph.TypeServiceUserAgent, Role: "conferencingServer"},
	}
}

// meetingRecord is a group call with one client (caller) talking to a
// conferencing server: every stream is observed once, from the client.
func meetingRecord(id, platform, conn, label string, streams ...graph.MediaStream) *graph.CallRecord {
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	return &graph.CallRecord{
		ID: id, Type: "groupCall", StartDateTime: start, EndDateTime: start.Add(10 * time.Minute),
		Sessions: []graph.Session{{
			Caller: clientEndpoint(platform), Callee: serverEndpoint(),
			Segments: []graph.Segment{{
				Caller: clientEndpoint(platform), Callee: serverEndpoint(),
				Media: []graph.Media{{
					Label:         label,
					CallerNetwork: &graph.NetworkInfo{ConnectionType: conn},
					Streams:       streams,
				}},
			}},
		}},
	}
}

// fixedNow makes exemplar timestamps predictable.
var fixedNow = time.Date(2026, 3, 4, 5, 6, 7, 890_000_000, time.UTC)

func newTestCollector(native bool) *Collector {
	c := New(Options{NativeHistograms: native})
	c.now = func() time.Time { return fixedNow }
	return c
}
