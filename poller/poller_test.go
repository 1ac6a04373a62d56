package poller

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtest"
	"github.com/teams-exporter/teams-exporter/ledger"
)

// newTestPoller wires a real graph client, with a real azidentity
// credential, to a simulated tenant over TLS, and a ledger on stateFile
// (restored from it); tune, if given, adjusts the client's and the
// poller's configuration first. The registry serves the ledger's saved
// series beside the poller's metrics.
func newTestPoller(t *testing.T, tenant *graphsim.Tenant, stateFile string, logs io.Writer, tune func(*graph.Config, *Config)) (*Poller, *prometheus.Registry) {
	t.Helper()
	return newTestPollerCollecting(t, tenant, stateFile, logs, tune, collector.Options{})
}

// newTestPollerCollecting is newTestPoller with the collector's options
// (such as a building file's map).
func newTestPollerCollecting(t *testing.T, tenant *graphsim.Tenant, stateFile string, logs io.Writer, tune func(*graph.Config, *Config), col collector.Options) (*Poller, *prometheus.Registry) {
	t.Helper()
	sim := simtest.Serve(t, tenant)
	reg := prometheus.NewRegistry()
	gc := graph.Config{BaseURL: sim.URL, Credential: sim.Credential, HTTPClient: sim.HTTPClient, ListRate: 1000, TenantRate: 10000}
	pc := Config{
		Interval: time.Minute, Lookback: 24 * time.Hour, RecentWindow: 2 * time.Hour, FullScanInterval: time.Hour,
		Registerer: reg,
	}
	if logs != nil {
		pc.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	if tune != nil {
		tune(&gc, &pc)
	}
	client, err := graph.New(gc)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ledger.Open(ledger.Config{Path: stateFile, Now: pc.Now, Logger: pc.Logger, Collector: col})
	if err != nil {
		t.Fatalf("open the ledger: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	p := New(pc, client, l)
	reg.MustRegister(collector.Current(l.Snapshot))
	return p, reg
}

// memoryLedger is a ledger without a state file.
func memoryLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(ledger.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func newTenant() *graphsim.Tenant {
	return graphsim.New(graphsim.Options{TenantID: "t", ClientID: "c", ClientSecret: "s", MaxPageSize: 7})
}

func TestPollIngestsEachRecordOnceAcrossPollsAndRestarts(t *testing.T) {
	tenant := newTenant()
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 9, Count: 50, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	tenant.Add(recs...)
	state := filepath.Join(t.TempDir(), "state.json")

	p, reg := newTestPoller(t, tenant, state, nil, nil)
	for range 3 {
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := testutil.ToFloat64(p.metrics.ingested); got != 50 {
		t.Errorf("ingested %v, want 50", got)
	}
	if !p.Ready() {
		t.Errorf("not ready after successful polls")
	}
	want, err := testutil.GatherAndCount(reg, "teams_call_records_total")
	if err != nil || want == 0 {
		t.Fatalf("no call records series: %v", err)
	}
	callRecords := sumCounter(t, reg, "teams_call_records_total")

	// A second process on the same state file ingests nothing again (the
	// first has ended: its lock is released).
	if err := p.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	p2, reg2 := newTestPoller(t, tenant, state, nil, nil)
	if err := p2.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := testutil.ToFloat64(p2.metrics.ingested); got != 0 {
		t.Errorf("restarted poller ingested %v records again", got)
	}
	if got := sumCounter(t, reg2, "teams_call_records_total"); got != callRecords || got != 50 {
		t.Errorf("call records after restart = %v, before %v, want 50", got, callRecords)
	}
}

func sumCounter(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestCorruptStateFileIsSetAsideAndReported(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":    `{"format":1,"uuids":"AAAA`,
		"not json":     "\x00\x01garbage",
		"wrong format": `{"format":99}`,
		"bad ids":      `{"format":1,"uuids":"!!"}`,
		"bad series":   `{"format":1,"uuids":"","series":{"series":[{"name":"teams_nope"}]}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			state := filepath.Join(dir, "state.json")
			if err := os.WriteFile(state, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			p, _ := newTestPoller(t, newTenant(), state, &logs, nil) // fails if the ledger refuses to start
			aside, _ := filepath.Glob(state + ".corrupt-*")
			if len(aside) != 1 {
				t.Fatalf("corrupt file not set aside: %v", aside)
			}
			if kept, _ := os.ReadFile(aside[0]); string(kept) != content {
				t.Errorf("the set-aside file differs from the corrupt one")
			}
			if !strings.Contains(logs.String(), "starting fresh") || !strings.Contains(logs.String(), "counters restart from zero") {
				t.Errorf("log does not say what happened:\n%s", logs.String())
			}
			if p.ledger.Len(ledger.CallRecords) != 0 {
				t.Errorf("ids restored from a corrupt file")
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	p := New(Config{Interval: time.Minute, Now: func() time.Time { return now }}, nil, memoryLedger(t))
	if p.Ready() {
		t.Fatal("ready before any poll")
	}
	p.health.pollEnded(true, now)
	if !p.Ready() {
		t.Fatal("not ready after a success")
	}
	p.health.pollEnded(false, now)
	now = now.Add(3 * time.Minute)
	if !p.Ready() {
		t.Error("not ready after three intervals of failure; want ready until more than three")
	}
	now = now.Add(time.Second)
	if p.Ready() {
		t.Error("ready after more than three intervals of failure")
	}
	p.health.pollEnded(true, now)
	if !p.Ready() {
		t.Error("not ready again after recovery")
	}
	// A poll that retried for 150s before giving up: Graph has been failing
	// since it began, not since it ended.
	p.health.pollEnded(false, now.Add(-150*time.Second))
	now = now.Add(31 * time.Second)
	if p.Ready() {
		t.Error("ready although Graph has failed for more than three intervals, counted from the failing poll's start")
	}
}

// TestReadinessFollowsGraphRequests: given the Graph client's observer,
// readiness turns false once every Graph request has failed for more than
// three intervals, before any poll has ended; a token from Entra does not
// count as Graph answering, an expired record (404) does, but a record
// fetched does not end a run of failed lists.
func TestReadinessFollowsGraphRequests(t *testing.T) {
	gm := NewGraphMetrics(prometheus.NewRegistry(), nil)
	const interval = 2 * time.Millisecond // three intervals: 6ms
	p := New(Config{Interval: interval, Graph: gm}, nil, memoryLedger(t))
	p.health.pollEnded(true, time.Now())
	steps := []struct {
		op    graph.Operation
		code  string
		ready bool
	}{
		{graph.OpGet, "200", true},
		{graph.OpGet, "404", true},
		{graph.OpBatch, "503", false},
		{graph.OpToken, "200", false},
		{graph.OpList, "error", false},
		{graph.OpGet, "404", false}, // records fetched do not mask a failing list
		{graph.OpList, "200", true},
		{graph.OpGet, "401", false},
		{graph.OpToken, "401", false},
		{graph.OpGet, "429", false},
		{graph.OpSessions, "200", true},
	}
	for i, s := range steps {
		gm.ObserveRequest(s.op, s.code, 10*time.Millisecond) // sent 10ms ago
		if got := p.Ready(); got != s.ready {
			t.Errorf("step %d (%s %s): ready = %v, want %v", i, s.op, s.code, got, s.ready)
		}
	}
}

// TestPollPrunesIDsOutOfLookback checks that the poller forgets an id once
// its call started before the look-back window, in memory and in the state
// file, and keeps the ones still inside it.
func TestPollPrunesIDsOutOfLookback(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := &econClock{}
	clock.set(now)
	tenant := newTenant()
	old := graphsim.Generate(graphsim.GenOptions{Seed: 5, Count: 6, Start: now.Add(-20 * time.Hour), End: now.Add(-19 * time.Hour)})
	young := graphsim.Generate(graphsim.GenOptions{Seed: 6, Count: 4, Start: now.Add(-2 * time.Hour), End: now.Add(-time.Hour)})
	tenant.Add(append(old, young...)...)
	state := filepath.Join(t.TempDir(), "state.json")
	p, _ := newTestPoller(t, tenant, state, nil, func(_ *graph.Config, pc *Config) { pc.Now = clock.now })
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := p.ledger.Len(ledger.CallRecords); n != 10 {
		t.Fatalf("%d ids after the first poll, want 10", n)
	}

	clock.add(5 * time.Hour) // the old calls are now 24-25h old, the young ones 3-7h
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, r := range old {
		if p.ledger.Has(ledger.CallRecords, r.ID) {
			t.Errorf("an id whose call started %v before the poll is still kept", clock.now().Sub(r.StartDateTime))
		}
	}
	for _, r := range young {
		if !p.ledger.Has(ledger.CallRecords, r.ID) {
			t.Errorf("an id inside the look-back was pruned")
		}
	}
	if err := p.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	saved, err := ledger.Open(ledger.Config{Path: state})
	if err != nil {
		t.Fatal(err)
	}
	if n := saved.Len(ledger.CallRecords); n != len(young) {
		t.Errorf("state file holds %d ids, want the %d inside the look-back", n, len(young))
	}
}
