package ledger

import (
	"os"
	"path/filepath"
	"testing"
)

// A kill -9 inside writeCheckpoint leaves its temporary file behind; the
// next start must remove it, and only it.
func TestRestoreRemovesTemporaryFilesOfInterruptedWrites(t *testing.T) {
	dir := t.TempDir()
	stateFile := filepath.Join(dir, "state[1].json") // glob metacharacters are names here
	leftovers := []string{stateFile + ".tmp-123", stateFile + ".tmp-abc"}
	keep := []string{filepath.Join(dir, "other.json.tmp-1"), stateFile + ".corrupt-20260101T000000Z"}
	for _, f := range append(append([]string{}, leftovers...), keep...) {
		if err := os.WriteFile(f, []byte("{"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Open(Config{Path: stateFile}); err != nil {
		t.Fatal(err)
	}
	for _, f := range leftovers {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s still exists after Open (stat err %v)", filepath.Base(f), err)
		}
	}
	for _, f := range keep {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(f), err)
		}
	}
}
