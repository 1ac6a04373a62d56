package poller

import (
	"context"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// A save publishes a new snapshot when the series changed since the last
// one, and only then: an idle poll and a save leave scrapes the snapshot
// they have, with what they cached from it.
func TestPublishOnlyWhatChanged(t *testing.T) {
	tenant := newTenant()
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 3, Count: 10, Start: now.Add(-time.Hour), End: now.Add(-time.Minute)})
	tenant.Add(recs...)
	p, _ := newTestPoller(t, tenant, "", nil, nil)
	empty := p.ledger.Snapshot()
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	published := p.ledger.Snapshot()
	if published == empty || len(published.Series) == 0 {
		t.Fatal("a poll that ingested records published nothing")
	}
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.ledger.Save(); err != nil {
		t.Fatal(err)
	}
	if p.ledger.Snapshot() != published {
		t.Error("an idle poll and a save published again: scrapes would render everything anew")
	}
}
