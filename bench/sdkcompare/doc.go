// Package sdkcompare measures the exporter's decode and ingest of Graph call
// records against Microsoft's Graph SDK for Go (msgraph-sdk-go) parsing the
// same bytes, for the budgets in BENCHMARKS.md (at least 5x faster and at least
// 10x fewer allocations per record).
//
// It is a separate Go module on purpose: the exporter's own module must
// never depend on the SDK (see the product spec), and the SDK's models
// package is very large to compile. Only the SDK's callRecords models and
// the Kiota JSON parse node are imported, not its request builders.
//
// The SDK side only parses; it has no equivalent of Ingest. That makes the
// comparison favourable to the SDK.
package sdkcompare
