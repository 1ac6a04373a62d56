package graphsim

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Limits are request counts allowed in a sliding window.
type Limits struct {
	Window time.Duration
	// List is for listing call records; PerRecord for the requests about
	// one record (get, sessions); PerApp for every call-records request of
	// the application in the tenant, each request inside a $batch counted
	// singly (the $batch envelope itself is not a call-records request).
	List, PerRecord, PerApp int
}

// CallRecordLimits are Graph's published limits for call records
// ("Microsoft Graph service-specific throttling limits", Cloud
// communications service limits): list 40 requests per 20 s, 40 per 20 s
// per call record, 1,500 per 20 s per app per tenant.
var CallRecordLimits = Limits{Window: 20 * time.Second, List: 40, PerRecord: 40, PerApp: 1500}

// Quota keeps Graph's throttling accounts for a tenant: sliding-window
// counts of list, per-record and per-app requests, and the worst window
// seen of each. As a Middleware (Tenant.Use) it counts every call-records
// request, and with Enforce answers those over a limit with 429 and the
// Retry-After until the window has room, as Graph does; throttled requests
// still count, as Graph "keeps counting while you are throttled".
type Quota struct {
	Limits  Limits
	Enforce bool
	// Now is the quota's clock; default time.Now.
	Now func() time.Time

	mu        sync.Mutex
	list, app window
	records   map[string]*window
	stats     QuotaStats
}

// QuotaStats reports a Quota's counts.
type QuotaStats struct {
	List, PerApp int64 // requests counted
	// MaxList, MaxPerApp, MaxPerRecord are the most requests seen in any
	// one window.
	MaxList, MaxPerApp, MaxPerRecord int
	// Over counts requests beyond a limit (answered 429 when enforcing).
	Over int64
}

// window is the arrival times of requests inside the last Window.
type window struct{ times []time.Time }

// add records an arrival at now and returns the count in (now-w, now].
func (q *window) add(now time.Time, w time.Duration) int {
	q.trim(now, w)
	q.times = append(q.times, now)
	return len(q.times)
}

func (q *window) trim(now time.Time, w time.Duration) {
	cut := 0
	for cut < len(q.times) && !q.times[cut].After(now.Add(-w)) {
		cut++
	}
	if cut > 0 {
		q.times = append(q.times[:0], q.times[cut:]...)
	}
}

// retryAfter is when the oldest arrival leaves the window.
func (q *window) retryAfter(now time.Time, w time.Duration) time.Duration {
	if len(q.times) == 0 {
		return 0
	}
	return q.times[0].Add(w).Sub(now)
}

// Stats returns the counts so far.
func (q *Quota) Stats() QuotaStats {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stats
}

// Middleware returns the accounting middleware to pass to Tenant.Use.
func (q *Quota) Middleware() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if wait, over := q.count(Operation(r), RecordID(r)); over && q.Enforce {
				secs := max(1, int((wait+time.Second-1)/time.Second))
				w.Header().Set("Retry-After", strconv.Itoa(secs))
				graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// count accounts one request and reports whether it is over a limit and,
// if so, how long until there is room.
func (q *Quota) count(op, record string) (time.Duration, bool) {
	switch op {
	case OpList, OpGet, OpSessions:
	default:
		return 0, false // tokens, $batch envelopes, subscriptions: other quotas
	}
	now := time.Now()
	if q.Now != nil {
		now = q.Now()
	}
	l := q.Limits
	if l.Window == 0 {
		l = CallRecordLimits
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	var wait time.Duration
	over := false
	check := func(win *window, limit int, worst *int) {
		n := win.add(now, l.Window)
		*worst = max(*worst, n)
		if n > limit {
			over = true
			wait = max(wait, win.retryAfter(now, l.Window))
		}
	}
	q.stats.PerApp++
	check(&q.app, l.PerApp, &q.stats.MaxPerApp)
	if op == OpList {
		q.stats.List++
		check(&q.list, l.List, &q.stats.MaxList)
	}
	if record != "" {
		if q.records == nil || len(q.records) > 100_000 {
			q.records = map[string]*window{} // bounded; old windows are empty anyway
		}
		win := q.records[record]
		if win == nil {
			win = &window{}
			q.records[record] = win
		}
		check(win, l.PerRecord, &q.stats.MaxPerRecord)
	}
	if over {
		q.stats.Over++
	}
	return wait, over
}
