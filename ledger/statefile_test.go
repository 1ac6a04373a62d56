package ledger

import (
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// corruptFiles lists the state files set aside.
func corruptFiles(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.corrupt-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A state file that cannot be read at all stops the start and stays where
// it is; only one that was read and failed to decode or validate is set
// aside.
func TestOpenUnreadableStateIsNotSetAside(t *testing.T) {
	tests := []struct {
		name    string
		make    func(path string) error
		corrupt bool // set aside, and the ledger starts empty
	}{
		{"a directory (EISDIR)", func(p string) error { return os.Mkdir(p, 0o700) }, false},
		{"a FIFO (would block)", func(p string) error { return syscall.Mkfifo(p, 0o600) }, false},
		{"a link loop", func(p string) error { return os.Symlink(filepath.Base(p), p) }, false},
		{"not JSON", func(p string) error { return os.WriteFile(p, []byte("{\"format\":"), 0o600) }, true},
		{"an unknown format", func(p string) error { return os.WriteFile(p, []byte(`{"format":99}`), 0o600) }, true},
		{"ids that do not decode", func(p string) error {
			return os.WriteFile(p, []byte(`{"format":2,"ids":{"callRecords":{"uuids":"not base64!"}}}`), 0o600)
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state.json")
			if err := tt.make(path); err != nil {
				t.Fatal(err)
			}
			l, err := Open(Config{Path: path})
			if !tt.corrupt {
				if err == nil {
					l.Close()
					t.Fatal("Open succeeded on a state file it cannot read")
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error of more than one line: %q", err)
				}
				t.Logf("error: %v", err)
				if _, serr := os.Lstat(path); serr != nil {
					t.Errorf("the state file is gone: %v", serr)
				}
				if c := corruptFiles(t, dir); len(c) != 0 {
					t.Errorf("an unreadable state file was set aside: %v", c)
				}
				return
			}
			if err != nil {
				t.Fatalf("a corrupt state file stops the start: %v", err)
			}
			defer l.Close()
			if c := corruptFiles(t, dir); len(c) != 1 {
				t.Errorf("corrupt state file not set aside: %v", c)
			}
		})
	}
}

// A second ledger on the same state file, directly or through a symbolic
// link, is refused while the first holds it.
func TestOpenRefusesAStateFileInUse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("state.json", link); err != nil {
		t.Fatal(err)
	}
	first, err := Open(Config{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, link} {
		second, err := Open(Config{Path: p})
		if err == nil {
			second.Close()
			t.Fatalf("a second ledger opened %s", filepath.Base(p))
		}
		if !strings.Contains(err.Error(), "in use by another exporter") {
			t.Errorf("error does not say the file is in use: %v", err)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(Config{Path: path})
	if err != nil {
		t.Fatalf("open after the first closed: %v", err)
	}
	again.Close()
}

// A state file that is a symbolic link stays one: saves replace its
// target, and a restart through the link restores it.
func TestSaveWritesThroughASymlink(t *testing.T) {
	dir := t.TempDir()
	volume := filepath.Join(dir, "volume")
	if err := os.Mkdir(volume, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(volume, "state.json")
	link := filepath.Join(dir, "state.json")
	if err := os.Symlink(target, link); err != nil { // to a file not written yet
		t.Fatal(err)
	}
	l := ledgerTestOpen(t, link)
	observe(l, ledgerTestRecord("e523d2ed-2966-4b6b-925b-754a88034cc5"))
	for range 2 {
		if err := l.Save(); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Lstat(link)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced by a %v", fi.Mode().Type())
	}
	if st, err := readCheckpoint(target); err != nil || st == nil {
		t.Fatalf("the target was not written: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	r := ledgerTestOpen(t, link)
	if n := callRecordsCount(r.Snapshot()); n != 1 {
		t.Errorf("%d records restored through the link, want 1", n)
	}
}

// Times in the state file that lie in the future (a clock that was ahead
// saved them) are treated as absent: a full scan is due at once, and the
// last-save gauge does not claim a save that has not happened yet.
func TestOpenForgetsFutureTimes(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	future := ledgerTestNow.Add(90 * time.Minute)
	past := ledgerTestNow.Add(-time.Hour)
	for _, tt := range []struct {
		name                   string
		savedAt, full, success time.Time
		wantFull, wantSuccess  time.Time
		wantLastSave           float64
	}{
		{"all in the future", future, future, future, time.Time{}, time.Time{}, 0},
		{"scan in the future", past, future, past, time.Time{}, past, float64(past.Unix())},
		{"all in the past", past, past, past, past, past, float64(past.Unix())},
	} {
		t.Run(tt.name, func(t *testing.T) {
			st, _ := json.Marshal(map[string]any{"format": 2, "savedAt": tt.savedAt, "lastFullScan": tt.full, "lastSuccess": tt.success})
			if err := os.WriteFile(path, st, 0o600); err != nil {
				t.Fatal(err)
			}
			reg := prometheus.NewRegistry()
			l, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }, Registerer: reg})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			pos := l.Position()
			if !pos.LastFullScan.Equal(tt.wantFull) || !pos.LastSuccess.Equal(tt.wantSuccess) {
				t.Errorf("position %+v, want full scan %v, success %v", pos, tt.wantFull, tt.wantSuccess)
			}
			if got := testutil.ToFloat64(l.metrics.lastSave); got != tt.wantLastSave {
				t.Errorf("last save gauge %v, want %v", got, tt.wantLastSave)
			}
		})
	}
}

// Every save is counted by result; a failure is logged, leaves the
// last-save gauge and the published snapshot as they were, and the next
// save that succeeds publishes everything observed meanwhile.
func TestSaveFailuresAreCountedAndLogged(t *testing.T) {
	for _, point := range []string{"log.write", "log.write.torn", "log.sync", "checkpoint.write", "checkpoint.sync", "checkpoint.rename", "checkpoint.dirsync"} {
		t.Run(point, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			var logs strings.Builder
			reg := prometheus.NewRegistry()
			clock := ledgerTestNow
			full := false // the disk
			l, err := Open(Config{Path: path, Now: func() time.Time { return clock }, Registerer: reg, Logger: slogText(&logs),
				fault: func(p string) error {
					switch {
					case full && point == "log.write.torn" && p == "log.write":
						return errTornNoSpace // part of the frame fits
					case full && p == point:
						return syscall.ENOSPC
					}
					return nil
				}})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			observe(l, ledgerTestRecord("a"))
			if err := l.Save(); err != nil {
				t.Fatal(err)
			}
			saved := l.Snapshot()
			if strings.HasPrefix(point, "log.") {
				observe(l, ledgerTestRecord("c"))
				if err := l.Save(); err != nil { // a frame
					t.Fatal(err)
				}
				saved = l.Snapshot()
			} else {
				l.needCheckpoint = true
			}

			full = true
			clock = clock.Add(time.Minute)
			observe(l, ledgerTestRecord("b"))
			if err := l.Save(); !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("a save on a full disk: %v", err)
			}
			if fi, err := os.Stat(path + logSuffix); err != nil || fi.Size() != l.logSize {
				t.Errorf("the log holds %v bytes after a failed save, want its last whole frame's end, %d (%v)", fi.Size(), l.logSize, err)
			}
			if point != "checkpoint.dirsync" { // the rename happened: a checkpoint retried
				if wait := l.SaveIfDue(); wait != l.cfg.SaveInterval {
					t.Errorf("after a failure SaveIfDue waits %v, want %v (a retry)", wait, l.cfg.SaveInterval)
				}
			}
			wantErr := 1.0
			if got := testutil.ToFloat64(l.metrics.saves.WithLabelValues("error")); got != wantErr {
				t.Errorf("saves_total{result=\"error\"} = %v, want %v", got, wantErr)
			}
			if l.Snapshot() != saved {
				t.Error("a failed save published its snapshot")
			}
			if n := strings.Count(logs.String(), "save state failed"); n != 1 {
				t.Errorf("%d failures logged, want 1:\n%s", n, logs.String())
			}

			full = false
			clock = clock.Add(time.Minute)
			if wait := l.SaveIfDue(); wait != 0 {
				t.Fatalf("retry not made: SaveIfDue waits %v", wait)
			}
			if got := testutil.ToFloat64(l.metrics.lastSave); got != float64(clock.Unix()) {
				t.Errorf("last save gauge %v, want %v", got, clock.Unix())
			}
			if n := callRecordsCount(l.Snapshot()); n != 3 && n != 2 {
				t.Errorf("%d records shown after the recovery", n)
			}
			l.Close()
			r := ledgerTestOpen(t, path)
			if got, want := callRecordsCount(r.Snapshot()), callRecordsCount(l.Snapshot()); got != want {
				t.Errorf("%d records restored, %d shown before", got, want)
			}
		})
	}
}

func slogText(w *strings.Builder) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

// On a disk that stays full, saves are retried less and less often, up to
// the checkpoint interval, rather than rewriting the whole state every
// SaveInterval.
func TestSaveRetriesBackOffOnAFullDisk(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	clock := ledgerTestNow
	tries := 0
	l, err := Open(Config{Path: path, Now: func() time.Time { return clock }, CheckpointInterval: 4 * time.Minute,
		fault: func(p string) error {
			if p == "checkpoint.write" {
				tries++
				return syscall.ENOSPC
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	observe(l, ledgerTestRecord("a"))
	var waits []time.Duration
	for end := clock.Add(10 * time.Minute); clock.Before(end); clock = clock.Add(time.Second) {
		before := tries
		wait := l.SaveIfDue()
		if tries > before {
			waits = append(waits, wait)
		}
	}
	want := []time.Duration{15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute}
	if !slices.Equal(waits, want) {
		t.Errorf("waits after each failed try %v, want %v", waits, want)
	}
}
