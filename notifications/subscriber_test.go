package notifications

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtest"
	"github.com/teams-exporter/teams-exporter/ledger"
)

// testClock is a settable clock shared by the tenant and the subscriber.
type testClock struct{ ns atomic.Int64 }

func newTestClock() *testClock {
	c := &testClock{}
	c.ns.Store(time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) now() time.Time      { return time.Unix(0, c.ns.Load()).UTC() }
func (c *testClock) add(d time.Duration) { c.ns.Add(int64(d)) }

// startTenant serves a simulated tenant over TLS and returns it with a
// real graph client authenticated by a real azidentity credential.
func startTenant(t *testing.T, opts graphsim.Options) (*graphsim.Tenant, *graph.Client) {
	t.Helper()
	opts.TenantID, opts.ClientID, opts.ClientSecret = "t", "c", "s"
	opts.Notifications.LoopbackHTTP = true
	sim := simtest.Start(t, opts)
	client, err := graph.New(graph.Config{BaseURL: sim.URL, Credential: sim.Credential, HTTPClient: sim.HTTPClient, MaxRetries: 1, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return sim.Tenant, client
}

type subscriberRig struct {
	tenant   *graphsim.Tenant
	client   *graph.Client
	receiver *Receiver
	url      string
	clock    *testClock
	logs     *bytes.Buffer
	// secret is the client state of the next subscriber; memory, the
	// state that outlives its restarts (the exporter's ledger, in memory).
	secret string
	memory Memory
}

func newSubscriberRig(t *testing.T, notify graphsim.NotificationOptions) *subscriberRig {
	t.Helper()
	clock := newTestClock()
	tenant, client := startTenant(t, graphsim.Options{Now: clock.now, Notifications: notify})
	r, _, base := startReceiver(t, Config{Now: clock.now}, nil)
	l, err := ledger.Open(ledger.Config{Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	return &subscriberRig{
		tenant: tenant, client: client, receiver: r, url: base + NotificationPath, clock: clock, logs: &bytes.Buffer{},
		secret: testSecret, memory: l,
	}
}

// subscriber is a new Subscriber of the rig, as after a (re)start.
func (g *subscriberRig) subscriber(t *testing.T) (*Subscriber, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := NewSubscriber(SubscriberConfig{
		NotificationURL: g.url, ClientState: g.secret, Receiver: g.receiver, Memory: g.memory,
		Logger: newTextLogger(g.logs), Registerer: reg, Now: g.clock.now,
	}, g.client)
	if err != nil {
		t.Fatal(err)
	}
	return s, reg
}

func TestSubscriberCreatesAfterTheHandshakeAndReusesItsOwnAfterARestart(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	ctx := context.Background()
	s, reg := g.subscriber(t)
	wait := s.step(ctx)
	subs := g.tenant.Subscriptions()
	st := g.tenant.NotificationStats()
	if len(subs) != 1 || st.Created != 1 || st.Validations != 2 {
		t.Fatalf("subscriptions %v, stats %+v; want one, created after validating both URLs", subs, st)
	}
	wantExpiry := g.clock.now().Add(DefaultLifetime)
	if got := testutil.ToFloat64(s.expiry); got != float64(wantExpiry.Unix()) {
		t.Errorf("expiry gauge %v, want %v", got, wantExpiry.Unix())
	}
	if wait != DefaultLifetime/2 {
		t.Errorf("next step in %v, want renewal at half the lifetime, %v", wait, DefaultLifetime/2)
	}
	if n, _ := testutil.GatherAndCount(reg, "teams_exporter_subscription_expiry_timestamp_seconds"); n != 1 {
		t.Errorf("expiry gauge not registered")
	}

	// Three restarts later: still one subscription, renewed, never deleted.
	for range 3 {
		g.clock.add(time.Hour)
		s2, _ := g.subscriber(t)
		s2.step(ctx)
		if s2.current == nil || s2.current.ID != subs[0] {
			t.Fatalf("restart did not reuse subscription %s: %+v", subs[0], s2.current)
		}
	}
	st = g.tenant.NotificationStats()
	if n := len(g.tenant.Subscriptions()); n != 1 || st.Created != 1 || st.Renewed != 3 || st.Deleted != 0 {
		t.Errorf("%d subscriptions, stats %+v; want 1 created, 3 renewals, none deleted", n, st)
	}
	if strings.Contains(g.logs.String(), testSecret) {
		t.Errorf("the client state appears in the log")
	}
}

func TestSubscriberRenewsBeforeExpiry(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	ctx := context.Background()
	s, _ := g.subscriber(t)
	s.step(ctx)
	first := s.current.ExpirationDateTime
	// Every half lifetime a renewal; the subscription never lapses over
	// ten days (Graph would delete it 4,230 minutes after the last one).
	for range 10 {
		g.clock.add(s.step(ctx))
		s.step(ctx)
		if len(g.tenant.Subscriptions()) != 1 {
			t.Fatalf("subscription lapsed at %s", g.clock.now())
		}
	}
	if st := g.tenant.NotificationStats(); st.Renewed != 10 || st.Created != 1 {
		t.Errorf("stats %+v, want 10 renewals of one subscription", st)
	}
	if !s.current.ExpirationDateTime.After(first) {
		t.Errorf("expiry did not move: %s", s.current.ExpirationDateTime)
	}
}

// A grant shorter than half the lifetime asked for puts the renewal time in
// the past right after each renewal; the subscriber must still wait.
func TestSubscriberShortGrantDoesNotRenewInALoop(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{GrantLifetime: time.Hour})
	ctx := context.Background()
	s, _ := g.subscriber(t)
	var waits []time.Duration
	for range 20 {
		w := s.step(ctx)
		waits = append(waits, w)
		g.clock.add(w)
	}
	st := g.tenant.NotificationStats()
	if st.Created != 1 || st.Renewed != 19 || len(g.tenant.Subscriptions()) != 1 {
		t.Fatalf("stats %+v, %d subscriptions; want one subscription renewed at each of 19 steps", st, len(g.tenant.Subscriptions()))
	}
	for i, w := range waits {
		if w != 30*time.Minute {
			t.Errorf("step %d waits %v, want half the hour granted", i, w)
		}
	}
}

func TestSubscriberFollowsLifecycleEvents(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	ctx := context.Background()
	s, _ := g.subscriber(t)
	s.step(ctx)
	first := s.current.ID

	g.tenant.SendLifecycle(EventReauthorizationRequired)
	g.tenant.DeliverNotifications(ctx)
	<-g.receiver.Lifecycle()
	s.handleLifecycle()
	s.step(ctx)
	if st := g.tenant.NotificationStats(); st.Renewed != 1 || st.Lifecycle != 1 {
		t.Errorf("after reauthorizationRequired: %+v, want one renewal", st)
	}
	if g.receiver.TakeRelist() {
		t.Errorf("reauthorizationRequired asked for a re-list")
	}

	g.tenant.SendLifecycle(EventMissed)
	g.tenant.DeliverNotifications(ctx)
	if !g.receiver.TakeRelist() {
		t.Errorf("missed did not ask for a re-list")
	}

	g.tenant.SendLifecycle(EventSubscriptionRemoved)
	g.tenant.DeliverNotifications(ctx)
	<-g.receiver.Lifecycle()
	s.handleLifecycle()
	s.step(ctx)
	subs := g.tenant.Subscriptions()
	if len(subs) != 1 || subs[0] == first || s.current.ID != subs[0] {
		t.Errorf("after subscriptionRemoved: subscriptions %v (first %s, current %+v), want a new one", subs, first, s.current)
	}
	if !g.receiver.TakeRelist() {
		t.Errorf("subscriptionRemoved did not ask for a re-list")
	}
}

func TestSubscriberCreatesAgainWhenRenewalFindsNothing(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	ctx := context.Background()
	s, _ := g.subscriber(t)
	s.step(ctx)
	// The exporter was down longer than the subscription's lifetime.
	g.clock.add(graph.MaxSubscriptionLifetime)
	s.step(ctx) // renewal: 404
	s.step(ctx) // creation
	if st := g.tenant.NotificationStats(); st.Created != 2 || len(g.tenant.Subscriptions()) != 1 {
		t.Errorf("stats %+v; want a second subscription after the first expired", st)
	}
	if !g.receiver.TakeRelist() {
		t.Errorf("a lost subscription did not ask for a re-list")
	}
}

func TestSubscriptionRefusedWhenTheHandshakeFails(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	g.url = strings.TrimSuffix(g.url, NotificationPath) + "/not-served" // the ingress routes elsewhere
	s, _ := g.subscriber(t)
	wait := s.step(context.Background())
	if s.current != nil || len(g.tenant.Subscriptions()) != 0 {
		t.Fatalf("subscription created without a handshake")
	}
	if wait != 30*time.Second || !strings.Contains(g.logs.String(), "ValidationError") {
		t.Errorf("retry in %v, log %q; want 30s and Graph's validation error", wait, g.logs.String())
	}
	if testutil.ToFloat64(s.expiry) != 0 {
		t.Errorf("expiry gauge set without a subscription")
	}
}

func TestSimulatedGraphRefusesWhatGraphRefuses(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	ctx := context.Background()
	lifecycle, _ := LifecycleURL(g.url)
	good := graph.NewSubscription{
		Resource: graph.CallRecordsResource, ChangeType: ChangeTypes, NotificationURL: g.url,
		LifecycleNotificationURL: lifecycle, ClientState: testSecret, ExpirationDateTime: g.clock.now().Add(time.Hour),
	}
	cases := []struct {
		name string
		edit func(*graph.NewSubscription)
	}{
		{"beyond 4230 minutes", func(s *graph.NewSubscription) { s.ExpirationDateTime = g.clock.now().Add(4231 * time.Minute) }},
		{"in the past", func(s *graph.NewSubscription) { s.ExpirationDateTime = g.clock.now().Add(-time.Minute) }},
		{"client state over 128 characters", func(s *graph.NewSubscription) { s.ClientState = strings.Repeat("x", 129) }},
		{"a host off this machine", func(s *graph.NewSubscription) { s.NotificationURL = "https://example.com/notifications" }},
		{"deleted", func(s *graph.NewSubscription) { s.ChangeType = "created,deleted" }},
		{"another resource", func(s *graph.NewSubscription) { s.Resource = "/users" }},
	}
	for _, c := range cases {
		req := good
		c.edit(&req)
		_, err := g.client.CreateSubscription(ctx, req)
		var gerr *graph.Error
		if !errors.As(err, &gerr) || gerr.Status != http.StatusBadRequest {
			t.Errorf("%s: %v, want 400", c.name, err)
		}
		if err != nil && strings.Contains(err.Error(), testSecret) {
			t.Errorf("%s: the error shows the client state", c.name)
		}
	}
	if _, err := g.client.RenewSubscription(ctx, "00000000-0000-4000-8000-000000000000", g.clock.now().Add(time.Hour)); !errors.Is(err, graph.ErrNotFound) {
		t.Errorf("renewing an unknown subscription: %v, want ErrNotFound", err)
	}
	if _, err := g.client.CreateSubscription(ctx, good); err != nil {
		t.Errorf("the good request was refused: %v", err)
	}
}

func TestDeliveryWithDuplicatesReorderingAndLosses(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{Duplicated: 0.3, Lost: 0.1, Reorder: true, Seed: 4, BatchSize: 7})
	ctx := context.Background()
	s, _ := g.subscriber(t)
	s.step(ctx)
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 3, Count: 60, Start: g.clock.now().Add(-2 * time.Hour), End: g.clock.now()})
	g.tenant.Add(recs...)
	g.tenant.Bump(recs[0].ID)
	g.tenant.DeliverNotifications(ctx)
	st := g.tenant.NotificationStats()
	got := map[string]bool{}
	for _, n := range g.receiver.Take(1000) {
		got[n.ID] = true
	}
	if st.Lost == 0 || st.Duplicated == 0 || st.Queued != 61 || st.Sent != st.Queued-st.Lost+st.Duplicated {
		t.Errorf("stats %+v: the draws did not happen as configured", st)
	}
	// Each id delivered at least once is queued once; lost ones are left
	// to polling.
	if len(got) > 60 || len(got) < 60-int(st.Lost) {
		t.Errorf("%d distinct ids queued of 60 records with %d notifications lost", len(got), st.Lost)
	}
	for id := range got {
		if g.tenant.Len() == 0 || !containsID(recs, id) {
			t.Errorf("queued an id the tenant never had: %s", id)
		}
	}
}

func containsID(recs []graphsim.Record, id string) bool {
	for _, r := range recs {
		if r.ID == id {
			return true
		}
	}
	return false
}

// frontDoor serves, at one URL, whichever receiver is current: the
// exporter restarted on the same port with another configuration.
type frontDoor struct {
	url     string
	current atomic.Pointer[http.Server]
}

func startFrontDoor(t *testing.T) *frontDoor {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &frontDoor{url: "http://" + ln.Addr().String() + NotificationPath}
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.current.Load().Handler.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// serve makes a new receiver with clientState the one behind the door.
func (f *frontDoor) serve(t *testing.T, clientState string) *Receiver {
	t.Helper()
	r, err := NewReceiver(Config{ClientState: clientState, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	f.current.Store(NewServer("", r, discardLogger()).Server)
	return r
}

// openState opens the exporter's state file, as at a start; the previous
// run, if any, saves and closes it first.
func openState(t *testing.T, prev *ledger.Ledger, path string, clock *testClock) *ledger.Ledger {
	t.Helper()
	if prev != nil {
		if err := prev.Save(); err != nil {
			t.Fatal(err)
		}
		if err := prev.Close(); err != nil {
			t.Fatal(err)
		}
	}
	l, err := ledger.Open(ledger.Config{Path: path, Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// Graph never returns a subscription's clientState: after the client state
// is rotated, only the fingerprint in the state file tells that the
// subscription found by URL would bring notifications the receiver
// rejects. It is replaced, and the old one, which this exporter created,
// deleted.
func TestSubscriberReplacesTheSubscriptionAfterTheClientStateIsRotated(t *testing.T) {
	const oldSecret, newSecret = "old-Client-State-1", "new-Client-State-2"
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	ctx := context.Background()
	door := startFrontDoor(t)
	g.url = door.url
	statePath := filepath.Join(t.TempDir(), "state.json")

	steps := []struct {
		name                    string
		secret                  string
		created, deleted, renew int64
		sameSubscription        bool
	}{
		{"first start", oldSecret, 1, 0, 0, false},
		{"restart, same client state: reused", oldSecret, 1, 0, 1, true},
		{"restart, client state rotated: replaced", newSecret, 2, 1, 1, false},
		{"restart, same client state again: reused", newSecret, 2, 1, 2, true},
	}
	var l *ledger.Ledger
	var prev string
	for _, step := range steps {
		g.clock.add(time.Hour)
		l = openState(t, l, statePath, g.clock)
		g.memory, g.secret = l, step.secret
		g.receiver = door.serve(t, step.secret)
		s, _ := g.subscriber(t)
		s.step(ctx)
		subs := g.tenant.Subscriptions()
		st := g.tenant.NotificationStats()
		if len(subs) != 1 || s.current == nil || s.current.ID != subs[0] {
			t.Fatalf("%s: subscriptions %v, current %+v; want the current one only", step.name, subs, s.current)
		}
		if st.Created != step.created || st.Deleted != step.deleted || st.Renewed != step.renew {
			t.Errorf("%s: stats %+v; want %d created, %d deleted, %d renewed", step.name, st, step.created, step.deleted, step.renew)
		}
		if same := subs[0] == prev; same != step.sameSubscription {
			t.Errorf("%s: subscription %s after %s; same: %v, want %v", step.name, subs[0], prev, same, step.sameSubscription)
		}
		prev = subs[0]

		// What the subscription brings is accepted, none of it rejected.
		recs := graphsim.Generate(graphsim.GenOptions{Seed: st.Created + st.Renewed, Count: 3, Start: g.clock.now().Add(-time.Hour), End: g.clock.now()})
		g.tenant.Add(recs...)
		g.tenant.DeliverNotifications(ctx)
		if got := len(g.receiver.Take(100)); got != len(recs) {
			t.Errorf("%s: %d ids queued of %d records notified", step.name, got, len(recs))
		}
		if n := testutil.ToFloat64(g.receiver.metrics.notifications.WithLabelValues(ResultRejected)); n != 0 {
			t.Errorf("%s: %v notifications rejected", step.name, n)
		}
	}
	if err := l.Save(); err != nil {
		t.Fatal(err)
	}
	state, err := os.ReadFile(statePath)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(state, []byte(prev)) || !bytes.Contains(state, []byte(`"clientStateFingerprint":"`+fingerprintScheme+"$")) {
		t.Errorf("the state file does not record subscription %s with a fingerprint: %.300s", prev, state)
	}
	_, fp := l.Subscription()
	for _, leak := range []string{oldSecret, newSecret} {
		if bytes.Contains(state, []byte(leak)) || strings.Contains(g.logs.String(), leak) {
			t.Errorf("client state %q appears in the state file or the log", leak)
		}
	}
	if strings.Contains(g.logs.String(), fp) {
		t.Errorf("the fingerprint appears in the log")
	}
	if !strings.Contains(g.logs.String(), "client state changed") {
		t.Errorf("the replacement was not logged: %s", g.logs.String())
	}
}

// A subscription for the same URLs that the state does not record (a state
// file lost, or a crash before the first save) may carry another client
// state and may not be this exporter's: a new one is created, and the
// other left to expire, not deleted.
func TestSubscriberLeavesSubscriptionsItDidNotRecord(t *testing.T) {
	g := newSubscriberRig(t, graphsim.NotificationOptions{})
	ctx := context.Background()
	s, _ := g.subscriber(t)
	s.step(ctx)
	first := s.current.ID

	l, err := ledger.Open(ledger.Config{Now: g.clock.now}) // a fresh state
	if err != nil {
		t.Fatal(err)
	}
	g.memory = l
	s2, _ := g.subscriber(t)
	s2.step(ctx)
	st := g.tenant.NotificationStats()
	if subs := g.tenant.Subscriptions(); len(subs) != 2 || st.Created != 2 || st.Deleted != 0 || s2.current.ID == first {
		t.Errorf("subscriptions %v, stats %+v; want a second one created and the first left in place", subs, st)
	}
	if id, _ := l.Subscription(); id != s2.current.ID {
		t.Errorf("state records %q, want the subscription created, %s", id, s2.current.ID)
	}
	if !strings.Contains(g.logs.String(), "leaving them to expire") {
		t.Errorf("the subscription left in place was not logged")
	}
}

func TestFingerprint(t *testing.T) {
	fp, err := fingerprint(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	fp2, _ := fingerprint(testSecret)
	if fp == fp2 || strings.Contains(fp, testSecret) {
		t.Errorf("fingerprints %q, %q: want a new salt each time, and no secret", fp, fp2)
	}
	scheme, rest, _ := strings.Cut(fp, "$")
	cases := []struct {
		name, fp, secret string
		want             bool
	}{
		{"same client state", fp, testSecret, true},
		{"other salt", fp2, testSecret, true},
		{"rotated", fp, testSecret + "2", false},
		{"empty", "", testSecret, false},
		{"other scheme", "sha256$" + rest, testSecret, false},
		{"salt cut short", scheme + "$" + rest[4:], testSecret, false},
		{"not base64", scheme + "$!!$!!", testSecret, false},
		{"too long", fp + strings.Repeat("A", maxFingerprintLen), testSecret, false},
	}
	for _, c := range cases {
		if got := fingerprintMatches(c.fp, c.secret); got != c.want {
			t.Errorf("%s: matches %v, want %v", c.name, got, c.want)
		}
	}
}
