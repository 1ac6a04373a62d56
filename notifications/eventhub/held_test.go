package eventhub

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/internal/testrun"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// consumeLimited is a consumer with the bounds of what it holds given.
func (h *hubEnv) consumeLimited(t *testing.T, ledger *memLedger, maxIDs, maxEvents int) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := notifications.NewReceiver(notifications.Config{ClientState: testSecret, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	logs := &testrun.Output{}
	c, err := New(Config{Hub: h.hub, Credential: h.srv.Credential,
		TLS:      &tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12},
		Receiver: r, Ledger: ledger, Hold: time.Hour, Tick: 100 * time.Millisecond,
		MaxHeldIDs: maxIDs, MaxHeldEvents: maxEvents, Registerer: reg,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	run := &running{c: c, receiver: r, ledger: ledger, reg: reg, logs: logs, stop: func() { cancel(); <-done }}
	t.Cleanup(run.stop)
	return run
}

// TestSafeEventsJoinTheHeldEvent: events with nothing to ingest (here
// forged ones, which anyone with the hub's send rights can push without
// end) behind an event that waits are not held one by one: they join it,
// and are committed with it.
func TestSafeEventsJoinTheHeldEvent(t *testing.T) {
	const forged = 2000
	h := startHub(t, "")
	bodies := []string{changeBody(testSecret, idA)}
	for i := range forged {
		bodies = append(bodies, changeBody(fmt.Sprint("forged", i), idB))
	}
	bodies = append(bodies, changeBody(testSecret, idB), validationBody, changeBody("forged", idA))
	h.publish(t, bodies...)
	ledger := newMemLedger()
	run := h.consumeLimited(t, ledger, 10, 10)
	waitFor(t, "every event read", func() bool { return testutil.ToFloat64(run.c.metrics.events) == float64(len(bodies)) })
	if got := run.c.heldEvents(); got != 2 {
		t.Errorf("held events = %v, want 2 (one per event with ids, each with the safe ones after it)", got)
	}
	waitTick(t, run.c, 1)
	if got := h.committed(t); got > 0 {
		t.Errorf("committed %d while the first event waits", got)
	}
	ledger.ingest(idA)
	ledger.save()
	waitFor(t, "committed up to the second event with ids", func() bool { return h.committed(t) == forged+1 })
	ledger.ingest(idB)
	ledger.save()
	waitFor(t, "everything committed", func() bool { return h.committed(t) == int64(len(bodies)) })
	if got := run.c.heldEvents(); got != 0 {
		t.Errorf("held events = %v after everything was committed", got)
	}
}

// TestReadingPausesBeyondHeldEvents: events whose records are ingested
// but not saved hold no ids, yet are held; reading pauses beyond
// MaxHeldEvents, leaving the rest in the hub, and goes on after a save.
func TestReadingPausesBeyondHeldEvents(t *testing.T) {
	id := func(i int) string { return fmt.Sprintf("2f1a2e2c-5a4c-4c55-9b59-7c2b0b2a0b%02d", i) }
	h := startHub(t, "")
	ledger := newMemLedger()
	run := h.consumeLimited(t, ledger, 1000, 3)
	for i := range 3 {
		h.publish(t, changeBody(testSecret, id(i)))
		ledger.ingest(id(i))
	}
	waitFor(t, "the first three read", func() bool { return testutil.ToFloat64(run.c.metrics.events) == 3 })
	waitFor(t, "three events held", func() bool { return run.c.heldEvents() == 3 })
	h.publish(t, changeBody(testSecret, id(3)), changeBody(testSecret, id(4)))
	// The consumer sees the two new events in the hub, then decides not
	// to read them.
	waitFor(t, "the new events read or seen in the hub", func() bool {
		return testutil.ToFloat64(run.c.metrics.events) > 3 ||
			testutil.CollectAndCount(run.c.metrics.lag) == 1 && testutil.ToFloat64(run.c.metrics.lag.WithLabelValues("0")) == 2
	})
	logged := len(run.logs.String())
	waitFor(t, "reading paused", func() bool {
		return testutil.ToFloat64(run.c.metrics.events) > 3 || strings.Contains(run.logs.String()[logged:], "reading the event hub paused")
	})
	if got := testutil.ToFloat64(run.c.metrics.events); got != 3 {
		t.Fatalf("read %v events while 3 were held with MaxHeldEvents 3", got)
	}
	ledger.save()
	waitFor(t, "reading resumed after the save", func() bool { return testutil.ToFloat64(run.c.metrics.events) == 5 })
}
