package graphsim

import (
	"bytes"
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is a kind of failure Faults can inject.
type Fault string

// The faults Faults injects, in the order a draw picks them.
const (
	Fault429Seconds Fault = "429_retry_after_seconds" // 429 with Retry-After: <seconds>
	Fault429Date    Fault = "429_retry_after_date"    // 429 with Retry-After: <HTTP date>
	Fault429Bare    Fault = "429_no_retry_after"      // 429 without Retry-After
	Fault500        Fault = "500"
	Fault502        Fault = "502"
	Fault503        Fault = "503"
	Fault504        Fault = "504"
	FaultReset      Fault = "connection_reset" // the handler aborts: the connection is cut
	FaultTruncate   Fault = "truncated_body"   // a correct-looking status, half the body
	FaultStall      Fault = "stall"            // no answer for StallFor, then the real one
	FaultToken      Fault = "token_failure"    // the token endpoint answers 503
)

// faultOrder fixes the order of the cumulative draw, so that a seed always
// picks the same faults whatever the map iteration order.
var faultOrder = []Fault{
	Fault429Seconds, Fault429Date, Fault429Bare, Fault500, Fault502, Fault503, Fault504,
	FaultReset, FaultTruncate, FaultStall,
}

// Faults injects failures into a tenant's answers at configured rates, as a
// Middleware for Tenant.Use. Each request draws once from a generator
// seeded with Seed, so a run with the same order of requests injects the
// same faults. Token requests are never faulted except at
// TokenFailureRate: the other faults are about Graph, and azidentity's own
// retries would hide them. The zero value injects nothing; set the fields
// before the first request and do not change them afterwards.
type Faults struct {
	Seed uint64
	// Rates is the probability of each fault per Graph request (list, get,
	// sessions, batch and each request inside a batch). Their sum should
	// stay below 1.
	Rates map[Fault]float64
	// TokenFailureRate is the probability that a token request fails.
	TokenFailureRate float64
	// RetryAfter is the delay the 429s announce; default 1s, whole seconds.
	RetryAfter time.Duration
	// StallFor is how long a stalled request waits before its real answer
	// (or until the client gives up); default 2s.
	StallFor time.Duration

	off      atomic.Bool
	mu       sync.Mutex
	rng      *rand.Rand
	injected map[Fault]int64
}

// SetEnabled turns injection on (the initial state) or off, safely while
// requests are served.
func (f *Faults) SetEnabled(on bool) { f.off.Store(!on) }

// Injected returns how many of each fault have been injected so far.
func (f *Faults) Injected() map[Fault]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[Fault]int64, len(f.injected))
	for k, v := range f.injected {
		out[k] = v
	}
	return out
}

// Total returns how many faults have been injected so far.
func (f *Faults) Total() int64 {
	var n int64
	for _, v := range f.Injected() {
		n += v
	}
	return n
}

// draw picks the fault for one request, or "" for none.
func (f *Faults) draw(op string) Fault {
	if f.off.Load() || op == "" || op == OpOpenID || op == OpDiscovery {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng == nil {
		f.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
		f.injected = map[Fault]int64{}
	}
	u := f.rng.Float64()
	picked := Fault("")
	if op == OpToken {
		if u < f.TokenFailureRate {
			picked = FaultToken
		}
	} else {
		sum := 0.0
		for _, k := range faultOrder {
			sum += f.Rates[k]
			if u < sum {
				picked = k
				break
			}
		}
	}
	if picked != "" {
		f.injected[picked]++
	}
	return picked
}

// Middleware returns the fault-injecting middleware to pass to Tenant.Use.
func (f *Faults) Middleware() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.serve(next, w, r)
		})
	}
}

func (f *Faults) serve(next http.Handler, w http.ResponseWriter, r *http.Request) {
	fault := f.draw(Operation(r))
	switch fault {
	case "":
		next.ServeHTTP(w, r)
	case FaultToken:
		entraError(w, http.StatusServiceUnavailable, "temporarily_unavailable", 90033,
			"A transient error has occurred. Please try again.")
	case Fault429Seconds, Fault429Date, Fault429Bare:
		f.throttle(w, r, fault)
	case Fault500:
		graphError(w, r, http.StatusInternalServerError, "generalException", "An unexpected error occurred.")
	case Fault502:
		graphError(w, r, http.StatusBadGateway, "BadGateway", "The gateway received an invalid response.")
	case Fault503:
		graphError(w, r, http.StatusServiceUnavailable, "serviceNotAvailable", "The service is temporarily unavailable.")
	case Fault504:
		graphError(w, r, http.StatusGatewayTimeout, "GatewayTimeout", "The gateway timed out.")
	case FaultReset:
		// net/http closes the connection without an answer; inside a
		// $batch this aborts the whole batch, as a reset would.
		panic(http.ErrAbortHandler)
	case FaultTruncate:
		truncate(next, w, r)
	case FaultStall:
		if !sleep(r.Context(), orDefault(f.StallFor, 2*time.Second)) {
			return // the client gave up
		}
		next.ServeHTTP(w, r)
	}
}

func (f *Faults) throttle(w http.ResponseWriter, r *http.Request, fault Fault) {
	after := orDefault(f.RetryAfter, time.Second)
	secs := int((after + time.Second - 1) / time.Second)
	switch fault {
	case Fault429Seconds:
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	case Fault429Date:
		// An HTTP date has whole seconds: one more keeps the wait at
		// least the configured delay after truncation.
		at := time.Now().Add(time.Duration(secs+1) * time.Second).UTC()
		w.Header().Set("Retry-After", at.Format(http.TimeFormat))
	}
	graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
}

// truncate serves the real answer with its status and headers but only
// the first half of its body, as a connection cut mid-body by a proxy that
// had already sent a chunked header would.
func truncate(next http.Handler, w http.ResponseWriter, r *http.Request) {
	rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, r)
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.status)
	body := rec.body.Bytes()
	_, _ = w.Write(body[:len(body)/2])
}

type bufferedWriter struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(code int) {
	if !b.wrote {
		b.status, b.wrote = code, true
	}
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.wrote = true
	return b.body.Write(p)
}

// sleep waits for d or until ctx is done, reporting whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}
