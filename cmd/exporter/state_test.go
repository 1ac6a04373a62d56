package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// stateDirBreaker makes a state directory unwritable in a way that holds for
// root too (tests run as root, for whom permissions do not stop writes):
// the directory is moved aside and a regular file takes its name, so every
// write of the state fails with ENOTDIR. repair moves it back.
type stateDirBreaker struct {
	t   *testing.T
	dir string
}

func (b stateDirBreaker) breakDir() {
	b.t.Helper()
	if err := os.Rename(b.dir, b.dir+".moved"); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(b.dir, []byte("not a directory\n"), 0o600); err != nil {
		b.t.Fatal(err)
	}
}

func (b stateDirBreaker) repair() {
	b.t.Helper()
	if err := os.Remove(b.dir); err != nil {
		b.t.Fatal(err)
	}
	if err := os.Rename(b.dir+".moved", b.dir); err != nil {
		b.t.Fatal(err)
	}
}

// saves returns teams_exporter_state_saves_total{result}.
func saves(mfs map[string]*dto.MetricFamily, result string) float64 {
	return counterValue(mfs, "teams_exporter_state_saves_total", "result", result)
}

// TestStateNotSavable: while the state cannot be written, polls go on and
// metrics are served, the failure shows in the metrics and the log, and
// scrapes show only what was saved; once the directory is writable again
// the next save publishes everything, nothing lost. A kill -9 while saves
// fail takes no counter back.
func TestStateNotSavable(t *testing.T) {
	t.Parallel()
	ts := startTenant(t, nil)
	now := time.Now()
	gen := func(seed int64, from, to time.Duration) ([]graphsim.Record, simtruth.Truth) {
		recs, truth := simtruth.Generate(graphsim.GenOptions{Seed: seed, Count: 25, Start: now.Add(-from), End: now.Add(-to)})
		ts.tenant.Add(recs...)
		return recs, truth.CallQuality()
	}
	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state.json")
	disk := stateDirBreaker{t: t, dir: dir}

	first, truth := gen(41, 110*time.Minute, 100*time.Minute)
	e := startExporter(t, ts, state)
	mfs := e.waitFor(t, "the first records saved", 60*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return saves(mfs, "success") >= 1 && counterValue(mfs, "teams_call_records_total") == float64(len(first))
	})
	if counterValue(mfs, "teams_exporter_last_state_save_timestamp_seconds") == 0 {
		t.Fatal("teams_exporter_last_state_save_timestamp_seconds is 0 after a save")
	}

	// Saves fail while new records arrive: polls go on, scrapes are
	// served and show only what was saved.
	disk.breakDir()
	mfs = e.waitFor(t, "a failed save", 30*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return saves(mfs, "error") >= 1
	})
	lastSave := counterValue(mfs, "teams_exporter_last_state_save_timestamp_seconds")
	second, truth2 := gen(42, 90*time.Minute, 80*time.Minute)
	ingested := counterValue(mfs, "teams_exporter_records_ingested_total")
	mfs = e.waitFor(t, "the new records ingested and saves failing", 60*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_records_ingested_total") >= ingested+float64(len(second)) && saves(mfs, "error") >= 2
	})
	if got := counterValue(mfs, "teams_exporter_last_state_save_timestamp_seconds"); got != lastSave {
		t.Errorf("last save timestamp moved from %v to %v while every save failed", lastSave, got)
	}
	e.assertTruth(t, truth)
	if !strings.Contains(e.logs(), "save state failed") {
		t.Error("the failed saves are not logged")
	}

	// Writable again: the next save publishes what was ingested meanwhile.
	disk.repair()
	failed := saves(mfs, "error")
	successes := saves(mfs, "success")
	mfs = e.waitFor(t, "a save after the repair", 60*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return saves(mfs, "success") > successes
	})
	truth.Merge(truth2)
	e.assertTruth(t, truth)
	if got := counterValue(mfs, "teams_exporter_last_state_save_timestamp_seconds"); got <= lastSave {
		t.Errorf("last save timestamp %v not after %v once a save succeeded", got, lastSave)
	}
	if got := saves(mfs, "error"); got < failed {
		t.Errorf("saves_total{result=\"error\"} went from %v to %v", failed, got)
	}

	// Saves fail again, then kill -9: what scrapes showed before the kill
	// is what the restart shows, or more; never less.
	disk.breakDir()
	third, truth3 := gen(43, 70*time.Minute, 60*time.Minute)
	ingested = counterValue(mfs, "teams_exporter_records_ingested_total")
	failedBefore := saves(mfs, "error")
	e.waitFor(t, "the third records ingested and saves failing", 60*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_records_ingested_total") >= ingested+float64(len(third)) && saves(mfs, "error") >= failedBefore+2
	})
	raw, err := e.scrapeText()
	if err != nil {
		t.Fatal(err)
	}
	before, err := crashCounterSamples(raw)
	if err != nil {
		t.Fatal(err)
	}
	e.kill(syscall.SIGKILL)
	disk.repair()

	e2 := startExporter(t, ts, state)
	var after simtruth.Truth
	deadline := time.Now().Add(30 * time.Second)
	for after == nil {
		if raw, err := e2.scrapeText(); err == nil {
			after, err = crashCounterSamples(raw)
			if err != nil {
				t.Fatal(err)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("no scrape after the restart: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	went := 0
	for key, v := range before.CallQuality() {
		if after[key] < v {
			if went < 10 {
				t.Errorf("%s went back from %v to %v across the kill -9", key, v, after[key])
			}
			went++
		}
	}
	if went > 0 {
		t.Errorf("%d call-quality samples went back across a kill -9 while saves failed", went)
	}
	e2.waitFor(t, "two polls after the restart", 60*time.Second, successfulPolls(2))
	truth.Merge(truth3)
	e2.assertTruth(t, truth)
}

// TestStateFileProblemsStopTheStart: a state file that cannot be read, and
// one another exporter holds, stop the start with one line and a non-zero
// exit; the file is left as it is.
func TestStateFileProblemsStopTheStart(t *testing.T) {
	t.Parallel()
	ts := startTenant(t, nil)

	dir := t.TempDir()
	unreadable := filepath.Join(dir, "state.json")
	if err := os.Mkdir(unreadable, 0o700); err != nil { // EISDIR on read, for root too
		t.Fatal(err)
	}
	held := filepath.Join(dir, "held.json")
	running := startExporter(t, ts, held)
	running.waitFor(t, "a poll", 60*time.Second, successfulPolls(1))

	for _, tt := range []struct {
		name, state, want string
	}{
		{"unreadable", unreadable, "cannot be read"},
		{"in use", held, "in use by another exporter"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := startExporter(t, ts, tt.state)
			select {
			case <-e.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("still running with a state file that is %s:\n%s", tt.name, testrun.LastLines(e.logs(), 10))
			}
			if code := e.cmd.ProcessState.ExitCode(); code == 0 {
				t.Errorf("exit code 0 with a state file that is %s", tt.name)
			}
			var lines []string
			for _, l := range strings.Split(strings.TrimSpace(e.logs()), "\n") {
				if strings.Contains(l, "level=ERROR") {
					lines = append(lines, l)
				}
			}
			if len(lines) != 1 || !strings.Contains(lines[0], tt.want) {
				t.Errorf("want one error line saying %q, got:\n%s", tt.want, strings.Join(lines, "\n"))
			}
		})
	}
	if fi, err := os.Stat(unreadable); err != nil || !fi.IsDir() {
		t.Errorf("the unreadable state file was moved: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.corrupt-*")); len(m) != 0 {
		t.Errorf("state files set aside: %v", m)
	}
	// The running exporter was not disturbed.
	if _, err := running.scrape(); err != nil {
		t.Errorf("the first exporter stopped serving: %v", err)
	}
}
