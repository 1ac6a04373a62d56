package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

var (
	stateWritesIdle   = flag.Duration("state.idle", 10*time.Second, "TestStateWrites: how long the tenant stays idle while the writes are counted (BENCHMARKS.md: 60s)")
	stateWritesRounds = flag.Int("state.rounds", 10, "TestStateWrites: rounds of new records, one every poll (BENCHMARKS.md: 30)")
)

// processWriteBytes is what the process has caused to be written to
// storage (write_bytes of /proc/<pid>/io): the state, since its logs go to
// a pipe.
func processWriteBytes(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		t.Fatalf("the bytes a process writes are read from /proc/<pid>/io: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no write_bytes in /proc/<pid>/io")
	return 0
}

// TestStateWrites: a save costs what changed. The real binary polls a
// tenant like the demo's every 2 s: an idle poll writes at most a few KiB
// (at most 1 MiB in 60 idle seconds), and records arriving a few at a
// time cost at most 64 KiB of writes each. The figures of BENCHMARKS.md
// come from -state.idle=60s -state.rounds=30.
func TestStateWrites(t *testing.T) {
	t.Parallel()
	ts := startTenant(t, nil)
	now := time.Now()
	const first, perRound = 56, 5
	ts.tenant.Add(graphsim.Generate(graphsim.GenOptions{Seed: 56, Count: first, Start: now.Add(-5 * time.Hour), End: now.Add(-4 * time.Hour)})...)
	state := filepath.Join(t.TempDir(), "state.json")
	e := startExporter(t, ts, state, "TEAMS_EXPORTER_POLL_INTERVAL=2s", "TEAMS_EXPORTER_SETTLE_DELAY=0s")
	records := func(n int) func(map[string]*dto.MetricFamily) bool {
		return func(mfs map[string]*dto.MetricFamily) bool {
			return counterValue(mfs, "teams_call_records_total") >= float64(n)
		}
	}
	mfs := e.waitFor(t, "the first records saved", 60*time.Second, records(first))
	polls := counterValue(mfs, "teams_exporter_polls_total", "result", "success")
	e.waitFor(t, "two more polls", 30*time.Second, successfulPolls(int(polls)+2))

	pid := e.cmd.Process.Pid
	before := processWriteBytes(t, pid)
	time.Sleep(*stateWritesIdle)
	idle := processWriteBytes(t, pid) - before
	limit := int64(float64(1<<20) * stateWritesIdle.Seconds() / 60)
	t.Logf("%v idle at 2 s polls: %d bytes written (%.1f KiB a poll)", *stateWritesIdle, idle, float64(idle)/1024/(stateWritesIdle.Seconds()/2))
	if idle > limit {
		t.Errorf("%v idle wrote %d bytes, more than %d (1 MiB a minute)", *stateWritesIdle, idle, limit)
	}

	before = processWriteBytes(t, pid)
	total := first
	for round := range *stateWritesRounds {
		at := time.Now().Add(-time.Duration(3*round+1) * time.Minute)
		ts.tenant.Add(graphsim.Generate(graphsim.GenOptions{Seed: int64(100 + round), Count: perRound, Start: at.Add(-time.Minute), End: at})...)
		total += perRound
		e.waitFor(t, "a round of records saved", 90*time.Second, records(total))
	}
	added := total - first
	perRecord := (processWriteBytes(t, pid) - before) / int64(added)
	t.Logf("%d records, %d every poll: %.1f KiB written a record", added, perRound, float64(perRecord)/1024)
	if perRecord > 64<<10 {
		t.Errorf("%d bytes written a record, more than 64 KiB", perRecord)
	}
}
