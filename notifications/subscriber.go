package notifications

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
)

// Subscriptions is the part of Graph the Subscriber uses; *graph.Client
// implements it.
type Subscriptions interface {
	CreateSubscription(ctx context.Context, s graph.NewSubscription) (*graph.Subscription, error)
	RenewSubscription(ctx context.Context, id string, until time.Time) (*graph.Subscription, error)
	ListSubscriptions(ctx context.Context) ([]graph.Subscription, error)
	DeleteSubscription(ctx context.Context, id string) error
}

// Memory keeps, across restarts, the id of the subscription the Subscriber
// created last and a fingerprint of the client state it was created with
// (never the client state itself); *ledger.Ledger implements it, in the
// state file. Graph never returns a subscription's clientState, so without
// it a subscription created before the client state was rotated would be
// reused, and every notification it brings rejected.
type Memory interface {
	Subscription() (id, clientStateFingerprint string)
	SetSubscription(id, clientStateFingerprint string)
}

// ChangeTypes are the changes subscribed to: Graph notifies call records
// when they are created and when a later version is published.
const ChangeTypes = "created,updated"

// DefaultLifetime is the expiration asked for: Graph's maximum for call
// records (4,230 minutes) less half an hour, so that a clock running a
// little ahead of Graph's does not make it refuse the request.
const DefaultLifetime = graph.MaxSubscriptionLifetime - 30*time.Minute

// SubscriberConfig configures a Subscriber.
type SubscriberConfig struct {
	// NotificationURL is the public HTTPS URL at which Graph reaches
	// NotificationPath; lifecycle notifications go to it plus "/lifecycle".
	// An EventHub: URL (see EventHubScheme) takes both.
	NotificationURL string
	ClientState     string // never logged
	Receiver        *Receiver
	// Memory keeps which subscription this exporter created, with which
	// client state; nil keeps it for the life of the process only.
	Memory Memory
	// Lifetime is the expiration asked for at each creation and renewal;
	// default DefaultLifetime, at most graph.MaxSubscriptionLifetime. The
	// subscription is renewed when half of it is left.
	Lifetime time.Duration
	// RetryMin and RetryMax bound the wait after a failed request; default
	// 30s and 15m.
	RetryMin, RetryMax time.Duration
	Logger             *slog.Logger
	Registerer         prometheus.Registerer
	Now                func() time.Time
}

// Subscriber keeps one subscription to call records alive.
type Subscriber struct {
	cfg       SubscriberConfig
	graph     Subscriptions
	lifecycle string
	log       *slog.Logger
	now       func() time.Time
	expiry    prometheus.Gauge
	memory    Memory
	// fingerprint is the client state's, made at the first creation: one
	// salt per process.
	fingerprint string

	current *graph.Subscription // nil: none known to be active
	due     bool                // renew at the next step (reauthorizationRequired)
	retry   time.Duration       // wait after the next failure
}

// NewSubscriber validates cfg and returns a Subscriber.
func NewSubscriber(cfg SubscriberConfig, g Subscriptions) (*Subscriber, error) {
	lifecycle, err := LifecycleURL(cfg.NotificationURL)
	if err != nil {
		return nil, err
	}
	if err := ValidateClientState(cfg.ClientState); err != nil {
		return nil, err
	}
	if cfg.Receiver == nil {
		return nil, errors.New("subscriber: no receiver")
	}
	if cfg.Lifetime <= 0 {
		cfg.Lifetime = DefaultLifetime
	}
	cfg.Lifetime = min(cfg.Lifetime, graph.MaxSubscriptionLifetime)
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = 30 * time.Second
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(15*time.Minute, cfg.RetryMin)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Registerer == nil {
		cfg.Registerer = prometheus.NewRegistry()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Memory == nil {
		cfg.Memory = &processMemory{}
	}
	s := &Subscriber{
		cfg: cfg, graph: g, lifecycle: lifecycle, log: cfg.Logger, now: cfg.Now, retry: cfg.RetryMin, memory: cfg.Memory,
		expiry: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "teams_exporter_subscription_expiry_timestamp_seconds",
			Help: "Unix time at which the change-notification subscription expires unless renewed; 0 while there is none.",
		}),
	}
	cfg.Registerer.MustRegister(s.expiry)
	return s, nil
}

// LifecycleURL returns the lifecycle notification URL for a notification
// URL: the same with "/lifecycle" appended to its path. It checks that the
// notification URL is an absolute HTTPS URL, as Graph requires, or an HTTP
// one on a loopback host (the demo's simulated tenant calls the listener
// directly, with no ingress to terminate TLS). An EventHub: URL is its own
// lifecycle URL: lifecycle events arrive in the same hub, told apart by
// their lifecycleEvent.
func LifecycleURL(notificationURL string) (string, error) {
	if IsEventHubURL(notificationURL) {
		if _, err := ParseEventHubURL(notificationURL); err != nil {
			return "", fmt.Errorf("notification URL: %w", err)
		}
		return notificationURL, nil
	}
	u, err := url.Parse(notificationURL)
	if err != nil || u.Host == "" || !schemeAllowed(u) {
		return "", fmt.Errorf("notification URL %q: want an absolute https URL", notificationURL)
	}
	if u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("notification URL %q: no fragment or user info", notificationURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/lifecycle"
	u.RawPath = ""
	return u.String(), nil
}

// Run keeps the subscription alive until ctx ends. It leaves the
// subscription in place when it returns: the next start reuses it, and
// Graph keeps notifications for an endpoint that is down for a while and
// sends them again.
func (s *Subscriber) Run(ctx context.Context) {
	for {
		wait := s.step(ctx)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-s.cfg.Receiver.Lifecycle():
			t.Stop()
			s.handleLifecycle()
		case <-t.C:
		}
	}
}

// step makes sure a subscription exists and is renewed when due, and
// returns how long to wait before the next step.
func (s *Subscriber) step(ctx context.Context) time.Duration {
	if s.current == nil {
		if err := s.ensure(ctx); err != nil {
			return s.failed("set up the change-notification subscription", err)
		}
	} else if s.due || !s.now().Before(s.renewAt()) {
		if err := s.renew(ctx); err != nil {
			return s.failed("renew the change-notification subscription", err)
		}
	}
	s.retry, s.due = s.cfg.RetryMin, false
	return s.untilRenewal()
}

// renewAt is when half of the subscription's lifetime is left.
func (s *Subscriber) renewAt() time.Time {
	return s.current.ExpirationDateTime.Add(-s.cfg.Lifetime / 2)
}

// untilRenewal is the wait before the next renewal. Graph may grant less
// than the lifetime asked for, which puts renewAt in the past right after a
// renewal: then renew when half of what is left has passed, and never
// sooner than RetryMin, so that a short grant cannot turn into a loop of
// renewals that spends the tenant's request quota.
func (s *Subscriber) untilRenewal() time.Duration {
	now := s.now()
	if wait := s.renewAt().Sub(now); wait > 0 {
		return wait
	}
	return max(s.current.ExpirationDateTime.Sub(now)/2, s.cfg.RetryMin)
}

func (s *Subscriber) failed(what string, err error) time.Duration {
	wait := s.retry
	s.retry = min(2*s.retry, s.cfg.RetryMax)
	if s.current != nil && !s.now().Before(s.current.ExpirationDateTime) {
		s.setCurrent(nil) // expired: Graph has deleted it
	}
	s.log.Error("could not "+what+"; polling goes on, notifications may be missed", "retry_in", wait, "err", err)
	return wait
}

// ensure reuses the subscription this exporter created, if Graph still has
// it and it was created with the client state configured now, and creates
// one otherwise. A subscription it created with another client state (the
// secret was rotated since) is deleted once its replacement exists. Other
// subscriptions for the same URLs (of a state file lost or set aside, or
// created just before a crash that left it unsaved) cannot be shown to be
// this exporter's, nor to carry this client state: they are left to
// expire, within three days; what they deliver meanwhile is either a
// repeat, which changes nothing, or rejected.
func (s *Subscriber) ensure(ctx context.Context) error {
	subs, err := s.graph.ListSubscriptions(ctx)
	if err != nil {
		return err
	}
	id, fp := s.memory.Subscription()
	var mine *graph.Subscription
	others := 0
	for i := range subs {
		switch {
		case !s.isMine(&subs[i]):
		case id != "" && subs[i].ID == id:
			mine = &subs[i]
		default:
			others++
		}
	}
	if others > 0 {
		s.log.Warn("subscriptions for this notification URL that this exporter did not record creating with its client state; leaving them to expire", "others", others)
	}
	if mine != nil && fingerprintMatches(fp, s.cfg.ClientState) {
		s.setCurrent(mine)
		err := s.renew(ctx)
		if err == nil {
			s.log.Info("reusing the change-notification subscription", "subscription", mine.ID, "expires", s.current.ExpirationDateTime)
		}
		if s.current != nil {
			return err
		}
		// Gone between the listing and the renewal: create one.
		return s.create(ctx)
	}
	if err := s.create(ctx); err != nil {
		return err
	}
	if mine != nil {
		s.replaced(ctx, mine.ID)
	}
	return nil
}

// replaced deletes the subscription this exporter created with an earlier
// client state, now that its replacement exists. A failure is only logged:
// the old subscription expires by itself, and what it delivers until then
// is rejected.
func (s *Subscriber) replaced(ctx context.Context, id string) {
	err := s.graph.DeleteSubscription(ctx, id)
	switch {
	case err == nil, errors.Is(err, graph.ErrNotFound):
		s.log.Info("the client state changed since the previous change-notification subscription was created; replaced it", "deleted", id, "subscription", s.current.ID)
	default:
		s.log.Warn("the client state changed since the previous change-notification subscription was created; replaced it, but could not delete it: it expires by itself, and its notifications are rejected until then", "subscription", id, "err", err)
	}
}

// isMine reports whether sub is for call records at this exporter's URLs.
func (s *Subscriber) isMine(sub *graph.Subscription) bool {
	return strings.EqualFold(strings.TrimPrefix(sub.Resource, "/"), strings.TrimPrefix(graph.CallRecordsResource, "/")) &&
		sub.NotificationURL == s.cfg.NotificationURL &&
		// Graph cannot add a lifecycle URL to an existing subscription; one
		// without it would never say that notifications were missed.
		sub.LifecycleNotificationURL == s.lifecycle
}

func (s *Subscriber) create(ctx context.Context) error {
	req := graph.NewSubscription{
		Resource:                 graph.CallRecordsResource,
		ChangeType:               ChangeTypes,
		NotificationURL:          s.cfg.NotificationURL,
		LifecycleNotificationURL: s.lifecycle,
		ClientState:              s.cfg.ClientState,
		ExpirationDateTime:       s.now().Add(s.cfg.Lifetime).UTC().Truncate(time.Second),
	}
	if s.fingerprint == "" {
		fp, err := fingerprint(s.cfg.ClientState)
		if err != nil {
			return err
		}
		s.fingerprint = fp
	}
	sub, err := s.graph.CreateSubscription(ctx, req)
	if err != nil {
		return err
	}
	s.memory.SetSubscription(sub.ID, s.fingerprint)
	s.setCurrent(sub)
	s.log.Info("created the change-notification subscription", "subscription", sub.ID, "expires", sub.ExpirationDateTime)
	return nil
}

// renew extends the current subscription, which also reauthorizes it. One
// Graph no longer knows is forgotten, and notifications may have been lost
// since it went: the look-back is listed again.
func (s *Subscriber) renew(ctx context.Context) error {
	sub, err := s.graph.RenewSubscription(ctx, s.current.ID, s.now().Add(s.cfg.Lifetime).UTC().Truncate(time.Second))
	if errors.Is(err, graph.ErrNotFound) {
		s.log.Warn("the change-notification subscription is gone; creating a new one and listing the look-back window again", "subscription", s.current.ID)
		s.setCurrent(nil)
		s.cfg.Receiver.RequestRelist()
		return err
	}
	if err != nil {
		return err
	}
	if sub.ID == "" {
		sub.ID = s.current.ID
	}
	s.setCurrent(sub)
	s.log.Debug("renewed the change-notification subscription", "subscription", sub.ID, "expires", sub.ExpirationDateTime)
	return nil
}

// handleLifecycle acts on reauthorizationRequired (renew at once) and
// subscriptionRemoved (create again and list the look-back again) for the
// current subscription; events for other subscriptions are ignored.
func (s *Subscriber) handleLifecycle() {
	reauthorize, removed := s.cfg.Receiver.TakeLifecycle()
	if s.current == nil {
		return // being created anyway
	}
	for _, id := range removed {
		if id == s.current.ID {
			s.log.Warn("Graph removed the change-notification subscription; creating a new one and listing the look-back window again", "subscription", id)
			s.setCurrent(nil)
			s.cfg.Receiver.RequestRelist()
			return
		}
	}
	for _, id := range reauthorize {
		if id == s.current.ID {
			s.due = true // renewing reauthorizes
			return
		}
	}
}

func (s *Subscriber) setCurrent(sub *graph.Subscription) {
	s.current = sub
	s.cfg.Receiver.subscribed.Store(sub != nil)
	if sub == nil {
		s.expiry.Set(0)
		return
	}
	s.expiry.Set(float64(sub.ExpirationDateTime.UnixNano()) / 1e9)
}

// schemeAllowed: https, or http on a loopback host.
func schemeAllowed(u *url.URL) bool {
	return u.Scheme == "https" || u.Scheme == "http" && isLoopback(u.Hostname())
}

func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// processMemory is the Memory of a Subscriber without one: what it created
// is known until the process ends.
type processMemory struct {
	mu              sync.Mutex
	id, fingerprint string
}

func (m *processMemory) Subscription() (string, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.id, m.fingerprint
}

func (m *processMemory) SetSubscription(id, fingerprint string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.id, m.fingerprint = id, fingerprint
}
