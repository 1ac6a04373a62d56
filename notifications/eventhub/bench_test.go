package eventhub

import (
	"context"
	"crypto/tls"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// BenchmarkConsume reads events of 100 change notifications each (a
// Graph batch) from the in-process hub over TLS, through the receiver's
// checks and queue, until every one is read: what one consumer reads per
// second, broker and TLS included.
func BenchmarkConsume(b *testing.B) {
	h := startHubWith(b, graphsim.EventHubBrokerOptions{})
	bodies := make([][]byte, b.N)
	for i := range bodies {
		ids := make([]string, 100)
		for j := range ids {
			ids[j] = fmt.Sprintf("2f1a2e2c-5a4c-4c55-9b59-%06d%06d", i, j)
		}
		bodies[i] = []byte(changeBody(testSecret, ids...))
	}
	for _, body := range bodies {
		if err := h.broker.Publisher.Publish(context.Background(), "127.0.0.1", testHub, body); err != nil {
			b.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	r, err := notifications.NewReceiver(notifications.Config{ClientState: testSecret, Registerer: reg, QueueSize: 100 * b.N})
	if err != nil {
		b.Fatal(err)
	}
	c, err := New(Config{
		Hub: h.hub, Credential: h.srv.Credential,
		TLS:      &tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12},
		Receiver: r, Ledger: newMemLedger(), Hold: time.Hour, Tick: 100 * time.Millisecond, Registerer: reg,
		MaxHeldIDs: 100*b.N + 1,
	})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	for testutil.ToFloat64(c.metrics.events) < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	b.ReportMetric(float64(100*b.N)/time.Since(start).Seconds(), "notifications/s")
	cancel()
	<-done
}
