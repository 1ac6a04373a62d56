package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/connlimit"
	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/notifications"
	"github.com/teams-exporter/teams-exporter/notifications/eventhub"
	"github.com/teams-exporter/teams-exporter/poller"
)

// notifier is the change-notification side of the exporter: the receiver
// on its own listener, and the subscriber once Graph can be called.
type notifier struct {
	receiver *notifications.Receiver
	server   *connlimit.Server
	served   chan error
	log      *slog.Logger

	// stopSubscriber ends the subscriber's goroutine, subscribed is closed
	// when it has returned: close waits for it, so that no renewal is in
	// flight while the process exits.
	stopSubscriber context.CancelFunc
	subscribed     chan struct{}
	// stopConsumer and consumed likewise for the event hub's consumer,
	// which commits what is safe as it stops.
	stopConsumer context.CancelFunc
	consumed     chan struct{}
	// hub: Event Hubs mode; consumer is set once it runs.
	hub      bool
	consumer atomic.Pointer[eventhub.Consumer]
}

// startNotifications serves the notification endpoints, if a notification
// URL is configured (nil otherwise). They must answer before the
// subscription is created: Graph validates the URL while creating it.
func startNotifications(cfg *config, reg prometheus.Registerer, now func() time.Time, logger *slog.Logger) (*notifier, error) {
	if !cfg.notificationsOn() {
		return nil, nil
	}
	if cfg.NotificationClientState == "" { // the demo: see requireClientState
		cfg.NotificationClientState = randomSecret()
	}
	log := logger.With("component", "notifications")
	r, err := notifications.NewReceiver(notifications.Config{
		ClientState: string(cfg.NotificationClientState), TenantID: cfg.tenantID(),
		Logger: log, Registerer: reg, Now: now,
	})
	if err != nil {
		return nil, configError{fmt.Errorf("%s_NOTIFICATION_CLIENT_STATE: %w", envPrefix, err)}
	}
	if cfg.eventHubMode() {
		// Nothing listens: the consumer reads the hub once the ledger is
		// open (consume).
		return &notifier{receiver: r, log: log, hub: true}, nil
	}
	ln, err := net.Listen("tcp", cfg.NotificationListenAddress)
	if err != nil {
		return nil, fmt.Errorf("%s_NOTIFICATION_LISTEN_ADDRESS: %w", envPrefix, err)
	}
	n := &notifier{receiver: r, server: notifications.NewServer(cfg.NotificationListenAddress, r, log), served: make(chan error, 1), log: log}
	reg.MustRegister(connectionsShed("notifications", n.server.Limit.Shed))
	go func() { n.served <- n.server.Serve(ln) }()
	log.Info("serving change notifications", "address", ln.Addr().String(), "url", redactedURL(cfg.NotificationURL))
	return n, nil
}

// subscribe keeps the subscription alive until ctx ends. The state file
// (memory) keeps which subscription it created and with which client state.
func (n *notifier) subscribe(ctx context.Context, cfg *config, tenant string, client *graph.Client, memory notifications.Memory, reg prometheus.Registerer) error {
	link, err := notificationURL(cfg, tenant)
	if err != nil {
		return configError{err}
	}
	s, err := notifications.NewSubscriber(notifications.SubscriberConfig{
		NotificationURL: link, ClientState: string(cfg.NotificationClientState),
		Receiver: n.receiver, Memory: memory, Logger: n.log, Registerer: reg,
	}, client)
	if err != nil {
		return configError{fmt.Errorf("%s_NOTIFICATION_URL: %w", envPrefix, err)}
	}
	ctx, n.stopSubscriber = context.WithCancel(ctx)
	n.subscribed = make(chan struct{})
	go func() {
		defer close(n.subscribed)
		s.Run(ctx)
	}()
	return nil
}

// consume reads the event hub, in Event Hubs mode, until ctx ends; tlsCfg
// is nil but in the demo (the system's roots, which SSL_CERT_FILE sets).
func (n *notifier) consume(ctx context.Context, cfg *config, cred azcore.TokenCredential, tlsCfg *tls.Config, l *ledger.Ledger, reg prometheus.Registerer) error {
	if !cfg.eventHubMode() {
		return nil
	}
	hub, err := notifications.ParseEventHub(cfg.NotificationEventHub)
	if err != nil {
		return configError{fmt.Errorf("%s_NOTIFICATION_EVENT_HUB: %w", envPrefix, err)}
	}
	c, err := eventhub.New(eventhub.Config{
		Hub: hub, ConsumerGroup: cfg.NotificationEventHubConsumerGroup,
		ConnectionString: string(cfg.NotificationEventHubConnectionString), Credential: cred, TLS: tlsCfg,
		Receiver: n.receiver, Ledger: ledgerRecords{l},
		// A notified record is ingested once settled, between polls or at
		// the next one: an event holds its offset that long, and longer
		// only if its record cannot be fetched.
		Hold:   cfg.SettleDelay + 3*cfg.PollInterval + 10*time.Minute,
		Logger: n.log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	n.consumer.Store(c)
	ctx, n.stopConsumer = context.WithCancel(ctx)
	n.consumed = make(chan struct{})
	go func() {
		defer close(n.consumed)
		if err := c.Run(ctx); err != nil {
			n.log.Error("event hub consumer stopped; polling goes on", "err", err)
		}
	}()
	return nil
}

// ledgerRecords is the ledger as the event hub's consumer reads it: which
// call records are ingested, and when that is saved.
type ledgerRecords struct{ l *ledger.Ledger }

func (r ledgerRecords) Ingested(id string) bool     { return r.l.Has(ledger.CallRecords, id) }
func (r ledgerRecords) SaveMark() uint64            { return r.l.SaveMark() }
func (r ledgerRecords) SavedSince(mark uint64) bool { return r.l.SavedSince(mark) }

// notificationURL is the URL the subscription is made with: the one
// configured, or in Event Hubs mode the role-based EventHub: URL of the
// hub, for the tenant of the credential.
func notificationURL(cfg *config, tenant string) (string, error) {
	if cfg.NotificationURL != "" || !cfg.eventHubMode() {
		return cfg.NotificationURL, nil
	}
	hub, err := notifications.ParseEventHub(cfg.NotificationEventHub)
	if err != nil {
		return "", fmt.Errorf("%s_NOTIFICATION_EVENT_HUB: %w", envPrefix, err)
	}
	if tenant == "" {
		return "", fmt.Errorf("%s_NOTIFICATION_URL: the EventHub: URL names your tenant, and AZURE_TENANT_ID is not set: set one of them (EventHub:https://%s/eventhubname/%s?tenantId=<your tenant's domain>)", envPrefix, hub.Host, hub.Name)
	}
	return hub.NotificationURL(tenant), nil
}

// close stops the subscriber, the consumer and the listener; the
// subscription stays for the next start.
func (n *notifier) close() error {
	if n.stopSubscriber != nil {
		n.stopSubscriber()
		<-n.subscribed
	}
	if n.stopConsumer != nil {
		n.stopConsumer()
		<-n.consumed
	}
	if n.server == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = n.server.Shutdown(ctx)
	if err := <-n.served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("notification listener: %w", err)
	}
	return nil
}

// randomSecret is a client state for the demo, whose tenant lives in this
// process: 32 random bytes, URL-safe.
func randomSecret() secret {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return secret(base64.RawURLEncoding.EncodeToString(b))
}

// poller is what the poller reads of the notifications: nil without them.
// With an event hub, notifications are delivering only while the hub
// answers: while it does not, the poller lists the recent window at every
// poll again, as without notifications, instead of waiting for the sweep.
func (n *notifier) poller() poller.Notifications {
	if n == nil {
		return nil
	}
	if n.hub {
		return hubNotifications{n.receiver, n}
	}
	return n.receiver
}

// hubNotifications is the receiver as the poller sees it in Event Hubs
// mode.
type hubNotifications struct {
	*notifications.Receiver
	n *notifier
}

func (h hubNotifications) Subscribed() bool {
	c := h.n.consumer.Load()
	return h.Receiver.Subscribed() && c != nil && c.Connected()
}

// redactedURL is u without its user information, query and fragment, which
// may carry a token of the user's ingress: only scheme, host and path are
// logged.
func redactedURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparsable)"
	}
	return (&url.URL{Scheme: parsed.Scheme, Host: parsed.Host, Path: parsed.Path}).String()
}
