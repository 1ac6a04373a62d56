package ledger

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/collector"
)

// logFrames returns the offset of every frame of the log at path.
func logFrames(t *testing.T, path string) []int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int64
	for off := 0; off+frameHeaderBytes <= len(b); {
		offs = append(offs, int64(off))
		off += frameHeaderBytes + int(binary.LittleEndian.Uint32(b[off:]))
	}
	return offs
}

// savedLedger writes a checkpoint, then one delta frame for each of
// frames records, and closes the ledger.
func savedLedger(t *testing.T, path string, first, frames int) {
	t.Helper()
	l := ledgerTestOpen(t, path)
	for i := first; i < first+frames+1; i++ {
		observe(l, ledgerTestRecord(crashTestID(i)))
		if err := l.Save(); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
}

// refusedIntact opens the state at path and checks that it was refused
// with one line and that neither file lost a byte: the checkpoint and the
// log are set aside as they were.
func refusedIntact(t *testing.T, path, why string) {
	t.Helper()
	dir := filepath.Dir(path)
	ckpt, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	log, err := os.ReadFile(path + logSuffix)
	if err != nil {
		t.Fatal(err)
	}
	var logs strings.Builder
	r, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }, Logger: slogText(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n := r.Len(CallRecords); n != 0 {
		t.Errorf("%d ids loaded from a refused state", n)
	}
	if got := strings.Count(logs.String(), "state file unusable"); got != 1 || !strings.Contains(logs.String(), why) {
		t.Errorf("%d lines refusing the state (want 1 saying %q):\n%s", got, why, logs.String())
	}
	aside := corruptFiles(t, dir)
	var gotCkpt, gotLog []byte
	for _, p := range aside {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(p, logSuffix) {
			gotLog = b
		} else {
			gotCkpt = b
		}
	}
	if !bytes.Equal(gotCkpt, ckpt) || !bytes.Equal(gotLog, log) {
		t.Errorf("set aside %v: checkpoint kept %v, log kept %v (of %d bytes, %d set aside)", aside,
			bytes.Equal(gotCkpt, ckpt), bytes.Equal(gotLog, log), len(log), len(gotLog))
	}
}

// A frame damaged in the middle of the log is not a torn tail: the frames
// after it were synced and published. The state is refused, and neither
// file is cut.
func TestDamagedFrameInTheMiddleOfTheLog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	savedLedger(t, path, 0, 4)
	frames := logFrames(t, path+logSuffix)
	if len(frames) < 4 {
		t.Fatalf("%d frames in the log, want at least 4", len(frames))
	}
	corrupt(t, path+logSuffix, frames[len(frames)-3]+frameHeaderBytes+3)
	refusedIntact(t, path, "damaged")
}

// A log is replayed only onto the checkpoint it follows. Put back an older
// checkpoint of the same state, or beside the checkpoint of another state,
// its frames would be applied onto the wrong base or cut away as a torn
// tail; the state is refused and neither file is cut.
func TestLogOfAnotherCheckpointIsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		make func(t *testing.T, path string)
		why  string
	}{
		{"an older checkpoint put back", func(t *testing.T, path string) {
			l := ledgerTestOpen(t, path)
			for i := range 4 { // a checkpoint, then 3 frames
				observe(l, ledgerTestRecord(crashTestID(i)))
				if err := l.Save(); err != nil {
					t.Fatal(err)
				}
			}
			older, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			l.needCheckpoint = true
			for i := 4; i < 8; i++ { // a checkpoint, then 3 frames
				observe(l, ledgerTestRecord(crashTestID(i)))
				if err := l.Save(); err != nil {
					t.Fatal(err)
				}
			}
			l.Close()
			if err := os.WriteFile(path, older, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "follows frame"},
		{"the log of another state", func(t *testing.T, path string) {
			other := filepath.Join(t.TempDir(), "state")
			savedLedger(t, other, 100, 3)
			savedLedger(t, path, 0, 3)
			b, err := os.ReadFile(other + logSuffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+logSuffix, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "another state"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			tt.make(t, path)
			refusedIntact(t, path, tt.why)
		})
	}
}

// A log the exporter cannot trust to be its own stops the start with one
// line, and no file loses a byte: a symbolic link planted as the log (its
// target would be cut), or a log whose checkpoint is missing (starting
// fresh would wipe published frames).
func TestLogNotItsOwnStopsTheStart(t *testing.T) {
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, path string) (kept string)
		why    string
	}{
		{"a symbolic link as the log", func(t *testing.T, path string) string {
			target := filepath.Join(t.TempDir(), "elsewhere")
			if err := os.Rename(path+logSuffix, target); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path+logSuffix); err != nil {
				t.Fatal(err)
			}
			return target
		}, "symbolic link"},
		{"a log without its checkpoint", func(t *testing.T, path string) string {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			return path + logSuffix
		}, "checkpoint"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state")
			savedLedger(t, path, 0, 3)
			kept := tt.damage(t, path)
			want, err := os.ReadFile(kept)
			if err != nil {
				t.Fatal(err)
			}
			l, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }})
			if err == nil {
				l.Close()
				t.Fatal("Open succeeded")
			}
			if msg := err.Error(); strings.Contains(msg, "\n") || !strings.Contains(msg, tt.why) {
				t.Errorf("error not one line saying %q: %q", tt.why, msg)
			}
			if got, err := os.ReadFile(kept); err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s changed (%d bytes of %d, %v)", kept, len(got), len(want), err)
			}
		})
	}
}

// Replay takes a series only at or above the value it replaces: a frame
// taking a counter back (a count, a sum, a bucket) is not one the exporter
// wrote.
func TestLogFrameTakingACounterBackIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	l := ledgerTestOpen(t, path)
	for i := range 2 {
		observe(l, ledgerTestRecord(crashTestID(i)))
		if err := l.Save(); err != nil {
			t.Fatal(err)
		}
	}
	seq := l.seq
	var lowered []collector.SeriesSnapshot
	for _, ss := range l.Snapshot().Series {
		if ss.Metric == "teams_call_records_total" && ss.Count > 0 {
			ss.Count--
			lowered = append(lowered, ss)
		}
	}
	l.Close()
	if len(lowered) == 0 {
		t.Fatal("no series to lower")
	}
	frame, err := encodeDelta(seq+1, &deltaMeta{SavedAt: ledgerTestNow, Series: lowered}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path+logSuffix, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(frame); err != nil {
		t.Fatal(err)
	}
	f.Close()
	refusedIntact(t, path, "lower")
}
