package collector

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Snapshot is the cumulative state of every series, for the exporter's
// state file. It is plain data and survives encoding/json exactly.
type Snapshot struct {
	Series []SeriesSnapshot `json:"series"`
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

// Snapshot returns a deep copy of every series' cumulative state, ordered by
// family and label set.
func (c *Collector) Snapshot() Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var snap Snapshot
	for id, f := range families {
		for idx, s := range c.series[id] {
			if s != nil {
				snap.Series = append(snap.Series, snapshotSeries(f, idx, s))
			}
		}
	}
	return snap
}

func snapshotSeries(f *family, idx int, s *series) SeriesSnapshot {
	vals := f.labelValues(idx)
	ss := SeriesSnapshot{Metric: f.name, Labels: make(map[string]string, len(vals)), Count: s.count}
	for i, d := range f.dims {
		ss.Labels[dimNames[d]] = vals[i]
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

// Restore replaces the store with s after validating all of it; on error the
// store is unchanged.
func (c *Collector) Restore(s Snapshot) error {
	var store [numFamilies][]*series
	for i, f := range families {
		store[i] = make([]*series, f.size)
	}
	for i := range s.Series {
		ss := &s.Series[i]
		id, idx, sr, err := restoreSeries(ss)
		if err != nil {
			return fmt.Errorf("restore series %d (%q): %w", i, ss.Metric, err)
		}
		if store[id][idx] != nil {
			return fmt.Errorf("restore series %d (%q): duplicate label set", i, ss.Metric)
		}
		store[id][idx] = sr
	}
	c.mu.Lock()
	c.series = store
	c.version++
	c.mu.Unlock()
	return nil
}

func restoreSeries(ss *SeriesSnapshot) (familyID, int, *series, error) {
	id, ok := familyByName[ss.Metric]
	if !ok {
		return 0, 0, nil, errors.New("unknown metric")
	}
	f := families[id]
	idx, err := f.indexOf(ss.Labels)
	if err != nil {
		return 0, 0, nil, err
	}
	s := newSeries(f, idx)
	s.count = ss.Count
	if f.counter {
		err = checkCounter(ss)
	} else {
		err = restoreHistogram(f, ss, s)
	}
	if err != nil {
		return 0, 0, nil, err
	}
	if ss.Exemplar != nil {
		if s.ex, err = restoreExemplar(ss.Exemplar); err != nil {
			return 0, 0, nil, err
		}
	}
	return id, idx, s, nil
}

// indexOf checks that labels are exactly the family's, with known values,
// and returns the series index.
func (f *family) indexOf(labels map[string]string) (int, error) {
	if len(labels) != len(f.dims) {
		return 0, fmt.Errorf("want %d labels, got %d", len(f.dims), len(labels))
	}
	idx := 0
	for _, d := range f.dims {
		v, ok := labels[dimNames[d]]
		if !ok {
			return 0, fmt.Errorf("label %q missing", dimNames[d])
		}
		pos := -1
		for i, known := range dimValues[d] {
			if v == known {
				pos = i
				break
			}
		}
		if pos < 0 {
			return 0, fmt.Errorf("label %q: value %q not allowed", dimNames[d], v)
		}
		idx = idx*len(dimValues[d]) + pos
	}
	return idx, nil
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
