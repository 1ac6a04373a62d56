package graph_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// TestSimHostileRecordIDsAreMalformed: a record whose id is empty or over
// graph.MaxIDBytes is left out of a listing (counted, and logged without
// the id's full text), and never fetched, whether asked alone or in a
// $batch. The ledger could not keep such an id across a restart.
func TestSimHostileRecordIDsAreMalformed(t *testing.T) {
	long := "x" + strings.Repeat("9", 100_000)
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"at the bound", strings.Repeat("a", graph.MaxIDBytes), true},
		{"one over", strings.Repeat("b", graph.MaxIDBytes+1), false},
		{"100 KB", long, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rig := startSim(t, graphsim.Options{}, nil)
			recs := simRecords(t, 3)
			recs[1].ID = tt.id
			rig.tenant.Add(recs...)
			var listed []string
			st, err := rig.client.ListCallRecords(context.Background(), simStart.Add(-time.Hour), simStart.Add(2*time.Hour), func(r graph.CallRecord) error {
				listed = append(listed, r.ID)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			wantListed, wantMalformed := 3, 0
			if !tt.ok {
				wantListed, wantMalformed = 2, 1
			}
			if len(listed) != wantListed || st.Malformed != wantMalformed {
				t.Errorf("listed %d, malformed %d; want %d, %d", len(listed), st.Malformed, wantListed, wantMalformed)
			}
			logs := rig.logs.String()
			if !tt.ok && !strings.Contains(logs, "too long id") {
				t.Errorf("no log of the id refused:\n%s", logs)
			}
			if strings.Contains(logs, strings.Repeat("9", 100)) {
				t.Errorf("the log holds the id's full text (%d bytes of logs)", len(logs))
			}

			before := rig.obs.count("get 200")
			_, err = rig.client.GetCallRecord(context.Background(), tt.id)
			if tt.ok != (err == nil) || (!tt.ok && !errors.Is(err, graph.ErrMalformed)) {
				t.Errorf("get: err %v, want ok=%v or ErrMalformed", err, tt.ok)
			}
			if !tt.ok && len(err.Error()) > 200 {
				t.Errorf("get: error of %d bytes", len(err.Error()))
			}
			if !tt.ok && rig.obs.count("get 200") != before {
				t.Errorf("a malformed id was fetched")
			}
			got := map[string]error{}
			rig.client.GetCallRecords(context.Background(), []string{recs[0].ID, tt.id, recs[2].ID}, func(id string, _ *graph.CallRecord, err error) {
				got[id] = err
			})
			if len(got) != 3 || got[recs[0].ID] != nil || got[recs[2].ID] != nil || (got[tt.id] == nil) == !tt.ok {
				t.Errorf("batch: %v", got)
			}
		})
	}
}
