package graphsim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

// Event Hubs delivery, from Microsoft's "Receive change notifications
// through Azure Event Hubs": a subscription whose notificationUrl is
//
//	EventHub:https://<namespace>.servicebus.windows.net/eventhubname/<hub>?tenantId=<tenant>
//	EventHub:https://<vault>.vault.azure.net/secrets/<secret>?tenantId=<tenant>
//
// has its notifications (and lifecycle notifications, with the same URL)
// published as events into the hub, each the {"value":[...]} body a webhook
// would receive. No handshake is answered: a validation message, its
// fields "NA" and its changeType starting with "Validation:", arrives in
// the hub when the subscription is created, and receivers ignore it. With
// the Key Vault form Graph reads the hub's connection string from the
// secret (KeyVault here).

// EventHubPublisher publishes one event into a hub of a namespace.
type EventHubPublisher interface {
	Publish(ctx context.Context, namespace, hub string, body []byte) error
}

const eventHubScheme = "EventHub:"

func isEventHubURL(link string) bool {
	return len(link) >= len(eventHubScheme) && strings.EqualFold(link[:len(eventHubScheme)], eventHubScheme)
}

// eventHubTarget resolves an EventHub: URL to its namespace and hub, or
// returns Graph's error message.
func (t *Tenant) eventHubTarget(link string) (namespace, hub, msg string) {
	u, err := url.Parse(link[len(eventHubScheme):])
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Query().Get("tenantId") == "" {
		return "", "", "The EventHub notification URL is not valid."
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "eventhubname" && parts[1] != "":
		return u.Hostname(), parts[1], ""
	case len(parts) == 2 && parts[0] == "secrets" && parts[1] != "":
		cs, ok := t.opts.Notifications.KeyVault["https://"+u.Host+"/secrets/"+parts[1]]
		if !ok {
			return "", "", "The Key Vault secret of the EventHub notification URL could not be read."
		}
		ns, hub, ok := parseConnectionString(cs)
		if !ok {
			return "", "", "The Key Vault secret does not hold an Event Hubs connection string with an EntityPath."
		}
		return ns, hub, ""
	}
	return "", "", "The EventHub notification URL is not valid."
}

// parseConnectionString reads the namespace host and hub (EntityPath) of
// "Endpoint=sb://<namespace>/;SharedAccessKeyName=...;SharedAccessKey=...;EntityPath=<hub>".
func parseConnectionString(cs string) (namespace, hub string, ok bool) {
	for _, kv := range strings.Split(cs, ";") {
		k, v, _ := strings.Cut(kv, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			if u, err := url.Parse(v); err == nil {
				namespace = u.Hostname()
			}
		case "entitypath":
			hub = v
		}
	}
	return namespace, hub, namespace != "" && hub != ""
}

// publishEvent publishes a notification body into the hub of link and
// reports whether the hub took it.
func (t *Tenant) publishEvent(ctx context.Context, link string, body []byte) bool {
	pub := t.eventHub()
	ns, hub, msg := t.eventHubTarget(link)
	if pub == nil || msg != "" {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return pub.Publish(ctx, ns, hub, body) == nil
}

// validationEvent is the validation message Graph publishes into a hub
// when a subscription is created.
func validationEvent() []byte {
	return []byte(`{"value":[{"subscriptionId":"NA","subscriptionExpirationDateTime":"NA","clientState":"NA",` +
		`"changeType":"Validation: Testing client application reachability for subscription Request-Id: ` + newUUID() + `",` +
		`"resource":"NA","resourceData":{"@odata.type":"NA","@odata.id":"NA","id":"NA"}}]}`)
}

// KafkaPublisher publishes events through a Kafka endpoint, as Event
// Hubs' Kafka endpoint takes them: the hub is the topic. Every namespace
// maps to the one broker it was made for, which must be on loopback.
type KafkaPublisher struct {
	client *kgo.Client
}

// KafkaPublisherOptions configures a KafkaPublisher.
type KafkaPublisherOptions struct {
	Addr string      // host:port of the broker, a loopback address
	TLS  *tls.Config // nil: plain TCP
	// ConnectionString, if set, authenticates with SASL PLAIN as
	// "$ConnectionString", as Event Hubs takes a send connection string.
	ConnectionString string
	// MaxEventBytes, if set, raises the producer's limit of about 1 MiB.
	MaxEventBytes int
}

// NewKafkaPublisher returns a publisher to the broker at opts.Addr.
func NewKafkaPublisher(opts KafkaPublisherOptions) (*KafkaPublisher, error) {
	host, _, err := net.SplitHostPort(opts.Addr)
	if ip := net.ParseIP(host); err != nil || host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, errors.New("the simulated tenant publishes to a loopback broker only")
	}
	kopts := []kgo.Opt{
		kgo.SeedBrokers(opts.Addr),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.RecordRetries(3),
		kgo.ProducerLinger(0),
	}
	if opts.TLS != nil {
		kopts = append(kopts, kgo.DialTLSConfig(opts.TLS))
	}
	if opts.MaxEventBytes > 0 {
		kopts = append(kopts, kgo.ProducerBatchMaxBytes(int32(min(opts.MaxEventBytes, 1<<30))))
	}
	if opts.ConnectionString != "" {
		kopts = append(kopts, kgo.SASL(plain.Auth{User: "$ConnectionString", Pass: opts.ConnectionString}.AsMechanism()))
	}
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafka publisher: %w", err)
	}
	return &KafkaPublisher{client: cl}, nil
}

// Publish produces body as one record to the topic hub and waits for the
// broker's acknowledgement.
func (p *KafkaPublisher) Publish(ctx context.Context, _, hub string, body []byte) error {
	return p.client.ProduceSync(ctx, &kgo.Record{Topic: hub, Value: body, Timestamp: time.Now()}).FirstErr()
}

// Close closes the publisher's connections.
func (p *KafkaPublisher) Close() { p.client.Close() }
