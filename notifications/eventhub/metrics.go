package eventhub

import (
	"net"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
)

type metrics struct {
	lag       *prometheus.GaugeVec
	lastEvent prometheus.Gauge
	events    prometheus.Counter
	commits   *prometheus.CounterVec
	released  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, connected, held func() float64) *metrics {
	m := &metrics{
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "teams_exporter_event_hub_lag_events",
			Help: "Events in the event hub's partition not read yet by the exporter's consumer group (the partition's end offset less the consumer's position), measured every few seconds.",
		}, []string{"partition"}),
		lastEvent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "teams_exporter_event_hub_last_event_timestamp_seconds",
			Help: "Unix time at which the event hub enqueued the latest event the exporter read and accepted (a change or lifecycle notification); 0 before the first.",
		}),
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "teams_exporter_event_hub_events_total",
			Help: "Events read from the event hub, each a body of change notifications or Graph's validation message, each counted by result in teams_exporter_notifications_total.",
		}),
		commits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_event_hub_commits_total",
			Help: "Commits of the consumer group's offsets, by result (success, error). An offset is committed once the records its events notified are ingested and saved.",
		}, []string{"result"}),
		released: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "teams_exporter_event_hub_released_records_total",
			Help: "Notified records not ingested within the hold time, whose events stopped holding their partition's offset; the listing of the look-back window finds them if Graph lists them.",
		}),
	}
	m.commits.WithLabelValues("success")
	m.commits.WithLabelValues("error")
	reg.MustRegister(m.lag, m.lastEvent, m.events, m.commits, m.released,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "teams_exporter_event_hub_connected",
			Help: "1 while the event hub answers the exporter's consumer (events read, or its partitions' end offsets listed, in the last 30 seconds, and no failure since), 0 otherwise: a hub name the namespace does not have is 0.",
		}, connected),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "teams_exporter_event_hub_held_events",
			Help: "Events read whose offset is not committed yet: their records wait to settle, to be ingested, or for the next save of the state file.",
		}, held),
	)
	return m
}

// hooks note the broker's connection failures for the connected gauge.
type hooks struct{ c *Consumer }

func (h hooks) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.c.lastFailure.Store(h.c.now().UnixNano())
		h.c.warn("connecting to the event hub failed; retrying", "err", err)
	}
}
