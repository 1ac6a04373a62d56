package poller

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// A shutdown in the middle of a poll is not a Graph failure: the fetches it
// cancels are neither skipped nor failed, the poll is not an error, and
// readiness is untouched; what was ingested is kept and the rest is fetched
// by the next process.
func TestShutdownMidPollIsNotAFailure(t *testing.T) {
	tenant := newTenant()
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 12, Count: 60, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	tenant.Add(recs...)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var once sync.Once
	tenant.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if graphsim.Operation(r) == graphsim.OpBatch {
				once.Do(cancel) // the first batch is answered, the process is stopping
			}
			next.ServeHTTP(w, r)
		})
	})
	var logs bytes.Buffer
	p, _ := newTestPoller(t, tenant, "", &logs, nil)
	p.health.pollEnded(true, now) // an earlier poll succeeded

	err := p.Poll(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %v, want context.Canceled", err)
	}
	for _, reason := range []string{ReasonFetchFailed, ReasonNotFound} {
		if got := testutil.ToFloat64(p.metrics.skipped.WithLabelValues(reason)); got != 0 {
			t.Errorf("skipped_total{reason=%q} = %v after a shutdown, want 0", reason, got)
		}
	}
	if got := testutil.ToFloat64(p.metrics.polls.WithLabelValues("error")); got != 0 {
		t.Errorf("polls_total{result=\"error\"} = %v after a shutdown, want 0", got)
	}
	if !p.Ready() {
		t.Error("not ready after a shutdown mid-poll")
	}
	if ingested := testutil.ToFloat64(p.metrics.ingested); ingested >= float64(len(recs)) {
		t.Errorf("ingested %v of %d records: the shutdown came too late to test anything", ingested, len(recs))
	}
	if s := logs.String(); strings.Contains(s, "level=WARN") || strings.Contains(s, "level=ERROR") || !strings.Contains(s, "poll interrupted by shutdown") {
		t.Errorf("log after a shutdown mid-poll, want one info line and no warnings or errors:\n%s", s)
	}
}
