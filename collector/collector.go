package collector

import (
	"math"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/sites"
)

// Options configures a Collector.
type Options struct {
	// NativeHistograms adds native (sparse) buckets to the emitted
	// histograms, beside the classic ones. The store tracks native buckets
	// either way, so switching this on keeps the history.
	NativeHistograms bool
	// Now is the clock of exemplar timestamps; time.Now if nil.
	Now func() time.Time
	// Sites returns the building file's map in force (sites.File.Map);
	// nil without a building file, and then the site families are absent.
	Sites func() *sites.Map
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

// Collector is the working aggregate store of call-quality series: records
// are ingested into it, and Snapshot cuts the immutable value that is saved
// and served. It is safe for concurrent use.
type Collector struct {
	native bool
	now    func() time.Time
	sites  func() *sites.Map

	mu      sync.Mutex
	series  [numFamilies]map[seriesKey]*series
	learned [numDims]*learnedValues // the values of learned dims; nil for fixed ones
	// touched lists the series changed since the last CutTouched, each
	// once (series.touched), so that a save writes those alone.
	touched []touchedSeries
}

// touchedSeries names a series changed since the last cut.
type touchedSeries struct {
	fam familyID
	s   *series
}

// series is the cumulative state of one label set.
type series struct {
	counts []uint64 // classic buckets, not cumulative, last is +Inf; nil for counters
	sum    float64
	count  uint64 // observations, or a counter's value
	native nativeHist
	ex     exemplar
	values []string         // label values in the family's dims order
	labels []*dto.LabelPair // sorted by name; immutable once built, shared with snapshots
	// touched: changed since the last cut, and in Collector.touched.
	touched bool
}

// exemplar is the last observation of a series; an empty callID means none.
type exemplar struct {
	callID string
	value  float64
	tsMs   int64
}

// New returns an empty Collector.
func New(opts Options) *Collector {
	c := &Collector{native: opts.NativeHistograms, now: opts.Now, sites: opts.Sites}
	if c.now == nil {
		c.now = time.Now
	}
	c.series, c.learned = emptyStore()
	return c
}

func emptyStore() (store [numFamilies]map[seriesKey]*series, learned [numDims]*learnedValues) {
	for i := range families {
		store[i] = map[seriesKey]*series{}
	}
	for d := range dims {
		if dims[d].learned() {
			learned[d] = newLearnedValues(&dims[d])
		}
	}
	return store, learned
}

var obsPool = sync.Pool{New: func() any { b := make([]obs, 0, 256); return &b }}

// maxPooledObs keeps a freak record with many thousands of sessions from
// pinning its buffer in the pool (1 MiB at most), while a 300-session
// all-hands (about 20,000 observations) keeps reusing its buffer.
const maxPooledObs = 1 << 15

// maxCallIDRunes keeps the exemplar within OpenMetrics' limit of 128 runes
// for all exemplar label names and values together ("call_id" is 7).
const maxCallIDRunes = 128 - len("call_id")

// Ingest applies every observation of one record under one lock, so a
// snapshot sees all of a record or none of it. It never panics on odd data;
// values that are not measured, negative, NaN or infinite are not observed.
func (c *Collector) Ingest(rec *graph.CallRecord) Stats {
	var st Stats
	if rec == nil {
		return st
	}
	ex := exemplar{tsMs: c.now().UnixMilli()}
	if validCallID(rec.ID) {
		// Clone: the record's strings may point into a large decode buffer.
		ex.callID = strings.Clone(rec.ID)
	}
	in := ingestion{st: &st}
	if c.sites != nil {
		// One map for the whole record, even if the file is reloaded
		// meanwhile.
		in.sites = &siteResolver{m: c.sites()}
	}
	bp := obsPool.Get().(*[]obs)
	// The observations are computed under the lock too: a learned dim's
	// value ids are assigned as they are first seen.
	c.mu.Lock()
	if in.sites != nil {
		in.sites.ids = c.learned[dimSite]
	}
	in.versions = c.learned[dimClientVersion]
	buf := appendRecord((*bp)[:0], rec, &in)
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
	s := c.series[o.fam][o.key]
	if s == nil {
		s = newSeries(f, c.labelValues(f, o.key))
		c.series[o.fam][o.key] = s
	}
	if !s.touched {
		s.touched = true
		c.touched = append(c.touched, touchedSeries{o.fam, s})
	}
	switch {
	case f.sum:
		sum := s.sum + o.v
		if math.IsInf(sum, 0) {
			return false
		}
		s.sum = sum
	case f.counter:
		s.count += uint64(o.v)
	default:
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

// labelValues decodes a series key into its label values, in dims order;
// c.mu must be held.
func (c *Collector) labelValues(f *family, key seriesKey) []string {
	vals := make([]string, len(f.dims))
	for i, d := range f.dims {
		if l := c.learned[d]; l != nil {
			vals[i] = l.values[key[i]]
		} else {
			vals[i] = dims[d].values[key[i]]
		}
	}
	return vals
}

func newSeries(f *family, values []string) *series {
	s := &series{values: values, labels: f.labelPairs(values), native: nativeHist{schema: nativeInitialSchema}}
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

// labelPairs builds the label pairs of a series, sorted by name, from its
// values in dims order.
func (f *family) labelPairs(vals []string) []*dto.LabelPair {
	lp := make([]*dto.LabelPair, len(vals))
	for i, pos := range f.labelOrder {
		lp[i] = &dto.LabelPair{Name: new(dims[f.dims[pos]].name), Value: new(vals[pos])}
	}
	return lp
}
