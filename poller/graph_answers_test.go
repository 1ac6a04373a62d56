package poller

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// A fetched body without startDateTime is de-duplicated by the start time
// the listing gave: ingested once over five polls, not once per poll.
// Values outside their plausible range are counted, not observed; the
// list page gauge shows the page size Graph gave.
func TestGraphAnswersIdentityAndValues(t *testing.T) {
	tenant := graphsim.New(graphsim.Options{TenantID: "t", ClientID: "c", ClientSecret: "s", MaxPageSize: 4})
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 5, Count: 10, Start: now.Add(-3 * time.Hour), End: now.Add(-time.Hour)})
	tenant.Add(recs...)
	start := regexp.MustCompile(`"startDateTime":"[^"]*",`)
	tenant.Use(graphsim.Rewrite(graphsim.OpGet, func(_ *http.Request, b []byte) []byte {
		b = start.ReplaceAll(b, nil) // every startDateTime, the record's first
		return bytes.Replace(b, []byte(`"averagePacketLossRate":`), []byte(`"averagePacketLossRate":1e300,"x":`), 1)
	}))
	var gm *GraphMetrics
	p, reg := newTestPoller(t, tenant, "", nil, func(gc *graph.Config, pc *Config) {
		gm = NewGraphMetrics(pc.Registerer, nil)
		gc.Observer = gm
		pc.FullScanInterval = time.Nanosecond
	})
	for range 5 {
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if got := sumCounter(t, reg, "teams_exporter_records_ingested_total"); got != 10 {
		t.Errorf("ingested %v over five polls, want each of the 10 records once", got)
	}
	if got := skippedReason(t, reg, ReasonImplausible); got < 1 {
		t.Errorf("implausible values counted %v, want at least one per record with streams", got)
	}
	if got := gaugeValue(t, reg, "teams_exporter_list_page_records"); got != 4 {
		t.Errorf("teams_exporter_list_page_records = %v, want 4 (the tenant's page cap)", got)
	}
}

func skippedReason(t *testing.T, g prometheus.Gatherer, reason string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "teams_exporter_skipped_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "reason" && l.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func gaugeValue(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}
