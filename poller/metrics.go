package poller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
)

// Reasons a record or a segment was not observed, for
// teams_exporter_skipped_total.
const (
	ReasonUpdated          = "updated"            // a later version of a record already ingested
	ReasonNoClientEndpoint = "no_client_endpoint" // a segment between two servers
	ReasonNotFound         = "not_found"          // listed, then 404 (expired); retried while listed
	ReasonFetchFailed      = "fetch_failed"       // fetch or decode failed; retried on later polls
	// ReasonImplausible counts values (not records) outside their plausible
	// range (a loss ratio of 7, a jitter of a year), dropped from an
	// ingested record instead of observed.
	ReasonImplausible = "implausible_value"
	// ReasonMalformedRecord counts records listed with an id the state
	// cannot keep (empty, or over graph.MaxIDBytes), at every listing that
	// lists them.
	ReasonMalformedRecord = "malformed_record"
)

type metrics struct {
	polls        *prometheus.CounterVec
	pollDuration prometheus.Histogram
	lastSuccess  prometheus.Gauge
	ingested     prometheus.Counter
	skipped      *prometheus.CounterVec
	interval     prometheus.Gauge
	listPerPoll  prometheus.Gauge
	listPlanned  prometheus.Gauge
	settling     prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		polls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_polls_total",
			Help: "Polls of Microsoft Graph, by result.",
		}, []string{"result"}),
		pollDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "teams_exporter_poll_duration_seconds",
			Help:    "Time a poll took: listing, fetching and ingesting.",
			Buckets: []float64{.1, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600},
		}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "teams_exporter_last_successful_poll_timestamp_seconds",
			Help: "Unix time the last successful poll finished (kept across restarts).",
		}),
		ingested: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "teams_exporter_records_ingested_total",
			Help: "Call records ingested by this process.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_skipped_total",
			Help: "Records, segments, rows or values not observed, by reason (updated, no_client_endpoint, not_found, fetch_failed, malformed_record: records or segments; malformed_row: call-log rows that cannot be read; implausible_value: values outside their plausible range).",
		}, []string{"reason"}),
	}
	m.interval = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "teams_exporter_poll_interval_seconds",
		Help: "Time between polls in force: the configured interval, or longer when listing at it would use more than 90% of Graph's list limit (40 requests per 20 s).",
	})
	m.listPerPoll = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "teams_exporter_list_requests_per_poll",
		Help: "List requests the last poll made: its slices of the look-back window, within its budget (90% of Graph's list limit over the poll interval), and the recent window unless change notifications deliver new records.",
	})
	m.listPlanned = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "teams_exporter_list_requests_planned_per_poll",
		Help: "List requests a poll is expected to make on the schedule of the look-back's sweep: its share of the look-back's pages, and the recent window unless change notifications deliver new records. Above 90% of Graph's list limit over the configured interval, polls are spaced out (teams_exporter_poll_interval_seconds).",
	})
	m.settling = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "teams_exporter_records_settling",
		Help: "Call records listed or notified but not ingested yet because they changed less than the settle delay (TEAMS_EXPORTER_SETTLE_DELAY) ago.",
	})
	reg.MustRegister(m.interval, m.listPerPoll, m.listPlanned, m.settling)
	for _, r := range []string{"success", "error"} {
		m.polls.WithLabelValues(r)
	}
	for _, r := range []string{ReasonUpdated, ReasonNoClientEndpoint, ReasonNotFound, ReasonFetchFailed, ReasonImplausible, ReasonMalformedRecord} {
		m.skipped.WithLabelValues(r)
	}
	reg.MustRegister(m.polls, m.pollDuration, m.lastSuccess, m.ingested, m.skipped)
	return m
}

// GraphMetrics counts Graph requests, and tells the exporter's health
// tracker whether Graph answered each; it implements graph.Observer.
//
// The poller learns of a failure only when a poll gives up, which with
// retries and Retry-After can be many poll intervals after Graph began to
// fail; readiness (Poller.Ready, given GraphMetrics in Config.Graph) must
// turn once Graph has failed for more than three intervals, whether or not
// a poll has ended.
type GraphMetrics struct {
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	throttled prometheus.Counter
	refused   *prometheus.CounterVec
	listPage  prometheus.Gauge

	health *health // the poller's, given this in Config.Graph, with its clock
}

// NewGraphMetrics registers the teams_exporter_graph_* metrics with reg.
// now is the clock readiness is judged by until a poller takes these
// metrics (Config.Graph) and sets its own (time.Now if nil).
func NewGraphMetrics(reg prometheus.Registerer, now func() time.Time) *GraphMetrics {
	if now == nil {
		now = time.Now
	}
	m := &GraphMetrics{
		health: newHealth(now),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_graph_requests_total",
			Help: "Requests to Microsoft Graph and its identity provider, by operation and HTTP status (\"error\" when no response arrived). Requests inside a $batch count as operation \"get\".",
		}, []string{"operation", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "teams_exporter_graph_request_duration_seconds",
			Help:    "Duration of requests to Microsoft Graph, by operation; a batched get takes its $batch's time.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"operation"}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "teams_exporter_graph_throttled_total",
			Help: "Requests Microsoft Graph answered with 429 Too Many Requests.",
		}),
		listPage: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "teams_exporter_list_page_records",
			Help: "Records in the last full list page Microsoft Graph returned: the page size Graph really gives, whatever the exporter asked for (0 until a listing needed a second page).",
		}),
	}
	m.refused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "teams_exporter_graph_bodies_refused_total",
		Help: "Answers of Microsoft Graph refused as they were read, by operation: malformed, or over a bound of size (after decompression), items per page or elements. A listing refused fails its poll; a record refused is skipped.",
	}, []string{"operation"})
	reg.MustRegister(m.requests, m.duration, m.throttled, m.listPage, m.refused)
	return m
}

// ObserveRequest implements graph.Observer.
func (m *GraphMetrics) ObserveRequest(op graph.Operation, code string, d time.Duration) {
	m.requests.WithLabelValues(string(op), code).Inc()
	m.duration.WithLabelValues(string(op)).Observe(d.Seconds())
	switch op {
	case graph.OpToken:
		return // Entra, not Graph: a token does not make Graph answer
	case graph.OpPSTNCalls, graph.OpDirectRoutingCalls:
		return // the call logs are extras: their failures do not make the exporter unready
	}
	m.health.requestAnsweredAgo(op == graph.OpList, graph.Answered(op, code), d)
}

// ObserveListPage implements graph.PageObserver.
func (m *GraphMetrics) ObserveListPage(records int) { m.listPage.Set(float64(records)) }

// ObserveRefusedBody implements graph.BodyObserver.
func (m *GraphMetrics) ObserveRefusedBody(op graph.Operation) {
	m.refused.WithLabelValues(string(op)).Inc()
}

// ObserveThrottled implements graph.Observer.
func (m *GraphMetrics) ObserveThrottled(graph.Operation) { m.throttled.Inc() }
