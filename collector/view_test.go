package collector

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// TestFullCardinalityConsistent: the checks a registry makes, and that a
// handler serving Gather beside one skips, hold for every label set of every
// family: a pedantic registry (descriptors, label names and values, no
// duplicate label sets) gathers a fully populated collector without error,
// and Gather returns the same families.
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
	for _, h := range []http.Handler{registered} { // the exposition package tests its own handler
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
	if got := viewTestServe(t, registered, acceptText, false); !bytes.Equal(got, want) {
		t.Error("last scrape differs from the store")
	}
}
