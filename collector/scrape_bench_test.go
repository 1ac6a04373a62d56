package collector

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/internal/testrun"
	"github.com/teams-exporter/teams-exporter/sites"
)

// Accept headers Prometheus sends. Without native histograms it prefers
// OpenMetrics (Prometheus 2.42's default scrape header); with
// --enable-feature=native-histograms it asks for protobuf first. Both send
// Accept-Encoding: gzip.
const (
	acceptOpenMetrics = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	acceptProto       = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7," +
		"application/openmetrics-text;version=1.0.0;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
	acceptText = "text/plain;version=0.0.4"
)

// scrapeFormats are what BenchmarkScrape requests: the two formats
// Prometheus negotiates, gzip-compressed, and plain text for reference.
var scrapeFormats = []struct {
	name, accept, coding string
}{
	{"openmetrics-gzip", acceptOpenMetrics, "gzip"},
	{"protobuf-gzip", acceptProto, "gzip"},
	{"text", acceptText, ""},
}

// BenchmarkScrape renders /metrics through promhttp with every label set of
// every family populated (the full product of the bounded label lists, more
// than real data reaches), classic and native, in the formats Prometheus
// negotiates and as plain text: the reference the exporter's own handler
// (BenchmarkScrapeExporter) is measured against. The registry and handler
// are built as a plain client_golang exporter would build them (Go and
// process collectors beside the snapshot, OpenMetrics enabled). Besides
// time per scrape it reports the body size and the series Prometheus would
// store from that body with its default scrape settings.
func BenchmarkScrape(b *testing.B) { benchScrape(b, scrapeBenchHandler, false) }

// benchScrape runs the scrape benchmark with the handler that serve builds
// for a function returning the snapshot to serve. With publish, each scrape
// follows the publication of a new snapshot of the same store, as after a
// save; otherwise every scrape serves the same snapshot, as between saves.
func benchScrape(b *testing.B, serve func(current func() *Snapshot) http.Handler, publish bool) {
	for _, native := range []bool{false, true} {
		hist := "classic"
		if native {
			hist = "native"
		}
		c := fullCardinalityCollector(native, false)
		var current atomic.Pointer[Snapshot]
		current.Store(c.Snapshot())
		h := serve(current.Load)
		for _, ft := range scrapeFormats {
			b.Run(hist+"/"+ft.name, func(b *testing.B) {
				req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
				req.Header.Set("Accept", ft.accept)
				if ft.coding != "" {
					req.Header.Set("Accept-Encoding", ft.coding)
				}
				body := scrapeOnce(b, h, req)
				series, err := storedSeries(body, ft.coding == "gzip", ft.accept == acceptProto)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				cpu0 := testrun.ProcessCPUTime(b)
				for b.Loop() {
					if publish {
						current.Store(c.Snapshot())
					}
					scrapeDiscard(b, h, req)
				}
				b.ReportMetric(float64(testrun.ProcessCPUTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
				b.ReportMetric(float64(len(body)), "bytes/scrape")
				b.ReportMetric(float64(series), "series")
			})
		}
	}
}

// scrapeBenchHandler serves the current snapshot through promhttp, as a
// collector registered with a registry.
func scrapeBenchHandler(current func() *Snapshot) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		Current(current),
	)
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		EnableOpenMetrics: true,
		ErrorHandling:     promhttp.HTTPErrorOnError,
		Registry:          reg,
	})
}

func scrapeOnce(b *testing.B, h http.Handler, req *http.Request) []byte {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		b.Fatalf("scrape: status %d: %s", rec.Code, rec.Body.String())
	}
	return rec.Body.Bytes()
}

// scrapeDiscard scrapes h as a client of a net/http server would be
// served: the body goes through to the connection and is not kept, so the
// allocations reported are the handler's own. (An httptest.ResponseRecorder
// keeps the body in a bytes.Buffer that grows by doubling: for a plain-text
// body of 19 MB that is about 50 MB a scrape, which would be counted as the
// handler's.)
func scrapeDiscard(b *testing.B, h http.Handler, req *http.Request) {
	w := discardResponse{header: http.Header{}, code: http.StatusOK}
	h.ServeHTTP(&w, req)
	if w.code != http.StatusOK || w.n == 0 {
		b.Fatalf("scrape: status %d, %d bytes", w.code, w.n)
	}
}

// discardResponse is an http.ResponseWriter that counts the body and drops it.
type discardResponse struct {
	header http.Header
	code   int
	n      int
}

func (w *discardResponse) Header() http.Header  { return w.header }
func (w *discardResponse) WriteHeader(code int) { w.code = code }
func (w *discardResponse) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// fullCardinalityCollector populates every series of every family (of the
// call-record families only, without callLogs: the call logs are off by
// default, and their product of bounds, trunks times SIP codes, is far
// beyond what a tenant reaches). Each histogram gets one observation per
// classic bucket (and one past the last bound), so classic and native
// buckets are all in use, and an exemplar. Learned labels are filled to
// their bound first, except site: it is learned from a building file of
// benchSites buildings, with unmapped, unknown and the overflow value
// other, every value it can take at that file size.
func fullCardinalityCollector(native, callLogs bool) *Collector {
	c := New(Options{NativeHistograms: native})
	learnAll(c)
	ex := exemplar{callID: "2f1a1100-b174-40a0-aba7-0b405e01ed92", tsMs: 1767348000000}
	for id, f := range families {
		if !callLogs && f.eventOf == sinceRowIngested {
			continue
		}
		for key := range c.allKeys(f) {
			if f.counter {
				c.apply(obs{fam: familyID(id), key: key, v: 3}, ex)
				continue
			}
			for _, ub := range f.bounds {
				c.apply(obs{fam: familyID(id), key: key, v: ub * 0.9}, ex)
			}
			c.apply(obs{fam: familyID(id), key: key, v: f.bounds[len(f.bounds)-1] * 2}, ex)
		}
	}
	return c
}

// benchSites is the size of the building file of the full-cardinality
// benchmarks: a large enterprise's.
const benchSites = 300

// allKeys yields every series key of a family, over the values its learned
// dims have learned so far.
func (c *Collector) allKeys(f *family) func(yield func(seriesKey) bool) {
	card := func(d dim) int {
		if l := c.learned[d]; l != nil {
			return len(l.values)
		}
		return dims[d].cardinality()
	}
	size := 1
	for _, d := range f.dims {
		size *= card(d)
	}
	return func(yield func(seriesKey) bool) {
		for idx := range size {
			var key seriesKey
			for i := len(f.dims) - 1; i >= 0; i-- {
				n := card(f.dims[i])
				key[i] = uint16(idx % n)
				idx /= n
			}
			if !yield(key) {
				return
			}
		}
	}
}

// storedSeries counts the series Prometheus keeps from one scrape body with
// default settings: every sample line of the text format; from protobuf,
// one series per native histogram (its classic buckets are not kept unless
// always_scrape_classic_histograms is set) and buckets, +Inf, _sum and
// _count for a classic one.
func storedSeries(body []byte, gzipped, proto bool) (int, error) {
	var r io.Reader = bytes.NewReader(body)
	if gzipped {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return 0, err
		}
		r = zr
	}
	if !proto {
		// Text and OpenMetrics: every line but comments, # EOF included.
		plain, err := io.ReadAll(r)
		if err != nil {
			return 0, err
		}
		n := 0
		for line := range bytes.Lines(plain) {
			if len(line) > 0 && line[0] != '#' {
				n++
			}
		}
		return n, nil
	}
	dec := expfmt.NewDecoder(r, expfmt.NewFormat(expfmt.TypeProtoDelim))
	n := 0
	for {
		var mf dto.MetricFamily
		err := dec.Decode(&mf)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return 0, err
		}
		for _, m := range mf.GetMetric() {
			n += protoSeries(m)
		}
	}
}

func protoSeries(m *dto.Metric) int {
	h := m.GetHistogram()
	if h == nil {
		return 1
	}
	if h.Schema != nil || len(h.GetPositiveSpan()) > 0 || h.GetZeroThreshold() > 0 {
		return 1 // native
	}
	bk := h.GetBucket()
	n := len(bk) + 2 // _sum, _count
	if len(bk) == 0 || !math.IsInf(bk[len(bk)-1].GetUpperBound(), 1) {
		n++ // +Inf may be left implicit in protobuf
	}
	return n
}

// learnAll fills every learned label of c to its bound with valid values,
// and site with the buildings of a file of benchSites buildings.
func learnAll(c *Collector) {
	for i := range benchSites {
		c.learned[dimSite].id(fmt.Sprintf("Building %03d", i))
	}
	c.learned[dimSite].id(sites.Unmapped)
	c.learned[dimSite].id(sites.Unknown)
	for d, l := range c.learned {
		if l == nil || dim(d) == dimSite {
			continue
		}
		for i := 0; len(l.values) <= dims[d].max; i++ {
			if l.id(learnableValue(dim(d), i)) == 0 {
				panic(fmt.Sprintf("learnAll: no valid value %d for label %s", i, dims[d].name))
			}
		}
	}
}

// learnableValue is the i-th valid value of a learned label.
func learnableValue(d dim, i int) string {
	letters := string(rune('A'+i/26%26)) + string(rune('A'+i%26))
	switch d {
	case dimTrunk:
		return fmt.Sprintf("sbc%d.example.org", i)
	case dimDRCallType, dimPSTNCallType:
		return "Type_" + letters
	case dimCurrency:
		return "X" + letters
	}
	return fmt.Sprintf("value-%d", i)
}
