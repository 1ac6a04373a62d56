// Command guard checks the budgets in BENCHMARKS.md against Microsoft's Graph SDK
// for Go: on every benchmark record, the exporter's decode + ingest must be
// at least 5x faster, with at least 10x fewer allocations, than the SDK's
// parse of the same bytes. It runs both sides in the same process, a few
// interleaved rounds each, takes medians, prints a table and exits 1 when
// a budget is missed. Ratios, not absolute times, are compared, so a busy
// or slow CI machine does not fail it.
//
// Run it from the module directory: go run ./cmd/guard
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/teams-exporter/teams-exporter/bench/sdkcompare"
)

func main() {
	testing.Init() // registers test.benchtime, which testing.Benchmark reads
	rounds := flag.Int("rounds", 5, "interleaved rounds per side and record; medians are reported")
	benchtime := flag.Duration("benchtime", 200*time.Millisecond, "target time of one benchmark run")
	minSpeed := flag.Float64("min-speed", 5, "fail when SDK ns/op / exporter ns/op is below this on any record")
	minAllocs := flag.Float64("min-allocs", 10, "fail when SDK allocs/op / exporter allocs/op is below this on any record")
	expanded := flag.String("expanded", sdkcompare.ExpandedPath, "path of the documented example record")
	flag.Parse()
	if err := flag.Set("test.benchtime", benchtime.String()); err != nil {
		fmt.Fprintln(os.Stderr, "guard:", err)
		os.Exit(2)
	}
	ok, err := run(os.Stdout, *expanded, *rounds, *minSpeed, *minAllocs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "guard:", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}

// sample is one benchmark run of one side.
type sample struct{ nsPerOp, allocsPerOp, bytesPerOp float64 }

func measure(f func(*testing.B)) (sample, error) {
	r := testing.Benchmark(f)
	if r.N == 0 {
		return sample{}, fmt.Errorf("benchmark did not run")
	}
	return sample{
		nsPerOp:     float64(r.T.Nanoseconds()) / float64(r.N),
		allocsPerOp: float64(r.MemAllocs) / float64(r.N),
		bytesPerOp:  float64(r.MemBytes) / float64(r.N),
	}, nil
}

func run(w io.Writer, expandedPath string, rounds int, minSpeed, minAllocs float64) (bool, error) {
	recs, err := sdkcompare.Records(expandedPath)
	if err != nil {
		return false, err
	}
	rounds = max(rounds, 1)
	exp := make([][]sample, len(recs))
	sdk := make([][]sample, len(recs))
	// Interleave: every round runs every record on both sides, so a burst of
	// load on the machine hits both sides of a ratio alike.
	for range rounds {
		for i, r := range recs {
			e, err := measure(func(b *testing.B) { sdkcompare.BenchExporter(b, r.JSON) })
			if err != nil {
				return false, fmt.Errorf("%s exporter: %w", r.Name, err)
			}
			s, err := measure(func(b *testing.B) { sdkcompare.BenchSDK(b, r.JSON) })
			if err != nil {
				return false, fmt.Errorf("%s sdk: %w", r.Name, err)
			}
			exp[i] = append(exp[i], e)
			sdk[i] = append(sdk[i], s)
		}
	}

	fmt.Fprintf(w, "exporter decode+ingest vs msgraph-sdk-go parse, medians of %d interleaved rounds\n", rounds)
	fmt.Fprintf(w, "budgets: speed ratio >= %g, alloc ratio >= %g\n\n", minSpeed, minAllocs)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "record\tbytes\texporter ns/op\tSDK ns/op\tspeed ratio\texporter allocs/op\tSDK allocs/op\talloc ratio\texporter B/op\tSDK B/op\texporter MB/s\t\t")
	ok := true
	for i, r := range recs {
		eNs := median(exp[i], func(s sample) float64 { return s.nsPerOp })
		sNs := median(sdk[i], func(s sample) float64 { return s.nsPerOp })
		eAl := median(exp[i], func(s sample) float64 { return s.allocsPerOp })
		sAl := median(sdk[i], func(s sample) float64 { return s.allocsPerOp })
		eB := median(exp[i], func(s sample) float64 { return s.bytesPerOp })
		sB := median(sdk[i], func(s sample) float64 { return s.bytesPerOp })
		// The speed ratio is the median of the per-round ratios: each round's
		// two runs are adjacent in time and so share the machine's load.
		ratios := make([]float64, len(exp[i]))
		for k := range ratios {
			ratios[k] = sdk[i][k].nsPerOp / exp[i][k].nsPerOp
		}
		speed := median(ratios, func(f float64) float64 { return f })
		allocs := sAl / max(eAl, 1)
		verdict := "ok"
		if speed < minSpeed || allocs < minAllocs {
			verdict, ok = "FAIL", false
		}
		mbps := float64(len(r.JSON)) / eNs * 1e3
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.1fx\t%.0f\t%.0f\t%.1fx\t%.0f\t%.0f\t%.1f\t%s\t\n",
			r.Name, len(r.JSON), eNs, sNs, speed, eAl, sAl, allocs, eB, sB, mbps, verdict)
	}
	if err := tw.Flush(); err != nil {
		return false, err
	}
	if err := printFindings(w, recs[0].JSON); err != nil {
		return false, err
	}
	if !ok {
		fmt.Fprintln(w, "\nFAIL: a budget is missed")
	} else {
		fmt.Fprintln(w, "\nok: every record within budget")
	}
	return ok, nil
}

// printFindings lists where the SDK loses data of the example record, for
// the reader of the CI log; they are facts, not budgets.
func printFindings(w io.Writer, expanded []byte) error {
	fs, err := sdkcompare.SDKFindings(expanded)
	if err != nil {
		return fmt.Errorf("SDK findings: %w", err)
	}
	fmt.Fprintln(w, "\nwhat the SDK makes of the example record (not budgets):")
	for _, f := range fs {
		fmt.Fprintf(w, "  %s\n    Graph:    %s\n    exporter: %s\n    SDK:      %s\n", f.What, f.Graph, f.Exporter, f.SDK)
	}
	return nil
}

func median[T any](xs []T, key func(T) float64) float64 {
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = key(x)
	}
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}
