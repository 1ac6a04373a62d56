//go:build unix

package sites

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestFileRefusesAFIFO: a FIFO at the path (a mistake, or a hostile user
// of the volume) would block a plain open until something writes to it,
// and Check and Reload hold the file's lock while they read. It is opened
// without blocking and refused as not a regular file; the map in force
// stays.
func TestFileRefusesAFIFO(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.csv")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "buildings.csv")
	writeFile(t, path, row("10.1.0.0", 16, "HQ", "Seattle", 1), time.Now())
	var logs bytes.Buffer
	f, err := Open(path, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(fifo, path); err != nil {
		t.Fatal(err)
	}
	// A hang fails the test instead of stopping it until its timeout.
	returns := func(name string, fn func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); fn() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s on a FIFO did not return", name)
		}
	}
	var changed bool
	returns("Check", func() { changed = f.Check() })
	if changed || !strings.Contains(logs.String(), "not a regular file") {
		t.Errorf("Check = %v, logged %q; want false and not a regular file", changed, logs.String())
	}
	var reloadErr error
	returns("Reload", func() { reloadErr = f.Reload() })
	if reloadErr == nil || !strings.Contains(reloadErr.Error(), "not a regular file") {
		t.Errorf("Reload = %v, want not a regular file", reloadErr)
	}
	if got := f.Map().SiteOf("10.1.4.0", ""); got != "HQ" {
		t.Errorf("site of 10.1.4.0 = %q after a FIFO, want the previous map's HQ", got)
	}
	var openErr error
	returns("Open", func() { _, openErr = Open(path, slog.New(slog.DiscardHandler)) })
	if openErr == nil || !strings.Contains(openErr.Error(), "not a regular file") {
		t.Errorf("Open = %v, want not a regular file", openErr)
	}
}
