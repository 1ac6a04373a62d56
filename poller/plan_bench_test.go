package poller

import (
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/ledger"
)

// BenchmarkPlan measures what a poll spends deciding what to list: the
// stretch before the plan and the plan itself, mid-sweep, over a 24 h
// look-back whose grains hold a working day's peak (5,000 records a grain
// from 08:00 to 18:00, 10 at night) in pages of 60.
func BenchmarkPlan(b *testing.B) {
	p := New(Config{Interval: 5 * time.Minute, Lookback: 24 * time.Hour, RecentWindow: 2 * time.Hour, FullScanInterval: time.Hour}, nil, benchLedger(b))
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
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
	pos := ledger.Position{LastSuccess: now, SweepStart: now, SweepNext: p.model.sweepSlices() / 2}
	now = now.Add(5 * time.Minute)
	for b.Loop() {
		p.stretch(now, true, 0)
		pl := plan(&p.model, now, pos, false, true)
		if len(pl.windows) == 0 {
			b.Fatal("nothing planned")
		}
	}
}

func benchLedger(b *testing.B) *ledger.Ledger {
	l, err := ledger.Open(ledger.Config{})
	if err != nil {
		b.Fatal(err)
	}
	return l
}
