package graph_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
)

// FuzzDecodeCallRecord feeds arbitrary bodies through the record decoder
// (UnmarshalCallRecord, as the client decodes) and
// on into the collector: nothing may panic, and a body that decodes must be
// observable.
func FuzzDecodeCallRecord(f *testing.F) {
	for _, name := range []string{"callrecord-expanded.json", "callrecord-basic.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"id":"x","sessions":[{"segments":[{"media":[{"label":"main-video","streams":[{"streamDirection":"callerToCallee","averageJitter":"PT-1S","averageVideoFrameRate":1e308}]}]}]}]}`))
	f.Add([]byte(`{"id":"x","sessions":[{"caller":{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"quantumPhone"}}}]}`))
	col := collector.New(collector.Options{NativeHistograms: true})
	f.Fuzz(func(t *testing.T, body []byte) {
		var rec graph.CallRecord
		if err := graph.UnmarshalCallRecord(body, &rec); err != nil {
			return
		}
		col.Ingest(&rec)
	})
}

// FuzzParseDuration checks that the ISO 8601 parser never panics and that
// what it accepts formats back to the same duration.
func FuzzParseDuration(f *testing.F) {
	for _, s := range []string{"PT0.016S", "PT1M2.5S", "P1DT2H", "-PT1S", "PT0,5S", "P1W", "PT99999999999S", "P1Y", "PT"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := graph.ParseDuration(s)
		if err != nil {
			return
		}
		back, err := graph.ParseDuration(graph.FormatDuration(d))
		if err != nil || back != d {
			t.Fatalf("%q -> %v -> %q -> %v, %v", s, d, graph.FormatDuration(d), back, err)
		}
		var u graph.Duration
		if err := json.Unmarshal([]byte(`"`+graph.FormatDuration(d)+`"`), &u); err != nil || !u.Valid || u.Value != d {
			t.Fatalf("JSON round trip of %v: %+v, %v", d, u, err)
		}
	})
}
