package sdkcompare

import (
	"errors"
	"fmt"
	"os"
	"testing"

	jsonserialization "github.com/microsoft/kiota-serialization-json-go"
	"github.com/microsoftgraph/msgraph-sdk-go/models/callrecords"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// ExpandedPath is the documented example record, relative to this module's
// directory (where `go test` and the guard run).
const ExpandedPath = "../../graph/testdata/callrecord-expanded.json"

// Record is one benchmark input: Graph JSON of a call record with its
// sessions expanded.
type Record struct {
	Name     string
	JSON     []byte
	Sessions int // sessions in JSON, checked on both sides
}

// Records returns the three benchmark records, in order: the documented
// example (expanded), a 20-person meeting (meeting20) and a 300-session
// all-hands (allhands300). The two large ones are the bytes collector's
// BenchmarkDecodeIngest uses (graphsim.MeetingJSON).
func Records(expandedPath string) ([]Record, error) {
	expanded, err := os.ReadFile(expandedPath)
	if err != nil {
		return nil, fmt.Errorf("read example record: %w", err)
	}
	recs := []Record{{Name: "expanded", JSON: expanded, Sessions: 1}}
	for _, m := range []struct {
		name     string
		sessions int
	}{{"meeting20", 20}, {"allhands300", 300}} {
		b, err := graphsim.MeetingJSON(m.sessions)
		if err != nil {
			return nil, fmt.Errorf("build %s: %w", m.name, err)
		}
		recs = append(recs, Record{Name: m.name, JSON: b, Sessions: m.sessions})
	}
	for _, r := range recs {
		if err := r.check(); err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// check makes sure both sides really decode the record's sessions, so
// neither is measured doing less than the other expects.
func (r Record) check() error {
	var rec graph.CallRecord
	if err := graph.UnmarshalCallRecord(r.JSON, &rec); err != nil {
		return fmt.Errorf("%s: exporter decode: %w", r.Name, err)
	}
	if len(rec.Sessions) != r.Sessions {
		return fmt.Errorf("%s: exporter decoded %d sessions, want %d", r.Name, len(rec.Sessions), r.Sessions)
	}
	sdk, err := SDKParse(r.JSON)
	if err != nil {
		return fmt.Errorf("%s: %w", r.Name, err)
	}
	if got := len(sdk.GetSessions()); got != r.Sessions {
		return fmt.Errorf("%s: SDK parsed %d sessions, want %d", r.Name, got, r.Sessions)
	}
	return nil
}

// ExporterDecodeIngest is what the exporter does with one record body:
// graph.UnmarshalCallRecord (the client's decoder), then Ingest into the
// collector, as collector's BenchmarkDecodeIngest does.
func ExporterDecodeIngest(c *collector.Collector, body []byte) error {
	var rec graph.CallRecord
	if err := graph.UnmarshalCallRecord(body, &rec); err != nil {
		return fmt.Errorf("decode call record: %w", err)
	}
	c.Ingest(&rec)
	return nil
}

// SDKParse is how msgraph-sdk-go turns a callRecord response body into its
// model: a Kiota JSON parse node, then GetObjectValue with the callRecord
// factory. Sessions, segments and media, expanded inline, are parsed too.
func SDKParse(body []byte) (callrecords.CallRecordable, error) {
	node, err := jsonserialization.NewJsonParseNode(body)
	if err != nil {
		return nil, fmt.Errorf("SDK parse node: %w", err)
	}
	v, err := node.GetObjectValue(callrecords.CreateCallRecordFromDiscriminatorValue)
	if err != nil {
		return nil, fmt.Errorf("SDK parse call record: %w", err)
	}
	rec, ok := v.(callrecords.CallRecordable)
	if !ok {
		return nil, errors.New("SDK parse call record: not a callRecord")
	}
	return rec, nil
}

// BenchExporter benchmarks ExporterDecodeIngest of body into one reused
// collector with native histograms on (its series exist after the first
// iteration, as in a running exporter).
func BenchExporter(b *testing.B, body []byte) {
	c := collector.New(collector.Options{NativeHistograms: true})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := ExporterDecodeIngest(c, body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchSDK benchmarks SDKParse of body.
func BenchSDK(b *testing.B, body []byte) {
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SDKParse(body); err != nil {
			b.Fatal(err)
		}
	}
}
