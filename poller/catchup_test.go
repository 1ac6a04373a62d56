package poller

import (
	"context"
	"flag"
	"math/rand/v2"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/ledger"
)

var catchupRecords = flag.Int("catchup.records", 300, "records waiting after a 24 h downtime in TestCatchUpAtQuota (BENCHMARKS.md: 6000)")

// TestCatchUpAtQuota starts the exporter after a day of downtime with
// records waiting, with the client's default pacing, against a tenant that
// keeps Graph's throttling accounts and enforces them (429 beyond 1,500
// requests per app in any 20 s, $batch items counted singly). Record
// fetches must draw no 429 and never exceed the limit in any window; with
// enough records to fetch for longer than a window (bench/run), they must
// run at 90 % of the limit or more.
func TestCatchUpAtQuota(t *testing.T) {
	n := *catchupRecords
	if raceEnabled && !flagSet("catchup.records") {
		n = 100
	}
	now := time.Now()
	pool := econPool(7)
	rng := rand.New(rand.NewPCG(24, uint64(n)))
	tenant := graphsim.New(graphsim.Options{TenantID: "t", ClientID: "c", ClientSecret: "s"})
	for i := range n {
		start := now.Add(-23*time.Hour + time.Duration(i)*(22*time.Hour)/time.Duration(n))
		tenant.Add(econClone(pool[i%len(pool)], econUUID(rng), start))
	}
	quota := &graphsim.Quota{Enforce: true}
	var mu sync.Mutex
	var first, last time.Time
	tenant.Use(quota.Middleware(), func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if graphsim.Operation(r) == graphsim.OpGet {
				mu.Lock()
				if first.IsZero() {
					first = time.Now()
				}
				last = time.Now()
				mu.Unlock()
			}
			next.ServeHTTP(w, r)
		})
	})
	p, _ := newTestPoller(t, tenant, "", nil, func(gc *graph.Config, pc *Config) {
		gc.ListRate, gc.TenantRate = 0, 0 // the defaults
		pc.Graph = NewGraphMetrics(pc.Registerer, nil)
		gc.Observer = pc.Graph
	})
	p.ledger.UpdatePosition(func(pos *ledger.Position) { pos.LastSuccess = now.Add(-24 * time.Hour) })
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	st := quota.Stats()
	items := econCountsOf(tenant.Requests()).fetchRequests()
	span := last.Sub(first)
	rate := float64(items) / span.Seconds()
	fraction := rate * 20 / float64(graphsim.CallRecordLimits.PerApp)
	t.Logf("catch-up: records=%d fetch_requests=%d in %v: %.1f/s = %.0f per 20 s = %.1f%% of 1,500 | worst 20 s window %d | over the limit %d | ingested %.0f",
		n, items, span.Round(time.Millisecond), rate, rate*20, 100*fraction, st.MaxPerApp, st.Over, econCounterValue(p.metrics.ingested))
	if st.Over != 0 || st.MaxPerApp > graphsim.CallRecordLimits.PerApp {
		t.Errorf("pacing drew %d requests over Graph's limit; worst window %d", st.Over, st.MaxPerApp)
	}
	if got := econCounterValue(p.metrics.ingested); got != float64(n) {
		t.Errorf("ingested %v of %d", got, n)
	}
	if span > 25*time.Second && fraction < 0.9 {
		t.Errorf("catch-up ran at %.1f%% of the per-app limit, want 90%% or more", 100*fraction)
	}
}
