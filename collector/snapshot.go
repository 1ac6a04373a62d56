package collector

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	dto "github.com/prometheus/client_model/go"
)

// Snapshot is the cumulative state of every series at one instant: the
// value the exporter writes to its state file and, once written, serves to
// scrapes. It is immutable once made: scrapes share it, and what they
// derive from it (protobuf families, encoded expositions) is cached on it
// (see Families and Encode), so nothing has to tell a cache that the store
// changed: a change makes a new Snapshot.
//
// Series are ordered as an exposition lists them: families by name, then
// label values with the labels sorted by name. A Snapshot survives
// encoding/json exactly (the cache is not encoded).
type Snapshot struct {
	Series []SeriesSnapshot `json:"series"`

	native bool         // render native buckets
	cache  *renderCache // nil until first rendered, for a decoded Snapshot
	once   sync.Once    // makes cache
}

// SeriesSnapshot is one series. Histograms carry UpperBounds, Buckets (not
// cumulative; the last one is +Inf), Sum, Count and Native; counters carry
// their value in Count only.
type SeriesSnapshot struct {
	Metric      string            `json:"metric"`
	Labels      map[string]string `json:"labels"`
	UpperBounds []float64         `json:"upper_bounds,omitempty"`
	Buckets     []uint64          `json:"buckets,omitempty"`
	Sum         float64           `json:"sum,omitempty"`
	Count       uint64            `json:"count"`
	Native      *NativeSnapshot   `json:"native,omitempty"`
	Exemplar    *ExemplarSnapshot `json:"exemplar,omitempty"`

	labels []*dto.LabelPair // the store's label pairs, shared; nil when decoded
}

// NativeSnapshot holds the native buckets of a histogram: populated
// buckets only, Keys strictly increasing, Counts beside them.
type NativeSnapshot struct {
	Schema    int8     `json:"schema"`
	ZeroCount uint64   `json:"zero_count"`
	Keys      []int32  `json:"keys,omitempty"`
	Counts    []uint64 `json:"counts,omitempty"`
}

// ExemplarSnapshot is a series' last exemplar.
type ExemplarSnapshot struct {
	CallID      string  `json:"call_id"`
	Value       float64 `json:"value"`
	TimestampMs int64   `json:"timestamp_ms"`
}

// Snapshot returns a deep copy of every series' cumulative state.
func (c *Collector) Snapshot() *Snapshot {
	snap := &Snapshot{native: c.native}
	c.mu.Lock()
	n := 0
	for id := range families {
		n += len(c.series[id])
	}
	snap.Series = make([]SeriesSnapshot, 0, n)
	bounds := make([]int, 0, len(familiesByName)+1)
	for _, id := range familiesByName {
		bounds = append(bounds, len(snap.Series))
		for _, s := range c.series[id] {
			snap.Series = append(snap.Series, snapshotSeries(families[id], s))
		}
	}
	c.mu.Unlock()
	bounds = append(bounds, len(snap.Series))
	for i := 1; i < len(bounds); i++ {
		slices.SortFunc(snap.Series[bounds[i-1]:bounds[i]], func(a, b SeriesSnapshot) int {
			return compareLabelValues(a.labels, b.labels)
		})
	}
	return snap
}

// CutTouched returns the cumulative state of the series changed since the
// last cut (or since the store began), and starts a new cut: a save writes
// these alone, as absolute values, so that writing one twice, or replaying
// it over a later state of the same series, is harmless. Order is not
// meaningful. The caller serialises cuts with whatever else it cuts.
func (c *Collector) CutTouched() []SeriesSnapshot {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]SeriesSnapshot, len(c.touched))
	for i, t := range c.touched {
		out[i] = snapshotSeries(families[t.fam], t.s)
		t.s.touched = false
	}
	clear(c.touched) // drop the pointers
	c.touched = c.touched[:0]
	return out
}

func snapshotSeries(f *family, s *series) SeriesSnapshot {
	ss := SeriesSnapshot{Metric: f.name, Labels: make(map[string]string, len(s.values)), Count: s.count, labels: s.labels}
	for i, d := range f.dims {
		ss.Labels[dims[d].name] = s.values[i]
	}
	if f.sum {
		ss.Sum = s.sum
	}
	if !f.counter {
		ss.UpperBounds = append([]float64(nil), f.bounds...)
		ss.Buckets = append([]uint64(nil), s.counts...)
		ss.Sum = s.sum
		n := &NativeSnapshot{Schema: s.native.schema, ZeroCount: s.native.zero}
		if len(s.native.buckets) > 0 {
			n.Keys = make([]int32, len(s.native.buckets))
			n.Counts = make([]uint64, len(s.native.buckets))
			for i, b := range s.native.buckets {
				n.Keys[i], n.Counts[i] = b.key, b.count
			}
		}
		ss.Native = n
	}
	if s.ex.callID != "" {
		ss.Exemplar = &ExemplarSnapshot{CallID: s.ex.callID, Value: s.ex.value, TimestampMs: s.ex.tsMs}
	}
	return ss
}

// compareLabelValues orders series as client_golang's registry does: by
// their label values, the labels being sorted by name.
func compareLabelValues(a, b []*dto.LabelPair) int {
	if n := len(a) - len(b); n != 0 {
		return n
	}
	for i, lp := range a {
		if c := strings.Compare(lp.GetValue(), b[i].GetValue()); c != 0 {
			return c
		}
	}
	return 0
}

// Restore replaces the store with s after validating all of it; on error the
// store is unchanged. Learned label values are learned again from s, within
// their bounds.
func (c *Collector) Restore(s *Snapshot) error {
	store, learned := emptyStore()
	for i := range s.Series {
		ss := &s.Series[i]
		id, key, sr, err := restoreSeries(ss, &learned)
		if err != nil {
			return fmt.Errorf("restore series %d (%q): %w", i, ss.Metric, err)
		}
		if store[id][key] != nil {
			return fmt.Errorf("restore series %d (%q): duplicate label set", i, ss.Metric)
		}
		store[id][key] = sr
	}
	c.mu.Lock()
	c.series, c.learned, c.touched = store, learned, nil
	c.mu.Unlock()
	return nil
}

func restoreSeries(ss *SeriesSnapshot, learned *[numDims]*learnedValues) (familyID, seriesKey, *series, error) {
	var key seriesKey
	id, ok := familyByName[ss.Metric]
	if !ok {
		return 0, key, nil, errors.New("unknown metric")
	}
	f := families[id]
	key, vals, err := f.keyOf(ss.Labels, learned)
	if err != nil {
		return 0, key, nil, err
	}
	s := newSeries(f, vals)
	s.count = ss.Count
	switch {
	case f.sum:
		err = checkSum(ss)
		s.sum = ss.Sum
	case f.counter:
		err = checkCounter(ss)
	default:
		err = restoreHistogram(f, ss, s)
	}
	if err != nil {
		return 0, key, nil, err
	}
	if ss.Exemplar != nil {
		if s.ex, err = restoreExemplar(ss.Exemplar); err != nil {
			return 0, key, nil, err
		}
	}
	return id, key, s, nil
}

// keyOf checks that labels are exactly the family's, with allowed values,
// and returns the series key and the values in dims order. A learned dim's
// value is learned into learned, within the dim's bound.
func (f *family) keyOf(labels map[string]string, learned *[numDims]*learnedValues) (seriesKey, []string, error) {
	var key seriesKey
	if len(labels) != len(f.dims) {
		return key, nil, fmt.Errorf("want %d labels, got %d", len(f.dims), len(labels))
	}
	vals := make([]string, len(f.dims))
	for i, d := range f.dims {
		name := dims[d].name
		v, ok := labels[name]
		if !ok {
			return key, nil, fmt.Errorf("label %q missing", name)
		}
		var id uint16
		if l := learned[d]; l != nil {
			id, ok = l.restoreID(v)
		} else {
			pos := slices.Index(dims[d].values, v)
			id, ok = uint16(pos), pos >= 0
		}
		if !ok {
			return key, nil, fmt.Errorf("label %q: value %q not allowed", name, v)
		}
		if l := learned[d]; l != nil {
			v = l.values[id] // the store's own copy
		}
		key[i], vals[i] = id, v
	}
	return key, vals, nil
}

// checkSum checks a counter of amounts: its value is in Sum, finite and
// not negative.
func checkSum(ss *SeriesSnapshot) error {
	if ss.UpperBounds != nil || ss.Buckets != nil || ss.Native != nil || ss.Count != 0 {
		return errors.New("sum counter with histogram fields")
	}
	if math.IsNaN(ss.Sum) || math.IsInf(ss.Sum, 0) || ss.Sum < 0 {
		return fmt.Errorf("sum counter value %g", ss.Sum)
	}
	return nil
}

func checkCounter(ss *SeriesSnapshot) error {
	if ss.UpperBounds != nil || ss.Buckets != nil || ss.Sum != 0 || ss.Native != nil {
		return errors.New("counter with histogram fields")
	}
	return nil
}

func restoreHistogram(f *family, ss *SeriesSnapshot, s *series) error {
	if len(ss.UpperBounds) != len(f.bounds) || len(ss.Buckets) != len(f.bounds)+1 {
		return fmt.Errorf("bucket count mismatch: want %d upper bounds and %d buckets, got %d and %d",
			len(f.bounds), len(f.bounds)+1, len(ss.UpperBounds), len(ss.Buckets))
	}
	for i, ub := range f.bounds {
		if ss.UpperBounds[i] != ub {
			return fmt.Errorf("upper bound %d is %g, want %g", i, ss.UpperBounds[i], ub)
		}
	}
	var total uint64
	for _, n := range ss.Buckets {
		if total+n < total {
			return errors.New("bucket counts overflow")
		}
		total += n
	}
	if total != ss.Count {
		return fmt.Errorf("buckets hold %d observations, count is %d", total, ss.Count)
	}
	if !(ss.Sum >= 0) || math.IsInf(ss.Sum, 0) {
		return fmt.Errorf("sum %g is not a finite non-negative number", ss.Sum)
	}
	copy(s.counts, ss.Buckets)
	s.sum = ss.Sum
	if ss.Native == nil {
		return errors.New("native buckets missing")
	}
	n, err := restoreNative(ss.Native, ss.Count)
	if err != nil {
		return fmt.Errorf("native buckets: %w", err)
	}
	s.native = n
	return nil
}

func restoreNative(ns *NativeSnapshot, count uint64) (nativeHist, error) {
	// nativeKey supports schemas up to the initial one; the store never
	// raises the schema.
	if ns.Schema < nativeMinSchema || ns.Schema > nativeInitialSchema {
		return nativeHist{}, fmt.Errorf("schema %d out of range", ns.Schema)
	}
	if len(ns.Keys) != len(ns.Counts) {
		return nativeHist{}, fmt.Errorf("%d keys but %d counts", len(ns.Keys), len(ns.Counts))
	}
	if len(ns.Keys) > nativeMaxBuckets && ns.Schema > nativeMinSchema {
		return nativeHist{}, fmt.Errorf("%d buckets, more than %d", len(ns.Keys), nativeMaxBuckets)
	}
	// Keys of finite positive floats lie within about +-1100 * 2^schema.
	limit := int64(1100)
	if ns.Schema > 0 {
		limit <<= ns.Schema
	}
	h := nativeHist{schema: ns.Schema, zero: ns.ZeroCount}
	total := ns.ZeroCount
	if len(ns.Keys) > 0 {
		h.buckets = make([]nativeBucket, len(ns.Keys))
	}
	for i, k := range ns.Keys {
		switch {
		case int64(k) > limit || int64(k) < -limit:
			return nativeHist{}, fmt.Errorf("key %d out of range", k)
		case i > 0 && k <= ns.Keys[i-1]:
			return nativeHist{}, errors.New("keys not strictly increasing")
		case ns.Counts[i] == 0:
			return nativeHist{}, errors.New("empty bucket")
		case total+ns.Counts[i] < total:
			return nativeHist{}, errors.New("bucket counts overflow")
		}
		h.buckets[i] = nativeBucket{key: k, count: ns.Counts[i]}
		total += ns.Counts[i]
	}
	if total != count {
		return nativeHist{}, fmt.Errorf("native buckets hold %d observations, count is %d", total, count)
	}
	return h, nil
}

// maxExemplarMs is the end of year 9999, the last instant OpenMetrics
// timestamps (protobuf Timestamp) can carry.
var maxExemplarMs = time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC).UnixMilli()

func restoreExemplar(es *ExemplarSnapshot) (exemplar, error) {
	switch {
	case !validCallID(es.CallID):
		return exemplar{}, errors.New("exemplar call_id empty, not UTF-8 or too long")
	case !(es.Value >= 0) || math.IsInf(es.Value, 0):
		return exemplar{}, fmt.Errorf("exemplar value %g is not a finite non-negative number", es.Value)
	case es.TimestampMs < 0 || es.TimestampMs > maxExemplarMs:
		return exemplar{}, fmt.Errorf("exemplar timestamp %d out of range", es.TimestampMs)
	}
	return exemplar{callID: es.CallID, value: es.Value, tsMs: es.TimestampMs}, nil
}
