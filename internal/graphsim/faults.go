package graphsim

import (
	"bytes"
	"context"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"net/url"
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

	// Bodies that arrive whole with a 200 and still cannot be read. A body
	// without the field a wrong-type fault replaces is served unchanged.
	FaultMalformed     Fault = "malformed_json"       // 200, a syntax error in the middle of the body
	FaultWrongDuration Fault = "wrong_type_duration"  // 200, every averageJitter is "fast"
	FaultWrongNumber   Fault = "wrong_type_number"    // 200, every packetUtilization is the string "12"
	FaultWrongDate     Fault = "wrong_type_date"      // 200, every startDateTime is the number 5
	FaultNotArray      Fault = "collection_not_array" // 200, sessions (get) or value (pages) is an object
	// FaultNotFound answers 404 as Graph does for a record past retention
	// (meant for get and sessions requests; any request drawing it gets 404).
	FaultNotFound Fault = "404_not_found"
	// FaultRepeat serves a list page (one with $skiptoken) that starts with
	// the last record of the page before it again, as Graph's paging, which
	// is not a snapshot, may; other requests are served unchanged.
	FaultRepeat Fault = "repeat_listed_record"

	// Throttling as Graph has been seen to answer it: Retry-After as a
	// decimal ("2.128": RetryAfter's whole seconds minus one, plus .128, so
	// that rounded up it is RetryAfter), and an absurd one (a day).
	Fault429Decimal Fault = "429_retry_after_decimal"
	Fault429Absurd  Fault = "429_retry_after_a_day"
	// FaultClaims answers with a continuous-access-evaluation claims
	// challenge and revokes the request's token until a token request
	// carries the challenge's claims (see claims.go).
	FaultClaims Fault = "401_claims_challenge"
)

// faultOrder fixes the order of the cumulative draw, so that a seed always
// picks the same faults whatever the map iteration order.
var faultOrder = []Fault{
	Fault429Seconds, Fault429Date, Fault429Bare, Fault500, Fault502, Fault503, Fault504,
	FaultReset, FaultTruncate, FaultStall,
	FaultMalformed, FaultWrongDuration, FaultWrongNumber, FaultWrongDate, FaultNotArray,
	FaultNotFound, FaultRepeat,
	Fault429Decimal, Fault429Absurd, FaultClaims,
}

// Faults injects failures into a tenant's answers at configured rates, and
// on a schedule (Rules), as a Middleware for Tenant.Use. Each request draws
// once from a generator seeded with Seed, so a run with the same order of
// requests injects the same faults; a matching Rule overrides the draw. Token requests are never faulted except at
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
	// Rules inject faults into chosen requests, whatever the Rates.
	Rules []Rule

	off      atomic.Bool
	mu       sync.Mutex
	rng      *rand.Rand
	injected map[Fault]int64
	matched  []int                      // per rule, requests it matched
	lastRow  map[string]json.RawMessage // list $skiptoken -> last record of the page before
}

// Rule injects Fault into the requests it matches: a schedule for tests
// that need one exact failure ("the third sessions page of record X fails
// twice"). Every rule that matches a request counts it; the first rule due
// picks the fault.
type Rule struct {
	Fault Fault
	// Op is the operation to match (OpGet, OpSessions, OpList, OpBatch,
	// OpToken); "" matches every Graph operation. A get inside a $batch is
	// an OpGet.
	Op string
	// Record, if set, is the record id a get or sessions request must be for.
	Record string
	// Skip is how many matching requests pass before the first injection.
	Skip int
	// Times is how many injections the rule makes; 0 means no limit.
	Times int
}

func (u Rule) matches(op, record string) bool {
	switch {
	case u.Op == "" && op == OpToken, u.Op != "" && u.Op != op:
		return false
	}
	return u.Record == "" || u.Record == record
}

// due counts a matching request and reports whether the rule fires for it.
func (u Rule) due(seen int) bool {
	return seen > u.Skip && (u.Times == 0 || seen-u.Skip <= u.Times)
}

// RecordID returns the call record id a get or sessions request is for
// (also inside a $batch), or "".
func RecordID(r *http.Request) string {
	switch Operation(r) {
	case OpGet, OpSessions:
		return pathRecordID(r)
	}
	return ""
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

// draw picks the fault for one request, or "" for none. The rated draw
// is made even when a rule decides, so that adding a rule does not shift
// the seeded sequence of the other requests.
func (f *Faults) draw(op, record string) Fault {
	if f.off.Load() || op == "" || op == OpOpenID || op == OpDiscovery {
		return ""
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.rng == nil {
		f.rng = rand.New(rand.NewPCG(f.Seed, f.Seed^0x9e3779b97f4a7c15))
		f.injected = map[Fault]int64{}
		f.matched = make([]int, len(f.Rules))
	}
	picked := f.drawRated(op)
	ruled := Fault("")
	for i, rule := range f.Rules {
		if !rule.matches(op, record) {
			continue
		}
		f.matched[i]++
		if ruled == "" && rule.due(f.matched[i]) {
			ruled = rule.Fault
		}
	}
	if ruled != "" {
		picked = ruled
	}
	if picked == FaultRepeat && op != OpList {
		picked = "" // only a list page can repeat a record
	}
	if picked != "" {
		f.injected[picked]++
	}
	return picked
}

func (f *Faults) drawRated(op string) Fault {
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
	op := Operation(r)
	fault := f.draw(op, RecordID(r))
	if op == OpList && (fault == "" || fault == FaultRepeat) && f.repeats() {
		f.serveList(next, w, r, fault == FaultRepeat)
		return
	}
	switch fault {
	case "", FaultRepeat:
		next.ServeHTTP(w, r)
	case FaultToken:
		entraError(w, http.StatusServiceUnavailable, "temporarily_unavailable", 90033,
			"A transient error has occurred. Please try again.")
	case Fault429Seconds, Fault429Date, Fault429Bare, Fault429Decimal, Fault429Absurd:
		f.throttle(w, r, fault)
	case FaultClaims:
		r.Context().Value(tenantKey).(*Tenant).challengeToken(w, r)
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
	case FaultNotFound:
		recordNotFound(w, r)
	case FaultMalformed, FaultWrongDuration, FaultWrongNumber, FaultWrongDate, FaultNotArray:
		rewrite(next, w, r, func(body []byte) []byte { return spoil(fault, body) })
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
	case Fault429Decimal:
		w.Header().Set("Retry-After", strconv.Itoa(secs-1)+".128")
	case Fault429Absurd:
		w.Header().Set("Retry-After", "86400")
	}
	graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
}

// repeats reports whether FaultRepeat can be injected, so that list pages
// must be remembered.
func (f *Faults) repeats() bool {
	if f.Rates[FaultRepeat] > 0 {
		return true
	}
	for _, u := range f.Rules {
		if u.Fault == FaultRepeat {
			return true
		}
	}
	return false
}

// serveList serves a list page, remembering its last record under its
// next link's $skiptoken; with repeat, the page served for a $skiptoken
// starts with the record remembered for it.
func (f *Faults) serveList(next http.Handler, w http.ResponseWriter, r *http.Request, repeat bool) {
	tok := r.URL.Query().Get("$skiptoken")
	f.mu.Lock()
	prev, ok := f.lastRow[tok]
	delete(f.lastRow, tok)
	f.mu.Unlock()
	rewrite(next, w, r, func(body []byte) []byte {
		var page map[string]json.RawMessage
		var rows []json.RawMessage
		if json.Unmarshal(body, &page) != nil || json.Unmarshal(page["value"], &rows) != nil {
			return body
		}
		if link, err := url.Parse(jsonStr(page["@odata.nextLink"])); err == nil && len(rows) > 0 {
			if t := link.Query().Get("$skiptoken"); t != "" {
				f.mu.Lock()
				if f.lastRow == nil || len(f.lastRow) > 1000 { // abandoned listings
					f.lastRow = map[string]json.RawMessage{}
				}
				f.lastRow[t] = rows[len(rows)-1]
				f.mu.Unlock()
			}
		}
		if !repeat || !ok {
			return body
		}
		page["value"] = marshalArray(append([]json.RawMessage{prev}, rows...))
		return marshalObject(page)
	})
}

func jsonStr(raw json.RawMessage) string {
	var s string
	_ = json.Unmarshal(raw, &s)
	return s
}

// rewrite serves the real answer with its body changed by fn when the
// status is 2xx.
func rewrite(next http.Handler, w http.ResponseWriter, r *http.Request, fn func([]byte) []byte) {
	rec := &bufferedWriter{header: http.Header{}, status: http.StatusOK}
	next.ServeHTTP(rec, r)
	for k, v := range rec.header {
		w.Header()[k] = v
	}
	body := rec.body.Bytes()
	if rec.status/100 == 2 {
		body = fn(body)
	}
	w.Header().Del("Content-Length")
	w.WriteHeader(rec.status)
	_, _ = w.Write(body)
}

// spoil breaks a JSON body as fault says.
func spoil(fault Fault, body []byte) []byte {
	if fault == FaultMalformed {
		// A doubled comma between two members in the middle: the body
		// is complete and not JSON.
		at := structuralComma(body, len(body)/2)
		return append(append(append([]byte{}, body[:at]...), ',', '}', '{'), body[at:]...)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // keep numbers as they were
	var doc any
	if dec.Decode(&doc) != nil {
		return body
	}
	switch fault {
	case FaultWrongDuration:
		replaceAll(doc, "averageJitter", "fast")
	case FaultWrongNumber:
		replaceAll(doc, "packetUtilization", "12")
	case FaultWrongDate:
		replaceAll(doc, "startDateTime", 5)
	case FaultNotArray:
		if m, ok := doc.(map[string]any); ok {
			key := "value"
			if _, ok := m["sessions"]; ok {
				key = "sessions"
			}
			if _, ok := m[key]; ok {
				m[key] = map[string]any{"count": 1}
			}
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// structuralComma returns the index of the first comma at or after from
// that separates JSON values (not inside a string), or 1 when there is none
// (just after an opening brace, where a comma is as wrong).
func structuralComma(b []byte, from int) int {
	inString, escaped := false, false
	for i, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case !inString && c == ',' && i >= from:
			return i
		}
	}
	return min(1, len(b))
}

// replaceAll sets every property named key, at any depth, to v.
func replaceAll(doc any, key string, v any) {
	switch d := doc.(type) {
	case map[string]any:
		for k, sub := range d {
			if k == key {
				d[k] = v
				continue
			}
			replaceAll(sub, key, v)
		}
	case []any:
		for _, sub := range d {
			replaceAll(sub, key, v)
		}
	}
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
