package collector

import (
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// BenchmarkScrapeGatherer is BenchmarkScrape with the collector served
// through Gatherer beside the registry instead of registered with it.
func BenchmarkScrapeGatherer(b *testing.B) { benchScrape(b, gathererBenchHandler, nil) }

// BenchmarkScrapeChanged is BenchmarkScrapeGatherer with the store changed
// before every scrape, so each scrape rebuilds the view: the cost of the
// first scrape after a poll.
func BenchmarkScrapeChanged(b *testing.B) {
	benchScrape(b, gathererBenchHandler, func(c *Collector) {
		c.mu.Lock()
		c.version++
		c.mu.Unlock()
	})
}

// gathererBenchHandler serves c through Gatherer beside a registry holding
// what cmd/exporter registers besides the collector.
func gathererBenchHandler(c *Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return promhttp.HandlerForTransactional(Gatherer(reg, c), promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.HTTPErrorOnError,
		Registry:          reg,
	})
}
