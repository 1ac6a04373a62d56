package exposition

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// Accept headers of Prometheus without and with native histograms.
const (
	metricsTestAcceptOM    = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	metricsTestAcceptProto = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,application/openmetrics-text;version=1.0.0;q=0.6,text/plain;version=0.0.4;q=0.4,*/*;q=0.3"
)

func metricsTestRecord(id string) *graph.CallRecord {
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	client := graph.Endpoint{ODataType: graph.TypeParticipantEndpoint, UserAgent: graph.UserAgent{ODataType: graph.TypeClientUserAgent, Platform: "windows"}}
	server := graph.Endpoint{ODataType: graph.TypeServiceEndpoint, UserAgent: graph.UserAgent{ODataType: graph.TypeServiceUserAgent, Role: "conferencingServer"}}
	return &graph.CallRecord{ID: id, Type: "groupCall", StartDateTime: start, EndDateTime: start.Add(time.Minute),
		Sessions: []graph.Session{{Caller: client, Callee: server, Segments: []graph.Segment{{Caller: client, Callee: server,
			Media: []graph.Media{{Label: "main-audio", CallerNetwork: &graph.NetworkInfo{ConnectionType: "wired"},
				Streams: []graph.MediaStream{{StreamDirection: graph.CallerToCallee, AverageJitter: graph.Duration{Value: 12 * time.Millisecond, Valid: true}}}}}}}}}}
}

// published is a store and the snapshot last cut from it, as a ledger
// publishes it.
type published struct {
	col     *collector.Collector
	current atomic.Pointer[collector.Snapshot]
}

func newPublished() *published {
	p := &published{col: collector.New(collector.Options{NativeHistograms: true})}
	p.current.Store(p.col.Snapshot())
	return p
}

// ingest ingests rec and publishes a new snapshot.
func (p *published) ingest(rec *graph.CallRecord) {
	p.col.Ingest(rec)
	p.current.Store(p.col.Snapshot())
}

// metricsTestGauge is a registry family named to sort where the test
// wants it among the call-quality families.
func metricsTestGauge(name string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: "Sorts among the call-quality families."}, func() float64 { return 1 })
}

// TestMetricsHandlerMatchesPromhttp: in every format, encoding and name[]
// selection the handler serves what promhttp serves for one registry
// holding both its registry's families and the snapshot's (registry
// families sorting before, between and after the call-quality ones), as
// one gzip member when gzip is asked for, and follows the published
// snapshots. The production registry's layout is compared in
// cmd/exporter (TestMetricsMatchPromhttp).
func TestMetricsHandlerMatchesPromhttp(t *testing.T) {
	pub := newPublished()
	reg := prometheus.NewRegistry()
	reg.MustRegister(metricsTestGauge("aaa_first"), metricsTestGauge("teams_exporter_between"), metricsTestGauge("zzz_last"))
	h := NewHandler(reg, pub.current.Load, Options{})
	snapReg := prometheus.NewRegistry()
	snapReg.MustRegister(collector.Current(pub.current.Load))
	ref := promhttp.HandlerFor(prometheus.Gatherers{reg, snapReg}, promhttp.HandlerOpts{EnableOpenMetrics: true})
	targets := []string{
		"/metrics",
		"/metrics?name[]=teams_exporter_between&name[]=teams_stream_jitter_seconds&name[]=teams_nothing",
		"/metrics?name[]=teams_call_records_total",
	}
	for i := range 3 {
		pub.ingest(metricsTestRecord("rec-" + string(rune('a'+i))))
		for _, target := range targets {
			for _, accept := range []string{metricsTestAcceptOM, metricsTestAcceptProto, "text/plain;version=0.0.4", ""} {
				refRec, want := testrun.Scrape(t, ref, target, accept, "")
				for _, coding := range []string{"", "gzip", "zstd"} {
					rec, got := testrun.Scrape(t, h, target, accept, coding)
					if !bytes.Equal(got, want) {
						t.Errorf("step %d, %s, %q, %q: body differs from promhttp's:\n%s\nwant:\n%s", i, target, accept, coding, got, want)
					}
					if ct, want := rec.Header().Get("Content-Type"), refRec.Header().Get("Content-Type"); ct != want {
						t.Errorf("%q: Content-Type %q, want %q", accept, ct, want)
					}
				}
			}
		}
	}
}

// TestMetricsHandlerSelfMetrics: the handler counts its scrapes by status
// code and shows those in flight, as promhttp's does, and answers 503 at
// once beyond its limit of concurrent scrapes.
func TestMetricsHandlerSelfMetrics(t *testing.T) {
	pub := newPublished()
	reg := prometheus.NewRegistry()
	entered, release := make(chan struct{}), make(chan struct{})
	var calls atomic.Int64
	blocking := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		if calls.Add(1) == 1 {
			close(entered)
			<-release // the first scrape holds its slot until released
		}
		return reg.Gather()
	})
	h := NewHandler(blocking, pub.current.Load, Options{Registry: reg, MaxRequestsInFlight: 1})
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/metrics", nil))
	}()
	<-entered
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("a scrape beyond the limit got %d, want 503", rec.Code)
	}
	if got := gaugeValue(t, reg, "promhttp_metric_handler_requests_in_flight"); got != 1 {
		t.Errorf("in flight %v, want 1", got)
	}
	close(release)
	<-done
	_, body := testrun.Scrape(t, h, "/metrics", "text/plain;version=0.0.4", "")
	for _, want := range []string{
		`promhttp_metric_handler_requests_total{code="200"} 1`,
		`promhttp_metric_handler_requests_total{code="503"} 1`,
		`promhttp_metric_handler_requests_in_flight 1`,
		`promhttp_metric_handler_errors_total{cause="encoding"} 0`,
	} {
		if !bytes.Contains(body, []byte(want+"\n")) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
}

// gaugeValue gathers reg and returns the value of the unlabelled gauge name.
func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no %s", name)
	return 0
}

func TestNegotiateEncoding(t *testing.T) {
	for header, want := range map[string]string{
		"":                      "identity",
		"gzip":                  "gzip",
		"zstd":                  "zstd",
		"gzip, zstd":            "gzip",
		"zstd, gzip;q=0.5":      "zstd",
		"gzip;q=0, zstd":        "zstd",
		"*":                     "gzip",
		"zstd;q=0, *":           "gzip",
		"gzip;q=0, *":           "zstd",
		"br, deflate, identity": "identity",
	} {
		if got := negotiateEncoding(header); got != want {
			t.Errorf("negotiateEncoding(%q) = %q, want %q", header, got, want)
		}
	}
}

func TestAcceptsGzip(t *testing.T) {
	for header, want := range map[string]bool{
		"":                      false,
		"gzip":                  true,
		"GZIP":                  true,
		"deflate, gzip;q=0.5":   true,
		"gzip;q=0":              false,
		"gzip; q=0.0, identity": false,
		"*":                     true,
		"identity":              false,
		"br, zstd":              false,
		"gzip;q=0, *":           false,
		"*;q=0, gzip":           true,
		"*;q=0":                 false,
		"gzip;q=bad":            false,
	} {
		if got := acceptsGzip(header); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", header, got, want)
		}
	}
}

// TestMetricsHandlerConcurrent: scrapes beside publications, for -race.
func TestMetricsHandlerConcurrent(t *testing.T) {
	pub := newPublished()
	h := NewHandler(prometheus.NewRegistry(), pub.current.Load, Options{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			pub.ingest(metricsTestRecord("c-" + string(rune('a'+i%26))))
		}
	})
	for _, accept := range []string{metricsTestAcceptOM, metricsTestAcceptProto} {
		wg.Go(func() {
			for range 10 {
				testrun.Scrape(t, h, "/metrics", accept, "gzip")
			}
		})
	}
	wg.Wait()
	_, body := testrun.Scrape(t, h, "/metrics", "text/plain;version=0.0.4", "gzip")
	if !bytes.Contains(body, []byte(`teams_call_records_total{type="groupCall"} 50`)) {
		t.Errorf("last scrape is stale:\n%s", body)
	}
}
