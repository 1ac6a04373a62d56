package notifications

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Paths served by the Receiver; nothing else is.
const (
	NotificationPath = "/notifications"
	LifecyclePath    = "/notifications/lifecycle"
)

// Limits on what the endpoints accept.
const (
	// MaxBodyBytes bounds a notification body. Graph batches notifications
	// into one POST; 1 MiB holds thousands of them.
	MaxBodyBytes = 1 << 20
	// MaxClientStateLen is Graph's own limit on a subscription's clientState.
	MaxClientStateLen = 128
	// maxValidationToken bounds the token echoed in the handshake. Graph's
	// tokens are opaque and a few hundred characters long.
	maxValidationToken = 4096
	// maxRecordIDLen bounds a notified id: Graph's are 36-character UUIDs.
	maxRecordIDLen = 64
	// DefaultQueueSize is the default bound of the queue of notified ids:
	// a little more than a busy tenant's hour.
	DefaultQueueSize = 100_000
)

// Results counted in teams_exporter_notifications_total.
const (
	ResultAccepted  = "accepted"  // a change notification queued (or already queued)
	ResultRejected  = "rejected"  // a request answered with 4xx
	ResultLifecycle = "lifecycle" // a lifecycle notification accepted
)

// Lifecycle events Graph sends to the lifecycle URL.
const (
	EventReauthorizationRequired = "reauthorizationRequired"
	EventSubscriptionRemoved     = "subscriptionRemoved"
	EventMissed                  = "missed"
)

// Config configures a Receiver.
type Config struct {
	// ClientState is the secret Graph echoes in every notification; at
	// most 128 characters. It is never logged.
	ClientState string
	// QueueSize bounds the queue of notified ids; default DefaultQueueSize.
	QueueSize  int
	Logger     *slog.Logger
	Registerer prometheus.Registerer
	Now        func() time.Time
}

// Receiver is the http.Handler of the notification endpoints. It queues the
// ids of notified records for the poller, and lifecycle events for the
// Subscriber and the poller. It never calls Graph, so it answers in
// microseconds whatever Graph is doing.
type Receiver struct {
	secret [sha256.Size]byte
	log    *slog.Logger
	now    func() time.Time
	queue  *queue

	notified chan struct{} // capacity 1: ids were queued

	mu        sync.Mutex
	reauth    map[string]bool // subscription ids awaiting a renewal
	removed   map[string]bool // subscription ids Graph removed
	relist    bool            // the look-back must be listed again
	lifecycle chan struct{}   // capacity 1: reauth or removed changed

	metrics    *receiverMetrics
	lastWarn   atomic.Int64 // unix nanoseconds of the last rejection logged at warn
	subscribed atomic.Bool  // a subscription is active (set by the Subscriber)
}

// Subscribed reports whether a subscription is delivering notifications
// here, as the Subscriber last knew.
func (r *Receiver) Subscribed() bool { return r.subscribed.Load() }

// maxPendingSubscriptions bounds the lifecycle sets: the exporter has one
// subscription, and events for others (an old one, a forged id with a
// leaked secret) must not grow memory.
const maxPendingSubscriptions = 16

// NewReceiver validates cfg and returns a Receiver.
func NewReceiver(cfg Config) (*Receiver, error) {
	if err := ValidateClientState(cfg.ClientState); err != nil {
		return nil, err
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
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
	r := &Receiver{
		secret:    sha256.Sum256([]byte(cfg.ClientState)),
		log:       cfg.Logger,
		now:       cfg.Now,
		queue:     newQueue(cfg.QueueSize),
		notified:  make(chan struct{}, 1),
		reauth:    map[string]bool{},
		removed:   map[string]bool{},
		lifecycle: make(chan struct{}, 1),
	}
	r.metrics = newReceiverMetrics(cfg.Registerer, r.queue.len)
	return r, nil
}

// ValidateClientState checks a clientState as Graph would: present, at most
// 128 characters. The error never contains the value.
func ValidateClientState(s string) error {
	switch {
	case s == "":
		return errors.New("client state is empty")
	case len([]rune(s)) > MaxClientStateLen:
		return fmt.Errorf("client state is longer than %d characters", MaxClientStateLen)
	}
	return nil
}

// Take removes and returns up to n notified ids, oldest first.
func (r *Receiver) Take(n int) []Notified { return r.queue.take(n) }

// Queued returns the number of ids waiting in the queue.
func (r *Receiver) Queued() int { return r.queue.len() }

// Notified is signalled (without blocking the sender) when ids are queued.
func (r *Receiver) Notified() <-chan struct{} { return r.notified }

// Lifecycle is signalled when a reauthorizationRequired or
// subscriptionRemoved event arrives; see TakeLifecycle.
func (r *Receiver) Lifecycle() <-chan struct{} { return r.lifecycle }

// TakeLifecycle returns and forgets the subscription ids Graph asked to
// reauthorize and those it removed.
func (r *Receiver) TakeLifecycle() (reauthorize, removed []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.reauth {
		reauthorize = append(reauthorize, id)
	}
	for id := range r.removed {
		removed = append(removed, id)
	}
	clear(r.reauth)
	clear(r.removed)
	return reauthorize, removed
}

// RequestRelist asks the poller to list the whole look-back again: Graph
// lost notifications (missed), the queue dropped ids, or the subscription
// was created again after Graph removed it.
func (r *Receiver) RequestRelist() {
	r.mu.Lock()
	r.relist = true
	r.mu.Unlock()
}

// TakeRelist reports whether the look-back must be listed again, and
// forgets the request: the caller lists it.
func (r *Receiver) TakeRelist() bool {
	spilled := r.queue.takeSpilled()
	r.mu.Lock()
	defer r.mu.Unlock()
	relist := r.relist || spilled
	r.relist = false
	return relist
}

// ServeHTTP implements http.Handler for NotificationPath and LifecyclePath.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	lifecycle := false
	switch req.URL.Path {
	case NotificationPath:
	case LifecyclePath:
		lifecycle = true
	default:
		r.reject(w, http.StatusNotFound, "unknown path")
		return
	}
	if req.URL.Query().Has("validationToken") {
		r.validate(w, req)
		return
	}
	if req.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		r.reject(w, http.StatusMethodNotAllowed, "method "+clip(req.Method)+" without a validation token")
		return
	}
	if !isJSON(req.Header.Get("Content-Type")) {
		r.reject(w, http.StatusUnsupportedMediaType, "content type is not application/json")
		return
	}
	if req.ContentLength > MaxBodyBytes {
		r.reject(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			r.reject(w, http.StatusRequestEntityTooLarge, "body larger than 1 MiB")
			return
		}
		// A sender too slow for the server's read timeout, or one that
		// hung up: nobody reads the answer, but it is counted.
		r.reject(w, http.StatusBadRequest, "body not read: "+err.Error())
		return
	}
	batch, status, why := r.parse(body, lifecycle)
	if status != 0 {
		r.reject(w, status, why)
		return
	}
	r.accept(batch)
	w.WriteHeader(http.StatusAccepted)
}

// validate answers Graph's handshake for a new subscription: the token,
// URL-decoded, as text/plain with 200, within 10 seconds.
func (r *Receiver) validate(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost && req.Method != http.MethodGet {
		w.Header().Set("Allow", "POST, GET")
		r.reject(w, http.StatusMethodNotAllowed, "validation with method "+clip(req.Method))
		return
	}
	token := req.URL.Query().Get("validationToken")
	if token == "" || len(token) > maxValidationToken {
		r.reject(w, http.StatusBadRequest, "validation token empty or too long")
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	// The token is echoed verbatim, as Graph requires; a browser must not
	// take it for markup.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, token)
	r.log.Info("answered Graph's validation of the notification URL", "path", req.URL.Path)
}

// notification is one item of Graph's changeNotificationCollection; only the
// fields the exporter needs are read.
type notification struct {
	SubscriptionID string `json:"subscriptionId"`
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	Resource       string `json:"resource"`
	ResourceData   *struct {
		ID string `json:"id"`
	} `json:"resourceData"`
	LifecycleEvent string `json:"lifecycleEvent"`
}

// parsed is a request's notifications once all of them are known good.
type parsed struct {
	changes   []change
	lifecycle []notification
}

type change struct {
	id      string
	updated bool
}

// parse reads and checks a whole request; any bad item refuses it all, with
// the status to answer and why (never the secret, never an id).
func (r *Receiver) parse(body []byte, lifecycle bool) (parsed, int, string) {
	var coll struct {
		Value []notification `json:"value"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&coll); err != nil {
		return parsed{}, http.StatusBadRequest, "malformed JSON: " + clip(err.Error())
	}
	if dec.More() {
		return parsed{}, http.StatusBadRequest, "malformed JSON: data after the object"
	}
	if len(coll.Value) == 0 {
		return parsed{}, http.StatusBadRequest, "no notifications in value"
	}
	// Every clientState first: a request with one forged item is forged.
	for i := range coll.Value {
		if !r.secretMatches(coll.Value[i].ClientState) {
			return parsed{}, http.StatusForbidden, "clientState does not match"
		}
	}
	var out parsed
	for i := range coll.Value {
		n := &coll.Value[i]
		if lifecycle != (n.LifecycleEvent != "") {
			return parsed{}, http.StatusBadRequest, "lifecycle and change notifications on the wrong path"
		}
		if lifecycle {
			switch n.LifecycleEvent {
			case EventReauthorizationRequired, EventSubscriptionRemoved, EventMissed:
			default:
				return parsed{}, http.StatusBadRequest, "unknown lifecycle event " + clip(n.LifecycleEvent)
			}
			if len(n.SubscriptionID) > maxRecordIDLen {
				return parsed{}, http.StatusBadRequest, "subscription id too long"
			}
			out.lifecycle = append(out.lifecycle, *n)
			continue
		}
		id, err := recordID(n)
		if err != nil {
			return parsed{}, http.StatusBadRequest, err.Error()
		}
		switch n.ChangeType {
		case "created", "updated":
			out.changes = append(out.changes, change{id: id, updated: n.ChangeType == "updated"})
		case "deleted":
			// Nothing to fetch: a deleted record cannot be ingested.
		default:
			return parsed{}, http.StatusBadRequest, "unknown change type " + clip(n.ChangeType)
		}
	}
	return out, 0, ""
}

// secretMatches compares in constant time, over hashes so that not even
// the length of the secret leaks through timing.
func (r *Receiver) secretMatches(s string) bool {
	h := sha256.Sum256([]byte(s))
	return subtle.ConstantTimeCompare(h[:], r.secret[:]) == 1
}

// recordID reads the record id from resourceData.id and the resource path
// ("communications/callRecords/{id}"), which must agree when both are set.
func recordID(n *notification) (string, error) {
	fromPath := ""
	if n.Resource != "" {
		const prefix = "communications/callrecords/" // Graph's case varies
		res := strings.TrimPrefix(n.Resource, "/")
		if len(res) <= len(prefix) || !strings.EqualFold(res[:len(prefix)], prefix) {
			return "", errors.New("resource is not a call record")
		}
		fromPath = res[len(prefix):]
	}
	id := fromPath
	if n.ResourceData != nil && n.ResourceData.ID != "" {
		if fromPath != "" && !strings.EqualFold(fromPath, n.ResourceData.ID) {
			return "", errors.New("resource and resourceData.id disagree")
		}
		id = n.ResourceData.ID
	}
	if !validRecordID(id) {
		return "", errors.New("record id missing or not a Graph id")
	}
	return id, nil
}

// validRecordID accepts what Graph's call record ids look like (UUIDs; to be
// safe any letters, digits and dashes), nothing that could be a path.
func validRecordID(id string) bool {
	if id == "" || len(id) > maxRecordIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if !isIDByte(id[i]) {
			return false
		}
	}
	return true
}

func isIDByte(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-'
}

// accept queues a checked request's ids and records its lifecycle events.
func (r *Receiver) accept(p parsed) {
	now := r.now()
	dropped := 0
	for _, c := range p.changes {
		if r.queue.push(c.id, now, c.updated) {
			dropped++
		}
	}
	r.metrics.notifications.WithLabelValues(ResultAccepted).Add(float64(len(p.changes)))
	if dropped > 0 {
		r.metrics.dropped.Add(float64(dropped))
		r.warn("notification queue full; ids dropped, the next re-list of the look-back finds them", "dropped", dropped)
	}
	if len(p.changes) > dropped {
		signal(r.notified)
	}
	if len(p.lifecycle) == 0 {
		return
	}
	r.metrics.notifications.WithLabelValues(ResultLifecycle).Add(float64(len(p.lifecycle)))
	r.mu.Lock()
	subscriptionEvent := false
	for _, n := range p.lifecycle {
		r.log.Info("lifecycle notification", "event", n.LifecycleEvent, "subscription", n.SubscriptionID)
		switch n.LifecycleEvent {
		case EventMissed:
			r.relist = true
		case EventReauthorizationRequired:
			subscriptionEvent = addBounded(r.reauth, n.SubscriptionID) || subscriptionEvent
		case EventSubscriptionRemoved:
			subscriptionEvent = addBounded(r.removed, n.SubscriptionID) || subscriptionEvent
		}
	}
	r.mu.Unlock()
	if subscriptionEvent {
		signal(r.lifecycle)
	}
}

func addBounded(set map[string]bool, id string) bool {
	if set[id] {
		return true
	}
	if len(set) >= maxPendingSubscriptions {
		return false
	}
	set[id] = true
	return true
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// reject answers status and counts the request as rejected.
func (r *Receiver) reject(w http.ResponseWriter, status int, why string) {
	r.metrics.notifications.WithLabelValues(ResultRejected).Inc()
	r.warn("notification request rejected", "status", status, "reason", why)
	http.Error(w, http.StatusText(status), status)
}

// warn logs at warn level at most once every 10 seconds (a flood of bad
// requests must not flood the log; the metric counts them all), at debug
// level otherwise.
func (r *Receiver) warn(msg string, args ...any) {
	now := time.Now().UnixNano()
	last := r.lastWarn.Load()
	if now-last >= int64(10*time.Second) && r.lastWarn.CompareAndSwap(last, now) {
		r.log.Warn(msg, args...)
		return
	}
	r.log.Debug(msg, args...)
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// clip bounds text taken from a request before it reaches a log line.
func clip(s string) string {
	const n = 64
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}
