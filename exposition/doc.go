// Package exposition serves /metrics: the registry's families and the
// call-quality collector's, in the format and encoding the scraper
// negotiates. The collector's part, most of every scrape, is rendered once
// per change rather than once per scrape.
package exposition
