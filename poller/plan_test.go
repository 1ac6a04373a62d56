package poller

import (
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// subscribedNotifications is a notification source whose subscription is
// active, with nothing queued.
type subscribedNotifications struct{ on bool }

func (subscribedNotifications) Take(int) []notifications.Notified { return nil }
func (subscribedNotifications) Notified() <-chan struct{}         { return nil }
func (subscribedNotifications) TakeRelist() bool                  { return false }
func (s subscribedNotifications) Subscribed() bool                { return s.on }

// TestListPlanSweepsTheLookBackOnce follows a poller's plans over two
// sweeps: the first poll and the first after a downtime list the whole
// look-back; in between, each poll lists one slice and the recent window,
// and one sweep's slices cover the look-back as it was when the sweep began,
// each start time exactly once.
func TestListPlanSweepsTheLookBackOnce(t *testing.T) {
	m := newListModel(listConfig{interval: 5 * time.Minute, lookback: 24 * time.Hour, recentWindow: 2 * time.Hour, fullScanInterval: time.Hour})
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var pos ledger.Position
	apply := func(pl listPlan) {
		pos.SweepStart, pos.SweepNext, pos.LastSuccess = pl.sweepStart, pl.sweepNext, now
	}
	first := plan(&m, now, pos, false, true)
	if !first.full || len(first.windows) != 1 || first.windows[0] != (timeWindow{now.Add(-24 * time.Hour), now}) {
		t.Fatalf("first poll: %+v, want the whole look-back", first)
	}
	apply(first)
	for sweep := range 2 {
		var covered time.Duration
		var begin time.Time
		for i := range m.pollsPerSweep() {
			now = now.Add(5 * time.Minute)
			pl := plan(&m, now, pos, false, true)
			if pl.full || !pl.recent {
				t.Fatalf("sweep %d poll %d: %+v", sweep, i, pl)
			}
			if i == 0 {
				begin = pl.sweepStart
			}
			recent := pl.windows[len(pl.windows)-1]
			if recent != (timeWindow{now.Add(-2 * time.Hour), now}) {
				t.Errorf("recent window %v", recent)
			}
			for _, w := range pl.windows[:len(pl.windows)-1] {
				if want := begin.Add(-24*time.Hour + covered); !w.from.Equal(want) {
					t.Errorf("sweep %d poll %d: slice from %s, want %s (gap or overlap)", sweep, i, w.from, want)
				}
				covered += w.to.Sub(w.from)
			}
			apply(pl)
			if pl.done != (i == m.pollsPerSweep()-1) {
				t.Errorf("sweep %d poll %d: done=%v", sweep, i, pl.done)
			}
		}
		// The slices reach up to the recent window of the last poll.
		if want := 24*time.Hour - 2*time.Hour + 55*time.Minute; covered != want {
			t.Errorf("sweep %d covered %v of the look-back, want %v (the rest is the recent window)", sweep, covered, want)
		}
	}
	// A downtime longer than the full-scan interval: everything at once.
	now = now.Add(2 * time.Hour)
	if pl := plan(&m, now, pos, false, true); !pl.full {
		t.Errorf("after a downtime: %+v, want the whole look-back", pl)
	}
	// A re-list request makes the rest of the sweep due at once.
	now = pos.LastSuccess.Add(5 * time.Minute)
	pos.SweepNext = 3
	if pl := plan(&m, now, pos, true, true); !pl.sweepStart.Equal(pos.SweepStart) || pl.sweepNext != m.sweepSlices() || !pl.done {
		t.Errorf("re-list: sweep from %s up to slice %d (done %v), want the rest of the sweep from %s", pl.sweepStart, pl.sweepNext, pl.done, pos.SweepStart)
	}
	// With a subscription delivering, the recent window is not listed.
	if pl := plan(&m, now, pos, false, false); pl.recent || len(pl.windows) != 1 || pl.windows[0].to.After(pos.SweepStart) {
		t.Errorf("with notifications: %+v, want one slice and no recent window", pl)
	}
	p := New(Config{Interval: 5 * time.Minute, Lookback: 24 * time.Hour, RecentWindow: 2 * time.Hour, FullScanInterval: time.Hour,
		Notifications: subscribedNotifications{on: true}}, nil, memoryLedger(t))
	if p.listsRecent() {
		t.Error("a poller whose subscription delivers lists the recent window")
	}
}

// TestStretchedCadenceStretchesTheSweep: when listing at the configured
// interval would exceed 90 % of Graph's list limit, polls are spaced out
// and the sweep with them, so a poll still lists one slice and the list
// rate falls below the limit.
func TestStretchedCadenceStretchesTheSweep(t *testing.T) {
	p := New(Config{Interval: 5 * time.Minute, Lookback: 24 * time.Hour, RecentWindow: 2 * time.Hour, FullScanInterval: time.Hour}, nil, memoryLedger(t))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p.stretch(now, true, 1080) // 1,080 requests a poll: 1.8/s allows 540 in 5 min
	if p.model.interval != 10*time.Minute {
		t.Fatalf("interval %v, want 10m", p.model.interval)
	}
	perPoll := p.model.sweepSlices() / p.model.pollsPerSweep()
	pos := ledger.Position{LastSuccess: now, SweepStart: now, SweepNext: perPoll}
	now = now.Add(p.model.interval)
	pl := plan(&p.model, now, pos, false, true)
	if pl.sweepNext != 2*perPoll || pl.full {
		t.Errorf("a stretched poll planned slices up to %d (full %v), want a poll's share, the second: up to %d", pl.sweepNext, pl.full, 2*perPoll)
	}
	if got := testutil.ToFloat64(p.metrics.interval); got != 600 {
		t.Errorf("teams_exporter_poll_interval_seconds = %v, want 600", got)
	}
}

// TestListPlanKeepsEachPollWithinItsBudget: a look-back whose records
// crowd into a working day, each slice of a poll's share of it holding
// four times what a poll may list. Each poll lists no more than its
// budget, the slices still cover the look-back once, and the stretch
// spaces the polls so that the sweep fits in their budgets.
func TestListPlanKeepsEachPollWithinItsBudget(t *testing.T) {
	for _, c := range []struct {
		name             string
		notified, relist bool
	}{
		{"polling", false, false},
		{"notifications", true, false},
		// A re-list asked at every poll (notifications lost at every
		// poll): the sweep runs at its budget and still ends.
		{"re-list at every poll", true, true},
	} {
		notified := c.notified
		t.Run(c.name, func(t *testing.T) {
			p := New(Config{Interval: 5 * time.Minute, Lookback: 24 * time.Hour, RecentWindow: 2 * time.Hour, FullScanInterval: time.Hour}, nil, memoryLedger(t))
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			// What a listing of the whole look-back returned: 5,000 records a
			// grain (83 pages of 60) from 08:00 to 18:00, 10 at night.
			lookback := timeWindow{now.Add(-24 * time.Hour), now}
			counts := map[int64]int{}
			for g := grainOf(lookback.from); g < grainOf(now); g++ {
				counts[g] = 10
				if h := grainStart(g).UTC().Hour(); h >= 8 && h < 18 {
					counts[g] = 5000
				}
			}
			p.model.recordGrains(lookback, counts)
			p.model.pageRecords = 60
			pos := ledger.Position{LastSuccess: now, SweepStart: now, SweepNext: p.model.sweepSlices()}

			p.stretch(now, !notified, 0)
			// 10 h of 60,000 records an hour in pages of 60, over 12 polls.
			if p.model.interval <= 5*time.Minute {
				t.Fatalf("interval %v: not stretched for a sweep of %.0f pages", p.model.interval, p.model.expectedPages(lookback))
			}
			// The interval is the one at which the planned requests are 90 %
			// of the limit, to the second.
			planned := testutil.ToFloat64(p.metrics.listPlanned)
			if budget := p.model.listBudget(); planned < budget-2 || planned > budget+2 {
				t.Errorf("teams_exporter_list_requests_planned_per_poll = %v; the stretched interval %v allows %.0f", planned, p.model.interval, budget)
			}
			var covered time.Duration
			begin := time.Time{}
			for poll := 0; ; poll++ {
				if poll > 3*p.model.pollsPerSweep() {
					t.Fatalf("the sweep did not end in %d polls (covered %v)", poll, covered)
				}
				now = now.Add(p.model.interval)
				pl := plan(&p.model, now, pos, c.relist, !notified)
				if begin.IsZero() {
					begin = pl.sweepStart
				}
				slices := pl.windows
				if pl.recent {
					slices = slices[:len(slices)-1]
				}
				pages := 0.0
				for _, w := range pl.windows {
					pages += p.model.expectedPages(w)
				}
				if budget := p.model.listBudget(); pages > budget {
					t.Errorf("poll %d: %.0f list requests expected, budget %.0f", poll, pages, budget)
				}
				for _, w := range slices {
					if want := begin.Add(-24*time.Hour + covered); !w.from.Equal(want) {
						t.Fatalf("poll %d: slice from %s, want %s (gap or overlap)", poll, w.from, want)
					}
					covered += w.to.Sub(w.from)
				}
				pos.SweepStart, pos.SweepNext, pos.LastSuccess = pl.sweepStart, pl.sweepNext, now
				if pl.done {
					break
				}
			}
			want := 24 * time.Hour
			if !notified {
				// The recent window of the last poll lists the rest, if any.
				want = min(want, 22*time.Hour+now.Sub(begin))
			}
			t.Logf("interval %v, sweep of %v", p.model.interval, now.Sub(begin))
			if covered != want {
				t.Errorf("the sweep covered %v of the look-back, want %v", covered, want)
			}
		})
	}
}

// TestRestartedPollerStretchesBeforeItsFirstPlan: the interval in force is
// not saved, so a restarted exporter sizes it from what its ledger holds
// before planning its first poll, instead of listing at the configured
// cadence (or, were the stretched interval longer than the full-scan
// interval, taking the restart for a downtime and listing the whole
// look-back at once).
func TestRestartedPollerStretchesBeforeItsFirstPlan(t *testing.T) {
	l := memoryLedger(t)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// 40,000 records in the recent window of the next poll: 667 pages of
	// 60 at each poll.
	for i := range 40000 {
		start := now.Add(5*time.Minute - time.Duration(i+1)*(2*time.Hour/40000))
		l.MarkMalformed(ledger.CallRecords, ledger.Item{ID: fmt.Sprintf("r%d", i), Start: start, Version: 1}) // ids only
	}
	l.UpdatePosition(func(pos *ledger.Position) { pos.LastSuccess, pos.SweepStart = now, now })
	p := New(Config{Interval: 5 * time.Minute, Lookback: 24 * time.Hour, RecentWindow: 2 * time.Hour, FullScanInterval: time.Hour}, nil, l)
	now = now.Add(5 * time.Minute)
	p.model.ingestedPerGrain = l.CountStarts(ledger.CallRecords, sliceGrain)
	p.stretch(now, true, 0)
	if want := 667 / (listLimitPerSecond * listBudgetShare); p.model.interval.Seconds() < want {
		t.Errorf("interval %v before the first plan, want at least %.0fs", p.model.interval, want)
	}
	if pl := plan(&p.model, now, l.Position(), false, true); pl.full {
		t.Errorf("the first poll after a restart lists the whole look-back: %+v", pl)
	}
}
