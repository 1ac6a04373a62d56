package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/poller"
)

// frozenRegistry registers with a registry but gathers what that registry
// held once: the Go and process collectors change between two gathers,
// and the comparison below needs both handlers to see the same values.
type frozenRegistry struct {
	*prometheus.Registry
	gathered []*dto.MetricFamily
}

func (f *frozenRegistry) Gather() ([]*dto.MetricFamily, error) { return f.gathered, nil }

// TestMetricsMatchPromhttp: /metrics as the exporter builds it (its
// registry with the Go, process, build-info, demo, Graph, poller and
// handler metrics, beside the ledger's saved snapshot of generated
// records) serves, byte for byte, what promhttp serves for the same
// families gathered as one registry, in every format, gzip-compressed or
// not.
func TestMetricsMatchPromhttp(t *testing.T) {
	now := time.Now()
	reg := &frozenRegistry{Registry: newRegistry(true)}
	graphMetrics := poller.NewGraphMetrics(reg, nil)
	l, err := ledger.Open(ledger.Config{Collector: collector.Options{NativeHistograms: true}})
	if err != nil {
		t.Fatal(err)
	}
	poller.New(poller.Config{Registerer: reg, Graph: graphMetrics}, nil, l)
	h := newMetricsHandler(reg, l, slog.New(slog.DiscardHandler))

	recs := graphsim.Generate(graphsim.GenOptions{Seed: 11, Count: 40, Start: now.Add(-3 * time.Hour), End: now.Add(-time.Hour)})
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var rec graph.CallRecord
		if err := graph.UnmarshalCallRecord(b, &rec); err != nil {
			t.Fatal(err)
		}
		l.IngestCallRecord(&rec, rec.StartDateTime)
	}
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil)) // counts itself
	if reg.gathered, err = reg.Registry.Gather(); err != nil {
		t.Fatal(err)
	}
	// The reference: every family in name order, as one registry gathers
	// them (prometheus.Gatherers would drop the registry's UNIT lines).
	ref := promhttp.HandlerFor(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		all := append(slices.Clone(reg.gathered), l.Snapshot().Families()...)
		slices.SortFunc(all, func(a, b *dto.MetricFamily) int { return strings.Compare(a.GetName(), b.GetName()) })
		return all, nil
	}), promhttp.HandlerOpts{EnableOpenMetrics: true})

	for _, accept := range []string{
		"application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
		"application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.4,*/*;q=0.3",
		"text/plain;version=0.0.4",
	} {
		_, want := testrun.Scrape(t, ref, "/metrics", accept, "")
		for _, coding := range []string{"", "gzip"} {
			if _, got := testrun.Scrape(t, h, "/metrics", accept, coding); !bytes.Equal(got, want) {
				t.Errorf("%q, Accept-Encoding %q: /metrics differs from promhttp's (%d bytes, want %d)", accept, coding, len(got), len(want))
			}
		}
	}
	_, text := testrun.Scrape(t, h, "/metrics", "text/plain;version=0.0.4", "")
	for _, want := range []string{"teams_exporter_demo_mode 1\n", "promhttp_metric_handler_requests_total{code=\"200\"}", "teams_streams_total{"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
