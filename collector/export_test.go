package collector

// Bridges to the external test package collector_test, which can import
// the exposition handler (exposition imports collector).

// BenchScrape is benchScrape, for handlers built outside this package.
var BenchScrape = benchScrape

// Changed marks c as changed, as an Ingest or Restore does, so that what
// is rendered from it must be rendered again.
func Changed(c *Collector) {
	c.mu.Lock()
	c.version++
	c.mu.Unlock()
}
