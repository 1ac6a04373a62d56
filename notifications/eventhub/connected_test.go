package eventhub

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestWrongHubNameIsDisconnected: a namespace answers a consumer whatever
// hub name it asks for; the connected gauge must stay 0 for a name the
// namespace does not have, and become 1 for the right one, even with no
// event to read.
func TestWrongHubNameIsDisconnected(t *testing.T) {
	h := startHub(t, "")
	for _, tc := range []struct {
		hub  string
		want float64
	}{
		{"no-such-hub", 0},
		{testHub, 1},
	} {
		t.Run(tc.hub, func(t *testing.T) {
			env := *h
			env.hub.Name = tc.hub
			run := env.consume(t, "", newMemLedger())
			if tc.want == 1 {
				waitFor(t, "connected", func() bool { return run.c.connected() == 1 })
				return
			}
			// Each failure recorded (a tick's lag measurement, or a
			// read) is an answer of the namespace for the hub; connected
			// is sampled until ten of them came.
			var samples, ones int
			failures := map[int64]bool{}
			waitFor(t, "ten failures recorded", func() bool {
				samples++
				if run.c.connected() == 1 {
					ones++
				}
				if f := run.c.lastFailure.Load(); f != 0 {
					failures[f] = true
				}
				return len(failures) >= 10
			})
			if got := run.c.connected(); got != 0 || ones > 0 {
				t.Errorf("connected = %v, and 1 in %d of %d samples, for a hub the namespace does not have", got, ones, samples)
			}
		})
	}
}

// TestLastEventTimeOnlyMovesForward: the last event's timestamp is that of
// the latest event accepted; a forged event, however recent its
// timestamp, and an older event read later do not move it.
func TestLastEventTimeOnlyMovesForward(t *testing.T) {
	h := startHub(t, "")
	base := time.Unix(1_800_000_000, 0)
	for _, e := range []struct {
		body string
		at   time.Time
	}{
		{changeBody(testSecret, idA), base},
		{changeBody("forged", idB), base.Add(time.Hour)},
		{changeBody(testSecret, idB), base.Add(-time.Hour)},
	} {
		if err := h.produceAt(e.body, e.at); err != nil {
			t.Fatal(err)
		}
	}
	run := h.consume(t, "", newMemLedger())
	waitFor(t, "three events read", func() bool { return testutil.ToFloat64(run.c.metrics.events) == 3 })
	// An event is counted before its timestamp is noted; the tick after
	// the batch comes once the last event is handled.
	waitTick(t, run.c, 1)
	if got, want := testutil.ToFloat64(run.c.metrics.lastEvent), float64(base.Unix()); got != want {
		t.Errorf("last event timestamp = %v, want %v", got, want)
	}
}

// produceAt produces body with the timestamp at, as a publisher may set.
func (h *hubEnv) produceAt(body string, at time.Time) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(h.hub.Addr()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12}))
	if err != nil {
		return err
	}
	defer cl.Close()
	return cl.ProduceSync(context.Background(), &kgo.Record{Topic: testHub, Value: []byte(body), Timestamp: at}).FirstErr()
}
