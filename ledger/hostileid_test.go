package ledger

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/teams-exporter/teams-exporter/graph"
)

// TestHostileIDsNeverCostTheState: whatever id Graph or a notification
// hands the ledger, what it ingests is read back at the next start. An id
// it could not read back would set the whole state aside as corrupt: every
// counter back to zero, everything ingested again.
func TestHostileIDsNeverCostTheState(t *testing.T) {
	good := "e523d2ed-2966-4b6b-925b-754a88034cc5"
	tests := []struct {
		name string
		id   string
		ok   bool // ingested
	}{
		{"empty", "", false},
		{"at the bound", strings.Repeat("a", graph.MaxIDBytes), true},
		{"one over the bound", strings.Repeat("b", graph.MaxIDBytes+1), false},
		{"over what a start reads", strings.Repeat("c", maxOtherIDBytes+1), false},
		{"a megabyte", strings.Repeat("d", 1<<20), false},
		{"not UTF-8", "\xff\xfe" + strings.Repeat("e", 20), true},
		{"a NUL", "x\x00y", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			l := ledgerTestOpen(t, path)
			if !observe(l, ledgerTestRecord(good)) {
				t.Fatal("a good record refused")
			}
			if got := observe(l, ledgerTestRecord(tt.id)); got != tt.ok {
				t.Errorf("call record ingested = %v, want %v", got, tt.ok)
			}
			if got := l.MarkMalformed(DirectRoutingCalls, Item{ID: tt.id, Start: ledgerTestNow}); got != tt.ok {
				t.Errorf("malformed row marked = %v, want %v", got, tt.ok)
			}
			if got := l.IngestPSTNCall(&graph.PSTNCall{ID: tt.id, Start: ledgerTestNow}); got != tt.ok {
				t.Errorf("PSTN row ingested = %v, want %v", got, tt.ok)
			}
			if err := l.Save(); err != nil {
				t.Fatal(err)
			}
			want := callRecordsCount(l.Snapshot())
			l.Close()

			r := ledgerTestOpen(t, path)
			if c := corruptFiles(t, filepath.Dir(path)); len(c) != 0 {
				t.Fatalf("the state was set aside as corrupt: %v", c)
			}
			if got := callRecordsCount(r.Snapshot()); got != want || want == 0 {
				t.Errorf("%d call records counted after a restart, want %d (not 0)", got, want)
			}
			if observe(r, ledgerTestRecord(good)) {
				t.Error("a record ingested before the restart was ingested again")
			}
		})
	}
}
