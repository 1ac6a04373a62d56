package collector

// Bridges to the external test package collector_test, which can import
// the exposition handler (exposition imports collector).

// BenchScrape is benchScrape, for handlers built outside this package.
var BenchScrape = benchScrape
