package collector

import (
	"math"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/graph"
)

// lossRecord carries one outbound audio stream per value, observed by a
// windows/wired client in a meeting.
func lossRecord(values ...float64) *graph.CallRecord {
	streams := make([]graph.MediaStream, len(values))
	for i, v := range values {
		streams[i] = graph.MediaStream{StreamDirection: graph.CallerToCallee, AveragePacketLossRate: num(v)}
	}
	return meetingRecord("native-test", "windows", "wired", "main-audio", streams...)
}

// gatherLoss returns the packet-loss histogram of that client.
func gatherLoss(t *testing.T, c *Collector) *dto.Histogram {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Snapshot())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "teams_stream_packet_loss_ratio" {
			if len(mf.Metric) != 1 {
				t.Fatalf("%d series, want 1", len(mf.Metric))
			}
			return mf.Metric[0].Histogram
		}
	}
	t.Fatal("teams_stream_packet_loss_ratio not gathered")
	return nil
}

// decodeNative turns spans and deltas back into key -> count.
func decodeNative(t *testing.T, h *dto.Histogram) map[int32]uint64 {
	t.Helper()
	if len(h.PositiveDelta) == 0 {
		return nil
	}
	out := map[int32]uint64{}
	var key int32
	var count int64
	d := 0
	for i, s := range h.PositiveSpan {
		if i == 0 {
			key = s.GetOffset()
		} else {
			key += s.GetOffset()
		}
		for range s.GetLength() {
			count += h.PositiveDelta[d]
			d++
			if count < 0 {
				t.Fatalf("negative bucket count at key %d", key)
			}
			if count > 0 {
				out[key] = uint64(count)
			}
			key++
		}
	}
	if d != len(h.PositiveDelta) {
		t.Fatalf("spans cover %d deltas, have %d", d, len(h.PositiveDelta))
	}
	return out
}

// wantNative computes the buckets independently of the implementation:
// at schema s, v > 0 falls into key ceil(log2(v) * 2^s).
func wantNative(values []float64, schema int32) (map[int32]uint64, uint64) {
	m := map[int32]uint64{}
	var zero uint64
	for _, v := range values {
		if v == 0 {
			zero++
			continue
		}
		m[int32(math.Ceil(math.Log2(v)*math.Exp2(float64(schema))))]++
	}
	if len(m) == 0 {
		m = nil
	}
	return m, zero
}

func equalBuckets(a, b map[int32]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestNativeHistogram(t *testing.T) {
	values := []float64{0, 0, 0, 0.01, 0.02, 0.02, 0.5, 1.7}
	c := newTestCollector(true)
	c.Ingest(lossRecord(values...))
	h := gatherLoss(t, c)

	if h.Schema == nil || h.GetSchema() != 3 {
		t.Fatalf("schema %v, want 3", h.Schema)
	}
	if h.ZeroThreshold == nil || h.GetZeroThreshold() != 0 {
		t.Errorf("zero threshold %v, want 0", h.ZeroThreshold)
	}
	wantBuckets, wantZero := wantNative(values, 3)
	if h.GetZeroCount() != wantZero || wantZero != 3 {
		t.Errorf("zero count %d, want 3", h.GetZeroCount())
	}
	if got := decodeNative(t, h); !equalBuckets(got, wantBuckets) {
		t.Errorf("native buckets %v, want %v", got, wantBuckets)
	}
	if h.GetSampleCount() != uint64(len(values)) {
		t.Errorf("count %d, want %d", h.GetSampleCount(), len(values))
	}
	if math.Abs(h.GetSampleSum()-2.25) > 1e-12 {
		t.Errorf("sum %g, want 2.25", h.GetSampleSum())
	}
	// Classic buckets are still there: .001 .005 .01 .02 .05 .1 .2 .5 (+Inf).
	wantCum := []uint64{3, 3, 4, 6, 6, 6, 6, 7}
	if len(h.Bucket) < len(wantCum) {
		t.Fatalf("%d classic buckets, want %d", len(h.Bucket), len(wantCum))
	}
	for i, w := range wantCum {
		if h.Bucket[i].GetCumulativeCount() != w {
			t.Errorf("classic bucket le=%g: %d, want %d", h.Bucket[i].GetUpperBound(), h.Bucket[i].GetCumulativeCount(), w)
		}
	}
	if len(h.Exemplars) != 1 || h.Exemplars[0].GetValue() != 1.7 {
		t.Errorf("native exemplars %v, want the last observation 1.7", h.Exemplars)
	}
}

func TestNativeHistogramOff(t *testing.T) {
	c := newTestCollector(false)
	c.Ingest(lossRecord(0, 0.3))
	h := gatherLoss(t, c)
	if h.Schema != nil || h.ZeroCount != nil || len(h.PositiveSpan) > 0 {
		t.Errorf("native fields set with native histograms off: %v", h)
	}
	if len(h.Bucket) == 0 {
		t.Error("no classic buckets")
	}
}

// TestNativeHistogramBounded spreads values over 18 decades: the schema
// must drop so that at most 160 buckets remain, and every value must still
// sit in the right (wider) bucket.
func TestNativeHistogramBounded(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	values := make([]float64, 5000)
	for i := range values {
		values[i] = math.Pow(10, -9+18*r.Float64())
	}
	values[0], values[1] = 0, 1 // a zero, and an exact bucket boundary
	c := newTestCollector(true)
	for i := 0; i < len(values); i += 100 { // several records, so the schema drops between ingests too
		c.Ingest(lossRecord(values[i : i+100]...))
	}
	h := gatherLoss(t, c)
	got := decodeNative(t, h)
	if len(got) > nativeMaxBuckets {
		t.Errorf("%d native buckets, want at most %d", len(got), nativeMaxBuckets)
	}
	if h.GetSchema() >= 3 {
		t.Errorf("schema %d, want it lowered", h.GetSchema())
	}
	want, wantZero := wantNative(values, h.GetSchema())
	if !equalBuckets(got, want) {
		t.Errorf("schema %d: native buckets %v, want %v", h.GetSchema(), got, want)
	}
	if h.GetZeroCount() != wantZero {
		t.Errorf("zero count %d, want %d", h.GetZeroCount(), wantZero)
	}
}

// TestNativeHistogramEmptyMarked: a restored series with no observations
// still looks native to a scraper (client_golang's no-op span).
func TestNativeHistogramEmptyMarked(t *testing.T) {
	c := newTestCollector(true)
	c.Ingest(lossRecord(0.1))
	snap := c.Snapshot()
	for i := range snap.Series {
		s := &snap.Series[i]
		if s.Metric == "teams_stream_packet_loss_ratio" {
			s.Buckets = make([]uint64, len(s.Buckets))
			s.Sum, s.Count, s.Exemplar = 0, 0, nil
			s.Native = &NativeSnapshot{Schema: 3}
		}
	}
	if err := c.Restore(snap); err != nil {
		t.Fatal(err)
	}
	h := gatherLoss(t, c)
	if len(h.PositiveSpan) != 1 || h.PositiveSpan[0].GetLength() != 0 {
		t.Errorf("want one no-op span, got %v", h.PositiveSpan)
	}
}

func TestNativeKeyMatchesFormula(t *testing.T) {
	for _, v := range []float64{math.SmallestNonzeroFloat64, 1e-300, 0.001, 0.125, 0.5, 0.75, 1, 1.0000001, 2, 3, 1e6, math.MaxFloat64} {
		for s := int8(nativeInitialSchema); s >= nativeMinSchema; s-- {
			got := nativeKey(v, s)
			lo := math.Exp2(float64(got-1) * math.Exp2(-float64(s)))
			hi := math.Exp2(float64(got) * math.Exp2(-float64(s)))
			if !(lo < v && v <= hi) && !math.IsInf(hi, 1) && lo != 0 {
				t.Errorf("nativeKey(%g, %d) = %d: bucket (%g, %g]", v, s, got, lo, hi)
			}
		}
	}
}

// TestNativeInProtobufExposition: what Prometheus negotiates when native
// histograms are enabled carries both native and classic buckets.
func TestNativeInProtobufExposition(t *testing.T) {
	c := newTestCollector(true)
	c.Ingest(lossRecord(0, 0.02, 0.3))
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Snapshot())
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	for {
		var mf dto.MetricFamily
		if err := dec.Decode(&mf); err != nil {
			t.Fatalf("teams_stream_packet_loss_ratio not found: %v", err)
		}
		if mf.GetName() != "teams_stream_packet_loss_ratio" {
			continue
		}
		h := mf.Metric[0].Histogram
		if h.GetSchema() != 3 || h.GetZeroCount() != 1 || len(h.PositiveSpan) == 0 {
			t.Errorf("native fields missing: schema %d, zero count %d, spans %v", h.GetSchema(), h.GetZeroCount(), h.PositiveSpan)
		}
		if len(h.Bucket) < 8 {
			t.Errorf("%d classic buckets, want 8", len(h.Bucket))
		}
		return
	}
}
