package collector_test

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/exposition"
)

// BenchmarkScrapeExporter is BenchmarkScrape through the exporter's own
// /metrics handler (exposition.Handler) instead of promhttp with the
// snapshot registered: the cost of a scrape between two saves, which is
// every scrape but the first after each save.
func BenchmarkScrapeExporter(b *testing.B) {
	collector.BenchScrape(b, exporterHandler, false)
}

// BenchmarkScrapeExporterPublish is the cost of a publication seen by the
// first scrape after it: a new snapshot of the store is cut (as each save
// cuts the one it writes), and the scrape renders and encodes it.
func BenchmarkScrapeExporterPublish(b *testing.B) {
	collector.BenchScrape(b, exporterHandler, true)
}

// exporterHandler serves the current snapshot as cmd/exporter does: beside
// a registry holding the Go and process collectors.
func exporterHandler(current func() *collector.Snapshot) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return exposition.NewHandler(reg, current, exposition.Options{Registry: reg})
}
