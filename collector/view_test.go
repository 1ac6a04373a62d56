package collector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

// viewTestFreshExposition renders what a collector that never built a view
// shows after the same steps: the reference a cached view must match.
func viewTestFreshExposition(t *testing.T, steps []func(*Collector)) string {
	t.Helper()
	c := newTestCollector(true)
	for _, step := range steps {
		step(c)
	}
	return exposition(t, c)
}

// TestViewFollowsChanges: after every change of the store the next scrape
// shows it; a view built before is never served again.
func TestViewFollowsChanges(t *testing.T) {
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
			if err := c.Restore(Snapshot{}); err != nil {
				t.Fatal(err)
			}
		}},
		{"ingest after restore", func(c *Collector) { c.Ingest(rec) }},
	}
	c := newTestCollector(true)
	var done []func(*Collector)
	prev := exposition(t, c)
	for _, step := range steps {
		step.do(c)
		done = append(done, step.do)
		got := exposition(t, c)
		if want := viewTestFreshExposition(t, done); got != want {
			t.Fatalf("after %s: scrape differs from a fresh collector's:\n%s\nwant:\n%s", step.name, got, want)
		}
		if got == prev {
			t.Errorf("after %s: scrape unchanged", step.name)
		}
		prev = got
	}
}

// TestViewSharedBetweenScrapes: scrapes without a change in between share
// one view instead of rebuilding it.
func TestViewSharedBetweenScrapes(t *testing.T) {
	c := newTestCollector(false)
	c.Ingest(loadRecord(t, expandedPath))
	v := c.currentView()
	if _, err := c.Gather(); err != nil {
		t.Fatal(err)
	}
	testutil.CollectAndCount(c)
	if c.currentView() != v {
		t.Error("view rebuilt without a change")
	}
	_, ver := c.GatherVersion()
	c.Ingest(loadRecord(t, expandedPath))
	if c.currentView() == v {
		t.Error("view not rebuilt after Ingest")
	}
	mfs, ver2 := c.GatherVersion()
	if ver2 == ver {
		t.Error("version unchanged after Ingest")
	}
	if want, _ := c.Gather(); &want[0] != &mfs[0] {
		t.Error("GatherVersion and Gather disagree")
	}
}

// viewTestServe scrapes h with the given Accept header (and gzip if asked)
// and returns the decompressed body.
func viewTestServe(t testing.TB, h http.Handler, accept string, gz bool) []byte {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: status %d: %s", rec.Code, rec.Body)
	}
	var r io.Reader = rec.Body
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	} else if gz {
		t.Fatal("gzip asked for, not served")
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// viewTestRegistry holds other families whose names sort before, between
// and after the collector's, with constant values (gauges: a counter would
// carry its creation time).
func viewTestRegistry() *prometheus.Registry {
	reg := prometheus.NewPedanticRegistry()
	for _, name := range []string{"aaa_first", "teams_exporter_last_successful_poll_timestamp_seconds", "zzz_last"} {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "A test gauge."}, func() float64 { return 3 }))
	}
	return reg
}

// TestGathererMatchesRegistry: serving the collector through Gatherer
// gives, byte for byte, what registering it gives, in every format
// Prometheus negotiates.
func TestGathererMatchesRegistry(t *testing.T) {
	for _, native := range []bool{false, true} {
		c := busyCollector(t)
		c.native = native
		reg := viewTestRegistry()
		merged := promhttp.HandlerForTransactional(Gatherer(reg, c), promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.HTTPErrorOnError})
		regWith := viewTestRegistry()
		regWith.MustRegister(c)
		registered := promhttp.HandlerFor(regWith, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.HTTPErrorOnError})
		for _, ft := range scrapeFormats {
			got := viewTestServe(t, merged, ft.accept, ft.gzip)
			want := viewTestServe(t, registered, ft.accept, ft.gzip)
			if !bytes.Equal(got, want) {
				t.Errorf("native=%v %s: Gatherer serves %d bytes, the registry %d, and they differ", native, ft.name, len(got), len(want))
			}
			if !bytes.Contains(got, []byte("aaa_first")) || !bytes.Contains(got, []byte("zzz_last")) {
				t.Errorf("native=%v %s: registered families missing", native, ft.name)
			}
		}
	}
}

// TestGathererDuplicateFamily: registering the collector as well is an
// error, and its families are not served twice.
func TestGathererDuplicateFamily(t *testing.T) {
	c := newTestCollector(false)
	c.Ingest(loadRecord(t, expandedPath))
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	mfs, done, err := Gatherer(reg, c).Gather()
	defer done()
	if err == nil || !strings.Contains(err.Error(), "teams_call_records_total") {
		t.Errorf("error %v, want one naming the duplicated family", err)
	}
	seen := map[string]bool{}
	for _, mf := range mfs {
		if seen[mf.GetName()] {
			t.Errorf("family %s served twice", mf.GetName())
		}
		seen[mf.GetName()] = true
	}
	if !seen["teams_call_records_total"] {
		t.Error("duplicated family dropped altogether")
	}
}

// TestGathererErrorPassedOn: an error of the registry reaches the handler
// with what was gathered.
func TestGathererErrorPassedOn(t *testing.T) {
	c := newTestCollector(false)
	c.Ingest(loadRecord(t, expandedPath))
	boom := errors.New("boom")
	mfs, done, err := Gatherer(prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, boom }), c).Gather()
	defer done()
	if !errors.Is(err, boom) {
		t.Errorf("error %v, want %v", err, boom)
	}
	if len(mfs) == 0 {
		t.Error("collector's families dropped")
	}
}

// TestFullCardinalityConsistent: the checks Gatherer skips hold for every
// label set of every family: a pedantic registry (descriptors, label names
// and values, no duplicate label sets) gathers a fully populated collector
// without error, and Gather returns the same families.
func TestFullCardinalityConsistent(t *testing.T) {
	c := fullCardinalityCollector(true)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	want, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Gather()
	if err != nil {
		t.Fatal(err)
	}
	wantSeries := 0
	for _, f := range families {
		wantSeries += f.size
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
	// The registry's metrics are written from the view's parts: the same
	// parts in the same order means the same families.
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

// TestConcurrentScrapesAndChanges: scrapes through both serving paths run
// beside Ingest and Restore without a data race (run with -race), every
// scrape parses, and the scrape after them shows the store as it is.
func TestConcurrentScrapesAndChanges(t *testing.T) {
	rec := loadRecord(t, expandedPath)
	c := New(Options{NativeHistograms: true})
	reg := prometheus.NewRegistry()
	merged := promhttp.HandlerForTransactional(Gatherer(reg, c), promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.HTTPErrorOnError})
	regWith := prometheus.NewRegistry()
	regWith.MustRegister(c)
	registered := promhttp.HandlerFor(regWith, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.HTTPErrorOnError})

	const writers, perWriter = 2, 50
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range perWriter {
				c.Ingest(rec)
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
	for _, h := range []http.Handler{merged, registered} {
		for _, ft := range scrapeFormats {
			wg.Go(func() {
				for range 3 {
					body := viewTestServe(t, h, ft.accept, ft.gzip)
					if _, err := storedSeries(body, false, ft.accept == acceptProto); err != nil {
						t.Errorf("%s: %v", ft.name, err)
					}
				}
			})
		}
	}
	wg.Wait()
	// No stale view: what is served now is the store as it is now.
	fresh := New(Options{NativeHistograms: true})
	if err := fresh.Restore(c.Snapshot()); err != nil {
		t.Fatal(err)
	}
	freshReg := prometheus.NewRegistry()
	freshReg.MustRegister(fresh)
	want := viewTestServe(t, promhttp.HandlerFor(freshReg, promhttp.HandlerOpts{}), acceptText, false)
	for name, h := range map[string]http.Handler{"Gatherer": merged, "registered": registered} {
		if got := viewTestServe(t, h, acceptText, false); !bytes.Equal(got, want) {
			t.Errorf("%s: last scrape differs from the store", name)
		}
	}
}
