package collector

import (
	"math"
	"sort"
)

// Native (sparse, exponential) histogram buckets, following the algorithm
// of client_golang's histogram.go: a positive value v falls into bucket key k
// of schema s when 2^((k-1)/2^s) < v <= 2^(k/2^s). The zero threshold is 0,
// so the zero bucket holds exact zeros only (loss ratios are often exactly 0).
const (
	nativeInitialSchema = 3
	nativeMinSchema     = -4
	nativeMaxSchema     = 8
	nativeMaxBuckets    = 160
)

// nativeBounds are the fractions (of math.Frexp) where buckets start, per
// positive schema; copied from client_golang (nativeHistogramBounds).
var nativeBounds = [][]float64{
	{0.5},
	{0.5, 0.7071067811865475},
	{0.5, 0.5946035575013605, 0.7071067811865475, 0.8408964152537144},
	{
		0.5, 0.5452538663326288, 0.5946035575013605, 0.6484197773255048,
		0.7071067811865475, 0.7711054127039704, 0.8408964152537144, 0.9170040432046711,
	},
}

// nativeKey returns the bucket key of v > 0 (finite) at schema, which is at
// most nativeInitialSchema here.
func nativeKey(v float64, schema int8) int32 {
	frac, exp := math.Frexp(v)
	if schema > 0 {
		bounds := nativeBounds[schema]
		return int32(sort.SearchFloat64s(bounds, frac) + (exp-1)*len(bounds))
	}
	key := exp
	if frac == 0.5 {
		key--
	}
	offset := (1 << -schema) - 1
	return int32((key + offset) >> -schema)
}

// nativeBucket is one populated sparse bucket.
type nativeBucket struct {
	key   int32
	count uint64
}

// nativeHist is the sparse part of one series: buckets sorted by key, only
// populated ones, at most nativeMaxBuckets (unless already at the lowest
// schema).
type nativeHist struct {
	schema  int8
	zero    uint64
	buckets []nativeBucket
}

func (h *nativeHist) observe(v float64) {
	if v == 0 {
		h.zero++
		return
	}
	key := nativeKey(v, h.schema)
	i, j := 0, len(h.buckets) // binary search for the first bucket with key >= key
	for i < j {
		m := int(uint(i+j) >> 1)
		if h.buckets[m].key < key {
			i = m + 1
		} else {
			j = m
		}
	}
	if i < len(h.buckets) && h.buckets[i].key == key {
		h.buckets[i].count++
		return
	}
	h.buckets = append(h.buckets, nativeBucket{})
	copy(h.buckets[i+1:], h.buckets[i:])
	h.buckets[i] = nativeBucket{key: key, count: 1}
	for len(h.buckets) > nativeMaxBuckets && h.schema > nativeMinSchema {
		h.doubleBucketWidth()
	}
}

// doubleBucketWidth lowers the schema by one and merges pairs of buckets:
// key k becomes ceil(k/2). That mapping is monotonic, so merging neighbours
// in one pass keeps the slice sorted.
func (h *nativeHist) doubleBucketWidth() {
	h.schema--
	out := h.buckets[:0]
	for _, b := range h.buckets {
		k := b.key
		if k > 0 {
			k++
		}
		k /= 2 // truncation towards zero: ceil(k/2) for both signs
		if n := len(out); n > 0 && out[n-1].key == k {
			out[n-1].count += b.count
			continue
		}
		out = append(out, nativeBucket{key: k, count: b.count})
	}
	h.buckets = out
}
