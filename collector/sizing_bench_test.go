package collector

import (
	"runtime"
	"testing"

	"github.com/prometheus/common/expfmt"
)

// BenchmarkFullCardinalityHeap measures what the exporter holds for the
// full-cardinality collector (150,427 series with a 300-site building
// file, docs/operations.md, Sizing): the collector's store, its snapshot,
// and the snapshot encoded in OpenMetrics with gzip, as /metrics caches
// it. The heap is read after a collection, with nothing else alive, so it
// is the exporter's share alone.
//
//	go test -run '^$' -bench FullCardinalityHeap -benchtime 1x ./collector
func BenchmarkFullCardinalityHeap(b *testing.B) {
	for range b.N {
		before := liveHeap()
		c := fullCardinalityCollector(false, false)
		s := c.Snapshot()
		enc, err := s.Encode(expfmt.NewFormat(expfmt.TypeOpenMetrics))
		if err != nil {
			b.Fatal(err)
		}
		after := liveHeap()
		b.ReportMetric(float64(after-before)/(1<<20), "heap-MiB")
		runtime.KeepAlive(c)
		runtime.KeepAlive(enc)
	}
}

// liveHeap is the heap in use after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
