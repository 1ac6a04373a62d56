package graphsim_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
)

// TestNextVersionAddsLateTelemetry: each next version raises the version,
// takes the given lastModifiedDateTime and adds what late telemetry brings
// (a stream, then feedback), which the truth counts; the version it was
// made from is left as it was.
func TestNextVersionAddsLateTelemetry(t *testing.T) {
	at := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	checked := 0
	for _, r := range graphsim.Generate(graphsim.GenOptions{Seed: 5, Count: 40, Start: at.Add(-3 * time.Hour), End: at.Add(-time.Hour)}) {
		if streams(r) == 0 || r.Version != 1 {
			continue
		}
		checked++
		before, _ := json.Marshal(r)
		v2 := graphsim.NextVersion(r, at)
		if after, _ := json.Marshal(r); string(after) != string(before) {
			t.Fatal("NextVersion changed the record it was given")
		}
		if v2.Version != 2 || !v2.LastModifiedDateTime.Equal(at) {
			t.Errorf("version %d modified %v, want 2 at %v", v2.Version, v2.LastModifiedDateTime, at)
		}
		if streams(v2) != streams(r)+1 {
			t.Errorf("version 2 has %d streams, want one more than %d", streams(v2), streams(r))
		}
		v3 := graphsim.NextVersion(v2, at.Add(time.Minute))
		if v3.Version != 3 || feedback(v3) != feedback(v2)+1 && streams(v3) != streams(v2)+1 {
			t.Errorf("version 3 adds neither feedback (%d -> %d) nor a stream", feedback(v2), feedback(v3))
		}
		for _, pair := range [][2]graphsim.Record{{r, v2}, {v2, v3}} {
			if len(simtruth.Of(pair[0]).CallQuality().Diff(simtruth.Of(pair[1]).CallQuality())) == 0 {
				t.Errorf("version %d has the truth of version %d", pair[1].Version, pair[0].Version)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d records checked", checked)
	}
}

func streams(r graphsim.Record) int {
	n := 0
	for _, s := range r.Sessions {
		for _, g := range s.Segments {
			for _, m := range g.Media {
				n += len(m.Streams)
			}
		}
	}
	return n
}

func feedback(r graphsim.Record) int {
	n := 0
	for _, s := range r.Sessions {
		for _, e := range []graphsim.Endpoint{s.Caller, s.Callee} {
			if e.Feedback != nil {
				n++
			}
		}
	}
	return n
}
