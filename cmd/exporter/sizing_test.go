package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

var (
	sizingRecords   = flag.Int("sizing.records", 0, "call records in the look-back for TestSizing (docs/operations.md, Sizing); 0 skips it")
	sizingBuildings = flag.Bool("sizing.buildings", false, "TestSizing with the demo building file: the site families, many more series")
)

// TestSizing measures the exporter process alone: the real binary, built
// without the race detector, against a simulated tenant served from this
// test's process, so that the simulator's memory and CPU are not the
// exporter's. The tenant holds a day of records (23 hours of start
// times); the exporter ingests them all (its first start, the most it
// ever holds at once), then polls on. Measured from /proc: the peak and
// the steady resident memory, the CPU of the first ingestion and of a
// steady poll, the state directory's size, and the series served.
//
//	nice go test ./cmd/exporter -run TestSizing -v -timeout 60m -sizing.records=25000
func TestSizing(t *testing.T) {
	n := *sizingRecords
	if n == 0 {
		t.Skip("a measurement: -sizing.records=N runs it (docs/operations.md)")
	}
	bin := filepath.Join(t.TempDir(), "exporter")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	ts := startTenant(t, nil)
	now := time.Now()
	ts.tenant.Add(graphsim.Generate(graphsim.GenOptions{Seed: 1, Count: n, Start: now.Add(-23 * time.Hour), End: now.Add(-time.Minute)})...)

	stateDir := t.TempDir()
	env := []string{"TEAMS_EXPORTER_POLL_INTERVAL=20s", "TEAMS_EXPORTER_LOG_LEVEL=info"}
	if *sizingBuildings {
		env = append(env, "TEAMS_EXPORTER_BUILDING_FILE="+writeDemoBuildings(t))
	}
	e := startBinary(t, bin, ts, filepath.Join(stateDir, "state.json"), env...)
	pid := e.cmd.Process.Pid

	start := time.Now()
	mfs := e.waitFor(t, "every record ingested", 50*time.Minute, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_records_ingested_total") >= float64(n)
	})
	catchUp, catchUpCPU := time.Since(start), procCPU(t, pid)
	polls := counterValue(mfs, "teams_exporter_polls_total", "result", "success")
	const steadyPolls = 3
	e.waitFor(t, "steady polls", 10*time.Minute, successfulPolls(int(polls)+1))
	cpu0 := procCPU(t, pid)
	e.waitFor(t, "steady polls", 10*time.Minute, successfulPolls(int(polls)+1+steadyPolls))
	perPoll := (procCPU(t, pid) - cpu0) / steadyPolls
	text, err := e.scrapeText()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for line := range strings.Lines(string(text)) {
		if !strings.HasPrefix(line, "#") && strings.TrimSpace(line) != "" {
			series++
		}
	}
	var stateBytes int64
	entries, _ := os.ReadDir(stateDir)
	for _, de := range entries {
		if fi, err := de.Info(); err == nil {
			stateBytes += fi.Size()
		}
	}
	const mib = 1 << 20
	t.Logf("records=%d buildings=%v series=%d rss_peak=%.0fMiB rss_steady=%.0fMiB catch_up=%s catch_up_cpu=%s cpu_per_poll=%s state=%.1fMiB",
		n, *sizingBuildings, series, float64(procStatus(t, pid, "VmHWM"))/mib, float64(procStatus(t, pid, "VmRSS"))/mib,
		catchUp.Round(time.Second), catchUpCPU.Round(10*time.Millisecond), perPoll.Round(time.Millisecond), float64(stateBytes)/mib)
}

// procCPU is the user and system CPU time a process has used.
func procCPU(t *testing.T, pid int) time.Duration {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The fields after the command name, which may hold spaces: utime
	// and stime are the 14th and 15th of the line, in clock ticks of
	// 1/100 s (USER_HZ on Linux).
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+2:]))
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// procStatus is a memory field of /proc/<pid>/status, in bytes.
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}
