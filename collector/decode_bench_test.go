//go:build unix

package collector

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/sites"
)

// BenchmarkDecodeIngest measures what one record costs from Graph JSON to
// the store: graph.UnmarshalCallRecord (the client's decoder), then Ingest
// into one reused collector (its series exist after the first iteration, as
// in a running exporter). SetBytes makes MB/s the rate of Graph JSON.
func BenchmarkDecodeIngest(b *testing.B) {
	expanded, err := os.ReadFile(expandedPath)
	if err != nil {
		b.Fatal(err)
	}
	cases := []struct {
		name string
		json []byte
	}{
		{"expanded", expanded},
		{"meeting20", benchMeetingJSON(b, 20)},
		{"allhands300", benchMeetingJSON(b, 300)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			decodeIngestLoop(b, New(Options{NativeHistograms: true}), tc.json)
		})
	}
}

// benchMeetingJSON builds a meeting record with the given number of
// sessions (one per person) from graphsim's generated meetings
// (graphsim.MeetingJSON, shared with bench/sdkcompare).
func benchMeetingJSON(tb testing.TB, sessions int) []byte {
	tb.Helper()
	b, err := graphsim.MeetingJSON(sessions)
	if err != nil {
		tb.Fatal(err)
	}
	var check graph.CallRecord
	if err := json.Unmarshal(b, &check); err != nil {
		tb.Fatalf("decode generated record: %v", err)
	}
	if len(check.Sessions) != sessions {
		tb.Fatalf("generated record has %d sessions, want %d", len(check.Sessions), sessions)
	}
	return b
}

// decodeBenchCPU reports the process's CPU time per operation beside the
// wall time: on a shared machine other processes stretch ns/op, while CPU
// time (all threads, so the garbage collector's share too) is what one
// record costs. With -cpu 1, cpu-MB/s is the rate per core.
type decodeBenchCPU struct{ start time.Duration }

func startDecodeBenchCPU(b *testing.B) decodeBenchCPU {
	return decodeBenchCPU{start: decodeBenchProcessCPU(b)}
}

func (c decodeBenchCPU) report(b *testing.B, size int) {
	used := decodeBenchProcessCPU(b) - c.start
	if used <= 0 || b.N == 0 {
		return
	}
	b.ReportMetric(float64(used.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(size)*float64(b.N)/used.Seconds()/1e6, "cpu-MB/s")
}

func decodeBenchProcessCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecodeIngestSites is BenchmarkDecodeIngest with and without a
// building file of 10,000 networks (/24s and /26s over 300 buildings,
// holding the generated clients' office subnets): what the site lookup adds
// to a record's cost. The budget is 10 % of the throughput.
func BenchmarkDecodeIngestSites(b *testing.B) {
	m, _, err := sites.Parse(strings.NewReader(benchBuildingFile(10_000)))
	if err != nil {
		b.Fatal(err)
	}
	expanded, err := os.ReadFile(expandedPath)
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		json []byte
	}{{"expanded", expanded}, {"meeting20", benchMeetingJSON(b, 20)}} {
		for _, file := range []string{"none", "buildings10k"} {
			b.Run(tc.name+"/"+file, func(b *testing.B) {
				opts := Options{NativeHistograms: true}
				if file != "none" {
					opts.Sites = func() *sites.Map { return m }
				}
				decodeIngestLoop(b, New(opts), tc.json)
			})
		}
	}
}

// benchBuildingFile is a building file of rows networks: /24s of 10.0.0.0/8
// first (the generated offices' subnets among them), then /26s of
// 172.16.0.0/12, spread over 300 buildings.
func benchBuildingFile(rows int) string {
	var sb strings.Builder
	for i := range rows {
		ip, bits := fmt.Sprintf("10.%d.%d.0", i/256%256, i%256), 24
		if i >= 256*32 {
			ip, bits = fmt.Sprintf("172.%d.%d.%d", 16+i/1024%16, i/4%256, i%4*64), 26
		}
		fmt.Fprintf(&sb, "%s,net-%d,%d,Building %03d,Contoso,Office,,City %d,,US,,NOAM,1,0\n", ip, i, bits, i%300, i%300)
	}
	return sb.String()
}

// decodeIngestLoop is the measured loop of the decode + ingest benchmarks:
// the client's decoder, then c, one record's JSON per operation.
func decodeIngestLoop(b *testing.B, c *Collector, json []byte) {
	b.SetBytes(int64(len(json)))
	b.ReportAllocs()
	cpu := startDecodeBenchCPU(b)
	for b.Loop() {
		var rec graph.CallRecord
		if err := graph.UnmarshalCallRecord(json, &rec); err != nil {
			b.Fatal(err)
		}
		c.Ingest(&rec)
	}
	cpu.report(b, len(json))
}
