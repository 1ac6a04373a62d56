package collector

import (
	"bytes"
	"compress/flate"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// Rendering a snapshot for every scrape cost most of a full-cardinality
// scrape (thousands of series, hundreds of thousands of small allocations,
// then an 11 MB text encoding), while the snapshot changes at most once per
// save. So a snapshot renders its protobuf families once, and each
// exposition format once, on first use, and keeps them: a later change
// makes a new snapshot, with an empty cache.

// maxEncodings bounds the formats a snapshot keeps encoded (each holds the
// exposition, about 11 MB of text at full cardinality, plus its deflated
// form). Prometheus asks for one; a scraper asking for more formats gets
// them encoded for it alone, each time.
const maxEncodings = 3

// renderCache holds what a snapshot's scrapes derive from it.
type renderCache struct {
	familiesOnce sync.Once
	families     []*dto.MetricFamily
	metrics      []prometheus.Metric

	mu        sync.Mutex // guards encodings, not their building
	encodings map[expfmt.Format]*encodingSlot
}

// encodingSlot is one format's encoding, built once by the first scrape
// asking for it while later ones wait for it.
type encodingSlot struct {
	once sync.Once
	enc  *Encoding
	err  error
}

// Encoding is a snapshot's families encoded in one exposition format, one
// by one, so that a handler can serve them merged in name order with other
// families (a registry's), or only some of them (name[] filtering).
type Encoding struct {
	Families []EncodedFamily // in name order
}

// EncodedFamily is one family encoded.
type EncodedFamily struct {
	Name string
	// Plain is the family encoded, without what closes an exposition
	// (OpenMetrics' # EOF).
	Plain []byte
	// Deflated is Plain as raw DEFLATE, ending at a byte boundary with a
	// sync flush and referencing nothing before it: a segment that can be
	// spliced into a gzip member between other deflate segments.
	Deflated []byte
}

func (s *Snapshot) rendered() *renderCache {
	s.once.Do(func() { s.cache = &renderCache{} })
	return s.cache
}

// Families returns the snapshot as protobuf families, as a registry's
// Gather returns them: sorted by name, empty families left out, metrics
// sorted by label values. They are built once and shared: callers must not
// modify them.
func (s *Snapshot) Families() []*dto.MetricFamily {
	rc := s.rendered()
	rc.familiesOnce.Do(func() { rc.families, rc.metrics = s.render() })
	return rc.families
}

// Describe sends the descriptors of every family, so that a snapshot can be
// registered (tests serve it through promhttp as a reference).
func (s *Snapshot) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families {
		ch <- f.desc
	}
}

// Collect sends every series, sharing the rendered families' parts.
func (s *Snapshot) Collect(ch chan<- prometheus.Metric) {
	s.Families()
	for _, m := range s.rendered().metrics {
		ch <- m
	}
}

// Encode returns the snapshot encoded in format, encoding it on first use.
func (s *Snapshot) Encode(format expfmt.Format) (*Encoding, error) {
	mfs := s.Families()
	rc := s.rendered()
	rc.mu.Lock()
	slot := rc.encodings[format]
	if slot == nil && len(rc.encodings) < maxEncodings {
		if rc.encodings == nil {
			rc.encodings = map[expfmt.Format]*encodingSlot{}
		}
		slot = &encodingSlot{}
		rc.encodings[format] = slot
	}
	rc.mu.Unlock()
	if slot == nil {
		return encode(format, mfs)
	}
	slot.once.Do(func() { slot.enc, slot.err = encode(format, mfs) })
	return slot.enc, slot.err
}

func encode(format expfmt.Format, mfs []*dto.MetricFamily) (*Encoding, error) {
	var plain, deflated bytes.Buffer
	zw, _ := flate.NewWriter(&deflated, flate.DefaultCompression) // a valid level never fails
	out := &Encoding{Families: make([]EncodedFamily, len(mfs))}
	plainEnds, deflatedEnds := make([]int, len(mfs)), make([]int, len(mfs))
	for i, mf := range mfs {
		start := plain.Len()
		if err := expfmt.NewEncoder(&plain, format).Encode(mf); err != nil {
			return nil, fmt.Errorf("encode %s: %w", mf.GetName(), err)
		}
		zw.Reset(&deflated)                    // no back-references into the previous family
		_, _ = zw.Write(plain.Bytes()[start:]) // bytes.Buffer never fails
		_ = zw.Flush()
		plainEnds[i], deflatedEnds[i] = plain.Len(), deflated.Len()
		out.Families[i].Name = mf.GetName()
	}
	// The buffers are final only now: slice them once they stop growing.
	p, d := plain.Bytes(), deflated.Bytes()
	var ps, ds int
	for i := range out.Families {
		out.Families[i].Plain, out.Families[i].Deflated = p[ps:plainEnds[i]:plainEnds[i]], d[ds:deflatedEnds[i]:deflatedEnds[i]]
		ps, ds = plainEnds[i], deflatedEnds[i]
	}
	return out, nil
}

// render builds the families and, for Collect, the same metrics in order.
func (s *Snapshot) render() ([]*dto.MetricFamily, []prometheus.Metric) {
	var (
		mfs     []*dto.MetricFamily
		metrics = make([]prometheus.Metric, 0, len(s.Series))
		mf      *dto.MetricFamily
		f       *family
	)
	for i := range s.Series {
		ss := &s.Series[i]
		if f == nil || f.name != ss.Metric {
			id, ok := familyByName[ss.Metric]
			if !ok {
				continue // only a decoded, unrestored snapshot has those
			}
			f = families[id]
			mf = &dto.MetricFamily{Name: new(f.name), Help: new(f.help), Type: dto.MetricType_HISTOGRAM.Enum()}
			if f.counter {
				mf.Type = dto.MetricType_COUNTER.Enum()
			}
			mfs = append(mfs, mf)
		}
		m := s.metricOf(f, ss)
		mf.Metric = append(mf.Metric, m)
		metrics = append(metrics, cachedMetric{desc: f.desc, m: m})
	}
	return mfs, metrics
}

// metricOf renders one series.
func (s *Snapshot) metricOf(f *family, ss *SeriesSnapshot) *dto.Metric {
	m := &dto.Metric{Label: ss.labels}
	if m.Label == nil {
		vals := make([]string, len(f.dims))
		for i, d := range f.dims {
			vals[i] = ss.Labels[dims[d].name]
		}
		m.Label = f.labelPairs(vals)
	}
	var ex *dto.Exemplar
	if ss.Exemplar != nil {
		ex = exemplarProto(ss.Exemplar)
	}
	if f.counter {
		m.Counter = &dto.Counter{Value: new(counterValue(f, ss)), Exemplar: ex}
		return m
	}
	m.Histogram = histogramProto(ss, ex, s.native)
	return m
}

// histogramProto renders the classic buckets and, when native is set, the
// native sparse fields too, so the protobuf exposition carries both.
func histogramProto(ss *SeriesSnapshot, ex *dto.Exemplar, native bool) *dto.Histogram {
	bounds := ss.UpperBounds
	h := &dto.Histogram{
		SampleCount: new(ss.Count),
		SampleSum:   new(ss.Sum),
		Bucket:      make([]*dto.Bucket, len(bounds), len(bounds)+1),
	}
	exBucket := -1
	if ex != nil {
		exBucket = bucketIndex(bounds, ex.GetValue())
	}
	var cum uint64
	for i, ub := range bounds {
		cum += ss.Buckets[i]
		h.Bucket[i] = &dto.Bucket{CumulativeCount: new(cum), UpperBound: new(ub)}
		if i == exBucket {
			h.Bucket[i].Exemplar = ex
		}
	}
	// The +Inf bucket is implicit unless it carries the exemplar.
	if exBucket == len(bounds) {
		h.Bucket = append(h.Bucket, &dto.Bucket{CumulativeCount: new(ss.Count), UpperBound: new(math.Inf(1)), Exemplar: ex})
	}
	if native && ss.Native != nil {
		writeNative(h, ss.Native, ex)
	}
	return h
}

func writeNative(h *dto.Histogram, n *NativeSnapshot, ex *dto.Exemplar) {
	h.Schema = new(int32(n.Schema))
	h.ZeroThreshold = new(0.0)
	h.ZeroCount = new(n.ZeroCount)
	h.PositiveSpan, h.PositiveDelta = nativeSpans(n.Keys, n.Counts)
	// Without any bucket a native histogram with zero threshold 0 would
	// look like a classic one to scrapers; a no-op span marks it.
	if n.ZeroCount == 0 && len(h.PositiveSpan) == 0 {
		h.PositiveSpan = []*dto.BucketSpan{{Offset: new(int32(0)), Length: new(uint32(0))}}
	}
	if ex != nil {
		h.Exemplars = []*dto.Exemplar{ex}
	}
}

// nativeSpans encodes sorted buckets as spans and deltas, as client_golang
// does: gaps of up to two empty buckets stay inside a span.
func nativeSpans(keys []int32, counts []uint64) ([]*dto.BucketSpan, []int64) {
	if len(keys) == 0 {
		return nil, nil
	}
	var (
		spans  []*dto.BucketSpan
		deltas = make([]int64, 0, len(keys))
		prev   int64
		next   int32
	)
	appendDelta := func(count int64) {
		*spans[len(spans)-1].Length++
		deltas = append(deltas, count-prev)
		prev = count
	}
	for n, key := range keys {
		gap := key - next
		if n == 0 || gap > 2 {
			spans = append(spans, &dto.BucketSpan{Offset: new(gap), Length: new(uint32(0))})
		} else {
			for range gap {
				appendDelta(0)
			}
		}
		appendDelta(int64(counts[n]))
		next = key + 1
	}
	return spans, deltas
}

func exemplarProto(e *ExemplarSnapshot) *dto.Exemplar {
	return &dto.Exemplar{
		Label:     []*dto.LabelPair{{Name: new("call_id"), Value: new(e.CallID)}},
		Value:     new(e.Value),
		Timestamp: timestamppb.New(time.UnixMilli(e.TimestampMs)),
	}
}

// cachedMetric is one series of a rendered snapshot: a prometheus.Metric
// whose Write shares the snapshot's protobuf parts instead of building new
// ones.
type cachedMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (m cachedMetric) Desc() *prometheus.Desc { return m.desc }

// Write hands out the snapshot's parts. They are never modified after they
// are rendered, and neither the registry nor the exposition encoders modify
// the parts of a written metric, so concurrent scrapes can share them.
func (m cachedMetric) Write(out *dto.Metric) error {
	out.Label = m.m.Label
	out.Counter = m.m.Counter
	out.Histogram = m.m.Histogram
	return nil
}

// Current is a prometheus.Collector of whichever snapshot current returns
// when collected, for serving snapshots through a registry and promhttp
// (the reference the exporter's own handler is tested against).
func Current(current func() *Snapshot) prometheus.Collector { return currentCollector(current) }

type currentCollector func() *Snapshot

func (c currentCollector) Describe(ch chan<- *prometheus.Desc) { c().Describe(ch) }
func (c currentCollector) Collect(ch chan<- prometheus.Metric) { c().Collect(ch) }

// counterValue is a counter's value: its count, or for a counter of
// amounts its sum.
func counterValue(f *family, ss *SeriesSnapshot) float64 {
	if f.sum {
		return ss.Sum
	}
	return float64(ss.Count)
}
