package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math/rand/v2"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// OpSubscription is the operation of requests to /v1.0/subscriptions.
const OpSubscription = "subscription"

// Subscription limits and timings, from Microsoft's documentation:
// "subscription resource type" (maximum length per resource: Teams
// callRecord 4230 minutes), "Receive change notifications through
// webhooks" (validation answered within 10 seconds; notifications answered
// with 2xx within 3 seconds, else resent for up to 4 hours).
const (
	maxSubscriptionLifetime = 4230 * time.Minute
	validationTimeout       = 10 * time.Second
	deliveryTimeout         = 3 * time.Second
	redeliveryWindow        = 4 * time.Hour
	maxClientState          = 128
)

// NotificationOptions configures change notifications (see Options).
type NotificationOptions struct {
	// Client sends the validation requests and the notifications; default
	// a client with the default transport. Its timeouts are the tenant's:
	// 10 s for a validation, 3 s for a notification.
	Client *http.Client
	// LoopbackHTTP accepts http:// notification URLs. Graph requires
	// HTTPS; tests and the demo stand in for the user's ingress, which
	// terminates TLS in front of the exporter. Whatever the scheme, the
	// tenant delivers to loopback hosts only.
	LoopbackHTTP bool
	// Lost, Duplicated are the probabilities that a notification is never
	// sent or sent twice; Reorder shuffles each delivery round. Seed seeds
	// the draws.
	Lost, Duplicated float64
	Reorder          bool
	Seed             uint64
	// BatchSize is the number of notifications per POST; default 100.
	BatchSize int
	// GrantLifetime, if set, shortens every expiration granted to at most
	// this far ahead, as a service may grant less than a client asks for.
	GrantLifetime time.Duration
	// EventHub publishes the notifications of subscriptions whose URL is
	// an EventHub: URL (see eventhub.go); nil refuses such URLs.
	EventHub EventHubPublisher
	// KeyVault maps a Key Vault secret's URL (https://<vault>/secrets/<name>)
	// to the Event Hubs connection string it holds, for the Key Vault form
	// of EventHub: URLs.
	KeyVault map[string]string
}

// SetEventHub sets the publisher of Event Hubs delivery
// (NotificationOptions.EventHub), for a hub started after the tenant
// (whose token endpoint checks the hub's tokens).
func (t *Tenant) SetEventHub(p EventHubPublisher) {
	t.subs.mu.Lock()
	defer t.subs.mu.Unlock()
	t.opts.Notifications.EventHub = p
}

func (t *Tenant) eventHub() EventHubPublisher {
	t.subs.mu.Lock()
	defer t.subs.mu.Unlock()
	return t.opts.Notifications.EventHub
}

// granted is the expiration the tenant grants for the one asked.
func (t *Tenant) granted(asked time.Time) time.Time {
	asked = asked.UTC()
	if g := t.opts.Notifications.GrantLifetime; g > 0 {
		if limit := t.now().Add(g).UTC(); asked.After(limit) {
			return limit
		}
	}
	return asked
}

// simSubscription is one subscription as the tenant keeps it.
type simSubscription struct {
	ID                       string    `json:"id"`
	Resource                 string    `json:"resource"`
	ApplicationID            string    `json:"applicationId"`
	ChangeType               string    `json:"changeType"`
	ClientState              *string   `json:"clientState"`
	NotificationURL          string    `json:"notificationUrl"`
	LifecycleNotificationURL string    `json:"lifecycleNotificationUrl,omitempty"`
	ExpirationDateTime       time.Time `json:"expirationDateTime"`
	CreatorID                string    `json:"creatorId"`
	LatestSupportedTLS       string    `json:"latestSupportedTlsVersion"`
	IncludeResourceData      bool      `json:"includeResourceData"`

	secret  string
	types   map[string]bool // changeType, split
	pending []pendingNote
}

type pendingNote struct {
	note  map[string]any
	since time.Time // first attempt, for the 4-hour redelivery window
}

// subscriptions is the tenant's subscription state.
type subscriptions struct {
	mu     sync.Mutex
	byID   map[string]*simSubscription
	rng    *rand.Rand
	stats  NotificationStats
	events []string // lifecycle events to send, per subscription id "id\x00event"
}

// NotificationStats counts what the tenant did with notifications.
type NotificationStats struct {
	Created, Renewed, Deleted, Validations int64
	Queued, Sent, Lost, Duplicated         int64 // change notifications
	Posts, FailedPosts, Expired            int64 // POSTs made; failed ones; notifications given up after 4 h
	Lifecycle                              int64 // lifecycle notifications sent
}

// NotificationStats returns the counts so far.
func (t *Tenant) NotificationStats() NotificationStats {
	t.subs.mu.Lock()
	defer t.subs.mu.Unlock()
	return t.subs.stats
}

// Subscriptions returns the ids of the active subscriptions.
func (t *Tenant) Subscriptions() []string {
	t.subs.mu.Lock()
	defer t.subs.mu.Unlock()
	t.expireLocked()
	var ids []string
	for id := range t.subs.byID {
		ids = append(ids, id)
	}
	return ids
}

func (t *Tenant) expireLocked() {
	now := t.now()
	for id, s := range t.subs.byID {
		if !now.Before(s.ExpirationDateTime) {
			delete(t.subs.byID, id)
		}
	}
}

// notifyChange queues a change notification for every subscription that
// wants changeType. Called when records are added or bumped.
func (t *Tenant) notifyChange(changeType string, ids ...string) {
	t.subs.mu.Lock()
	defer t.subs.mu.Unlock()
	if len(t.subs.byID) == 0 {
		return
	}
	t.expireLocked()
	now := t.now()
	for _, s := range t.subs.byID {
		if !s.types[changeType] {
			continue
		}
		for _, id := range ids {
			t.subs.stats.Queued++
			s.pending = append(s.pending, pendingNote{since: now, note: map[string]any{
				"subscriptionId":                 s.ID,
				"subscriptionExpirationDateTime": s.ExpirationDateTime,
				"changeType":                     changeType,
				"resource":                       "communications/callRecords/" + id,
				"resourceData": map[string]any{
					"@odata.type": "#Microsoft.Graph.callrecord",
					"@odata.id":   "communications/callRecords/" + id,
					"id":          id,
				},
				"tenantId": t.opts.TenantID,
			}})
		}
	}
}

// SendLifecycle queues a lifecycle notification (reauthorizationRequired,
// subscriptionRemoved or missed) for every active subscription with a
// lifecycle URL; subscriptionRemoved also removes the subscription, as
// Graph does. It is sent by the next DeliverNotifications.
func (t *Tenant) SendLifecycle(event string) {
	t.subs.mu.Lock()
	defer t.subs.mu.Unlock()
	t.expireLocked()
	for id := range t.subs.byID {
		t.subs.events = append(t.subs.events, id+"\x00"+event)
	}
}

// DeliverNotifications sends what is pending: lifecycle notifications
// first, then change notifications in batches, drawing losses, duplicates
// and the order as configured. A notification whose POST fails stays
// pending and is sent again on a later call, for up to 4 hours of the
// tenant's clock; then it is dropped and a "missed" lifecycle notification
// is sent. It returns when every POST of this round has been answered.
func (t *Tenant) DeliverNotifications(ctx context.Context) {
	type round struct {
		sub       simSubscription
		lifecycle []map[string]any
		notes     []pendingNote
	}
	t.subs.mu.Lock()
	// The options are read under the lock: SetEventHub writes them while
	// deliveries run.
	o := t.opts.Notifications
	batchSize := orDefault(o.BatchSize, 100)
	var rounds []round
	events := t.subs.events
	t.subs.events = nil
	lifecycleOf := map[string][]map[string]any{}
	var removed []string
	for _, ev := range events {
		id, event, _ := strings.Cut(ev, "\x00")
		s, ok := t.subs.byID[id]
		if !ok || s.LifecycleNotificationURL == "" {
			continue
		}
		lifecycleOf[id] = append(lifecycleOf[id], map[string]any{
			"subscriptionId": id, "subscriptionExpirationDateTime": s.ExpirationDateTime,
			"tenantId": t.opts.TenantID, "clientState": s.secret, "lifecycleEvent": event,
		})
		if event == "subscriptionRemoved" {
			removed = append(removed, id)
		}
	}
	now := t.now()
	for id, s := range t.subs.byID {
		r := round{sub: *s, lifecycle: lifecycleOf[id]}
		missed := false
		for _, p := range s.pending {
			if now.Sub(p.since) > redeliveryWindow {
				t.subs.stats.Expired++
				missed = true
				continue
			}
			switch u := t.rngLocked().Float64(); {
			case u < o.Lost:
				t.subs.stats.Lost++
				continue
			case u < o.Lost+o.Duplicated:
				t.subs.stats.Duplicated++
				r.notes = append(r.notes, p)
			}
			r.notes = append(r.notes, p)
		}
		s.pending = nil
		if missed {
			r.lifecycle = append(r.lifecycle, map[string]any{
				"subscriptionId": id, "subscriptionExpirationDateTime": s.ExpirationDateTime,
				"tenantId": t.opts.TenantID, "clientState": s.secret, "lifecycleEvent": "missed",
			})
		}
		if o.Reorder {
			t.rngLocked().Shuffle(len(r.notes), func(i, j int) { r.notes[i], r.notes[j] = r.notes[j], r.notes[i] })
		}
		rounds = append(rounds, r)
	}
	for _, id := range removed {
		delete(t.subs.byID, id)
	}
	t.subs.mu.Unlock()

	for _, r := range rounds {
		if len(r.lifecycle) > 0 && r.sub.LifecycleNotificationURL != "" {
			if t.post(ctx, r.sub.LifecycleNotificationURL, r.lifecycle) {
				t.count(func(s *NotificationStats) { s.Lifecycle += int64(len(r.lifecycle)) })
			}
		}
		var failed []pendingNote
		for len(r.notes) > 0 {
			n := min(batchSize, len(r.notes))
			batch := make([]map[string]any, n)
			for i, p := range r.notes[:n] {
				note := make(map[string]any, len(p.note)+1)
				for k, v := range p.note {
					note[k] = v
				}
				note["clientState"] = r.sub.secret
				batch[i] = note
			}
			if t.post(ctx, r.sub.NotificationURL, batch) {
				t.count(func(s *NotificationStats) { s.Sent += int64(n) })
			} else {
				failed = append(failed, r.notes[:n]...)
			}
			r.notes = r.notes[n:]
		}
		if len(failed) > 0 {
			t.subs.mu.Lock()
			if s, ok := t.subs.byID[r.sub.ID]; ok {
				s.pending = append(failed, s.pending...)
			}
			t.subs.mu.Unlock()
		}
	}
}

// RunDelivery delivers pending notifications every interval until ctx ends.
func (t *Tenant) RunDelivery(ctx context.Context, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		t.DeliverNotifications(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func (t *Tenant) count(f func(*NotificationStats)) {
	t.subs.mu.Lock()
	f(&t.subs.stats)
	t.subs.mu.Unlock()
}

// rngLocked is the generator of the loss, duplicate and order draws,
// seeded from NotificationOptions.Seed; subs.mu must be held.
func (t *Tenant) rngLocked() *rand.Rand {
	if t.subs.rng == nil {
		seed := t.opts.Notifications.Seed
		t.subs.rng = rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	}
	return t.subs.rng
}

// post sends one changeNotificationCollection and reports whether it was
// answered with 2xx within the 3 seconds Graph waits.
func (t *Tenant) post(ctx context.Context, link string, value []map[string]any) bool {
	body, _ := json.Marshal(map[string]any{"value": value})
	if isEventHubURL(link) {
		ok := t.publishEvent(ctx, link, body)
		t.count(func(s *NotificationStats) {
			s.Posts++
			if !ok {
				s.FailedPosts++
			}
		})
		return ok
	}
	ctx, cancel := context.WithTimeout(ctx, deliveryTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, link, bytes.NewReader(body))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := t.notifyClient().Do(req)
	t.count(func(s *NotificationStats) { s.Posts++ })
	if err != nil {
		t.count(func(s *NotificationStats) { s.FailedPosts++ })
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.count(func(s *NotificationStats) { s.FailedPosts++ })
		return false
	}
	return true
}

func (t *Tenant) notifyClient() *http.Client {
	if c := t.opts.Notifications.Client; c != nil {
		return c
	}
	return http.DefaultClient
}

// serveSubscriptions answers /v1.0/subscriptions and /v1.0/subscriptions/{id}.
func (t *Tenant) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(p) == 2 {
		switch r.Method {
		case http.MethodGet:
			t.listSubscriptions(w, r)
		case http.MethodPost:
			t.createSubscription(w, r)
		default:
			w.Header().Set("Allow", "GET, POST")
			graphError(w, r, http.StatusMethodNotAllowed, "BadRequest", "The HTTP method '"+r.Method+"' is not allowed on this resource.")
		}
		return
	}
	id := p[2]
	switch r.Method {
	case http.MethodGet:
		t.subs.mu.Lock()
		t.expireLocked()
		s, ok := t.subs.byID[id]
		var view simSubscription
		if ok {
			view = *s
		}
		t.subs.mu.Unlock()
		if !ok {
			subscriptionNotFound(w, r)
			return
		}
		view.ClientState = nil
		writeJSONObject(w, r, http.StatusOK, baseURL(r)+"/v1.0/$metadata#subscriptions/$entity", view)
	case http.MethodPatch:
		t.renewSubscription(w, r, id)
	case http.MethodDelete:
		t.subs.mu.Lock()
		_, ok := t.subs.byID[id]
		delete(t.subs.byID, id)
		if ok {
			t.subs.stats.Deleted++
		}
		t.subs.mu.Unlock()
		if !ok {
			subscriptionNotFound(w, r)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, PATCH, DELETE")
		graphError(w, r, http.StatusMethodNotAllowed, "BadRequest", "The HTTP method '"+r.Method+"' is not allowed on this resource.")
	}
}

func subscriptionNotFound(w http.ResponseWriter, r *http.Request) {
	graphError(w, r, http.StatusNotFound, "ResourceNotFound", "The object was not found.")
}

func (t *Tenant) listSubscriptions(w http.ResponseWriter, r *http.Request) {
	t.subs.mu.Lock()
	t.expireLocked()
	values := make([]simSubscription, 0, len(t.subs.byID))
	for _, s := range t.subs.byID {
		v := *s
		v.ClientState = nil // "not returned for security purposes"
		values = append(values, v)
	}
	t.subs.mu.Unlock()
	writeJSONObject(w, r, http.StatusOK, "", struct {
		Context string            `json:"@odata.context"`
		Value   []simSubscription `json:"value"`
	}{baseURL(r) + "/v1.0/$metadata#subscriptions", values})
}

// createSubscription checks a request as Graph documents it, validates the
// notification URLs with the handshake, and stores the subscription.
func (t *Tenant) createSubscription(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Resource                 string    `json:"resource"`
		ChangeType               string    `json:"changeType"`
		NotificationURL          string    `json:"notificationUrl"`
		LifecycleNotificationURL string    `json:"lifecycleNotificationUrl"`
		ClientState              string    `json:"clientState"`
		ExpirationDateTime       time.Time `json:"expirationDateTime"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body.")
		return
	}
	if !strings.EqualFold(strings.TrimPrefix(req.Resource, "/"), "communications/callRecords") {
		graphError(w, r, http.StatusBadRequest, "InvalidRequest", "Resource '"+clip(req.Resource)+"' is not supported by this tenant.")
		return
	}
	types, msg := parseChangeType(req.ChangeType)
	if msg != "" {
		graphError(w, r, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	if len([]rune(req.ClientState)) > maxClientState {
		graphError(w, r, http.StatusBadRequest, "InvalidRequest", "clientState is longer than 128 characters.")
		return
	}
	if msg := t.checkExpiration(req.ExpirationDateTime); msg != "" {
		graphError(w, r, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	if req.NotificationURL == "" {
		graphError(w, r, http.StatusBadRequest, "InvalidRequest", "notificationUrl is required.")
		return
	}
	for i, u := range []string{req.NotificationURL, req.LifecycleNotificationURL} {
		if u == "" || i == 1 && u == req.NotificationURL {
			continue // no lifecycle URL: no lifecycle notifications; the same hub: validated once
		}
		if msg := t.checkNotificationURL(u); msg != "" {
			graphError(w, r, http.StatusBadRequest, "InvalidRequest", msg)
			return
		}
		if !t.validateURL(r.Context(), u) {
			graphError(w, r, http.StatusBadRequest, "ValidationError",
				"Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.")
			return
		}
	}
	s := &simSubscription{
		ID: newUUID(), Resource: req.Resource, ApplicationID: t.opts.ClientID, ChangeType: req.ChangeType,
		NotificationURL: req.NotificationURL, LifecycleNotificationURL: req.LifecycleNotificationURL,
		ExpirationDateTime: t.granted(req.ExpirationDateTime), CreatorID: t.opts.ClientID, LatestSupportedTLS: "v1_2",
		secret: req.ClientState, types: types,
	}
	t.subs.mu.Lock()
	if t.subs.byID == nil {
		t.subs.byID = map[string]*simSubscription{}
	}
	t.subs.byID[s.ID] = s
	t.subs.stats.Created++
	view := *s
	t.subs.mu.Unlock()
	secret := req.ClientState
	view.ClientState = &secret // the create answer echoes it, the list does not
	writeJSONObject(w, r, http.StatusCreated, baseURL(r)+"/v1.0/$metadata#subscriptions/$entity", view)
}

func (t *Tenant) renewSubscription(w http.ResponseWriter, r *http.Request, id string) {
	var req struct {
		ExpirationDateTime time.Time `json:"expirationDateTime"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid request body.")
		return
	}
	if msg := t.checkExpiration(req.ExpirationDateTime); msg != "" {
		graphError(w, r, http.StatusBadRequest, "InvalidRequest", msg)
		return
	}
	t.subs.mu.Lock()
	t.expireLocked()
	s, ok := t.subs.byID[id]
	var view simSubscription
	if ok {
		s.ExpirationDateTime = t.granted(req.ExpirationDateTime)
		t.subs.stats.Renewed++
		view = *s
	}
	t.subs.mu.Unlock()
	if !ok {
		subscriptionNotFound(w, r)
		return
	}
	view.ClientState = nil
	writeJSONObject(w, r, http.StatusOK, baseURL(r)+"/v1.0/$metadata#subscriptions/$entity", view)
}

// parseChangeType reads a subscription's changeType, or returns Graph's
// error message.
func parseChangeType(s string) (map[string]bool, string) {
	types := map[string]bool{}
	for _, c := range strings.Split(s, ",") {
		switch c = strings.TrimSpace(c); c {
		case "created", "updated":
			types[c] = true
		case "deleted":
			return nil, "changeType 'deleted' is not supported for call records."
		default:
			return nil, "changeType '" + clip(c) + "' is not valid."
		}
	}
	return types, ""
}

func (t *Tenant) checkExpiration(exp time.Time) string {
	now := t.now()
	switch {
	case exp.IsZero():
		return "expirationDateTime is required."
	case !exp.After(now):
		return "Subscription expiration must be in the future."
	case exp.Sub(now) > maxSubscriptionLifetime:
		return "Subscription expiration can only be 4230 minutes in the future."
	}
	return ""
}

func (t *Tenant) checkNotificationURL(link string) string {
	if isEventHubURL(link) {
		if t.eventHub() == nil {
			return "The simulated tenant has no event hub to deliver to."
		}
		_, _, msg := t.eventHubTarget(link)
		return msg
	}
	u, err := url.Parse(link)
	if err != nil || u.Host == "" {
		return "The notification URL is not a valid absolute URL."
	}
	if plainHTTP := u.Scheme == "http" && t.opts.Notifications.LoopbackHTTP; u.Scheme != "https" && !plainHTTP {
		return "The notification URL must use HTTPS."
	}
	// A simulator posts to nothing beyond this machine, whatever a test or
	// a fuzzer asks.
	if ip := net.ParseIP(u.Hostname()); u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return "The simulated tenant delivers notifications to loopback hosts only."
	}
	return ""
}

// validateURL is Graph's handshake: POST link?validationToken=<token> with
// a text/plain body, and expect within 10 seconds a 200, text/plain, with
// the token, URL-decoded, as the body.
func (t *Tenant) validateURL(ctx context.Context, link string) bool {
	t.count(func(s *NotificationStats) { s.Validations++ })
	if isEventHubURL(link) {
		// No handshake: the validation message goes into the hub, and the
		// subscription is created if the hub takes it.
		return t.publishEvent(ctx, link, validationEvent())
	}
	token := "Validation: Testing client application reachability for subscription Request-Id: " + newUUID()
	u, err := url.Parse(link)
	if err != nil {
		return false
	}
	q := u.Query()
	q.Set("validationToken", token)
	u.RawQuery = q.Encode()
	ctx, cancel := context.WithTimeout(ctx, validationTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), nil)
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := t.notifyClient().Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil || resp.StatusCode != http.StatusOK {
		return false
	}
	mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return err == nil && mt == "text/plain" && string(body) == token
}

func writeJSONObject(w http.ResponseWriter, r *http.Request, status int, context string, v any) {
	b, _ := json.Marshal(v)
	if context != "" {
		var m map[string]json.RawMessage
		_ = json.Unmarshal(b, &m)
		m["@odata.context"] = jsonString(context)
		b = marshalObject(m)
	}
	writeGraph(w, r, status, b)
}
