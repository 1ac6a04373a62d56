package collector

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// histogramMetric is a copy of one histogram series taken at scrape time.
// Write emits the classic buckets and, when native is set, the native
// sparse fields too, so the protobuf exposition carries both.
type histogramMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	bounds []float64
	counts []uint64
	sum    float64
	count  uint64
	native *nativeHist
	ex     exemplar
}

func (m *histogramMetric) Desc() *prometheus.Desc { return m.desc }

func (m *histogramMetric) Write(out *dto.Metric) error {
	h := &dto.Histogram{
		SampleCount: new(m.count),
		SampleSum:   new(m.sum),
		Bucket:      make([]*dto.Bucket, len(m.bounds), len(m.bounds)+1),
	}
	exBucket := -1
	var ex *dto.Exemplar
	if m.ex.callID != "" {
		ex = m.ex.proto()
		exBucket = bucketIndex(m.bounds, m.ex.value)
	}
	var cum uint64
	for i, ub := range m.bounds {
		cum += m.counts[i]
		h.Bucket[i] = &dto.Bucket{CumulativeCount: new(cum), UpperBound: new(ub)}
		if i == exBucket {
			h.Bucket[i].Exemplar = ex
		}
	}
	// The +Inf bucket is implicit unless it carries the exemplar.
	if exBucket == len(m.bounds) {
		h.Bucket = append(h.Bucket, &dto.Bucket{CumulativeCount: new(m.count), UpperBound: new(math.Inf(1)), Exemplar: ex})
	}
	if m.native != nil {
		m.writeNative(h, ex)
	}
	out.Label = m.labels
	out.Histogram = h
	return nil
}

func (m *histogramMetric) writeNative(h *dto.Histogram, ex *dto.Exemplar) {
	n := m.native
	h.Schema = new(int32(n.schema))
	h.ZeroThreshold = new(0.0)
	h.ZeroCount = new(n.zero)
	h.PositiveSpan, h.PositiveDelta = nativeSpans(n.buckets)
	// Without any bucket a native histogram with zero threshold 0 would
	// look like a classic one to scrapers; a no-op span marks it.
	if n.zero == 0 && len(h.PositiveSpan) == 0 {
		h.PositiveSpan = []*dto.BucketSpan{{Offset: new(int32(0)), Length: new(uint32(0))}}
	}
	if ex != nil {
		h.Exemplars = []*dto.Exemplar{ex}
	}
}

// nativeSpans encodes sorted buckets as spans and deltas, as client_golang
// does: gaps of up to two empty buckets stay inside a span.
func nativeSpans(buckets []nativeBucket) ([]*dto.BucketSpan, []int64) {
	if len(buckets) == 0 {
		return nil, nil
	}
	var (
		spans  []*dto.BucketSpan
		deltas = make([]int64, 0, len(buckets))
		prev   int64
		next   int32
	)
	appendDelta := func(count int64) {
		*spans[len(spans)-1].Length++
		deltas = append(deltas, count-prev)
		prev = count
	}
	for n, b := range buckets {
		gap := b.key - next
		if n == 0 || gap > 2 {
			spans = append(spans, &dto.BucketSpan{Offset: new(gap), Length: new(uint32(0))})
		} else {
			for range gap {
				appendDelta(0)
			}
		}
		appendDelta(int64(b.count))
		next = b.key + 1
	}
	return spans, deltas
}

// counterMetric is a copy of one counter series taken at scrape time.
type counterMetric struct {
	desc   *prometheus.Desc
	labels []*dto.LabelPair
	value  uint64
	ex     exemplar
}

func (m *counterMetric) Desc() *prometheus.Desc { return m.desc }

func (m *counterMetric) Write(out *dto.Metric) error {
	out.Label = m.labels
	out.Counter = &dto.Counter{Value: new(float64(m.value))}
	if m.ex.callID != "" {
		out.Counter.Exemplar = m.ex.proto()
	}
	return nil
}

func (e exemplar) proto() *dto.Exemplar {
	return &dto.Exemplar{
		Label:     []*dto.LabelPair{{Name: new("call_id"), Value: new(e.callID)}},
		Value:     new(e.value),
		Timestamp: timestamppb.New(time.UnixMilli(e.tsMs)),
	}
}
