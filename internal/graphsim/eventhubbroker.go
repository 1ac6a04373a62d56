package graphsim

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// EventHubBroker is a simulated Event Hubs namespace: an in-process Kafka
// broker (franz-go's kfake) on loopback, serving TLS, with a hub (topic)
// of a few partitions and consumer-group offsets, and the tenant's
// publisher into it. It stands in for the namespace's Kafka endpoint.
type EventHubBroker struct {
	// Addr is "127.0.0.1:port".
	Addr      string
	Publisher *KafkaPublisher
	cluster   *kfake.Cluster
}

// EventHubBrokerOptions configures an EventHubBroker.
type EventHubBrokerOptions struct {
	Hub        string
	Partitions int32 // default 2, as Microsoft's set-up script makes
	// Port to listen on; 0: a free one. A broker started again on the
	// same port and DataDir comes back with its events and offsets.
	Port    int
	DataDir string
	TLS     *tls.Config // the server's; nil: plain TCP
	// ConnectionString, if set, is the one credential the broker takes:
	// SASL PLAIN as "$ConnectionString". Otherwise Tenant, if set, checks
	// SASL OAUTHBEARER tokens: issued by it for Audience.
	ConnectionString string
	Tenant           *Tenant
	Audience         string
	// MaxEventBytes, if set, is the largest event the broker takes; by
	// default about 1 MiB, as on Event Hubs Standard and Premium.
	MaxEventBytes int
}

// StartEventHubBroker starts a broker as opts says.
func StartEventHubBroker(opts EventHubBrokerOptions) (*EventHubBroker, error) {
	if opts.Hub == "" {
		return nil, errors.New("event hub broker: no hub")
	}
	if opts.Partitions <= 0 {
		opts.Partitions = 2
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.SeedTopics(opts.Partitions, opts.Hub),
		kfake.Ports(opts.Port),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir), kfake.SyncWrites())
	}
	if opts.TLS != nil {
		kopts = append(kopts, kfake.TLS(opts.TLS))
	}
	if opts.MaxEventBytes > 0 {
		kopts = append(kopts, kfake.BrokerConfigs(map[string]string{"message.max.bytes": strconv.Itoa(opts.MaxEventBytes)}))
	}
	if opts.ConnectionString != "" {
		kopts = append(kopts, kfake.EnableSASL(), kfake.Superuser("PLAIN", "$ConnectionString", opts.ConnectionString))
	}
	cluster, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("event hub broker: %w", err)
	}
	if opts.ConnectionString == "" && opts.Tenant != nil {
		checkOAuthBearer(cluster, opts.Tenant, opts.Audience)
	}
	addr := cluster.ListenAddrs()[0]
	var clientTLS *tls.Config
	if opts.TLS != nil {
		clientTLS = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12} // #nosec G402 -- the tenant's own loopback broker
	}
	pub, err := NewKafkaPublisher(KafkaPublisherOptions{Addr: addr, TLS: clientTLS, ConnectionString: opts.ConnectionString, MaxEventBytes: opts.MaxEventBytes})
	if err != nil {
		cluster.Close()
		return nil, err
	}
	return &EventHubBroker{Addr: addr, Publisher: pub, cluster: cluster}, nil
}

// Port is the port the broker listens on.
func (b *EventHubBroker) Port() int {
	_, port, _ := strings.Cut(b.Addr, ":")
	p, _ := strconv.Atoi(port)
	return p
}

// Close stops the broker (its DataDir keeps what it held).
func (b *EventHubBroker) Close() {
	b.Publisher.Close()
	b.cluster.Close()
}

// checkOAuthBearer answers SASL OAUTHBEARER (RFC 7628) as Event Hubs does:
// the token must be one tenant issued for audience. kfake knows PLAIN and
// SCRAM only, so the handshake and the authentication are answered here.
func checkOAuthBearer(c *kfake.Cluster, tenant *Tenant, audience string) {
	c.ControlKey(int16(kmsg.SASLHandshake), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLHandshakeRequest)
		resp := r.ResponseKind().(*kmsg.SASLHandshakeResponse)
		resp.SupportedMechanisms = []string{"OAUTHBEARER"}
		if r.Mechanism != "OAUTHBEARER" {
			resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		}
		return resp, nil, true
	})
	c.ControlKey(int16(kmsg.SASLAuthenticate), func(req kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		r := req.(*kmsg.SASLAuthenticateRequest)
		resp := r.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		if !tenant.ValidToken(bearerToken(r.SASLAuthBytes), audience) {
			resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
			msg := "invalid token for " + audience
			resp.ErrorMessage = &msg
		}
		return resp, nil, true
	})
}

// bearerToken reads the token of an OAUTHBEARER initial response:
// "n,,\x01auth=Bearer <token>\x01\x01".
func bearerToken(b []byte) string {
	for _, kv := range bytes.Split(b, []byte{1}) {
		if v, ok := bytes.CutPrefix(kv, []byte("auth=Bearer ")); ok {
			return string(v)
		}
	}
	return ""
}
