package ledger

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A second holder of a state file's lock is refused at once, until the
// first releases it.
func TestStateLockIsExclusive(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	first, err := lockState(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockState(path); !errors.Is(err, errStateInUse) {
		t.Fatalf("second lock: %v, want %v", err, errStateInUse)
	}
	if err := first.unlock(); err != nil {
		t.Fatal(err)
	}
	again, err := lockState(path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again.unlock()
	if _, err := os.Stat(lockPath(path)); err != nil {
		t.Errorf("lock file removed: %v", err)
	}
}

func TestResolveLinks(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "volume", "state.json")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "state.json")
	chain := filepath.Join(dir, "chain.json")
	loop := filepath.Join(dir, "loop.json")
	for _, l := range []struct{ target, name string }{
		{"volume/state.json", link}, // relative, to a file not written yet
		{link, chain},
		{loop, loop},
	} {
		if err := os.Symlink(l.target, l.name); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		path, want string
		err        bool
	}{
		{target, target, false},
		{link, target, false},
		{chain, target, false},
		{loop, "", true},
	}
	for _, tt := range tests {
		got, err := resolveLinks(tt.path)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("resolveLinks(%s) = %q, %v; want %q, error %v", filepath.Base(tt.path), got, err, tt.want, tt.err)
		}
	}
}

// A symbolic link planted as the lock file is refused: following it would
// make the exporter create (or lock) the file it points to.
func TestStateLockRefusesASymlinkedLockFile(t *testing.T) {
	if noFollow == 0 {
		t.Skip("no O_NOFOLLOW on this platform")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	target := filepath.Join(dir, "elsewhere", "created-by-the-exporter")
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, lockPath(path)); err != nil {
		t.Fatal(err)
	}
	l, err := lockState(path)
	if err == nil {
		l.unlock()
		t.Fatal("a symlinked lock file was followed")
	}
	if !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("error %q does not say the lock file is a symbolic link", err)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("the link's target was created: %v", err)
	}
}
