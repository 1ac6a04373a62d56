package notifications

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/graphsim"
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
	tenant := graphsim.New(opts)
	srv, err := graphsim.NewTLSServer(tenant.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	cred, err := azidentity.NewClientSecretCredential("t", "c", "s", &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL + "/"}, Transport: srv.Client()},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := graph.New(graph.Config{BaseURL: srv.URL, Credential: cred, HTTPClient: srv.Client(), MaxRetries: 1, BackoffBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return tenant, client
}

type subscriberRig struct {
	tenant   *graphsim.Tenant
	client   *graph.Client
	receiver *Receiver
	url      string
	clock    *testClock
	logs     *bytes.Buffer
}

func newSubscriberRig(t *testing.T, notify graphsim.NotificationOptions) *subscriberRig {
	t.Helper()
	clock := newTestClock()
	tenant, client := startTenant(t, graphsim.Options{Now: clock.now, Notifications: notify})
	r, _, base := startReceiver(t, Config{Now: clock.now}, nil)
	return &subscriberRig{tenant: tenant, client: client, receiver: r, url: base + NotificationPath, clock: clock, logs: &bytes.Buffer{}}
}

// subscriber is a new Subscriber of the rig, as after a (re)start.
func (g *subscriberRig) subscriber(t *testing.T) (*Subscriber, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := NewSubscriber(SubscriberConfig{
		NotificationURL: g.url, ClientState: testSecret, Receiver: g.receiver,
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
