package poller

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/graphsim"
)

// New series are published (and Published called) when a save holds
// something scrapes do not show yet, and only then: an idle poll leaves the
// scrape cache warm.
func TestPublishOnlyWhatChanged(t *testing.T) {
	tenant := newTenant()
	now := time.Now()
	recs, _ := graphsim.Generate(graphsim.GenOptions{Seed: 3, Count: 10, Start: now.Add(-time.Hour), End: now.Add(-time.Minute)})
	tenant.Add(recs...)
	var published atomic.Int64
	p, _ := newTestPoller(t, tenant, "", nil, func(_ *graph.Config, c *Config) {
		c.Published = func() { published.Add(1) }
	})
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if published.Load() == 0 {
		t.Fatal("a poll that ingested records published nothing")
	}
	if got := p.Collector().Version(); got == 0 {
		t.Fatal("published collector unchanged after ingesting")
	}
	before, version := published.Load(), p.Collector().Version()
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Save(); err != nil {
		t.Fatal(err)
	}
	if published.Load() != before || p.Collector().Version() != version {
		t.Errorf("an idle poll and a save published again (%d calls, was %d): scrapes would render everything anew", published.Load(), before)
	}
}
