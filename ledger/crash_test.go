package ledger

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
)

// crashTestID is the UUID of the i-th record of the crash tests.
func crashTestID(i int) string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", i) }

// checkConsistent checks what a restart restored: every id has its
// observations and every observation its id (nothing lost, nothing counted
// twice), and no count is lower than what scrapes saw before the crash.
func checkConsistent(t *testing.T, r *Ledger, published uint64) uint64 {
	t.Helper()
	n := callRecordsCount(r.Snapshot())
	if ids := r.Len(CallRecords); uint64(ids) != n {
		t.Errorf("restored %d ids but %d records counted", ids, n)
	}
	if n < published {
		t.Errorf("restored %d records, scrapes saw %d before the crash: a counter went back", n, published)
	}
	return n
}

// A kill -9 at any point of a save (simulated: the write stops there, with
// no clean-up, and the process's files are left as they are) loses nothing
// that was published and counts nothing twice; a frame torn in the middle
// is dropped with one log line.
func TestCrashAtEveryPointOfASave(t *testing.T) {
	for _, tt := range []struct {
		point      string
		checkpoint bool  // the crashing save writes a checkpoint
		err        error // what the point does
		wantLine   bool  // the restart logs a dropped frame
	}{
		{"log.write", false, errTornWrite, true},
		{"log.write", false, errCrash, false},
		{"log.sync", false, errCrash, false},
		{"checkpoint.write", true, errCrash, false},
		{"checkpoint.sync", true, errCrash, false},
		{"checkpoint.rename", true, errCrash, false},
		{"checkpoint.dirsync", true, errCrash, false},
		{"log.truncate", true, errCrash, false},
	} {
		t.Run(fmt.Sprintf("%s/%v", tt.point, tt.err), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			armed := false
			l, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }, fault: func(p string) error {
				if armed && p == tt.point {
					return tt.err
				}
				return nil
			}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				observe(l, ledgerTestRecord(crashTestID(i)))
			}
			if err := l.Save(); err != nil { // the first checkpoint
				t.Fatal(err)
			}
			observe(l, ledgerTestRecord(crashTestID(3)))
			if err := l.Save(); err != nil { // a frame
				t.Fatal(err)
			}
			published := callRecordsCount(l.Snapshot())

			armed = true
			observe(l, ledgerTestRecord(crashTestID(4)))
			l.needCheckpoint = tt.checkpoint
			if err := l.Save(); !errors.Is(err, errCrash) {
				t.Fatalf("save: %v, want the simulated crash", err)
			}
			if l.Snapshot() != l.saved.Load() || callRecordsCount(l.Snapshot()) != published {
				t.Error("a save that crashed published its snapshot")
			}
			l.Close() // the kernel closes the files and drops the lock

			var logs strings.Builder
			r, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }, Logger: slogText(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			checkConsistent(t, r, published)
			if got := strings.Count(logs.String(), "never completely written"); got != map[bool]int{false: 0, true: 1}[tt.wantLine] {
				t.Errorf("%d lines about a dropped frame:\n%s", got, logs.String())
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("an error at restore:\n%s", logs.String())
			}
			// Going on: the record is ingested once, whether or not the
			// crashed save reached the disk, and the state stays whole.
			for i := 3; i < 6; i++ {
				observe(r, ledgerTestRecord(crashTestID(i)))
			}
			if err := r.Save(); err != nil {
				t.Fatal(err)
			}
			r.Close()
			again := ledgerTestOpen(t, path)
			if n := checkConsistent(t, again, published); n != 6 {
				t.Errorf("%d records after the restart and three more, want 6", n)
			}
		})
	}
}

// corrupt flips a byte of the file at off (from the end if negative).
func corrupt(t *testing.T, path string, off int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if off < 0 {
		off += int64(len(b))
	}
	b[off] ^= 0x55
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// A damaged checkpoint is set aside with one line and the exporter starts
// fresh; a damaged last frame of the log is dropped with one line.
func TestDamagedStateOnDisk(t *testing.T) {
	for _, tt := range []struct {
		name       string
		damage     func(t *testing.T, path string)
		wantAside  bool
		wantCount  uint64
		wantLineRe string
	}{
		{"a byte of the checkpoint", func(t *testing.T, p string) { corrupt(t, p, 40) }, true, 0, "state file unusable"},
		{"the checkpoint cut short", func(t *testing.T, p string) {
			fi, _ := os.Stat(p)
			if err := os.Truncate(p, fi.Size()-3); err != nil {
				t.Fatal(err)
			}
		}, true, 0, "state file unusable"},
		{"a byte of the last frame", func(t *testing.T, p string) { corrupt(t, p+logSuffix, -2) }, false, 4, "never completely written"},
		{"garbage after the last frame", func(t *testing.T, p string) {
			f, err := os.OpenFile(p+logSuffix, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write([]byte{0xff, 0xff, 0xff, 0x7f, 1, 2})
			f.Close()
		}, false, 5, "never completely written"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			l := ledgerTestOpen(t, path)
			for i := range 3 {
				observe(l, ledgerTestRecord(crashTestID(i)))
			}
			for i := 3; i < 5; i++ {
				if err := l.Save(); err != nil {
					t.Fatal(err)
				}
				observe(l, ledgerTestRecord(crashTestID(i)))
			}
			if err := l.Save(); err != nil {
				t.Fatal(err)
			}
			l.Close()
			tt.damage(t, path)

			var logs strings.Builder
			r, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }, Logger: slogText(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if n := callRecordsCount(r.Snapshot()); n != tt.wantCount || r.Len(CallRecords) != int(n) {
				t.Errorf("restored %d records and %d ids, want %d", n, r.Len(CallRecords), tt.wantCount)
			}
			if got := strings.Count(logs.String(), tt.wantLineRe); got != 1 {
				t.Errorf("%d lines %q, want 1:\n%s", got, tt.wantLineRe, logs.String())
			}
			if aside := len(corruptFiles(t, dir)) > 0; aside != tt.wantAside {
				t.Errorf("set aside: %v, want %v", aside, tt.wantAside)
			}
		})
	}
}

// A state beyond its bounds, or inconsistent, is refused with one line at
// start and never loaded in part. A file of format 2 holding one id two
// million times (68 MiB) was read in full and taken for one id.
func TestStateBeyondItsBoundsIsRefused(t *testing.T) {
	checkpoint := func(hdr checkpointHeader, frames ...[]byte) []byte {
		hdr.Format = checkpointFormat
		h, _ := json.Marshal(hdr)
		b := appendFrame(append([]byte(nil), checkpointMagic...), frameHeader, h)
		for _, f := range frames {
			b = append(b, f...)
		}
		return appendFrame(b, frameEnd)
	}
	oneID := make([]byte, packedIDSize)
	for _, tt := range []struct {
		name  string
		data  func() []byte
		why   string
		alloc uint64 // the most bytes refusing it may allocate; 0: not checked
	}{
		{"format 2 with 2 M copies of one id", func() []byte {
			packed := base64.StdEncoding.EncodeToString(bytesRepeat(oneID, 2_000_000))
			b, _ := json.Marshal(map[string]any{"format": 2, "ids": map[string]any{"callRecords": map[string]any{"uuids": packed}}})
			return b
		}, "an id twice", 0},
		{"a checkpoint announcing too many ids", func() []byte {
			return checkpoint(checkpointHeader{IDs: map[Kind]int{CallRecords: maxIDsPerKind + 1}})
		}, "ids, at most", 0},
		{"a checkpoint announcing too many series", func() []byte {
			return checkpoint(checkpointHeader{Series: maxSeries + 1})
		}, "series, at most", 0},
		{"a checkpoint holding an id twice", func() []byte {
			ids := appendPacked(nil, CallRecords, bytesRepeat(oneID, 2), nil)
			return checkpoint(checkpointHeader{IDs: map[Kind]int{CallRecords: 2}}, appendFrame(nil, frameIDs, ids))
		}, "an id twice", 0},
		{"a checkpoint holding more ids than it announced", func() []byte {
			ids := appendPacked(nil, CallRecords, oneID, nil)
			return checkpoint(checkpointHeader{IDs: map[Kind]int{CallRecords: 0}}, appendFrame(nil, frameIDs, ids))
		}, "an id twice, or more than", 0},
		{"a checkpoint announcing more ids than its bytes hold", func() []byte {
			return checkpoint(checkpointHeader{IDs: map[Kind]int{CallRecords: 10_000_000}})
		}, "ids announced in", 16 << 20},
		{"a series chunk expanding to millions of series", func() []byte {
			raw := append(bytes.Repeat([]byte("{},"), 4_000_000), "{}]"...)
			raw = append([]byte("["), raw...)
			return checkpoint(checkpointHeader{Series: 10}, appendFrame(nil, frameSeries, zstdEncoder.EncodeAll(raw, nil)))
		}, "more series than", 64 << 20},
		{"a frame longer than the file", func() []byte {
			b := append([]byte(nil), checkpointMagic...)
			b = binary.LittleEndian.AppendUint32(b, maxFrameBytes-1)
			return append(b, make([]byte, 12)...)
		}, "bytes left", 16 << 20},
		{"a frame longer than a frame may be", func() []byte {
			b := append([]byte(nil), checkpointMagic...)
			b = binary.LittleEndian.AppendUint32(b, maxFrameBytes+1)
			return append(b, make([]byte, 12)...)
		}, "length", 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			if err := os.WriteFile(path, tt.data(), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs strings.Builder
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			l, err := Open(Config{Path: path, Now: func() time.Time { return ledgerTestNow }, Logger: slogText(&logs)})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			if n := after.TotalAlloc - before.TotalAlloc; tt.alloc > 0 && n > tt.alloc {
				t.Errorf("refusing it allocated %d MiB, want at most %d", n>>20, tt.alloc>>20)
			}
			if n := l.Len(CallRecords); n != 0 {
				t.Errorf("%d ids loaded from a refused state", n)
			}
			lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
			refused := 0
			for _, line := range lines {
				if strings.Contains(line, "state file unusable") {
					refused++
					if !strings.Contains(line, tt.why) {
						t.Errorf("the line does not say why (%q): %s", tt.why, line)
					}
				}
			}
			if refused != 1 {
				t.Errorf("%d lines refusing the state, want 1:\n%s", refused, logs.String())
			}
			if len(corruptFiles(t, dir)) != 1 {
				t.Error("the refused state was not set aside")
			}
		})
	}
}

func bytesRepeat(b []byte, n int) []byte {
	out := make([]byte, 0, len(b)*n)
	for range n {
		out = append(out, b...)
	}
	return out
}

// Learned label values (trunks here) first seen after the checkpoint ride
// in the log's frames with their series, and come back at a restart.
func TestLearnedValuesRideInFrames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state")
	l := ledgerTestOpen(t, path)
	if err := l.Save(); err != nil { // the first checkpoint, no trunk yet
		t.Fatal(err)
	}
	trunks := []string{"sbc1.example.org", "sbc2.example.org"}
	for i, trunk := range trunks {
		l.IngestDirectRoutingCall(&graph.DirectRoutingCall{ID: fmt.Sprintf("row-%d", i), CallType: "ByotIn", Trunk: trunk, Successful: true, Start: ledgerTestNow.Add(-time.Hour)})
		if err := l.Save(); err != nil { // a frame each
			t.Fatal(err)
		}
	}
	if l.needCheckpoint || l.logSize == 0 {
		t.Fatal("the trunks were not written as frames")
	}
	l.Close()
	r := ledgerTestOpen(t, path)
	var got []string
	for _, ss := range r.Snapshot().Series {
		if ss.Metric == "teams_direct_routing_calls_total" {
			got = append(got, ss.Labels["trunk"])
		}
	}
	if !reflect.DeepEqual(got, trunks) {
		t.Errorf("trunks restored %v, want %v", got, trunks)
	}
}
