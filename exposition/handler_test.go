package exposition

import (
	"bytes"
	"compress/gzip"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/graph"
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

// metricsTestGet scrapes h and returns the response and its body, gunzipped
// by a reader that stops after the first gzip member.
func metricsTestGet(t *testing.T, h http.Handler, accept string, gz bool) (*httptest.ResponseRecorder, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", accept)
	if gz {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var r io.Reader = bytes.NewReader(rec.Body.Bytes())
	if rec.Header().Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		r = zr
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return rec, body
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

// TestMetricsHandlerMatchesPromhttp: in every format and encoding the
// handler serves what promhttp serves for the same families, as one gzip
// member when gzip is asked for, and follows the published snapshots.
func TestMetricsHandlerMatchesPromhttp(t *testing.T) {
	pub := newPublished()
	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aaa_first", Help: "Sorts first."}, func() float64 { return 1 }))
	h := NewHandler(reg, pub.current.Load, slog.New(slog.DiscardHandler))
	regWith := prometheus.NewRegistry() // the reference: the snapshot registered, served by promhttp
	regWith.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aaa_first", Help: "Sorts first."}, func() float64 { return 1 }), collector.Current(pub.current.Load))
	ref := promhttp.HandlerFor(regWith, promhttp.HandlerOpts{EnableOpenMetrics: true})
	for i := range 3 {
		pub.ingest(metricsTestRecord("rec-" + string(rune('a'+i))))
		for _, accept := range []string{metricsTestAcceptOM, metricsTestAcceptProto, "text/plain;version=0.0.4", ""} {
			for _, gz := range []bool{false, true} {
				rec, got := metricsTestGet(t, h, accept, gz)
				refRec, want := metricsTestGet(t, ref, accept, false)
				if !bytes.Equal(got, want) {
					t.Errorf("step %d, %q, gzip %v: body differs from promhttp's:\n%s\nwant:\n%s", i, accept, gz, got, want)
				}
				if ct, want := rec.Header().Get("Content-Type"), refRec.Header().Get("Content-Type"); ct != want {
					t.Errorf("%q: Content-Type %q, want %q", accept, ct, want)
				}
				if enc := rec.Header().Get("Content-Encoding"); (enc == "gzip") != gz {
					t.Errorf("%q, gzip %v: Content-Encoding %q", accept, gz, enc)
				}
			}
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
	h := NewHandler(prometheus.NewRegistry(), pub.current.Load, slog.New(slog.DiscardHandler))
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 50 {
			pub.ingest(metricsTestRecord("c-" + string(rune('a'+i%26))))
		}
	})
	for _, accept := range []string{metricsTestAcceptOM, metricsTestAcceptProto} {
		wg.Go(func() {
			for range 10 {
				metricsTestGet(t, h, accept, true)
			}
		})
	}
	wg.Wait()
	_, body := metricsTestGet(t, h, "text/plain;version=0.0.4", true)
	if !bytes.Contains(body, []byte(`teams_call_records_total{type="groupCall"} 50`)) {
		t.Errorf("last scrape is stale:\n%s", body)
	}
}
