package collector

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// renderTestFreshExposition renders what a collector that never rendered a
// snapshot shows after the same steps: the reference a cached render must
// match.
func renderTestFreshExposition(t *testing.T, steps []func(*Collector)) string {
	t.Helper()
	c := newTestCollector(true)
	for _, step := range steps {
		step(c)
	}
	return exposition(t, c)
}

// TestSnapshotFollowsChanges: after every change of the store the next
// snapshot shows it; what an earlier snapshot rendered is never served for
// it.
func TestSnapshotFollowsChanges(t *testing.T) {
	rec := loadRecord(t, expandedPath)
	busy := busyCollector(t).Snapshot()
	steps := []struct {
		name string
		do   func(*Collector)
	}{
		{"ingest", func(c *Collector) { c.Ingest(rec) }},
		{"ingest again", func(c *Collector) { c.Ingest(rec) }},
		{"ingest another record", func(c *Collector) { c.Ingest(lossRecord(0.2, 0)) }},
		{"restore", func(c *Collector) {
			if err := c.Restore(busy); err != nil {
				t.Fatal(err)
			}
		}},
		{"restore empty", func(c *Collector) {
			if err := c.Restore(&Snapshot{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"ingest after restore", func(c *Collector) { c.Ingest(rec) }},
	}
	c := newTestCollector(true)
	var done []func(*Collector)
	prevSnap := c.Snapshot()
	prev := encodedText(t, prevSnap)
	for _, step := range steps {
		step.do(c)
		done = append(done, step.do)
		snap := c.Snapshot()
		got := encodedText(t, snap)
		if want := renderTestFreshExposition(t, done); got != want {
			t.Fatalf("after %s: scrape differs from a fresh collector's:\n%s\nwant:\n%s", step.name, got, want)
		}
		if got == prev {
			t.Errorf("after %s: scrape unchanged", step.name)
		}
		if again := encodedText(t, prevSnap); again != prev {
			t.Errorf("after %s: an earlier snapshot's rendering changed", step.name)
		}
		prev, prevSnap = got, snap
	}
}

// encodedText is Encode in the format of exposition (every field), the
// cached path.
func encodedText(t *testing.T, s *Snapshot) string {
	t.Helper()
	enc, err := s.Encode(expfmt.NewFormat(expfmt.TypeProtoText))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, f := range enc.Families {
		b.Write(f.Plain)
	}
	return b.String()
}

// TestSnapshotRenderedOnce: scrapes of one snapshot share its families and
// its encodings instead of rendering them again, at most maxEncodings
// formats are kept, and a deflated encoding inflates to the plain one.
func TestSnapshotRenderedOnce(t *testing.T) {
	c := newTestCollector(false)
	c.Ingest(loadRecord(t, expandedPath))
	s := c.Snapshot()
	mfs := s.Families()
	testutil.CollectAndCount(s)
	if again := s.Families(); &again[0] != &mfs[0] {
		t.Error("families rendered again")
	}
	formats := []expfmt.Format{
		expfmt.NewFormat(expfmt.TypeTextPlain), expfmt.NewFormat(expfmt.TypeOpenMetrics),
		expfmt.NewFormat(expfmt.TypeProtoDelim), expfmt.NewFormat(expfmt.TypeProtoText),
	}
	first := map[expfmt.Format]*Encoding{}
	for _, f := range formats {
		enc, err := s.Encode(f)
		if err != nil {
			t.Fatal(err)
		}
		first[f] = enc
		if len(enc.Families) != len(mfs) {
			t.Fatalf("%s: %d families encoded, want %d", f, len(enc.Families), len(mfs))
		}
		for i, ef := range enc.Families {
			if ef.Name != mfs[i].GetName() {
				t.Errorf("%s: family %d is %s, want %s", f, i, ef.Name, mfs[i].GetName())
			}
			// Each segment stands alone: it inflates without what came before.
			plain, err := io.ReadAll(flate.NewReader(bytes.NewReader(ef.Deflated)))
			if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) { // a sync flush, no final block
				t.Fatal(err)
			}
			if len(ef.Plain) == 0 || !bytes.Equal(plain, ef.Plain) {
				t.Errorf("%s %s: deflated encoding differs from the plain one", f, ef.Name)
			}
		}
	}
	for i, f := range formats {
		enc, _ := s.Encode(f)
		if cached := enc == first[f]; cached != (i < maxEncodings) {
			t.Errorf("%s: cached %v, want the first %d formats cached", f, cached, maxEncodings)
		}
	}
	c.Ingest(loadRecord(t, expandedPath))
	if c.Snapshot().Families()[0] == mfs[0] {
		t.Error("a new snapshot shares the old one's families")
	}
}

// TestFullCardinalityConsistent: the checks a registry makes, and that a
// handler serving Families beside one skips, hold for every label set of
// every family: a pedantic registry (descriptors, label names and values, no
// duplicate label sets) gathers a fully populated snapshot without error,
// and Families returns the same families.
func TestFullCardinalityConsistent(t *testing.T) {
	c := fullCardinalityCollector(true, true)
	s := c.Snapshot()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	want, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := s.Families()
	wantSeries := 0
	for _, f := range families {
		for range c.allKeys(f) {
			wantSeries++
		}
	}
	n := 0
	for _, mf := range got {
		n += len(mf.Metric)
	}
	if n != wantSeries {
		t.Errorf("%d series gathered, want %d", n, wantSeries)
	}
	if len(got) != len(want) {
		t.Fatalf("%d families, the registry %d", len(got), len(want))
	}
	// The registry's metrics are written from the snapshot's parts: the
	// same parts in the same order means the same families.
	for i := range got {
		if got[i].GetName() != want[i].GetName() || len(got[i].Metric) != len(want[i].Metric) {
			t.Fatalf("family %d: %s with %d series, the registry's %s with %d", i,
				got[i].GetName(), len(got[i].Metric), want[i].GetName(), len(want[i].Metric))
		}
		for j, m := range got[i].Metric {
			w := want[i].Metric[j]
			if &m.Label[0] != &w.Label[0] || m.Histogram != w.Histogram || m.Counter != w.Counter {
				t.Fatalf("%s series %d differs from the registry's", got[i].GetName(), j)
			}
		}
	}
}

// TestConcurrentScrapesAndChanges: scrapes of snapshots run beside Ingest,
// Snapshot and Restore without a data race (run with -race), every scrape
// parses, and a snapshot taken after them shows the store as it is.
func TestConcurrentScrapesAndChanges(t *testing.T) {
	rec := loadRecord(t, expandedPath)
	c := New(Options{NativeHistograms: true})
	var current atomic.Pointer[Snapshot]
	current.Store(c.Snapshot())
	registered := promhttp.HandlerFor(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		return current.Load().Families(), nil
	}), promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.HTTPErrorOnError})

	const writers, perWriter = 2, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range perWriter {
				c.Ingest(rec)
				current.Store(c.Snapshot())
			}
		})
	}
	wg.Go(func() {
		for range 5 {
			if err := c.Restore(c.Snapshot()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for _, ft := range scrapeFormats {
		wg.Go(func() {
			for range 3 {
				_, body := testrun.Scrape(t, registered, "/metrics", ft.accept, ft.coding)
				if _, err := storedSeries(body, false, ft.accept == acceptProto); err != nil {
					t.Errorf("%s: %v", ft.name, err)
				}
				if _, err := current.Load().Encode(expfmt.NegotiateAccept(http.Header{"Accept": {ft.accept}}, expfmt.DefaultOpenMetricsAcceptedFormats()...)); err != nil {
					t.Errorf("%s: %v", ft.name, err)
				}
			}
		})
	}
	wg.Wait()
	// No stale rendering: a snapshot taken now is the store as it is now.
	current.Store(c.Snapshot())
	fresh := New(Options{NativeHistograms: true})
	if err := fresh.Restore(c.Snapshot()); err != nil {
		t.Fatal(err)
	}
	freshReg := prometheus.NewRegistry()
	freshReg.MustRegister(fresh.Snapshot())
	_, want := testrun.Scrape(t, promhttp.HandlerFor(freshReg, promhttp.HandlerOpts{}), "/metrics", acceptText, "")
	if _, got := testrun.Scrape(t, registered, "/metrics", acceptText, ""); !bytes.Equal(got, want) {
		t.Error("last scrape differs from the store")
	}
}
