package graph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"golang.org/x/time/rate"
)

// Operation names a kind of Graph request, as counted in metrics.
type Operation string

// The operations the client performs.
const (
	OpToken    Operation = "token"
	OpList     Operation = "list"
	OpGet      Operation = "get"
	OpSessions Operation = "sessions"
	OpBatch    Operation = "batch"
)

// Observer is told about every HTTP request the client makes; code is the
// HTTP status, or "error" when no response arrived.
type Observer interface {
	ObserveRequest(op Operation, code string, d time.Duration)
	ObserveThrottled(op Operation)
}

// PageObserver is implemented by an Observer that also wants the size of
// every full list page (one followed by a next link): the page size Graph
// really gives, whatever odata.maxpagesize asked for.
type PageObserver interface {
	ObserveListPage(records int)
}

// BodyObserver is implemented by an Observer that also counts the answers
// refused unread or half-read: malformed, or over a size or element bound.
type BodyObserver interface {
	ObserveRefusedBody(op Operation)
}

type nopObserver struct{}

func (nopObserver) ObserveRequest(Operation, string, time.Duration) {}
func (nopObserver) ObserveThrottled(Operation)                      {}

// Config configures a Client. Zero values take the defaults noted.
type Config struct {
	// BaseURL is the Graph root, e.g. https://graph.microsoft.com.
	BaseURL    string
	Credential azcore.TokenCredential
	HTTPClient *http.Client // default: a client with the default transport
	Observer   Observer
	Logger     *slog.Logger
	// Now is the clock of the client's time decisions (a Retry-After given
	// as a date, the time in a claims challenge's answer) and of request
	// durations; time.Now if nil. Give it the poller's clock. Waiting
	// (back-off, pacing, timeouts) is in real time whatever it says.
	Now func() time.Time

	RequestTimeout time.Duration // per attempt, body included; default 60s
	MaxRetries     int           // per request; default 5
	MaxBodyBytes   int64         // default 64 MiB
	ListPageSize   int           // Prefer: odata.maxpagesize on lists; default 999
	BatchSize      int           // requests per $batch, 1 disables batching; default 20
	Concurrency    int           // record requests in flight; default 4

	// Client-side pacing below Graph's published limits: list 40 per 20 s,
	// 1,500 per 20 s per app and tenant. Defaults: 1.8/s, and 69/s after a
	// burst of one $batch (see newTenantLimiter). The list limiter's burst
	// is sized so that no 20 s window holds more than 40 list requests,
	// burst included (see newListLimiter).
	ListRate, TenantRate rate.Limit
	// CallLogRate paces each of the PSTN and direct-routing call-log
	// functions (Graph: 50 per 60 s per function, 200 per 60 s per app and
	// tenant). Default: 35 per minute after a burst of 10.
	CallLogRate rate.Limit

	// BackoffBase and BackoffMax shape retries without Retry-After;
	// defaults 1s and 1m.
	BackoffBase, BackoffMax time.Duration
}

// Client reads call records from Graph. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	scope      string
	cred       azcore.TokenCredential
	http       *http.Client
	obs        Observer
	log        *slog.Logger
	now        func() time.Time
	timeout    time.Duration
	retries    int
	maxBody    int64
	pageSize   int
	batchSize  int
	workers    int
	listLimit  *rate.Limiter
	totalLimit *rate.Limiter
	logLimits  callLogLimits
	backoff    backoff
	// retryAfterCap bounds any Retry-After (maxRetryAfter; tests shorten it).
	retryAfterCap time.Duration
}

// New validates cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	base, err := url.Parse(strings.TrimRight(cfg.BaseURL, "/"))
	if err != nil || base.Host == "" || (base.Scheme != "https" && base.Scheme != "http") {
		return nil, fmt.Errorf("graph URL %q: want an absolute http(s) URL", cfg.BaseURL)
	}
	if cfg.Credential == nil {
		return nil, errors.New("graph client: no credential")
	}
	c := &Client{
		base:      base,
		scope:     base.Scheme + "://" + base.Host + "/.default",
		cred:      cfg.Credential,
		http:      cfg.HTTPClient,
		obs:       cfg.Observer,
		log:       cfg.Logger,
		now:       cfg.Now,
		timeout:   orDefault(cfg.RequestTimeout, time.Minute),
		retries:   orDefault(cfg.MaxRetries, 5),
		maxBody:   orDefault(cfg.MaxBodyBytes, 64<<20),
		pageSize:  orDefault(cfg.ListPageSize, 999),
		batchSize: min(orDefault(cfg.BatchSize, 20), 20),
		workers:   orDefault(cfg.Concurrency, 4),
		backoff: backoff{
			base: orDefault(cfg.BackoffBase, time.Second),
			max:  orDefault(cfg.BackoffMax, time.Minute),
		},
		retryAfterCap: maxRetryAfter,
	}
	if c.http == nil {
		c.http = &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	}
	// Graph does not redirect these calls. Following a redirect would send
	// the bearer token wherever the answer points, plain http included, so
	// a 3xx is an answer like any other failure. The caller's client is
	// copied, not changed.
	hc := *c.http
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	c.http = &hc
	if c.obs == nil {
		c.obs = nopObserver{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	c.now = orNow(c.now)
	listRate, totalRate := orDefault(cfg.ListRate, 1.8), orDefault(cfg.TenantRate, defaultTenantRate)
	c.listLimit = newListLimiter(listRate)
	c.totalLimit = newTenantLimiter(totalRate)
	c.logLimits = newCallLogLimits(cfg.CallLogRate)
	return c, nil
}

// defaultTenantRate paces all call-records requests (each $batch item
// counted) at 1,380 per 20 s, 92 % of Graph's 1,500 per app and tenant, so
// that catching up after a downtime runs near the limit without drawing
// 429s.
const defaultTenantRate = 69

// newTenantLimiter paces at r after a burst of one full $batch (20): a token
// bucket lets through at most burst + r*20s requests in any 20 s, here
// 20 + 1,380 = 1,400, below Graph's 1,500 with room for a token refresh's
// retry or a neighbour.
func newTenantLimiter(r rate.Limit) *rate.Limiter {
	return rate.NewLimiter(r, 20)
}

// Graph's published list limit: 40 requests in any 20 s.
const (
	listWindow    = 20 * time.Second
	listWindowMax = 40
)

// newListLimiter paces list requests at r with the largest burst that still
// keeps every 20 s window at or under 40 requests: a token bucket allows at
// most burst + r*20s requests in any 20 s, so burst = 40 - ceil(r*20s). At
// the default 1.8/s that is 4 (4 + 36 = 40). A rate above 1.95/s cannot
// keep the bound; it is taken as asked (tests use fast rates).
func newListLimiter(r rate.Limit) *rate.Limiter {
	perWindow := int(math.Ceil(float64(r) * listWindow.Seconds()))
	return rate.NewLimiter(r, max(1, listWindowMax-perWindow))
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// ListCallRecords lists the records whose start time is in [from, to),
// following @odata.nextLink, and calls fn for each. Listed records carry no
// sessions. A record listed twice (Graph's paging is not a snapshot) is
// passed twice; callers de-duplicate. It returns what the listing cost,
// whether or not it failed.
func (c *Client) ListCallRecords(ctx context.Context, from, to time.Time, fn func(CallRecord) error) (CallStats, error) {
	var st CallStats
	err := c.listCallRecords(withCallStats(ctx, &st), from, to, fn, &st)
	return st, err
}

func (c *Client) listCallRecords(ctx context.Context, from, to time.Time, fn func(CallRecord) error, st *CallStats) error {
	lo, hi := from.UTC().Truncate(time.Second), ceilSecond(to).UTC()
	filter := fmt.Sprintf("startDateTime ge %s and startDateTime lt %s", lo.Format(time.RFC3339), hi.Format(time.RFC3339))
	next := c.endpoint("/v1.0/communications/callRecords") + "?$filter=" + queryEscape(filter) + "&$select=" + listSelect
	// A record whose start is outside the filter (or absent) is not what was
	// asked for: the caller places records by their listed start, and one
	// placed outside its window would be pruned and listed again, and so
	// counted twice. Dropped, and logged once per listing.
	outside := 0
	// A record whose id is empty or over MaxIDBytes is malformed: the
	// ledger could not keep it. Left out, counted in st, logged once per
	// listing with no more of the id than idForLog gives.
	badID := ""
	defer func() {
		if outside > 0 {
			c.log.Warn("Graph listed call records outside the requested start-time window; ignored", "records", outside)
		}
		if st.Malformed > 0 {
			c.log.Warn("Graph listed call records with an empty or too long id; skipped", "records", st.Malformed, "max_id_bytes", MaxIDBytes, "first_id", badID)
		}
	}()
	seen := map[string]bool{}
	records := 0
	for pages := 0; next != ""; pages++ {
		if pages >= maxPages || seen[next] {
			return fmt.Errorf("list call records: %w: next link loops", ErrMalformed)
		}
		seen[next] = true
		var page struct {
			Value    []CallRecord `json:"value"`
			NextLink string       `json:"@odata.nextLink"`
		}
		if err := c.getJSON(ctx, OpList, next, &page); err != nil {
			return fmt.Errorf("list call records: %w", err)
		}
		st.Pages++
		if records += len(page.Value); records > maxListedRecords {
			if bo, ok := c.obs.(BodyObserver); ok {
				bo.ObserveRefusedBody(OpList)
			}
			return fmt.Errorf("list call records: %w: more than %d records", ErrMalformed, maxListedRecords)
		}
		for i := range page.Value {
			if start := page.Value[i].StartDateTime; start.Before(lo) || !start.Before(hi) {
				outside++
				continue
			}
			if id := page.Value[i].ID; !ValidID(id) {
				if st.Malformed == 0 {
					badID = idForLog(id)
				}
				st.Malformed++
				continue
			}
			if err := fn(page.Value[i]); err != nil {
				return err
			}
		}
		if page.NextLink != "" {
			if err := c.sameOrigin(page.NextLink); err != nil {
				return fmt.Errorf("list call records: %w", err)
			}
			if po, ok := c.obs.(PageObserver); ok {
				po.ObserveListPage(len(page.Value))
			}
		}
		next = page.NextLink
	}
	return nil
}

// listSelect is what the poller needs of a listed record. Asking for no
// more keeps organizer and participant identities (personal data) out of
// the bytes read, and makes pages smaller.
const listSelect = "id,version,type,startDateTime,endDateTime,lastModifiedDateTime"

// maxPages bounds any paging loop, so a server that keeps answering with a
// next link cannot hold a poll forever.
const maxPages = 10000

// maxListedRecords bounds the records of one listing, which its caller
// holds until it ends: Graph's pages of 999 records over maxPages pages,
// 10 M records (a 24-hour look-back of a tenant of a million calls a day
// lists a tenth of it). Pages of up to maxPageItems would allow ten times
// more. A variable so that tests can lower it.
var maxListedRecords = 999 * maxPages

func ceilSecond(t time.Time) time.Time {
	if tt := t.Truncate(time.Second); !tt.Equal(t) {
		return tt.Add(time.Second)
	}
	return t
}

// GetCallRecord fetches one record with all its sessions and segments. A
// record whose body is for another id, or over the bounds a record may
// hold, is ErrMalformed.
func (c *Client) GetCallRecord(ctx context.Context, id string) (*CallRecord, error) {
	if err := checkID(id); err != nil {
		return nil, fmt.Errorf("get call record: %w", err)
	}
	var rec CallRecord
	if err := c.getJSON(ctx, OpGet, c.recordURL(id), &rec); err != nil {
		return nil, fmt.Errorf("get call record: %w", err)
	}
	return c.finishRecord(ctx, id, &rec)
}

// finishRecord checks that rec is the record asked for, fetches its
// remaining sessions, checks its bounds and drops implausible values.
func (c *Client) finishRecord(ctx context.Context, id string, rec *CallRecord) (*CallRecord, error) {
	if rec.ID != id {
		// A body for another record (or none) would be ingested under the
		// wrong id, or de-duplicated wrongly: the answer is not usable.
		return nil, fmt.Errorf("get call record: %w: answered with another record's id", ErrMalformed)
	}
	if err := c.completeSessions(ctx, rec); err != nil {
		return nil, err
	}
	if err := checkRecordBounds(rec); err != nil {
		return nil, fmt.Errorf("get call record: %w", err)
	}
	rec.ImplausibleValues = dropImplausible(rec)
	return rec, nil
}

func (c *Client) recordURL(id string) string {
	return c.endpoint("/v1.0/communications/callRecords/"+url.PathEscape(id)) + "?$expand=" + queryEscape("sessions($expand=segments)")
}

// completeSessions follows sessions@odata.nextLink until Graph has sent
// every session of the record.
func (c *Client) completeSessions(ctx context.Context, rec *CallRecord) error {
	seen := map[string]bool{}
	for pages := 0; rec.SessionsNextLink != ""; pages++ {
		next, err := c.sessionsLink(rec.ID, rec.SessionsNextLink)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				err = fmt.Errorf("%w: %w", ErrMalformed, err) // the same answer at every try
			}
			return fmt.Errorf("get call record sessions: %w", err)
		}
		if pages >= maxPages || seen[next] {
			return fmt.Errorf("get call record sessions: %w: next link loops", ErrMalformed)
		}
		seen[next] = true
		var page struct {
			Value    []Session `json:"value"`
			NextLink string    `json:"@odata.nextLink"`
		}
		if err := c.getJSON(ctx, OpSessions, next, &page); err != nil {
			return fmt.Errorf("get call record sessions: %w", err)
		}
		if len(rec.Sessions)+len(page.Value) > maxSessions {
			return fmt.Errorf("get call record sessions: %w: more than %d sessions", ErrRecordBounds, maxSessions)
		}
		rec.Sessions = append(rec.Sessions, page.Value...)
		rec.SessionsNextLink = page.NextLink
	}
	return nil
}

func (c *Client) endpoint(path string) string {
	return c.base.Scheme + "://" + c.base.Host + c.base.Path + path
}

// queryEscape escapes an OData expression for a query string, with %20 for
// spaces (some OData servers do not read '+').
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// getJSON GETs link and decodes the JSON answer into v, with retries.
func (c *Client) getJSON(ctx context.Context, op Operation, link string, v any) error {
	return c.do(ctx, op, func(ctx context.Context) (*http.Request, error) {
		return http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	}, v)
}

// do sends requests built by newReq until one succeeds, a non-retryable
// answer arrives, or the retries are spent. Each attempt has its own
// timeout, which covers reading the body.
func (c *Client) do(ctx context.Context, op Operation, newReq func(context.Context) (*http.Request, error), v any) error {
	return c.doN(ctx, op, 1, newReq, v)
}

// doN is do for a request that carries n Graph requests ($batch).
func (c *Client) doN(ctx context.Context, op Operation, n int, newReq func(context.Context) (*http.Request, error), v any) error {
	var lastErr error
	renewed := false
	for attempt := 0; ; attempt++ {
		wait, err := c.attempt(ctx, op, n, newReq, v)
		if err == nil {
			return nil
		}
		lastErr = err
		if gerr := unauthorized(err); gerr != nil && !renewed {
			// Once per request: a second 401 with a new token is real.
			renewed = true
			if rerr := c.renewToken(ctx, gerr.Claims); rerr != nil {
				return fmt.Errorf("%w (renewing the token: %w)", lastErr, rerr)
			}
			continue
		}
		if wait < 0 || attempt >= c.retries {
			return lastErr
		}
		if wait == 0 {
			wait = c.backoff.delay(attempt)
		}
		c.log.Debug("retrying Graph request", "op", op, "attempt", attempt+1, "wait", wait, "err", err)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (while waiting to retry after: %w)", err, lastErr)
		}
	}
}

// attempt makes one request. It returns the wait before a retry: negative
// for "do not retry", zero for "use back-off", positive from Retry-After.
func (c *Client) attempt(ctx context.Context, op Operation, n int, newReq func(context.Context) (*http.Request, error), v any) (time.Duration, error) {
	if err := c.pace(ctx, op, n); err != nil {
		return -1, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := newReq(ctx)
	if err != nil {
		return -1, err
	}
	if err := c.authorize(ctx, req); err != nil {
		return -1, err // azidentity has already retried what is transient
	}
	req.Header.Add("Prefer", "include-unknown-enum-members")
	if op == OpList {
		req.Header.Add("Prefer", fmt.Sprintf("odata.maxpagesize=%d", c.pageSize))
	}
	req.Header.Set("Accept", "application/json")
	start := c.now()
	resp, err := c.http.Do(req)
	if err != nil {
		countRequest(ctx, 0)
		c.obs.ObserveRequest(op, "error", c.now().Sub(start))
		return c.transportRetry(ctx, err)
	}
	countRequest(ctx, resp.StatusCode)
	defer drainAndClose(resp.Body)
	if resp.StatusCode/100 != 2 {
		c.obs.ObserveRequest(op, statusCode(resp.StatusCode), c.now().Sub(start))
		return c.failure(op, resp)
	}
	err = c.decode(resp, c.maxBodyFor(op), v)
	c.obs.ObserveRequest(op, statusCode(resp.StatusCode), c.now().Sub(start))
	if err != nil {
		err = fmt.Errorf("decode %s response: %w", op, err)
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, errBodyRead) || ctx.Err() != nil {
			return 0, err // cut off mid-body: worth another try
		}
		// An unreadable record is that record's problem; an unreadable
		// $batch envelope (a proxy's error page, say) fails all its records
		// alike and is Graph failing. An envelope too large is split by the
		// caller.
		if op != OpBatch && !errors.Is(err, ErrBodyTooLarge) && !errors.Is(err, ErrMalformed) {
			err = fmt.Errorf("%w: %w", ErrMalformed, err)
		}
		// Counted once classified: every body refused, whatever refused
		// it (a syntax error, a member of the wrong type, a bound).
		if bo, ok := c.obs.(BodyObserver); ok {
			bo.ObserveRefusedBody(op)
		}
		return -1, err
	}
	return 0, nil
}

// transportRetry classifies an error with no response: the caller's own
// cancellation is final, anything else (reset, timeout) is retried.
func (c *Client) transportRetry(ctx context.Context, err error) (time.Duration, error) {
	if parent := context.Cause(ctx); parent != nil && !errors.Is(parent, context.DeadlineExceeded) {
		return -1, err
	}
	return 0, err
}

func (c *Client) failure(op Operation, resp *http.Response) (time.Duration, error) {
	var body odataError
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	err := newError(op, resp.StatusCode, &body)
	if resp.StatusCode == http.StatusUnauthorized {
		err.Claims = claimsChallenge(resp.Header.Values("WWW-Authenticate"))
	}
	if !retryable(resp.StatusCode) {
		return -1, err
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		c.obs.ObserveThrottled(op)
	}
	return c.retryAfter(op, resp.StatusCode, resp.Header.Get("Retry-After")), err
}

// retryAfter reads a Retry-After header: zero when absent or unreadable
// (back-off then decides), at least a millisecond when present ("retry
// now" still means retry, not back-off), and logged.
func (c *Client) retryAfter(op Operation, status int, header string) time.Duration {
	ra, ok := parseRetryAfter(header, c.now(), c.retryAfterCap)
	if !ok {
		return 0
	}
	if ra.capped {
		c.log.Warn("Graph asked to wait longer than the cap; waiting the cap", "op", op, "status", status, "retry_after", ra.asked, "cap", c.retryAfterCap)
	} else {
		c.log.Warn("Graph asked to wait", "op", op, "status", status, "retry_after", ra.wait)
	}
	return max(ra.wait, time.Millisecond)
}

// decode reads at most limit bytes of JSON (after decompression) into v,
// within the element budget of one answer, refusing a body whose declared
// length is over the limit without reading it.
func (c *Client) decode(resp *http.Response, limit int64, v any) error {
	if v == nil {
		return nil // no answer expected (204 No Content); the body is drained on close
	}
	if resp.ContentLength > limit {
		return fmt.Errorf("%w (%d bytes declared)", ErrBodyTooLarge, resp.ContentLength)
	}
	lr := &limitedReader{r: resp.Body, n: limit}
	if err := decodeJSON(lr, v, newBudget()); err != nil {
		if lr.exceeded {
			return ErrBodyTooLarge
		}
		return err
	}
	return nil
}

// limitedReader fails once more than n bytes are asked of it, so an
// over-long body is an error rather than a silently truncated document.
type limitedReader struct {
	r        io.Reader
	n        int64
	exceeded bool
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.exceeded = true
		return 0, ErrBodyTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%w: %w", errBodyRead, err)
	}
	return n, err
}

// errBodyRead marks a failure to read the body (a reset, a timeout), as
// opposed to a body that was read and is not valid.
var errBodyRead = errors.New("read body")

func drainAndClose(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 4<<10) // lets the connection be reused
	_ = body.Close()
}

// unauthorized returns the Graph error of a 401, or nil.
func unauthorized(err error) *Error {
	var gerr *Error
	if errors.As(err, &gerr) && gerr.Status == http.StatusUnauthorized {
		return gerr
	}
	return nil
}

// renewToken makes the credential fetch a new token past its cache: Graph
// refused the cached one, and the credential would hand it out again until
// its own idea of the expiry, up to an hour of failed polls. A claims
// request is the only way azidentity bypasses its cache.
//
// With continuous access evaluation (the client announces the CP1
// capability), Graph says which claims the new token needs in the 401's
// WWW-Authenticate header; they are passed on exactly. A 401 without a
// challenge (a token revoked, or expired early by clock skew) asks for an
// "nbf" claim for a token issued from now on, which is what Graph's own
// revocation challenges ask for.
func (c *Client) renewToken(ctx context.Context, claims string) error {
	if claims == "" {
		claims = fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, c.now().Unix())
	} else {
		c.log.Info("Graph asked for a token with more claims (continuous access evaluation); requesting one")
	}
	_, err := c.cred.GetToken(ctx, c.tokenOptions(claims))
	return err
}

// tokenOptions are the token requests' options: Graph's scope, and the
// CP1 capability, which tells Entra and Graph that this client handles
// claims challenges (continuous access evaluation).
func (c *Client) tokenOptions(claims string) policy.TokenRequestOptions {
	return policy.TokenRequestOptions{Scopes: []string{c.scope}, Claims: claims, EnableCAE: true}
}

func (c *Client) authorize(ctx context.Context, req *http.Request) error {
	tok, err := c.cred.GetToken(ctx, c.tokenOptions(""))
	if err != nil {
		return fmt.Errorf("get token: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	return nil
}

// pace waits for the client-side rate limiters; n is the number of Graph
// requests about to be made (a $batch counts each request it carries).
func (c *Client) pace(ctx context.Context, op Operation, n int) error {
	if isLog, err := c.logLimits.wait(ctx, op); isLog {
		return err // throttled apart from call records
	}
	if op == OpList {
		if err := c.listLimit.Wait(ctx); err != nil {
			return err
		}
	}
	return c.totalLimit.WaitN(ctx, n)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// jsonBody returns a request builder for a POST of v as JSON.
func jsonBody(link string, v any) (func(context.Context) (*http.Request, error), error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, link, bytes.NewReader(b))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	}, nil
}
