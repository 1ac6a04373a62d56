package notifications

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
)

// Paths served by the Receiver; nothing else is.
const (
	NotificationPath = "/notifications"
	LifecyclePath    = "/notifications/lifecycle"
)

// Limits on what a delivery may hold.
const (
	// MaxBodyBytes bounds a notification body. Graph batches notifications
	// into one POST; 1 MiB holds thousands of them.
	MaxBodyBytes = 1 << 20
	// MaxItems bounds the notifications of one body: a Graph notification
	// is about 600 bytes, so 1 MiB holds under 2,000.
	MaxItems = 5000
	// MaxClientStateLen is Graph's own limit on a subscription's clientState.
	MaxClientStateLen = 128
	// DefaultMaxBodiesInFlight is the default number of bodies read at
	// once. Each costs at most about a body's size (the decoder's buffer
	// when a single token is that long), usually a few KiB; reading one
	// takes milliseconds, so a few serve a tenant's bursts, and the rest
	// make room for slow senders, which the webhook cuts off (minBodyRate).
	DefaultMaxBodiesInFlight = 32
	// slotWait is how long a body waits for a reading slot before it is
	// refused unread: slots turn over in milliseconds, or within
	// bodyGrace for a sender the webhook cuts off.
	slotWait = time.Second
	// maxValidationToken bounds the token echoed in the handshake. Graph's
	// tokens are opaque and a few hundred characters long.
	maxValidationToken = 4096
	// maxRecordIDLen bounds a notified id: the bound of every id, so that
	// the ledger can keep what is notified.
	maxRecordIDLen = graph.MaxIDBytes
	// DefaultQueueSize is the default bound of the queue of notified ids:
	// a little more than a busy tenant's hour.
	DefaultQueueSize = 100_000
)

// Results counted in teams_exporter_notifications_total.
const (
	ResultAccepted  = "accepted"  // a change notification queued (or already queued)
	ResultRejected  = "rejected"  // a notification refused: alone, with its body, or a request refused unread
	ResultLifecycle = "lifecycle" // a lifecycle notification accepted
	// ResultValidation counts Graph's validation handshakes answered: each
	// new subscription brings one per URL, so a steady rise is someone
	// else probing the listener. Graph's validation message read from an
	// event hub, sent when a subscription is created, counts here too.
	ResultValidation = "validation"
)

// Lifecycle events Graph sends to the lifecycle URL.
const (
	EventReauthorizationRequired = "reauthorizationRequired"
	EventSubscriptionRemoved     = "subscriptionRemoved"
	EventMissed                  = "missed"
)

// lifecycleEvents are the events the receiver knows: the values of the
// event label of teams_exporter_notification_lifecycle_events_total.
var lifecycleEvents = []string{EventReauthorizationRequired, EventSubscriptionRemoved, EventMissed}

// Config configures a Receiver.
type Config struct {
	// ClientState is the secret Graph echoes in every notification; at
	// most 128 characters. It is never logged.
	ClientState string
	// TenantID is the exporter's tenant: the directory id (a GUID) Graph
	// puts in a notification's tenantId and, in some lifecycle
	// notifications, organizationId. A notification is then refused as a
	// foreign one is when either field differs from it (ignoring case) or
	// appears twice; one with neither is taken on its clientState alone.
	// Empty, or a domain name (Entra ID takes either to sign in), leaves
	// the tenant unknown, and both fields unchecked: a domain name cannot
	// be compared with the GUID Graph sends.
	TenantID string
	// QueueSize bounds the queue of notified ids; default DefaultQueueSize.
	QueueSize int
	// MaxBodiesInFlight bounds the bodies read at once; default
	// DefaultMaxBodiesInFlight. One more waits for a slot for a second,
	// then is refused (ErrBusy).
	MaxBodiesInFlight int
	Logger            *slog.Logger
	Registerer        prometheus.Registerer
	Now               func() time.Time
}

// Receiver takes Graph's change notifications: through its http.Handler
// (the webhook endpoints) or Deliver (any other transport). It queues the
// ids of notified records for the poller, and lifecycle events for the
// Subscriber and the poller. It never calls Graph, so it answers in
// microseconds whatever Graph is doing.
type Receiver struct {
	secret  [sha256.Size]byte
	tenant  []byte // the tenant's GUID; nil when unknown
	log     *slog.Logger
	now     func() time.Time
	queue   *queue
	reading chan struct{} // a token per body being read

	notified chan struct{} // capacity 1: ids were queued

	mu        sync.Mutex
	reauth    map[string]bool // subscription ids awaiting a renewal
	removed   map[string]bool // subscription ids Graph removed
	relist    bool            // the look-back must be listed again
	relistAt  time.Time       // when, first since the last take
	lifecycle chan struct{}   // capacity 1: reauth or removed changed

	metrics    *receiverMetrics
	lastWarn   atomic.Int64 // unix nanoseconds of the last rejection logged at warn
	lastValid  atomic.Int64 // unix nanoseconds of the last validation logged at info
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
	if cfg.MaxBodiesInFlight <= 0 {
		cfg.MaxBodiesInFlight = DefaultMaxBodiesInFlight
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
		reading:   make(chan struct{}, cfg.MaxBodiesInFlight),
		notified:  make(chan struct{}, 1),
		reauth:    map[string]bool{},
		removed:   map[string]bool{},
		lifecycle: make(chan struct{}, 1),
	}
	switch {
	case isGUID(cfg.TenantID):
		r.tenant = []byte(cfg.TenantID)
	case cfg.TenantID != "":
		cfg.Logger.Info("the tenant id is not a GUID: notifications are not checked for their tenant, only for their client state")
	}
	r.metrics = newReceiverMetrics(cfg.Registerer, r.queue.len)
	return r, nil
}

// isGUID reports whether s is a GUID in Graph's form,
// 8-4-4-4-12 hexadecimal digits.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
	}
	return true
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
	r.requestRelistLocked()
	r.mu.Unlock()
}

func (r *Receiver) requestRelistLocked() {
	if !r.relist {
		r.relist, r.relistAt = true, r.now()
	}
}

// TakeRelist reports whether the look-back must be listed again, and
// forgets the request: the caller lists it.
func (r *Receiver) TakeRelist() bool {
	_, relist := r.TakeRelistRequest()
	return relist
}

// TakeRelistRequest is TakeRelist with when the look-back was first asked
// for since the last take: a request that arrived while the caller was
// already listing it again asks for nothing more.
func (r *Receiver) TakeRelistRequest() (at time.Time, relist bool) {
	if r.queue.takeSpilled() {
		r.RequestRelist()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	at, relist = r.relistAt, r.relist
	r.relist, r.relistAt = false, time.Time{}
	return at, relist
}

// Items says which notifications a delivery channel may carry.
type Items uint8

// The kinds of notification. Graph posts change notifications and
// lifecycle events to different URLs, so the webhook accepts one kind per
// path; a channel that carries both (an event hub) accepts AnyItems.
const (
	ChangeItems Items = 1 << iota
	LifecycleItems
	AnyItems = ChangeItems | LifecycleItems
)

// Result is what Deliver made of one body.
type Result struct {
	// Accepted is the change notifications whose record ids were queued
	// (or were already queued).
	Accepted int
	// Lifecycle is the lifecycle events recorded.
	Lifecycle int
	// Rejected is the items refused one by one, the rest being accepted: a
	// foreign clientState or tenant, or an item of the subscription that
	// the exporter does not understand.
	Rejected int
	// IDs are the record ids of the accepted change notifications, in the
	// body's order: a channel that must know when they are ingested (an
	// event hub's consumer) follows them.
	IDs []string
}

// Errors of Deliver. The webhook answers them with 503, 403, 413 and 400.
var (
	// ErrBusy: as many bodies as allowed are being read; this one was not
	// read. Graph retries a webhook's 5xx; another channel retries later.
	ErrBusy = errors.New("too many notification bodies being read at once")
	// ErrForbidden: no item carries the subscription's clientState and
	// the exporter's tenant.
	ErrForbidden = errors.New("no notification carries the subscription's clientState and tenant")
	// ErrTooLarge: more than MaxBodyBytes bytes or MaxItems items.
	ErrTooLarge = errors.New("notification body too large")
	// ErrMalformed: not a notification collection, not read to its end, or
	// no item in it usable.
	ErrMalformed = errors.New("malformed notification body")
)

// Deliver reads one body of Graph notifications (a
// changeNotificationCollection, {"value":[...]}) and queues what it holds.
// It is the single entry of every delivery channel, so that each body gets
// the same checks, bounds and counting: the webhook's handler calls it, and
// so must any other transport (an event hub's event body).
//
// The body is read as a stream and never held whole. Each item's
// clientState is compared (in constant time) as soon as the item has been
// read, then its tenantId and organizationId when Config.TenantID is
// known (see tenantMatches): a foreign item
// (another clientState, another tenant) is rejected alone and counted in
// Result.Rejected, and nothing else about it is looked at. Items that pass are used only if
// the whole body is read without error: a body cut short queues nothing.
// allow says which kinds of items this channel may carry; an item of
// another kind is rejected alone.
//
// A nil error means at least one item was used. Otherwise the error wraps
// ErrBusy (nothing read), ErrForbidden (no item had the clientState and
// tenant),
// ErrTooLarge or ErrMalformed, with the reason; it never holds the secret
// or a record id. ctx ends the reading early: the error then wraps ctx's
// error, and the body, which nobody refused, is not counted.
//
// At most Config.MaxBodiesInFlight bodies are read at once; Deliver waits
// for a turn at most a second, then returns ErrBusy, so that a webhook
// answers within Graph's 3 seconds, and the goroutines waiting are bounded
// by the connections the listener holds.
//
// Deliver counts every item (or a body refused before its first item) in
// teams_exporter_notifications_total
// and logs refusals (rate-limited); the caller counts nothing again.
func (r *Receiver) Deliver(ctx context.Context, body io.Reader, allow Items) (Result, error) {
	if err := r.acquire(ctx); err != nil {
		return Result{}, err
	}
	defer func() { <-r.reading }()
	var (
		got     batch
		items   int
		matched int
		problem string // the first problem of an item with the right clientState
	)
	err := decodeBody(ctx, body, func(it *item) {
		items++
		if !r.secretMatchesBytes(it.clientState) || !r.tenantMatches(it) {
			got.rejected++
			return
		}
		matched++
		if why := got.add(it, allow); why != "" {
			got.rejected++
			if problem == "" {
				problem = why
			}
		}
	})
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		// Stopped, not refused: the sender (a webhook client gone, an
		// event hub's reader stopping) delivers the body again.
		return Result{}, fmt.Errorf("notification body not read: %w", err)
	case errors.Is(err, errBodyTooLarge) || errors.Is(err, errTooManyItems):
		err = fmt.Errorf("%w: %w", ErrTooLarge, err)
	case err != nil:
		err = fmt.Errorf("%w: %s", ErrMalformed, clipErr(err))
	case items == 0:
		err = fmt.Errorf("%w: no notifications in value", ErrMalformed)
	case matched == 0:
		err = ErrForbidden
	case got.used == 0:
		err = fmt.Errorf("%w: %s", ErrMalformed, problem)
	}
	if err != nil {
		// Counted in notifications, as accepted ones are: each item read,
		// or one for a body refused before its first item.
		r.metrics.notifications.WithLabelValues(ResultRejected).Add(float64(max(items, 1)))
		r.warn("notification body rejected", "reason", err.Error(), "items", items)
		return Result{}, err
	}
	r.accept(got)
	if got.rejected > 0 {
		r.metrics.notifications.WithLabelValues(ResultRejected).Add(float64(got.rejected))
		r.warn("notifications rejected in an accepted body", "rejected", got.rejected,
			"foreign", items-matched, "reason", problem)
	}
	ids := make([]string, len(got.changes))
	for i, c := range got.changes {
		ids[i] = c.id
	}
	return Result{Accepted: len(got.changes), Lifecycle: len(got.lifecycle), Rejected: got.rejected, IDs: ids}, nil
}

// acquire takes a reading slot, waiting at most slotWait.
func (r *Receiver) acquire(ctx context.Context) error {
	select {
	case r.reading <- struct{}{}:
		return nil
	default:
	}
	wait := time.NewTimer(slotWait)
	defer wait.Stop()
	select {
	case r.reading <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("notification body not read: %w", ctx.Err())
	case <-wait.C:
		r.metrics.busy.Inc()
		r.warn("notification body refused unread: too many being read at once", "in_flight", cap(r.reading))
		return ErrBusy
	}
}

// batch is what the matching items of one body carry, kept until the body
// has been read to its end. It is bounded by MaxItems.
type batch struct {
	changes   []change
	lifecycle []lifecycleItem
	used      int // items used, including deleted records (nothing to fetch)
	rejected  int
}

type change struct {
	id      string
	updated bool
}

type lifecycleItem struct {
	event        string // one of lifecycleEvents
	subscription string
}

// add takes an item whose clientState matched, or says what is wrong with
// it (never an id).
func (b *batch) add(it *item, allow Items) string {
	if it.problem != "" {
		return it.problem
	}
	if len(it.lifecycleEvent) > 0 {
		if allow&LifecycleItems == 0 {
			return "lifecycle notification on the change notification channel"
		}
		event := ""
		for _, e := range lifecycleEvents {
			if string(it.lifecycleEvent) == e {
				event = e
			}
		}
		if event == "" {
			return "unknown lifecycle event " + clip(string(it.lifecycleEvent))
		}
		if len(it.subscriptionID) > maxRecordIDLen {
			return "subscription id too long"
		}
		b.lifecycle = append(b.lifecycle, lifecycleItem{event: event, subscription: string(it.subscriptionID)})
		b.used++
		return ""
	}
	if allow&ChangeItems == 0 {
		return "change notification on the lifecycle channel"
	}
	id, err := recordID(it.resource, it.resourceDataID)
	if err != nil {
		return err.Error()
	}
	switch string(it.changeType) {
	case "created", "updated":
		b.changes = append(b.changes, change{id: id, updated: string(it.changeType) == "updated"})
	case "deleted":
		// Nothing to fetch: a deleted record cannot be ingested.
	default:
		return "unknown change type " + clip(string(it.changeType))
	}
	b.used++
	return ""
}

// tenantMatches reports whether an item is of the exporter's tenant,
// without allocating. With the tenant unknown every item is. Otherwise an
// item is of another tenant when a tenantId or an organizationId it
// carries differs from the tenant, ignoring case (a GUID's hexadecimal
// digits may come in either), or when either appears twice (so that the
// answer does not depend on the order of the keys).
//
// An item with neither is taken on its clientState alone. Microsoft
// documents tenantId as required in every notification, but Graph has
// sent reauthorizationRequired lifecycle notifications with an
// organizationId instead, and refusing one (403, which Graph does not
// retry) would lose the reauthorization. The clientState remains the
// secret that vouches for the sender: tenant ids are public, so a tenantId
// proves nothing; it only keeps out what Graph itself delivers from
// another tenant (a subscription there made with the same client state).
func (r *Receiver) tenantMatches(it *item) bool {
	switch {
	case r.tenant == nil:
		return true
	case it.twice&tenantFields != 0:
		return false
	case it.present&fieldTenantID != 0 && !bytes.EqualFold(it.tenantID, r.tenant):
		return false
	case it.present&fieldOrganizationID != 0 && !bytes.EqualFold(it.organizationID, r.tenant):
		return false
	}
	return true
}

// secretMatchesBytes compares in constant time, over hashes so that not
// even the length of the secret leaks through timing.
func (r *Receiver) secretMatchesBytes(s []byte) bool {
	h := sha256.Sum256(s)
	return subtle.ConstantTimeCompare(h[:], r.secret[:]) == 1
}

// recordID reads the record id from resourceData.id and the resource path
// ("communications/callRecords/{id}"), which must agree when both are set.
func recordID(resource, dataID []byte) (string, error) {
	var fromPath []byte
	if len(resource) > 0 {
		const prefix = "communications/callrecords/" // Graph's case varies
		res := resource
		if res[0] == '/' {
			res = res[1:]
		}
		if len(res) <= len(prefix) || !equalFoldASCII(res[:len(prefix)], prefix) {
			return "", errors.New("resource is not a call record")
		}
		fromPath = res[len(prefix):]
	}
	id := fromPath
	if len(dataID) > 0 {
		if len(fromPath) > 0 && !equalFoldASCII(fromPath, string(dataID)) {
			return "", errors.New("resource and resourceData.id disagree")
		}
		id = dataID
	}
	if !validRecordID(id) {
		return "", errors.New("record id missing or not a Graph id")
	}
	return string(id), nil
}

// validRecordID accepts what Graph's call record ids look like (UUIDs; to be
// safe any letters, digits and dashes), nothing that could be a path.
func validRecordID[S ~string | ~[]byte](id S) bool {
	if len(id) == 0 || len(id) > maxRecordIDLen {
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

// accept queues a read body's ids and records its lifecycle events.
func (r *Receiver) accept(p batch) {
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
		r.metrics.lifecycleEvents.WithLabelValues(n.event).Inc()
		r.log.Info("lifecycle notification", "event", n.event, "subscription", n.subscription)
		switch n.event {
		case EventMissed:
			r.requestRelistLocked()
		case EventReauthorizationRequired:
			subscriptionEvent = addBounded(r.reauth, n.subscription) || subscriptionEvent
		case EventSubscriptionRemoved:
			subscriptionEvent = addBounded(r.removed, n.subscription) || subscriptionEvent
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

// warn logs at warn level at most once every 10 seconds (a flood of bad
// requests must not flood the log; the metrics count them all), at debug
// level otherwise.
func (r *Receiver) warn(msg string, args ...any) {
	r.logEvery(&r.lastWarn, slog.LevelWarn, msg, args...)
}

// logEvery logs at level at most once every 10 seconds per last, and at
// debug level otherwise: what an anonymous client can cause must not fill
// the log.
func (r *Receiver) logEvery(last *atomic.Int64, level slog.Level, msg string, args ...any) {
	now := r.now().UnixNano()
	prev := last.Load()
	if now-prev >= int64(10*time.Second) && last.CompareAndSwap(prev, now) {
		r.log.Log(context.Background(), level, msg, args...)
		return
	}
	r.log.Debug(msg, args...)
}

// clip bounds text taken from a request before it reaches a log line.
func clip(s string) string {
	const n = 64
	if len(s) > n {
		s = s[:n] + "..."
	}
	return fmt.Sprintf("%q", s)
}

// clipErr is a decoding error for a log line: the decoder quotes the
// offending input, which is bounded here like any other.
func clipErr(err error) string {
	s := err.Error()
	const n = 160
	if len(s) > n {
		s = s[:n] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
