package sdkcompare

import "testing"

// BenchmarkDecode runs both sides on the same records in one run:
// Decode/<record>/exporter is decode + ingest, Decode/<record>/sdk is the
// Graph SDK's parse alone.
func BenchmarkDecode(b *testing.B) {
	recs, err := Records(ExpandedPath)
	if err != nil {
		b.Fatal(err)
	}
	for _, r := range recs {
		b.Run(r.Name+"/exporter", func(b *testing.B) { BenchExporter(b, r.JSON) })
		b.Run(r.Name+"/sdk", func(b *testing.B) { BenchSDK(b, r.JSON) })
	}
}
