package collector

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// view is the store rendered as protobuf metrics at one version. Building
// it for every scrape cost most of a full-cardinality scrape (thousands of
// series, hundreds of thousands of small allocations), while the store
// changes far less often than it is scraped: the exporter's published
// collector changes once per poll. A view is immutable once built and is
// shared by every scrape until the store changes.
type view struct {
	version uint64
	// families holds the non-empty families sorted by name, their
	// metrics sorted by label values: what a registry's Gather returns.
	families []*dto.MetricFamily
	// metrics holds the same metrics for Collect, in the same order.
	metrics []prometheus.Metric
}

// cachedMetric is one series of a view: a prometheus.Metric whose Write
// shares the view's protobuf parts instead of building new ones.
type cachedMetric struct {
	desc *prometheus.Desc
	m    *dto.Metric
}

func (m cachedMetric) Desc() *prometheus.Desc { return m.desc }

// Write hands out the view's parts. They are never modified after the view
// is built, and neither the registry nor the exposition encoders modify the
// parts of a written metric, so concurrent scrapes can share them.
func (m cachedMetric) Write(out *dto.Metric) error {
	out.Label = m.m.Label
	out.Counter = m.m.Counter
	out.Histogram = m.m.Histogram
	return nil
}

// Version changes with every change of the series, so equal versions of a
// collector mean equal series.
func (c *Collector) Version() uint64 {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.version
}

// currentView returns the view of the store's current version, building it
// if the store changed since the last one. Concurrent callers wait for one
// build instead of each building their own.
func (c *Collector) currentView() *view {
	c.viewMu.Lock()
	defer c.viewMu.Unlock()
	c.mu.RLock()
	defer c.mu.RUnlock()
	if v := c.view; v != nil && v.version == c.version {
		return v
	}
	c.view = c.buildView()
	return c.view
}

// buildView renders every series; c.mu must be held.
func (c *Collector) buildView() *view {
	v := &view{version: c.version}
	for id, f := range families {
		var ms []*dto.Metric
		for _, s := range c.series[id] {
			if s != nil {
				ms = append(ms, c.protoOf(f, s))
			}
		}
		if len(ms) == 0 {
			continue
		}
		slices.SortFunc(ms, compareLabelValues)
		mf := &dto.MetricFamily{Name: new(f.name), Help: new(f.help), Metric: ms}
		mf.Type = dto.MetricType_HISTOGRAM.Enum()
		if f.counter {
			mf.Type = dto.MetricType_COUNTER.Enum()
		}
		v.families = append(v.families, mf)
	}
	slices.SortFunc(v.families, func(a, b *dto.MetricFamily) int {
		return strings.Compare(a.GetName(), b.GetName())
	})
	for _, mf := range v.families {
		desc := families[familyByName[mf.GetName()]].desc
		for _, m := range mf.Metric {
			v.metrics = append(v.metrics, cachedMetric{desc: desc, m: m})
		}
	}
	return v
}

// protoOf renders one series; c.mu must be held. The counts are read in
// place: the result holds no reference to the store.
func (c *Collector) protoOf(f *family, s *series) *dto.Metric {
	var m prometheus.Metric
	if f.counter {
		m = &counterMetric{desc: f.desc, labels: s.labels, value: s.count, ex: s.ex}
	} else {
		h := &histogramMetric{desc: f.desc, labels: s.labels, bounds: f.bounds, counts: s.counts, sum: s.sum, count: s.count, ex: s.ex}
		if c.native {
			h.native = &s.native
		}
		m = h
	}
	out := &dto.Metric{}
	_ = m.Write(out) // never fails
	return out
}

// compareLabelValues orders metrics as client_golang's registry does: by
// their label values, the labels being sorted by name.
func compareLabelValues(a, b *dto.Metric) int {
	if n := len(a.Label) - len(b.Label); n != 0 {
		return n
	}
	for i, lp := range a.Label {
		if c := strings.Compare(lp.GetValue(), b.Label[i].GetValue()); c != 0 {
			return c
		}
	}
	return 0
}

// Gather returns the collector's families, sorted by name, as a registry
// would gather them, so that the collector can be served without a
// registry (the exposition package does). The families are shared with other scrapes:
// callers must not modify them.
func (c *Collector) Gather() ([]*dto.MetricFamily, error) {
	return c.currentView().families, nil
}

// GatherVersion is Gather with the version of the store that the families
// show. The version changes with every change of the store, so a caller can
// keep what it derives from the families (an encoded exposition, say) until
// the version changes.
func (c *Collector) GatherVersion() ([]*dto.MetricFamily, uint64) {
	v := c.currentView()
	return v.families, v.version
}
