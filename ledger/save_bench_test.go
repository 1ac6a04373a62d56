package ledger

import (
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

var (
	restoreBenchIDs  = flag.Int("restore.ids", 3_000_000, "BenchmarkRestore: ids in the state (BENCHMARKS.md: 30000000, a 30-day look-back at a million records a day)")
	restoreBenchKeep = flag.String("restore.keep", "", "BenchmarkRestore: write the state as state.json in this directory and leave it there, to start the exporter on it (BENCHMARKS.md)")
)

// saveBenchRecords returns n generated call records, as the Graph client
// decodes them: the series a day of them touches.
func saveBenchRecords(tb testing.TB, n int, now time.Time) []*graph.CallRecord {
	tb.Helper()
	var out []*graph.CallRecord
	for _, r := range graphsim.Generate(graphsim.GenOptions{Seed: 7, Count: n, Start: now.Add(-24 * time.Hour), End: now}) {
		b, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		rec := new(graph.CallRecord)
		if err := graph.UnmarshalCallRecord(b, rec); err != nil {
			tb.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

// saveBenchIDs puts n random UUIDs started over the day before now into
// kind's set, as ingested ids.
func saveBenchIDs(l *Ledger, rng *rand.Rand, n int, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.idsOf(CallRecords)
	for range n {
		var u [16]byte
		binary.LittleEndian.PutUint64(u[:8], rng.Uint64())
		binary.LittleEndian.PutUint64(u[8:], rng.Uint64())
		s.uuids[u] = makeEntry(now.Add(-time.Duration(rng.Int64N(int64(24*time.Hour)))), 1)
	}
}

// BenchmarkSave is a save of a tenant of perDay records a day with a day's
// look-back, saving once a minute (the most the poller and settling ask for
// on a steady flow): the ids of the day are kept, and a save holds a
// minute's records (perDay/1,440, each a real record touching its series)
// and prunes as many. "frame" is the save of every minute, "checkpoint"
// the one an hour that rewrites the whole state; B-written/op is what each
// writes. A day writes 1,440 frames and 24 checkpoints.
func BenchmarkSave(b *testing.B) {
	for _, perDay := range []int{25_000, 250_000, 1_000_000} {
		for _, kind := range []string{"frame", "checkpoint"} {
			b.Run(fmt.Sprintf("records-per-day=%d/%s", perDay, kind), func(b *testing.B) {
				benchSave(b, perDay, kind == "checkpoint")
			})
		}
	}
}

func benchSave(b *testing.B, perDay int, checkpoint bool) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := now
	path := filepath.Join(b.TempDir(), "state")
	l, err := Open(Config{Path: path, Now: func() time.Time { return clock }, CheckpointInterval: 1000 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	pool := saveBenchRecords(b, 2000, now)
	rng := rand.New(rand.NewPCG(1, 2))
	saveBenchIDs(l, rng, perDay, now)
	for _, rec := range pool { // every series a day touches
		l.IngestCallRecord(rec, rec.StartDateTime)
	}
	if err := l.Save(); err != nil { // the first checkpoint
		b.Fatal(err)
	}
	perSave := max(1, perDay/1440)
	next := 0
	var written int64
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		clock = clock.Add(time.Minute)
		for range perSave {
			rec := *pool[next%len(pool)]
			next++
			var u [16]byte
			binary.LittleEndian.PutUint64(u[:8], rng.Uint64())
			binary.LittleEndian.PutUint64(u[8:], rng.Uint64())
			rec.ID = formatUUID(u)
			l.IngestCallRecord(&rec, clock)
		}
		l.Prune(CallRecords, clock.Add(-24*time.Hour))
		l.UpdatePosition(func(p *Position) { p.LastSuccess = clock })
		l.needCheckpoint = checkpoint
		before, cpu0 := l.written, testrun.ProcessCPUTime(b)
		b.StartTimer()
		if err := l.Save(); err != nil {
			b.Fatal(err)
		}
		written += l.written - before
		cpu += testrun.ProcessCPUTime(b) - cpu0
	}
	b.ReportMetric(float64(written)/float64(b.N), "B-written/op")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// BenchmarkRestore builds a state of -restore.ids ids (BENCHMARKS.md: 30 M,
// a 30-day look-back at a million records a day) with a day's series, and
// opens it: ns/op is the start-up's restore (cpu-ns/op its CPU time, all
// cores), heap-MiB the live heap it leaves, file-MiB the checkpoint's size.
// With -restore.keep=DIR (an empty directory) the state stays in DIR, for
// measuring the exporter's own start on it.
func BenchmarkRestore(b *testing.B) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(b.TempDir(), "state")
	if *restoreBenchKeep != "" {
		path = filepath.Join(*restoreBenchKeep, "state.json")
		// The exporter prunes by the wall clock: ids of a fixed day would
		// all fall out of its look-back some weeks later. Dated from now
		// (the same count, the same day's span), every one is kept.
		now = time.Now().UTC()
	}
	clock := func() time.Time { return now }
	{
		l, err := Open(Config{Path: path, Now: clock})
		if err != nil {
			b.Fatal(err)
		}
		saveBenchIDs(l, rand.New(rand.NewPCG(3, 4)), *restoreBenchIDs, now)
		for _, rec := range saveBenchRecords(b, 2000, now) {
			l.IngestCallRecord(rec, rec.StartDateTime)
		}
		if err := l.Save(); err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
	fi, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	base := idsBenchHeap()
	var heap uint64
	var cpu time.Duration
	for b.Loop() {
		cpu0 := testrun.ProcessCPUTime(b)
		l, err := Open(Config{Path: path, Now: clock})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		cpu += testrun.ProcessCPUTime(b) - cpu0
		if n := l.Len(CallRecords); n != *restoreBenchIDs+2000 { // and the records of the series
			b.Fatalf("restored %d ids, want %d", n, *restoreBenchIDs+2000)
		}
		heap = idsBenchHeap() - base
		runtime.KeepAlive(l)
		l.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(heap)/(1<<20), "heap-MiB")
	b.ReportMetric(float64(fi.Size())/(1<<20), "file-MiB")
}
