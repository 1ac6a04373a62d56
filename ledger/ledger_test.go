package ledger

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
)

var ledgerTestNow = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func ledgerTestOpen(t *testing.T, path string) *Ledger {
	t.Helper()
	l, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// ledgerTestRecord is a call record with one session: enough to make
// series.
func ledgerTestRecord(id string) *graph.CallRecord {
	start := ledgerTestNow.Add(-time.Hour)
	return &graph.CallRecord{ID: id, Type: "peerToPeer", StartDateTime: start, EndDateTime: start.Add(time.Minute), Sessions: []graph.Session{{}}}
}

// observe hands rec to l as the poller does.
func observe(l *Ledger, rec *graph.CallRecord) bool {
	_, ok := l.IngestCallRecord(rec, rec.StartDateTime)
	return ok
}

func callRecordsCount(s *collector.Snapshot) uint64 {
	var n uint64
	for _, ss := range s.Series {
		if ss.Metric == "teams_call_records_total" {
			n += ss.Count
		}
	}
	return n
}

// TestObserveOnce: an id is observed once, whatever the kind's other ids,
// and kinds do not share ids.
func TestObserveOnce(t *testing.T) {
	l := ledgerTestOpen(t, "")
	rec := ledgerTestRecord("e523d2ed-2966-4b6b-925b-754a88034cc5")
	if !observe(l, rec) {
		t.Fatal("first observation refused")
	}
	if observe(l, rec) {
		t.Error("the same id observed twice")
	}
	if !l.IngestPSTNCall(&graph.PSTNCall{ID: rec.ID}) {
		t.Error("an id of another kind was taken for a call record's")
	}
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	if n := callRecordsCount(l.Snapshot()); n != 1 {
		t.Errorf("%d call records counted, want 1", n)
	}
}

// TestScrapesShowOnlyWhatWasSaved: observations are invisible until a save
// writes them, and a save that fails publishes nothing.
func TestScrapesShowOnlyWhatWasSaved(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	full := false // the disk
	l, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }, fault: func(string) error {
		if full {
			return syscall.ENOSPC
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	observe(l, ledgerTestRecord("a"))
	if n := callRecordsCount(l.Snapshot()); n != 0 {
		t.Fatalf("%d records shown before any save", n)
	}
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	saved := l.Snapshot()
	if n := callRecordsCount(saved); n != 1 {
		t.Fatalf("%d records shown after the save, want 1", n)
	}

	full = true
	observe(l, ledgerTestRecord("b"))
	if err := l.Save(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a save on a full disk: %v", err)
	}
	if l.Snapshot() != saved {
		t.Error("a failed save published its snapshot")
	}
	full = false
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	if n := callRecordsCount(l.Snapshot()); n != 2 {
		t.Errorf("%d records shown once a save succeeded again, want 2", n)
	}
}

// TestSaveRestoreRoundTrip: a second ledger on the file holds the same
// ids, position and series, and shows them before its first save.
func TestSaveRestoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	l := ledgerTestOpen(t, path)
	ids := []string{"e523d2ed-2966-4b6b-925b-754a88034cc5", "not-a-uuid"}
	for _, id := range ids {
		observe(l, ledgerTestRecord(id))
	}
	l.MarkMalformed(PSTNCalls, Item{ID: "row-1", Start: ledgerTestNow})
	pos := Position{LastFullScan: ledgerTestNow.Add(-time.Minute), LastSuccess: ledgerTestNow}
	l.UpdatePosition(func(p *Position) { *p = pos })
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}

	if err := l.Close(); err != nil { // the first process ends
		t.Fatal(err)
	}
	r := ledgerTestOpen(t, path)
	for _, id := range ids {
		if !r.Has(CallRecords, id) {
			t.Errorf("id %q not restored", id)
		}
	}
	if !r.Has(PSTNCalls, "row-1") || r.Has(CallRecords, "row-1") {
		t.Error("ids of another kind not restored as that kind")
	}
	if got := r.Position(); !got.LastFullScan.Equal(pos.LastFullScan) || !got.LastSuccess.Equal(pos.LastSuccess) {
		t.Errorf("position %+v, want %+v", got, pos)
	}
	want, _ := json.Marshal(l.Snapshot())
	if got, _ := json.Marshal(r.Snapshot()); string(got) != string(want) {
		t.Errorf("restored series differ:\n%s\nwant\n%s", got, want)
	}
}

// TestReadsFormat1: a state file of the first format (call record ids in
// uuids and otherIds) is read, and written back in the current format.
func TestReadsFormat1(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	old := ledgerTestOpen(t, "")
	observe(old, ledgerTestRecord("e523d2ed-2966-4b6b-925b-754a88034cc5"))
	observe(old, ledgerTestRecord("odd"))
	uuids, others := packIDs(old.ids[CallRecords])
	v1, err := json.Marshal(map[string]any{
		"format": 1, "savedAt": ledgerTestNow, "lastFullScan": ledgerTestNow, "lastSuccess": ledgerTestNow,
		"uuids": uuids, "otherIds": others, "series": old.col.Snapshot(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, v1, 0o600); err != nil {
		t.Fatal(err)
	}
	l := ledgerTestOpen(t, path)
	if !l.Has(CallRecords, "e523d2ed-2966-4b6b-925b-754a88034cc5") || !l.Has(CallRecords, "odd") {
		t.Error("format 1 ids not read")
	}
	if n := callRecordsCount(l.Snapshot()); n != 2 {
		t.Errorf("%d records restored, want 2", n)
	}
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	st := readBack(t, path)
	if st.legacy || !reflect.DeepEqual(st.ids[CallRecords], old.ids[CallRecords]) {
		t.Errorf("not written back as a checkpoint: %+v", st)
	}
}

// TestSetSubscriptionIsSavedAtOnce: the subscription the exporter created
// is on disk before any other save, so that a crash right after does not
// make the next start take it for another's and create one more.
func TestSetSubscriptionIsSavedAtOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	l := ledgerTestOpen(t, path)
	l.SetSubscription("sub-1", "fingerprint")
	if err := l.Close(); err != nil { // a crash: no save of the poller's
		t.Fatal(err)
	}
	r := ledgerTestOpen(t, path)
	if id, fp := r.Subscription(); id != "sub-1" || fp != "fingerprint" {
		t.Errorf("restored subscription %q %q, want sub-1 fingerprint", id, fp)
	}
}
