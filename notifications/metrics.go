package notifications

import "github.com/prometheus/client_golang/prometheus"

type receiverMetrics struct {
	notifications *prometheus.CounterVec
	dropped       prometheus.Counter
}

func newReceiverMetrics(reg prometheus.Registerer, queued func() int) *receiverMetrics {
	m := &receiverMetrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_notifications_total",
			Help: "Change notifications received from Microsoft Graph, by result: accepted (a call record id queued), lifecycle (a lifecycle event), rejected (a request answered with 4xx: wrong clientState, not JSON, too large, wrong method or path).",
		}, []string{"result"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "teams_exporter_notification_ids_dropped_total",
			Help: "Notified call record ids dropped because the queue was full; the next re-list of the look-back window finds those records.",
		}),
	}
	for _, r := range []string{ResultAccepted, ResultRejected, ResultLifecycle} {
		m.notifications.WithLabelValues(r)
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "teams_exporter_notification_queue_ids",
		Help: "Notified call record ids waiting to be fetched.",
	}, func() float64 { return float64(queued()) })
	reg.MustRegister(m.notifications, m.dropped, queue)
	return m
}
