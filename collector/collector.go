package collector

import (
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/graph"
)

// Options configures a Collector.
type Options struct {
	// NativeHistograms adds native (sparse) buckets to the emitted
	// histograms, beside the classic ones. The store tracks native buckets
	// either way, so switching this on keeps the history.
	NativeHistograms bool
}

// Stats tells the caller of Ingest what one record gave.
type Stats struct {
	// Observations is the number of histogram observations and counter
	// increments applied.
	Observations int
	// SegmentsWithoutClient counts segments with no client endpoint; they
	// add nothing to stream and network metrics.
	SegmentsWithoutClient int
}

// Collector is the aggregate store of call-quality series. It implements
// prometheus.Collector and prometheus.Gatherer and is safe for concurrent
// use.
type Collector struct {
	native bool
	now    func() time.Time

	mu      sync.RWMutex
	series  [numFamilies][]*series // indexed by family, then label-set index
	version uint64                 // bumped by every change of series, under mu

	viewMu sync.Mutex // serialises view builds; taken before mu
	view   *view      // the series rendered at some version, for scrapes
}

// series is the cumulative state of one label set.
type series struct {
	counts []uint64 // classic buckets, not cumulative, last is +Inf; nil for counters
	sum    float64
	count  uint64 // observations, or a counter's value
	native nativeHist
	ex     exemplar
	labels []*dto.LabelPair // immutable once built, shared with emitted metrics
}

// exemplar is the last observation of a series; an empty callID means none.
type exemplar struct {
	callID string
	value  float64
	tsMs   int64
}

// New returns an empty Collector.
func New(opts Options) *Collector {
	c := &Collector{native: opts.NativeHistograms, now: time.Now}
	for i, f := range families {
		c.series[i] = make([]*series, f.size)
	}
	return c
}

var obsPool = sync.Pool{New: func() any { b := make([]obs, 0, 256); return &b }}

// maxPooledObs keeps a freak record with many thousands of sessions from
// pinning its buffer in the pool.
const maxPooledObs = 1 << 14

// maxCallIDRunes keeps the exemplar within OpenMetrics' limit of 128 runes
// for all exemplar label names and values together ("call_id" is 7).
const maxCallIDRunes = 128 - len("call_id")

// Ingest applies every observation of one record. It is safe for concurrent
// use with Collect and Snapshot. The observations are computed first and
// applied under one lock, so a scrape or snapshot sees all of a record or
// none of it. It never panics on odd data; values that are not measured,
// negative, NaN or infinite are not observed.
func (c *Collector) Ingest(rec *graph.CallRecord) Stats {
	var st Stats
	if rec == nil {
		return st
	}
	bp := obsPool.Get().(*[]obs)
	buf := appendRecord((*bp)[:0], rec, &st)

	ex := exemplar{tsMs: c.now().UnixMilli()}
	if validCallID(rec.ID) {
		// Clone: the record's strings may point into a large decode buffer.
		ex.callID = strings.Clone(rec.ID)
	}
	c.mu.Lock()
	c.version++
	for _, o := range buf {
		if c.apply(o, ex) {
			st.Observations++
		}
	}
	c.mu.Unlock()

	if cap(buf) <= maxPooledObs {
		*bp = buf[:0]
		obsPool.Put(bp)
	}
	return st
}

func validCallID(id string) bool {
	return id != "" && utf8.ValidString(id) && utf8.RuneCountInString(id) <= maxCallIDRunes
}

// apply adds one observation; c.mu must be held. It returns false when the
// observation was dropped because it would make the sum infinite.
func (c *Collector) apply(o obs, ex exemplar) bool {
	f := families[o.fam]
	s := c.series[o.fam][o.idx]
	if s == nil {
		s = newSeries(f, int(o.idx))
		c.series[o.fam][o.idx] = s
	}
	if f.counter {
		s.count += uint64(o.v)
	} else {
		sum := s.sum + o.v
		if math.IsInf(sum, 0) {
			return false
		}
		s.sum = sum
		s.count++
		s.counts[bucketIndex(f.bounds, o.v)]++
		s.native.observe(o.v)
	}
	if ex.callID != "" {
		ex.value = o.v
		s.ex = ex
	}
	return true
}

func newSeries(f *family, idx int) *series {
	s := &series{labels: f.labelPairs(idx), native: nativeHist{schema: nativeInitialSchema}}
	if !f.counter {
		s.counts = make([]uint64, len(f.bounds)+1)
	}
	return s
}

// bucketIndex returns the classic bucket of v: the first upper bound >= v,
// or len(bounds) for +Inf. The lists are short; a scan is fastest.
func bucketIndex(bounds []float64, v float64) int {
	for i, ub := range bounds {
		if v <= ub {
			return i
		}
	}
	return len(bounds)
}

// labelPairs builds the sorted label pairs of series idx.
func (f *family) labelPairs(idx int) []*dto.LabelPair {
	vals := f.labelValues(idx)
	lp := make([]*dto.LabelPair, len(vals))
	for i, pos := range f.labelOrder {
		lp[i] = &dto.LabelPair{Name: new(dimNames[f.dims[pos]]), Value: new(vals[pos])}
	}
	return lp
}

// Describe sends the descriptors of every family.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, f := range families {
		ch <- f.desc
	}
}

// Collect emits every series as a const metric. The metrics come from a
// view of the store that is built once per change and shared by scrapes,
// so a scrape neither copies the store nor holds up Ingest.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	for _, m := range c.currentView().metrics {
		ch <- m
	}
}
