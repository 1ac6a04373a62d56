package notifications

import "github.com/prometheus/client_golang/prometheus"

type receiverMetrics struct {
	notifications   *prometheus.CounterVec
	lifecycleEvents *prometheus.CounterVec
	busy            prometheus.Counter
	dropped         prometheus.Counter
}

func newReceiverMetrics(reg prometheus.Registerer, queued func() int) *receiverMetrics {
	m := &receiverMetrics{
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_notifications_total",
			Help: "Change notifications received from Microsoft Graph, by result: accepted (a call record id queued), lifecycle (a lifecycle event), rejected (each notification refused, alone (a foreign clientState or tenant, not understood) or with its whole body (no item of the subscription's clientState and tenant, not JSON, too large, too slow); a request refused before its first notification counts one), validation (a validation handshake answered, or Graph's validation message read from an event hub).",
		}, []string{"result"}),
		lifecycleEvents: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "teams_exporter_notification_lifecycle_events_total",
			Help: "Lifecycle notifications accepted, by event: reauthorizationRequired, subscriptionRemoved or missed (unknown events are rejected, so the set is bounded).",
		}, []string{"event"}),
		busy: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "teams_exporter_notification_bodies_shed_total",
			Help: "Notification bodies refused unread (503) because as many as allowed were being read at once; Graph retries them.",
		}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "teams_exporter_notification_ids_dropped_total",
			Help: "Notified call record ids dropped because the queue was full; the next re-list of the look-back window finds those records.",
		}),
	}
	for _, r := range []string{ResultAccepted, ResultRejected, ResultLifecycle, ResultValidation} {
		m.notifications.WithLabelValues(r)
	}
	for _, e := range lifecycleEvents {
		m.lifecycleEvents.WithLabelValues(e)
	}
	queue := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "teams_exporter_notification_queue_ids",
		Help: "Notified call record ids waiting to be fetched.",
	}, func() float64 { return float64(queued()) })
	reg.MustRegister(m.notifications, m.lifecycleEvents, m.busy, m.dropped, queue)
	return m
}
