package graphsim

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// hubEvents reads every event of the hub so far.
func hubEvents(t *testing.T, b *EventHubBroker, hub string, want int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.ConsumeTopics(hub), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.DialTLSConfig(&tls.Config{InsecureSkipVerify: true})) // #nosec G402 -- the test's own loopback broker
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	// Generous: it returns as soon as the events are read.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []string
	for len(out) < want && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

// TestEventHubDelivery: a subscription whose URL is an EventHub: URL gets
// no handshake but a validation message in the hub, and its change and
// lifecycle notifications as events there, each the body a webhook would
// get; the Key Vault form finds the hub through the secret's connection
// string; a vault the tenant cannot read refuses the subscription.
func TestEventHubDelivery(t *testing.T) {
	const hub = "teams"
	tenant, srv := startTenant(t, Options{Notifications: NotificationOptions{KeyVault: map[string]string{
		"https://kv.vault.azure.net/secrets/hub": "Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKeyName=send;SharedAccessKey=a2V5;EntityPath=" + hub,
	}}})
	broker, err := StartEventHubBroker(EventHubBrokerOptions{Hub: hub, Partitions: 1, TLS: srv.ServerTLS})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	tenant.SetEventHub(broker.Publisher)
	tok := fetchToken(t, srv)
	subscribe := func(link string) (int, map[string]any) {
		body, _ := json.Marshal(map[string]any{
			"resource": "/communications/callRecords", "changeType": "created,updated", "clientState": "cs",
			"notificationUrl": link, "lifecycleNotificationUrl": link, "expirationDateTime": time.Now().Add(time.Hour),
		})
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/subscriptions", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, out := graphDo(t, srv, req, tok)
		return resp.StatusCode, out
	}

	roleBased := "EventHub:https://contoso.servicebus.windows.net/eventhubname/" + hub + "?tenantId=contoso.com"
	if status, body := subscribe(roleBased); status != http.StatusCreated {
		t.Fatalf("role-based: %d %v", status, body)
	}
	if status, body := subscribe("EventHub:https://kv.vault.azure.net/secrets/hub?tenantId=contoso.com"); status != http.StatusCreated {
		t.Fatalf("Key Vault: %d %v", status, body)
	}
	if status, body := subscribe("EventHub:https://other.vault.azure.net/secrets/hub?tenantId=contoso.com"); status != http.StatusBadRequest {
		t.Errorf("unknown vault: %d %v, want 400", status, body)
	}
	tenant.Add(simpleRecord("rec-1", time.Now().Add(-time.Hour), 1))
	tenant.SendLifecycle("reauthorizationRequired")
	tenant.DeliverNotifications(context.Background())

	// Two validation messages, then per subscription a lifecycle event and
	// a change notification.
	events := hubEvents(t, broker, hub, 6)
	var validations, changes, lifecycle int
	for _, e := range events {
		var coll struct {
			Value []map[string]any `json:"value"`
		}
		if err := json.Unmarshal([]byte(e), &coll); err != nil || len(coll.Value) != 1 {
			t.Fatalf("event %q is not a collection of one notification: %v", e, err)
		}
		n := coll.Value[0]
		switch {
		case n["clientState"] == "NA" && strings.HasPrefix(n["changeType"].(string), "Validation:"):
			validations++
		// Graph documents tenantId as required in every notification.
		case n["lifecycleEvent"] == "reauthorizationRequired" && n["clientState"] == "cs" && n["tenantId"] == testTenant:
			lifecycle++
		case n["changeType"] == "created" && n["clientState"] == "cs" && n["resource"] == "communications/callRecords/rec-1" && n["tenantId"] == testTenant:
			changes++
		default:
			t.Errorf("unexpected event %s", e)
		}
	}
	if validations != 2 || lifecycle != 2 || changes != 2 {
		t.Errorf("validations %d, lifecycle %d, changes %d; want 2 of each", validations, lifecycle, changes)
	}
	if st := tenant.NotificationStats(); st.FailedPosts != 0 || st.Sent != 2 {
		t.Errorf("stats %+v: want 2 sent, none failed", st)
	}
}
