package poller

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
)

// TestHealthFailingSinceTheEarlierReport: Graph has been failing since the
// earlier of the failed poll's start and the first of an unbroken run of
// failed requests, and each is cleared only by its own kind of success: a
// request Graph answers does not make a failed poll good (a list page that
// cannot be read fails the poll while every request gets a 200).
func TestHealthFailingSinceTheEarlierReport(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	const limit = 3 * time.Minute
	type report struct {
		poll    bool // a poll ended (else a request was answered)
		list    bool // the request was a list request
		ok      bool
		at      time.Duration // the poll's start or the request's sending, after t0
		readyAt time.Duration // the time Ready is asked after this report, after t0
		ready   bool
	}
	for _, tc := range []struct {
		name    string
		reports []report
	}{
		{"requests fail first", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{poll: true, ok: false, at: 3 * time.Minute, readyAt: 4 * time.Minute, ready: true},
			{ok: false, at: 4 * time.Minute, readyAt: 4*time.Minute + time.Second, ready: false},
		}},
		{"the poll fails first", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{poll: true, ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{ok: false, at: 3 * time.Minute, readyAt: 4*time.Minute + time.Second, ready: false},
		}},
		{"a good answer does not clear a failed poll", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{poll: true, ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{ok: true, at: 3 * time.Minute, readyAt: 4*time.Minute + time.Second, ready: false},
			{poll: true, ok: true, at: 4 * time.Minute, readyAt: 5 * time.Minute, ready: true},
		}},
		{"a good poll does not clear failing requests", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{poll: true, ok: true, at: 2 * time.Minute, readyAt: 4*time.Minute + time.Second, ready: false},
			{ok: true, at: 5 * time.Minute, readyAt: 5 * time.Minute, ready: true},
		}},
		{"an answer to a request sent before the failure does not clear it", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{ok: true, at: 30 * time.Second, readyAt: 4*time.Minute + time.Second, ready: false},
			{ok: true, at: time.Minute, readyAt: 4*time.Minute + time.Second, ready: true},
		}},
		{"records fetched do not mask a failing list", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{list: true, ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{ok: true, at: 2 * time.Minute, readyAt: 4*time.Minute + time.Second, ready: false},
			{list: true, ok: true, at: 5 * time.Minute, readyAt: 5 * time.Minute, ready: true},
		}},
		{"a list answered clears failing gets sent before it", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{list: true, ok: true, at: 2 * time.Minute, readyAt: 4*time.Minute + time.Second, ready: true},
		}},
		{"a good poll begun after a failed list clears it", []report{
			{poll: true, ok: true, at: 0, readyAt: 0, ready: true},
			{list: true, ok: false, at: time.Minute, readyAt: 2 * time.Minute, ready: true},
			{poll: true, ok: true, at: 90 * time.Second, readyAt: 4*time.Minute + time.Second, ready: true},
		}},
		{"never ready before a poll succeeded", []report{
			{ok: true, at: 0, readyAt: 0, ready: false},
			{poll: true, ok: false, at: 0, readyAt: time.Minute, ready: false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := t0
			h := newHealth(func() time.Time { return now })
			for i, r := range tc.reports {
				if r.poll {
					h.pollEnded(r.ok, t0.Add(r.at))
				} else {
					h.requestAnswered(r.list, r.ok, t0.Add(r.at))
				}
				now = t0.Add(r.readyAt)
				if got := h.ready(limit); got != r.ready {
					t.Errorf("report %d: ready = %v at %v, want %v", i, got, r.readyAt, r.ready)
				}
			}
		})
	}
}

// TestReadinessOnThePollersClock: the Graph metrics built on another clock
// (the real one) judge readiness on the poller's once it takes them, so
// that a request's sending and a poll's start are on one clock. A failed
// list request on the real clock used to look years younger than a poll
// on the test's.
func TestReadinessOnThePollersClock(t *testing.T) {
	t0 := time.Date(2020, 1, 6, 12, 0, 0, 0, time.UTC)
	now := t0
	gm := NewGraphMetrics(prometheus.NewRegistry(), nil)
	l := memoryLedger(t)
	defer l.Close()
	p := New(Config{Interval: time.Minute, Lookback: time.Hour, RecentWindow: time.Hour, FullScanInterval: time.Hour,
		Registerer: prometheus.NewRegistry(), Now: func() time.Time { return now }, Graph: gm}, nil, l)
	p.health.pollEnded(true, t0)
	gm.ObserveRequest(graph.OpList, "503", time.Second)
	now = t0.Add(3*time.Minute - 2*time.Second)
	if !p.Ready() {
		t.Error("not ready with the list failing for less than three intervals")
	}
	now = t0.Add(3*time.Minute + 2*time.Second)
	if p.Ready() {
		t.Error("ready with the list failing for more than three intervals")
	}
}
