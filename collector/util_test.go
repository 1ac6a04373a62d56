package collector

import (
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

func stringsReader(s string) *strings.Reader { return strings.NewReader(s) }

// filtered collects only the named family of a Collector.
type filtered struct {
	c    *Collector
	name string
}

func collectorFor(c *Collector, name string) prometheus.Collector { return filtered{c, name} }

func (f filtered) Describe(ch chan<- *prometheus.Desc) {
	ch <- families[familyByName[f.name]].desc
}

func (f filtered) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric)
	go func() { f.c.Snapshot().Collect(all); close(all) }()
	want := families[familyByName[f.name]].desc
	for m := range all {
		if m.Desc() == want {
			ch <- m
		}
	}
}
