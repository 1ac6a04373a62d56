package eventhub

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/notifications"
)

// stopOnSecond stops the consumer, as SIGTERM does, while the second
// event is being delivered.
type stopOnSecond struct {
	r      *notifications.Receiver
	n      int
	cancel context.CancelFunc
}

func (s *stopOnSecond) DeliverEvent(ctx context.Context, body []byte) (notifications.Result, error) {
	s.n++
	if s.n == 2 {
		s.cancel()
	}
	return s.r.DeliverEvent(ctx, body)
}

// TestStopCommitsOnlyDeliveredEvents: an event whose delivery is cut by
// the consumer stopping is neither held nor committed; the last commit
// stops before it, and the next start reads it.
func TestStopCommitsOnlyDeliveredEvents(t *testing.T) {
	h := startHub(t, "")
	h.publish(t, changeBody(testSecret, idA), changeBody(testSecret, idB))
	reg := prometheus.NewRegistry()
	r, err := notifications.NewReceiver(notifications.Config{ClientState: testSecret, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ledger := newMemLedger()
	ledger.ingest(idA)
	ledger.save()
	c, err := New(Config{Hub: h.hub, Credential: h.srv.Credential,
		TLS:      &tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12},
		Receiver: &stopOnSecond{r: r, cancel: cancel}, Ledger: ledger, Tick: 100 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Run(ctx); err != nil {
		t.Fatal(err)
	}
	if got := h.committed(t); got != 1 {
		t.Errorf("committed %d after a stop during the second event, want 1", got)
	}
	if got := counter(reg, "teams_exporter_notifications_total", notifications.ResultRejected); got != 0 {
		t.Errorf("rejected = %v, want 0: the cut event was refused by nobody", got)
	}

	again := h.consume(t, "", ledger)
	waitFor(t, "the cut event read again", func() bool { return again.receiver.Queued() == 1 })
	if got := again.receiver.Take(10); len(got) != 1 || got[0].ID != idB {
		t.Errorf("read again: %v, want %s only", got, idB)
	}
}
