package eventhub

import (
	"context"
	"crypto/tls"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtest"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
	"github.com/teams-exporter/teams-exporter/notifications"
)

const (
	testSecret = "event-hub-client-state"
	testHub    = "teams"
	idA        = "2f1a2e2c-5a4c-4c55-9b59-7c2b0b2a0a01"
	idB        = "2f1a2e2c-5a4c-4c55-9b59-7c2b0b2a0a02"
)

// hubEnv is a simulated tenant and its event hub (one partition, so that
// the order of events is the order of offsets), reached over TLS with the
// tenant's Entra tokens (OAUTHBEARER), as in Azure.
type hubEnv struct {
	srv    *simtest.Server
	broker *graphsim.EventHubBroker
	hub    notifications.EventHub
	admin  *kadm.Client
}

func startHub(t *testing.T, connectionString string) *hubEnv {
	t.Helper()
	return startHubWith(t, graphsim.EventHubBrokerOptions{ConnectionString: connectionString})
}

// startHubWith starts the hub with opts, completed with the tenant, TLS
// and, unless opts says otherwise, one partition.
func startHubWith(t testing.TB, opts graphsim.EventHubBrokerOptions) *hubEnv {
	t.Helper()
	connectionString := opts.ConnectionString
	srv := simtest.Start(t, graphsim.Options{Audiences: []string{"https://127.0.0.1"}})
	if opts.Partitions == 0 {
		opts.Partitions = 1
	}
	opts.Hub, opts.TLS, opts.Tenant, opts.Audience = testHub, srv.Sim.ServerTLS, srv.Tenant, "https://127.0.0.1"
	broker, err := graphsim.StartEventHubBroker(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	kopts := []kgo.Opt{kgo.SeedBrokers(broker.Addr), kgo.DialTLSConfig(&tls.Config{RootCAs: srv.Sim.CertPool, MinVersion: tls.VersionTLS12})}
	if connectionString != "" {
		kopts = append(kopts, kgo.SASL(plain.Auth{User: ConnectionStringUser, Pass: connectionString}.AsMechanism()))
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return &hubEnv{srv: srv, broker: broker, hub: notifications.EventHub{Host: "127.0.0.1", Port: broker.Port(), Name: testHub}, admin: kadm.NewClient(cl)}
}

func (h *hubEnv) publish(t *testing.T, bodies ...string) {
	t.Helper()
	for _, b := range bodies {
		if err := h.broker.Publisher.Publish(context.Background(), "127.0.0.1", testHub, []byte(b)); err != nil {
			t.Fatal(err)
		}
	}
}

// committed is the consumer group's committed offset of partition 0; -1
// for none.
func (h *hubEnv) committed(t *testing.T) int64 {
	t.Helper()
	resp, err := h.admin.FetchOffsetsForTopics(context.Background(), DefaultConsumerGroup, testHub)
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := resp.Lookup(testHub, 0); ok && o.Err == nil {
		return o.At
	}
	return -1
}

// running is a consumer reading the hub, with its receiver and ledger.
type running struct {
	c        *Consumer
	receiver *notifications.Receiver
	ledger   *memLedger
	reg      *prometheus.Registry
	logs     *testrun.Output // the consumer's log, when the test reads it
	stop     func()
}

func (h *hubEnv) consume(t *testing.T, connectionString string, ledger *memLedger) *running {
	t.Helper()
	return h.consumeAt(t, connectionString, ledger, time.Now)
}

// consumeAt is consume with the clock given; events are held for an hour
// of it.
func (h *hubEnv) consumeAt(t *testing.T, connectionString string, ledger *memLedger, now func() time.Time) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	r, err := notifications.NewReceiver(notifications.Config{ClientState: testSecret, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{
		Hub: h.hub, Credential: h.srv.Credential, ConnectionString: connectionString,
		TLS:      &tls.Config{RootCAs: h.srv.Sim.CertPool, MinVersion: tls.VersionTLS12},
		Receiver: r, Ledger: ledger, Hold: time.Hour, Tick: 100 * time.Millisecond, Registerer: reg, Now: now,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := c.Run(ctx); err != nil {
			t.Error(err)
		}
	}()
	run := &running{c: c, receiver: r, ledger: ledger, reg: reg}
	run.stop = sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(run.stop)
	return run
}

func (r *running) notifications(result string) float64 {
	return counter(r.reg, "teams_exporter_notifications_total", result)
}

func counter(reg *prometheus.Registry, name, result string) float64 {
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// waitTick returns once a tick of c (what is safe committed, then the
// lag of each of the hub's partitions measured) has begun after waitTick
// was called and committed: what it found safe is on the hub, and the
// batch read before it is handled. The lag series are dropped and
// measured again, twice. A tick sets each partition's series once, so
// the tick that set one after the second drop cannot have run since
// before the first: it would have set them all in between as well. It
// needs a hub the consumer reaches.
func waitTick(t *testing.T, c *Consumer, partitions int) {
	t.Helper()
	for range 2 {
		c.metrics.lag.Reset()
		waitFor(t, "a tick", func() bool { return testutil.CollectAndCount(c.metrics.lag) == partitions })
	}
}

// skewClock is the wall clock moved forward by what the test adds, so
// that a test can let the hold time pass without waiting for it.
type skewClock struct{ skew atomic.Int64 }

func (c *skewClock) now() time.Time          { return time.Now().Add(time.Duration(c.skew.Load())) }
func (c *skewClock) advance(d time.Duration) { c.skew.Add(int64(d)) }

// waitFor polls cond until it holds, for long enough that a loaded
// machine (two cores, race detector, other packages' tests) gets there.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func changeBody(secret string, ids ...string) string {
	var items []string
	for _, id := range ids {
		items = append(items, `{"subscriptionId":"s","clientState":"`+secret+`","changeType":"created","resource":"communications/callRecords/`+id+`","resourceData":{"id":"`+id+`"},"tenantId":"t"}`)
	}
	return `{"value":[` + strings.Join(items, ",") + `]}`
}

const validationBody = `{"value":[{"subscriptionId":"NA","subscriptionExpirationDateTime":"NA","clientState":"NA","changeType":"Validation: Testing client application reachability for subscription Request-Id: 522a8e7e-096a-494c-aaf1-ac0dcfca45b7","resource":"NA","resourceData":{"@odata.type":"NA","@odata.id":"NA","id":"NA"}}]}`

// TestOffsetCommittedOnceSafe: events that carry nothing to ingest
// (Graph's validation message, a forged body, a malformed one, a lifecycle
// event) are committed at once; an event's notified records hold its
// offset, and every later one's, until they are ingested and a save begun
// after that has succeeded. A consumer started again reads only what was
// not committed: the held event again (which changes no count), nothing
// before it.
func TestOffsetCommittedOnceSafe(t *testing.T) {
	h := startHub(t, "")
	h.publish(t,
		validationBody,                   // 0: counted as validation
		changeBody("forged", idA),        // 1: rejected
		`{"value":[{"clientState":`,      // 2: rejected
		changeBody(testSecret, idA, idB), // 3: holds
		`{"value":[{"subscriptionId":"s","clientState":"`+testSecret+`","lifecycleEvent":"missed"}]}`, // 4
	)
	ledger := newMemLedger()
	run := h.consume(t, "", ledger)
	waitFor(t, "five events read", func() bool { return testutil.ToFloat64(run.c.metrics.events) == 5 })
	waitFor(t, "the events before the held one committed", func() bool { return h.committed(t) == 3 })
	if got := run.notifications(notifications.ResultRejected); got != 2 {
		t.Errorf("rejected = %v, want 2 (the forged and the malformed body)", got)
	}
	if got := run.notifications(notifications.ResultValidation); got != 1 {
		t.Errorf("validation = %v, want 1", got)
	}
	if got := run.receiver.Queued(); got != 2 {
		t.Errorf("queued ids = %d, want 2", got)
	}
	// The series must exist (WithLabelValues would make one at 0) and
	// show that everything was read.
	waitFor(t, "a lag of 0 measured", func() bool {
		return testutil.CollectAndCount(run.c.metrics.lag) == 1 && testutil.ToFloat64(run.c.metrics.lag.WithLabelValues("0")) == 0
	})

	ledger.ingest(idA, idB)
	waitTick(t, run.c, 1) // ingested, not saved
	if got := h.committed(t); got != 3 {
		t.Fatalf("committed %d before the save, want 3", got)
	}
	ledger.save()
	waitFor(t, "everything committed after the save", func() bool { return h.committed(t) == 5 })
	run.stop()

	// Nothing committed is read again.
	again := h.consume(t, "", ledger)
	h.publish(t, changeBody(testSecret, idB))
	// Committing the new event means it was read, and every event before
	// it in the partition too.
	waitFor(t, "an event of an ingested record committed at once", func() bool { return h.committed(t) == 6 })
	if got := testutil.ToFloat64(again.c.metrics.events); got != 1 {
		t.Errorf("a restarted consumer read %v events, want only the new one", got)
	}
}

// TestRestartReadsTheHeldEventAgain: a consumer stopped (or killed) while
// an event's records are not saved leaves its offset uncommitted, and the
// next one delivers it again.
func TestRestartReadsTheHeldEventAgain(t *testing.T) {
	h := startHub(t, "")
	h.publish(t, changeBody(testSecret, idA), changeBody(testSecret, idB))
	ledger := newMemLedger()
	run := h.consume(t, "", ledger)
	waitFor(t, "two ids queued", func() bool { return run.receiver.Queued() == 2 })
	ledger.ingest(idA)
	ledger.save()
	waitFor(t, "the first event committed", func() bool { return h.committed(t) == 1 })
	run.stop()

	again := h.consume(t, "", ledger)
	waitFor(t, "the held event delivered again", func() bool { return again.receiver.Queued() == 1 })
	if got := again.receiver.Take(10); len(got) != 1 || got[0].ID != idB {
		t.Errorf("delivered again: %v, want %s only", got, idB)
	}
}

// TestHoldTimeReleasesAnEvent: an event whose record is never ingested (a
// record Graph no longer serves) holds its partition for the hold time
// only, then is committed once a save follows, and the record is counted
// as released to the listing.
func TestHoldTimeReleasesAnEvent(t *testing.T) {
	h := startHub(t, "")
	h.publish(t, changeBody(testSecret, idA), changeBody(testSecret, idB))
	ledger := newMemLedger()
	clock := &skewClock{}
	run := h.consumeAt(t, "", ledger, clock.now)
	waitFor(t, "both events read", func() bool { return testutil.ToFloat64(run.c.metrics.events) == 2 })
	ledger.ingest(idB)
	ledger.save()
	waitTick(t, run.c, 1)
	if got := h.committed(t); got > 0 {
		t.Fatalf("committed %d while the first event's record may still come", got)
	}
	if got := testutil.ToFloat64(run.c.metrics.released); got != 0 {
		t.Fatalf("released %v records within the hold time", got)
	}
	clock.advance(time.Hour)
	waitFor(t, "the first event released", func() bool { return testutil.ToFloat64(run.c.metrics.released) == 1 })
	ledger.save()
	waitFor(t, "both committed", func() bool { return h.committed(t) == 2 })
}

// TestHugeEventRejected: an event larger than a notification body may be
// (a hub that takes bigger events, Event Hubs Dedicated) is read, counted
// as rejected and committed, and the events after it are delivered.
func TestHugeEventRejected(t *testing.T) {
	h := startHubWith(t, graphsim.EventHubBrokerOptions{MaxEventBytes: 8 << 20})
	huge := `{"value":[{"clientState":"` + testSecret + `","pad":"` + strings.Repeat("x", 3<<20) + `"}]}`
	h.publish(t, huge, changeBody(testSecret, idA))
	run := h.consume(t, "", newMemLedger())
	waitFor(t, "the event after the huge one", func() bool { return run.receiver.Queued() == 1 })
	if got := run.notifications(notifications.ResultRejected); got != 1 {
		t.Errorf("rejected = %v, want 1", got)
	}
	waitFor(t, "the huge event committed", func() bool { return h.committed(t) == 1 })
}

// TestConnectionString: SASL PLAIN with "$ConnectionString" as Event Hubs
// takes it, and a wrong one reads nothing and shows disconnected.
func TestConnectionString(t *testing.T) {
	const cs = "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=listen;SharedAccessKey=c2VjcmV0;EntityPath=teams"
	h := startHub(t, cs)
	h.publish(t, changeBody(testSecret, idA))

	wrong := h.consume(t, cs+"x", newMemLedger())
	// Refused by the hub: had it let the consumer in, the event would be
	// read, and no failure recorded.
	waitFor(t, "the wrong connection string refused", func() bool { return wrong.c.lastFailure.Load() != 0 })
	if got := wrong.receiver.Queued(); got != 0 {
		t.Errorf("a wrong connection string read %d ids", got)
	}
	if got := wrong.c.connected(); got != 0 {
		t.Errorf("connected = %v with a wrong connection string", got)
	}
	wrong.stop()

	right := h.consume(t, cs, newMemLedger())
	waitFor(t, "the id queued", func() bool { return right.receiver.Queued() == 1 })
	if got := right.c.connected(); got != 1 {
		t.Errorf("connected = %v while reading", got)
	}
}

// memLedger is the part of the ledger the consumer reads, in memory: ids
// ingested, and saves numbered as ledger.Ledger numbers them.
type memLedger struct {
	mu             sync.Mutex
	ingested       map[string]bool
	begun, durable uint64
	changed        bool
}

func newMemLedger() *memLedger { return &memLedger{ingested: map[string]bool{}} }

func (l *memLedger) ingest(ids ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, id := range ids {
		l.ingested[id] = true
	}
	l.changed = true
}

func (l *memLedger) save() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.begun++
	l.changed = false
	l.durable = l.begun
}

func (l *memLedger) Ingested(id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ingested[id]
}

func (l *memLedger) SaveMark() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.changed && l.begun > 0 && l.durable == l.begun {
		return l.begun - 1
	}
	return l.begun
}

func (l *memLedger) SavedSince(mark uint64) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.durable > mark
}
