package graphsim

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Options configures a Tenant. Zero values take the defaults given.
type Options struct {
	// TenantID, ClientID and ClientSecret are the credentials the token
	// endpoint accepts. An empty ClientSecret refuses every secret.
	TenantID, ClientID, ClientSecret string
	// CertificatePEM optionally holds the client certificate(s) accepted for
	// a client_assertion: the assertion's x5t#S256 (or x5t) header must name
	// one of them and its signature must verify with its key.
	CertificatePEM []byte
	// MaxPageSize caps "Prefer: odata.maxpagesize" on the list; default 999.
	// Without the header a list page holds 60 records, as Graph's does.
	MaxPageSize int
	// SessionsPageSize is the number of sessions per page; default 60.
	SessionsPageSize int
	// FusedSessionsLinks writes sessions@odata.nextLink as Microsoft's
	// documented examples (callrecord-get) show it: the $metadata context
	// URL fused with the link,
	// {root}/v1.0/$metadata#communications/callRecords('{id}')/sessions?$expand=segments&$skiptoken=...
	// A client that follows it as a URL asks for /v1.0/$metadata, which is
	// served (as Graph does) as the CSDL document, not JSON. Default: the
	// plain form {root}/v1.0/communications/callRecords/{id}/sessions?...
	FusedSessionsLinks bool
	// TokenLifetime is the lifetime of access tokens; default 1h.
	TokenLifetime time.Duration
	// Retention hides records that started longer ago than this, from the
	// list and from get (404), as Graph does after 30 days. Zero keeps all.
	Retention time.Duration
	// Notifications configures change notifications: delivery, and the
	// faults of delivery (lost, repeated, out-of-order notifications).
	Notifications NotificationOptions
	// Audiences are other resources (https://host) for which the token
	// endpoint issues tokens too, as Entra does for an Event Hubs
	// namespace; ValidToken checks them. Graph refuses them.
	Audiences []string
	// Now is the tenant's clock (token expiry, Bump, RunLive, Retention);
	// default time.Now.
	Now func() time.Time
}

const (
	defaultPageSize    = 60
	defaultMaxPageSize = 999
	defaultSessionPage = 60
)

// Tenant is a simulated Microsoft Graph tenant holding call records. All
// methods are safe for concurrent use.
type Tenant struct {
	opts  Options
	certs []*x509.Certificate

	mu       sync.RWMutex
	byID     map[string]*stored
	order    []*stored       // sorted by startDateTime, then id
	unlisted map[string]bool // ids the list does not return (AddUnlisted)

	tokMu       sync.Mutex
	tokens      map[string]time.Time  // access token -> expiry
	otherTokens map[string]otherToken // tokens for Options.Audiences
	challenged  map[string]string     // access token -> the claims challenge that revoked it
	outstanding map[string]bool       // claims challenges not answered yet
	claimSeq    int64
	claims      claimsCounters

	mwMu        sync.RWMutex
	middlewares []Middleware

	logs callLogs // PSTN and direct-routing call logs

	stats      counters
	subs       subscriptions
	shapes     headShapes // of the records' heads
	listWindow slidingWindow
}

func (s *stored) less(start time.Time, id string) bool {
	if !s.start.Equal(start) {
		return s.start.Before(start)
	}
	return s.id < id
}

// New returns an empty tenant.
func New(opts Options) *Tenant {
	if opts.MaxPageSize <= 0 {
		opts.MaxPageSize = defaultMaxPageSize
	}
	if opts.SessionsPageSize <= 0 {
		opts.SessionsPageSize = defaultSessionPage
	}
	if opts.TokenLifetime <= 0 {
		opts.TokenLifetime = time.Hour
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	t := &Tenant{
		opts: opts, byID: map[string]*stored{}, tokens: map[string]time.Time{},
		challenged: map[string]string{}, outstanding: map[string]bool{},
	}
	for rest := opts.CertificatePEM; len(rest) > 0; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil {
			t.certs = append(t.certs, c)
		}
	}
	return t
}

func (t *Tenant) now() time.Time { return t.opts.Now() }

// AddRaw adds a hand-written record (for instance a fixture), served as
// given except for paging: its own @odata.context and sessions annotations
// are dropped and sessions are paged by the tenant. It must carry an id and
// a startDateTime. A record with the same id is replaced.
func (t *Tenant) AddRaw(recordJSON []byte) error {
	// Stored compact, as Add's are: pages are assembled from the stored
	// members without compacting them again (marshalObject).
	var compact bytes.Buffer
	if err := json.Compact(&compact, recordJSON); err != nil {
		return fmt.Errorf("add raw record: %w", err)
	}
	s, err := t.parseStored(compact.Bytes())
	if err != nil {
		return fmt.Errorf("add raw record: %w", err)
	}
	t.notifyPut(t.put(s, false), s.id)
	return nil
}

// Add adds generated or hand-built records, replacing any with the same id.
// A record JSON cannot represent (a NaN or infinite number) is a bug in the
// caller and panics.
func (t *Tenant) Add(recs ...Record) {
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			// Only a NaN or infinite float can get here: a bug in the caller.
			panic(fmt.Sprintf("graphsim: marshal record: %v", err))
		}
		s, err := t.parseStored(b)
		if err != nil {
			panic(fmt.Sprintf("graphsim: add record: %v", err))
		}
		t.notifyPut(t.put(s, false), s.id)
	}
}

// AddUnlisted adds records that get returns and change notifications
// announce, but that the list does not return (yet), as when Graph's
// listing lags its notifications: only a notification finds them. Adding
// one again with Add lists it.
func (t *Tenant) AddUnlisted(recs ...Record) {
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			panic(fmt.Sprintf("graphsim: marshal record: %v", err))
		}
		s, err := t.parseStored(b)
		if err != nil {
			panic(fmt.Sprintf("graphsim: add record: %v", err))
		}
		t.mu.Lock()
		if t.unlisted == nil {
			t.unlisted = map[string]bool{}
		}
		t.unlisted[s.id] = true
		t.mu.Unlock()
		t.notifyPut(t.put(s, true), s.id)
	}
}

// legacySessions returns the sessions as a client without
// "Prefer: include-unknown-enum-members" sees them.
func legacySessions(sessions []json.RawMessage) []json.RawMessage {
	var legacy []json.RawMessage
	for i, raw := range sessions {
		down, changed, err := downgradeEnums(raw)
		if err != nil || !changed {
			continue // valid JSON (parseStored checked it) without such members
		}
		if legacy == nil {
			legacy = append([]json.RawMessage(nil), sessions...)
		}
		legacy[i] = down
	}
	if legacy == nil {
		return sessions
	}
	return legacy
}

// notifyPut queues the change notification of a put: created for a new
// record, updated for a replaced one.
func (t *Tenant) notifyPut(replaced bool, id string) {
	if replaced {
		t.notifyChange("updated", id)
		return
	}
	t.notifyChange("created", id)
}

// put stores s and reports whether it replaced a record with its id.
func (t *Tenant) put(s *stored, unlisted bool) (replaced bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !unlisted {
		delete(t.unlisted, s.id)
	}
	old, replaced := t.byID[s.id]
	if replaced {
		t.removeLocked(old)
	}
	t.byID[s.id] = s
	i := sort.Search(len(t.order), func(i int) bool { return !t.order[i].less(s.start, s.id) })
	t.order = append(t.order, nil)
	copy(t.order[i+1:], t.order[i:])
	t.order[i] = s
	return replaced
}

func (t *Tenant) removeLocked(s *stored) {
	delete(t.byID, s.id)
	i := sort.Search(len(t.order), func(i int) bool { return !t.order[i].less(s.start, s.id) })
	if i < len(t.order) && t.order[i] == s {
		t.order = append(t.order[:i], t.order[i+1:]...)
	}
}

// Bump publishes a new version of a record, as Graph does when late
// telemetry or feedback arrives: version+1 and lastModifiedDateTime=now.
// An unknown id is ignored.
func (t *Tenant) Bump(id string) {
	if t.bump(id) {
		t.notifyChange("updated", id)
	}
}

func (t *Tenant) bump(id string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byID[id]
	if !ok {
		return false
	}
	head, body := headMembers(s.shape, s.data)
	isVersion := func(m member) bool { return m.key == "version" }
	all := head
	if body != nil && !slices.ContainsFunc(head, isVersion) {
		all = topMembers(s.shape, s.data)
	}
	var version int64
	if i := slices.IndexFunc(all, isVersion); i >= 0 {
		_ = json.Unmarshal(all[i].val, &version) // not a number: 0, as absent
	}
	ts, _ := json.Marshal(t.now().UTC())
	head = slices.DeleteFunc(head, func(m member) bool { return m.key == "version" || m.key == "lastModifiedDateTime" })
	head = append(head, member{key: "version", val: strconv.AppendInt(nil, version+1, 10)}, member{key: "lastModifiedDateTime", val: ts})
	slices.SortFunc(head, func(a, b member) int { return compareStrings(a.key, b.key) })
	// The new values go to the head, where they override the body's
	// (which has them only if they were long).
	next := t.newStored(s.id, s.start, head, body)
	s.shape, s.data = next.shape, next.data
	return true
}

// Len returns the number of records held.
func (t *Tenant) Len() int {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return len(t.order)
}

// IDs returns the ids of the records held, ordered by start time.
func (t *Tenant) IDs() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	ids := make([]string, len(t.order))
	for i, s := range t.order {
		ids[i] = s.id
	}
	return ids
}

// retained reports whether a record is still inside the retention window.
func (t *Tenant) retained(s *stored) bool {
	return t.opts.Retention <= 0 || !s.start.Before(t.now().Add(-t.opts.Retention))
}

// RequestStats counts requests by operation. Requests inside a $batch are
// counted under their own operation (a batched get counts in Get) and also
// in BatchItems; the $batch request itself counts in Batch.
type RequestStats struct {
	Token, OpenID, Discovery      int64
	List, Get, Sessions, Batch    int64
	Subscription                  int64 // requests to /v1.0/subscriptions
	BatchItems                    int64
	PSTNCalls, DirectRoutingCalls int64
	Other                         int64 // requests that matched no route
}

type counters struct {
	token, openID, discovery, list, get, sessions, batch, batchItems, subscription, other atomic.Int64
	pstnCalls, directRoutingCalls                                                         atomic.Int64
}

func (c *counters) count(op string, inBatch bool) {
	n := &c.other
	switch op {
	case OpToken:
		n = &c.token
	case OpOpenID:
		n = &c.openID
	case OpDiscovery:
		n = &c.discovery
	case OpList:
		n = &c.list
	case OpGet:
		n = &c.get
	case OpSessions:
		n = &c.sessions
	case OpBatch:
		n = &c.batch
	case OpSubscription:
		n = &c.subscription
	case OpPSTNCalls:
		n = &c.pstnCalls
	case OpDirectRoutingCalls:
		n = &c.directRoutingCalls
	}
	n.Add(1)
	if inBatch {
		c.batchItems.Add(1)
	}
}

// Requests returns the request counts so far.
func (t *Tenant) Requests() RequestStats {
	c := &t.stats
	return RequestStats{
		Token: c.token.Load(), OpenID: c.openID.Load(), Discovery: c.discovery.Load(),
		List: c.list.Load(), Get: c.get.Load(), Sessions: c.sessions.Load(), Batch: c.batch.Load(),
		BatchItems: c.batchItems.Load(), Subscription: c.subscription.Load(), Other: c.other.Load(),
		PSTNCalls: c.pstnCalls.Load(), DirectRoutingCalls: c.directRoutingCalls.Load(),
	}
}

// issueToken mints an opaque access token valid for TokenLifetime.
func (t *Tenant) issueToken(audience string) (string, time.Duration) {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	tok := base64.RawURLEncoding.EncodeToString(b)
	now := t.now()
	t.tokMu.Lock()
	defer t.tokMu.Unlock()
	for k, exp := range t.tokens { // keep the map small across long demos
		if !now.Before(exp) {
			delete(t.tokens, k)
			delete(t.challenged, k)
		}
	}
	if audience != "" {
		// Another resource's token: Graph refuses it.
		for k, o := range t.otherTokens {
			if !now.Before(o.exp) {
				delete(t.otherTokens, k)
			}
		}
		if t.otherTokens == nil {
			t.otherTokens = map[string]otherToken{}
		}
		t.otherTokens[tok] = otherToken{audience: audience, exp: now.Add(t.opts.TokenLifetime)}
		return tok, t.opts.TokenLifetime
	}
	t.tokens[tok] = now.Add(t.opts.TokenLifetime)
	return tok, t.opts.TokenLifetime
}

// otherToken is a token issued for one of Options.Audiences.
type otherToken struct {
	audience string
	exp      time.Time
}

// ValidToken reports whether tok is a token the tenant issued for
// audience (one of Options.Audiences) and not expired: what another
// simulated resource (an event hub's broker) checks.
func (t *Tenant) ValidToken(tok, audience string) bool {
	t.tokMu.Lock()
	defer t.tokMu.Unlock()
	o, ok := t.otherTokens[tok]
	return ok && strings.EqualFold(o.audience, audience) && t.now().Before(o.exp)
}

type tokenState int

const (
	tokenValid tokenState = iota
	tokenMissing
	tokenUnknown
	tokenExpired
	tokenChallenged // revoked by a claims challenge not answered yet
)

func (t *Tenant) checkToken(r *http.Request) tokenState {
	h := r.Header.Get("Authorization")
	if h == "" {
		return tokenMissing
	}
	scheme, tok, ok := cutSpace(h)
	if !ok || !equalFold(scheme, "Bearer") || tok == "" {
		return tokenUnknown
	}
	t.tokMu.Lock()
	exp, found := t.tokens[tok]
	challenged := t.challenged[tok] != ""
	t.tokMu.Unlock()
	switch {
	case !found:
		return tokenUnknown
	case !t.now().Before(exp):
		return tokenExpired
	case challenged:
		return tokenChallenged
	}
	return tokenValid
}

// RevokeTokens invalidates every access token issued so far, so that the
// next Graph request gets a 401 (as after a secret rotation).
func (t *Tenant) RevokeTokens() {
	t.tokMu.Lock()
	defer t.tokMu.Unlock()
	clear(t.tokens)
	clear(t.challenged)
}
