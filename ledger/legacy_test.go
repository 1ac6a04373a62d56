package ledger

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/teams-exporter/teams-exporter/collector"
)

// packIDs packs s as formats 1 and 2 did, to write such files in tests.
func packIDs(s *idSet) (string, []otherID) {
	p := packKind("", s)
	return base64.StdEncoding.EncodeToString(p.uuids), p.others
}

// readBack reads the checkpoint and log at path as Open would, without the
// lock; the series are left unchecked.
func readBack(t *testing.T, path string) *loaded {
	t.Helper()
	st, err := readCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil {
		t.Fatal("no checkpoint")
	}
	if !st.legacy {
		if err := readLog(path+logSuffix, st); err != nil {
			t.Fatal(err)
		}
	}
	return st
}

// A state file of format 2, as the release before the log and checkpoint
// wrote it (testdata/state-format2.json: two call records, two rows of
// each call log, a learned trunk, a subscription), is carried over at the
// first start: the same ids, position and series, then a checkpoint at the
// first save, which a restart reads back the same.
func TestCarriesOverFormat2(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "state-format2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var old struct {
		Series collector.Snapshot `json:"series"`
	}
	if err := json.Unmarshal(data, &old); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	seriesOf := func(s *collector.Snapshot) map[string]collector.SeriesSnapshot {
		m := map[string]collector.SeriesSnapshot{}
		for _, ss := range s.Series {
			m[seriesKeyOf(&ss)] = ss
		}
		return m
	}
	want := seriesOf(&old.Series)
	check := func(l *Ledger) {
		t.Helper()
		for _, kind := range []Kind{CallRecords, DirectRoutingCalls, PSTNCalls} {
			if n := l.Len(kind); n != 2 {
				t.Errorf("%s: %d ids, want 2", kind, n)
			}
		}
		if id, fp := l.Subscription(); id != "sub-1" || fp != "fp" {
			t.Errorf("subscription %q %q, want sub-1 fp", id, fp)
		}
		got := seriesOf(l.Snapshot())
		if len(got) != len(want) {
			t.Errorf("%d series, want %d", len(got), len(want))
		}
		for k, w := range want {
			g, ok := got[k]
			if !ok || g.Count != w.Count || g.Sum != w.Sum || !reflect.DeepEqual(g.Buckets, w.Buckets) {
				t.Errorf("series %q: %+v, want %+v", k, g, w)
			}
		}
	}
	l := ledgerTestOpen(t, path)
	check(l)
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	if st := readBack(t, path); st.legacy {
		t.Error("the first save did not write a checkpoint")
	}
	l.Close()
	check(ledgerTestOpen(t, path))
}
