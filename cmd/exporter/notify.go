package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/notifications"
	"github.com/teams-exporter/teams-exporter/poller"
)

// notifier is the change-notification side of the exporter: the receiver
// on its own listener, and the subscriber once Graph can be called.
type notifier struct {
	receiver *notifications.Receiver
	server   *notifications.Server
	served   chan error
	log      *slog.Logger

	// stopSubscriber ends the subscriber's goroutine, subscribed is closed
	// when it has returned: close waits for it, so that no renewal is in
	// flight while the process exits.
	stopSubscriber context.CancelFunc
	subscribed     chan struct{}
}

// startNotifications serves the notification endpoints, if a notification
// URL is configured (nil otherwise). They must answer before the
// subscription is created: Graph validates the URL while creating it.
func startNotifications(cfg *config, reg prometheus.Registerer, logger *slog.Logger) (*notifier, error) {
	if cfg.NotificationURL == "" {
		return nil, nil
	}
	if cfg.NotificationClientState == "" { // the demo: see requireClientState
		cfg.NotificationClientState = randomSecret()
	}
	log := logger.With("component", "notifications")
	r, err := notifications.NewReceiver(notifications.Config{
		ClientState: string(cfg.NotificationClientState), Logger: log, Registerer: reg,
	})
	if err != nil {
		return nil, configError{fmt.Errorf("%s_NOTIFICATION_CLIENT_STATE: %w", envPrefix, err)}
	}
	ln, err := net.Listen("tcp", cfg.NotificationListenAddress)
	if err != nil {
		return nil, fmt.Errorf("%s_NOTIFICATION_LISTEN_ADDRESS: %w", envPrefix, err)
	}
	n := &notifier{receiver: r, server: notifications.NewServer(cfg.NotificationListenAddress, r, log), served: make(chan error, 1), log: log}
	reg.MustRegister(connectionsShed("notifications", n.server.ConnectionsShed))
	go func() { n.served <- n.server.Serve(ln) }()
	log.Info("serving change notifications", "address", ln.Addr().String(), "url", redactedURL(cfg.NotificationURL))
	return n, nil
}

// subscribe keeps the subscription alive until ctx ends. The state file
// (memory) keeps which subscription it created and with which client state.
func (n *notifier) subscribe(ctx context.Context, cfg *config, client *graph.Client, memory notifications.Memory, reg prometheus.Registerer) error {
	s, err := notifications.NewSubscriber(notifications.SubscriberConfig{
		NotificationURL: cfg.NotificationURL, ClientState: string(cfg.NotificationClientState),
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

// close stops the subscriber and the listener; the subscription stays for
// the next start.
func (n *notifier) close() error {
	if n.stopSubscriber != nil {
		n.stopSubscriber()
		<-n.subscribed
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
func (n *notifier) poller() poller.Notifications {
	if n == nil {
		return nil
	}
	return n.receiver
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
