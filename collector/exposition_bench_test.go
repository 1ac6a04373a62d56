package collector_test

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/exposition"
)

// BenchmarkScrapeExporter is BenchmarkScrape through the exporter's own
// /metrics handler (exposition.Handler) instead of promhttp with the
// collector registered: the cost of a scrape between two publishes, which
// is every scrape once Prepare has run after each publish.
func BenchmarkScrapeExporter(b *testing.B) {
	collector.BenchScrape(b, exporterHandler, nil)
}

// BenchmarkScrapeExporterPrepare is the cost of the render the poller
// triggers after each publish, off the scrape path (Prepare, then one
// scrape of the format prepared).
func BenchmarkScrapeExporterPrepare(b *testing.B) {
	var h *exposition.Handler
	collector.BenchScrape(b, func(c *collector.Collector) http.Handler {
		h = exporterHandler(c).(*exposition.Handler)
		return h
	}, func(c *collector.Collector) {
		collector.Changed(c)
		h.Prepare()
	})
}

// exporterHandler serves c as cmd/exporter does: beside a registry holding
// the Go and process collectors.
func exporterHandler(c *collector.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return exposition.NewHandler(reg, c, slog.New(slog.DiscardHandler))
}
