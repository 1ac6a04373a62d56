package ledger

import (
	"encoding/base64"
	"testing"
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
