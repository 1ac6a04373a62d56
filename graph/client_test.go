package graph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// staticToken stands in for Entra ID in these tests of the client's HTTP
// behaviour; the real azidentity flow is tested end to end against graphsim.
type staticToken string

func (s staticToken) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{Token: string(s), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type countingObserver struct {
	mu        sync.Mutex
	requests  map[string]int
	throttled int
	refused   map[Operation]int
}

func (o *countingObserver) ObserveRefusedBody(op Operation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refused == nil {
		o.refused = map[Operation]int{}
	}
	o.refused[op]++
}

func (o *countingObserver) ObserveRequest(op Operation, code string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.requests == nil {
		o.requests = map[string]int{}
	}
	o.requests[string(op)+" "+code]++
}

func (o *countingObserver) ObserveThrottled(Operation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.throttled++
}

func newTestClient(t testing.TB, srv *httptest.Server, mod func(*Config)) (*Client, *countingObserver) {
	t.Helper()
	obs := &countingObserver{}
	cfg := Config{
		BaseURL:     srv.URL,
		Credential:  staticToken("test-token"),
		HTTPClient:  srv.Client(),
		Observer:    obs,
		BackoffBase: time.Millisecond,
		BackoffMax:  5 * time.Millisecond,
		ListRate:    1000,
		TenantRate:  1000,
	}
	if mod != nil {
		mod(&cfg)
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c, obs
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGetCallRecordFollowsSessionsNextLink serves Microsoft's documented
// example, whose sessions@odata.nextLink fuses the $metadata context URL
// with the link (on graph.microsoft.com/beta, rewritten to the test
// server): the client must ask for the record's sessions on its own root
// and version, with $expand=segments and the skip token, not for $metadata.
func TestGetCallRecordFollowsSessionsNextLink(t *testing.T) {
	fixture := readFixture(t, "callrecord-expanded.json")
	const id = "e523d2ed-2966-4b6b-925b-754a88034cc5"
	var nextLinkHits, metadataHits atomic.Int32
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer test-token" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		if !strings.Contains(strings.Join(r.Header.Values("Prefer"), ","), "include-unknown-enum-members") {
			t.Errorf("request without Prefer: include-unknown-enum-members")
		}
		switch {
		case r.URL.Path == "/v1.0/communications/callRecords/"+id:
			if got := r.URL.Query().Get("$expand"); got != "sessions($expand=segments)" {
				t.Errorf("$expand = %q", got)
			}
			w.Write([]byte(strings.ReplaceAll(string(fixture), "https://graph.microsoft.com", srv.URL)))
		case r.URL.Path == "/v1.0/communications/callRecords/"+id+"/sessions":
			nextLinkHits.Add(1)
			if q := r.URL.Query(); q.Get("$expand") != "segments" || q.Get("$skiptoken") != "abc" {
				t.Errorf("sessions page asked with %q, want $expand=segments and the skip token", r.URL.RawQuery)
			}
			w.Write([]byte(`{"value":[]}`))
		case strings.HasSuffix(r.URL.Path, "/$metadata"):
			metadataHits.Add(1)
			http.NotFound(w, r)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, obs := newTestClient(t, srv, nil)

	rec, err := c.GetCallRecord(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if nextLinkHits.Load() != 1 || metadataHits.Load() != 0 {
		t.Errorf("sessions pages asked %d times (want 1), $metadata %d times (want 0)", nextLinkHits.Load(), metadataHits.Load())
	}
	if rec.SessionsNextLink != "" || len(rec.Sessions) != 1 || len(rec.Sessions[0].Segments) != 1 {
		t.Fatalf("record not complete: next=%q sessions=%d", rec.SessionsNextLink, len(rec.Sessions))
	}
	streams := rec.Sessions[0].Segments[0].Media[0].Streams
	if len(streams) != 2 || streams[0].AverageJitter.Value != 16*time.Millisecond || streams[0].AverageAudioDegradation.Valid {
		t.Errorf("streams decoded wrongly: %+v", streams)
	}
	if obs.requests["get 200"] != 1 || obs.requests["sessions 200"] != 1 {
		t.Errorf("requests observed: %v", obs.requests)
	}
}

func TestSessionsLink(t *testing.T) {
	c, _ := newTestClient(t, httptest.NewUnstartedServer(nil), func(c *Config) { c.BaseURL = "https://graph.example:8443" })
	const want = "https://graph.example:8443/v1.0/communications/callRecords/r1/sessions?$expand=segments&$skiptoken=t%2B1"
	tests := []struct {
		name, link, want string
	}{
		{"fused v1.0", "https://graph.example:8443/v1.0/$metadata#communications/callRecords('r1')/sessions?$expand=segments&$skiptoken=t%2B1", want},
		{"fused beta", "https://graph.example:8443/beta/$metadata#communications/callRecords('r1')/sessions?$expand=segments&$skiptoken=t%2B1", want},
		{"plain", "https://graph.example:8443/v1.0/communications/callRecords/r1/sessions?$expand=segments&$skiptoken=t%2B1", want},
		{"plain key syntax", "https://graph.example:8443/v1.0/communications/callRecords('r1')/sessions?$skiptoken=t%2B1", want},
		{"host case", "https://GRAPH.example:8443/v1.0/communications/callRecords/r1/sessions?$skiptoken=t%2B1", want},
		{"other host", "https://evil.example/v1.0/communications/callRecords/r1/sessions?$skiptoken=x", ""},
		{"other port", "https://graph.example:9443/v1.0/communications/callRecords/r1/sessions?$skiptoken=x", ""},
		{"plain http", "http://graph.example:8443/v1.0/communications/callRecords/r1/sessions?$skiptoken=x", ""},
		{"other record", "https://graph.example:8443/v1.0/communications/callRecords/r2/sessions?$skiptoken=x", ""},
		{"fused other record", "https://graph.example:8443/v1.0/$metadata#communications/callRecords('r2')/sessions?$skiptoken=x", ""},
		{"no skip token", "https://graph.example:8443/v1.0/communications/callRecords/r1/sessions?$expand=segments", ""},
		{"not sessions", "https://graph.example:8443/v1.0/communications/callRecords/r1?$skiptoken=x", ""},
		{"fragment not metadata", "https://graph.example:8443/v1.0/x#communications/callRecords('r1')/sessions?$skiptoken=x", ""},
	}
	for _, tt := range tests {
		got, err := c.sessionsLink("r1", tt.link)
		if tt.want == "" {
			if err == nil {
				t.Errorf("%s: %q followed as %q, want a refusal", tt.name, tt.link, got)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("%s: sessionsLink = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestNextLinkToAnotherHostIsRefused(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Write([]byte(`{"value":[{"id":"a","version":1}],"@odata.nextLink":"https://evil.example/steal"}`))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv, nil)
	_, err := c.ListCallRecords(context.Background(), time.Now().Add(-time.Hour), time.Now(), func(CallRecord) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not followed") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	if hits.Load() != 1 {
		t.Errorf("hits = %d", hits.Load())
	}
}

func TestListPagesAndFilter(t *testing.T) {
	from := time.Date(2026, 11, 22, 10, 0, 0, 500, time.UTC)
	to := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got, want := r.URL.Query().Get("$filter"), "startDateTime ge 2026-11-22T10:00:00Z and startDateTime lt 2026-11-22T12:00:00Z"; got != want {
			t.Errorf("$filter = %q, want %q", got, want)
		}
		if !strings.Contains(strings.Join(r.Header.Values("Prefer"), ","), "odata.maxpagesize=999") {
			t.Errorf("list without odata.maxpagesize")
		}
		if r.URL.Query().Get("$skiptoken") == "" {
			fmt.Fprintf(w, `{"value":[{"id":"a","version":1,"startDateTime":"2026-11-22T10:00:00Z"},{"id":"b","version":2,"startDateTime":"2026-11-22T11:00:00Z"}],"@odata.nextLink":"%s%s&$skiptoken=2"}`, srv.URL, r.URL.RequestURI())
			return
		}
		w.Write([]byte(`{"value":[{"id":"c","version":1,"startDateTime":"2026-11-22T11:59:59.999Z"}]}`))
	}))
	defer srv.Close()
	c, obs := newTestClient(t, srv, nil)
	var ids []string
	if _, err := c.ListCallRecords(context.Background(), from, to, func(r CallRecord) error {
		ids = append(ids, r.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "a,b,c" {
		t.Errorf("ids = %v", ids)
	}
	if obs.requests["list 200"] != 2 {
		t.Errorf("requests = %v", obs.requests)
	}
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		responses  []func(w http.ResponseWriter)
		wantErr    bool
		wantCalls  int
		throttled  int
		minElapsed time.Duration
	}{
		{
			name: "429 with Retry-After seconds",
			responses: []func(http.ResponseWriter){
				status(429, "Retry-After", "1"),
				ok(),
			},
			wantCalls: 2, throttled: 1, minElapsed: time.Second,
		},
		{
			name: "429 with Retry-After HTTP date",
			responses: []func(http.ResponseWriter){
				func(w http.ResponseWriter) {
					// An HTTP date has whole seconds: 3s ahead is at least 2s away.
					status(429, "Retry-After", time.Now().Add(3*time.Second).UTC().Format(http.TimeFormat))(w)
				},
				ok(),
			},
			wantCalls: 2, throttled: 1, minElapsed: time.Second,
		},
		{
			name:      "503 and 504 without Retry-After use back-off",
			responses: []func(http.ResponseWriter){status(503), status(504), status(500), status(502), ok()},
			wantCalls: 5,
		},
		{
			name:      "401 is retried once with a renewed token",
			responses: []func(http.ResponseWriter){status(401), ok()},
			wantCalls: 2,
		},
		{
			name:      "a second 401 is final",
			responses: []func(http.ResponseWriter){status(401), status(401), ok()},
			wantErr:   true, wantCalls: 2,
		},
		{
			name:      "retries are bounded",
			responses: []func(http.ResponseWriter){status(503), status(503), status(503), status(503), status(503), status(503), status(503)},
			wantErr:   true, wantCalls: 3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := int(calls.Add(1)) - 1
				tt.responses[min(n, len(tt.responses)-1)](w)
			}))
			defer srv.Close()
			c, obs := newTestClient(t, srv, func(c *Config) { c.MaxRetries = 2 + 2*boolInt(!tt.wantErr) })
			start := time.Now()
			_, err := c.GetCallRecord(context.Background(), "x")
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if int(calls.Load()) != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls.Load(), tt.wantCalls)
			}
			if obs.throttled != tt.throttled {
				t.Errorf("throttled = %d, want %d", obs.throttled, tt.throttled)
			}
			if el := time.Since(start); el < tt.minElapsed {
				t.Errorf("retried after %v, Retry-After asked for %v", el, tt.minElapsed)
			}
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func status(code int, header ...string) func(http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"error":{"code":"E%d","message":"status %d"}}`, code, code)
	}
}

func ok() func(http.ResponseWriter) {
	return func(w http.ResponseWriter) { w.Write([]byte(`{"id":"x","version":1}`)) }
}

func TestNotFoundIsErrNotFound(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { status(404)(w) }))
	defer srv.Close()
	c, _ := newTestClient(t, srv, nil)
	_, err := c.GetCallRecord(context.Background(), "gone")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	var gerr *Error
	if !errors.As(err, &gerr) || gerr.Code != "E404" {
		t.Errorf("err = %#v", err)
	}
}

func TestBodySizeLimit(t *testing.T) {
	big := `{"id":"x","version":1,"modalities":["` + strings.Repeat("a", 4096) + `"]}`
	tests := []struct {
		name     string
		chunked  bool
		declared bool
	}{
		{name: "declared length over the limit", declared: true},
		{name: "chunked body over the limit", chunked: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var written atomic.Int64
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tt.declared {
					w.Header().Set("Content-Length", fmt.Sprint(len(big)))
				}
				n, _ := io.WriteString(w, big)
				written.Add(int64(n))
			}))
			defer srv.Close()
			c, _ := newTestClient(t, srv, func(c *Config) { c.MaxBodyBytes = 1024 })
			_, err := c.GetCallRecord(context.Background(), "x")
			if !errors.Is(err, ErrBodyTooLarge) {
				t.Fatalf("err = %v, want ErrBodyTooLarge", err)
			}
		})
	}
}

func TestMalformedBodyIsAnErrorNotARetryStorm(t *testing.T) {
	for _, body := range []string{`{"id":"x",`, `{"id":"x","version":"one"}`, `not json`, `{"id":"x","sessions":[{"segments":[{"media":[{"streams":[{"averageJitter":5}]}]}]}]}`} {
		var calls atomic.Int32
		srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
			io.WriteString(w, body)
		}))
		c, _ := newTestClient(t, srv, nil)
		rec, err := c.GetCallRecord(context.Background(), "x")
		srv.Close()
		if err == nil {
			t.Errorf("body %q: got %+v, want an error", body, rec)
		}
		// A complete body that is wrong is the record's problem (ErrMalformed);
		// one cut short may be the network's, and is retried.
		if complete := !strings.HasSuffix(body, ","); complete != errors.Is(err, ErrMalformed) {
			t.Errorf("body %q: errors.Is(%v, ErrMalformed) = %v, want %v", body, err, !complete, complete)
		}
		if calls.Load() > 6 {
			t.Errorf("body %q: %d calls", body, calls.Load())
		}
	}
}

func TestBatchFetch(t *testing.T) {
	var batches, gets atomic.Int32
	var throttledOnce sync.Once
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1.0/$batch":
			batches.Add(1)
			var req batchRequest
			if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Requests) > 20 {
				http.Error(w, "bad batch", 400)
				return
			}
			var out []string
			for _, it := range req.Requests {
				id := strings.TrimPrefix(strings.SplitN(it.URL, "?", 2)[0], "/communications/callRecords/")
				switch {
				case id == "gone":
					out = append(out, fmt.Sprintf(`{"id":%q,"status":404,"body":{"error":{"code":"NotFound","message":"no"}}}`, it.ID))
				case id == "r7":
					throttled := false
					throttledOnce.Do(func() { throttled = true })
					if throttled {
						out = append(out, fmt.Sprintf(`{"id":%q,"status":429,"headers":{"retry-after":"0"},"body":{"error":{"code":"TooManyRequests"}}}`, it.ID))
						continue
					}
					fallthrough
				default:
					out = append(out, fmt.Sprintf(`{"id":%q,"status":200,"body":{"id":%q,"version":1,"sessions":[]}}`, it.ID, id))
				}
			}
			fmt.Fprintf(w, `{"responses":[%s]}`, strings.Join(out, ","))
		default:
			gets.Add(1)
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	c, obs := newTestClient(t, srv, nil)
	var ids []string
	for i := range 45 {
		ids = append(ids, fmt.Sprintf("r%d", i))
	}
	ids = append(ids, "gone")
	var mu sync.Mutex
	got := map[string]error{}
	c.GetCallRecords(context.Background(), ids, func(id string, rec *CallRecord, err error) {
		mu.Lock()
		defer mu.Unlock()
		if _, dup := got[id]; dup {
			t.Errorf("id %s reported twice", id)
		}
		if err == nil && rec.ID != id {
			t.Errorf("id %s got record %s", id, rec.ID)
		}
		got[id] = err
	})
	if len(got) != len(ids) {
		t.Fatalf("got %d results, want %d", len(got), len(ids))
	}
	for _, id := range ids {
		if err := got[id]; (err != nil) != (id == "gone") {
			t.Errorf("id %s: err %v", id, err)
		}
	}
	if !errors.Is(got["gone"], ErrNotFound) {
		t.Errorf("gone: %v", got["gone"])
	}
	if batches.Load() != 4 || gets.Load() != 0 { // ceil(46/20) + one retry for r7
		t.Errorf("batches = %d, single gets = %d", batches.Load(), gets.Load())
	}
	if obs.throttled != 1 || obs.requests["get 200"] != 45 || obs.requests["get 404"] != 1 || obs.requests["batch 200"] != 4 {
		t.Errorf("observed %v throttled %d", obs.requests, obs.throttled)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		capped bool
		ok     bool
	}{
		{"3", 3 * time.Second, false, true},
		{"0", 0, false, true},
		{"2.128", 3 * time.Second, false, true}, // a decimal, as Graph sends: rounded up
		{"0.001", time.Second, false, true},
		{" 7 ", 7 * time.Second, false, true},
		{"600", maxRetryAfter, false, true},
		{"601", maxRetryAfter, true, true},
		{"86400", maxRetryAfter, true, true}, // a day
		{"99999999999999999999", maxRetryAfter, true, true},
		{"1e300", 0, false, false},
		{"Inf", 0, false, false},
		{"NaN", 0, false, false},
		{"0x10", 0, false, false},
		{"-1", 0, false, false},
		{".5", 0, false, false},
		{"1.2.3", 0, false, false},
		{"", 0, false, false},
		{"soon", 0, false, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, false, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, false, true},
		{now.Add(24 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now, maxRetryAfter)
		if got.wait != tt.want || got.capped != tt.capped || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %+v, %v; want %v capped %v, %v", tt.in, got, ok, tt.want, tt.capped, tt.ok)
		}
	}
}

// An unreadable $batch envelope is Graph (or a proxy) failing for all of its
// records alike, not a problem of each record: it must not be ErrMalformed.
func TestUnreadableBatchIsNotMalformedRecords(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		io.WriteString(w, "<html>proxy error</html>")
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv, func(c *Config) { c.MaxRetries = 0 })
	ids := []string{"a", "b", "c"}
	var errs []error
	c.GetCallRecords(context.Background(), ids, func(id string, _ *CallRecord, err error) { errs = append(errs, err) })
	if len(errs) != len(ids) {
		t.Fatalf("%d answers for %d ids", len(errs), len(ids))
	}
	for _, err := range errs {
		if err == nil || errors.Is(err, ErrMalformed) {
			t.Errorf("err = %v, want a failure that is not ErrMalformed", err)
		}
	}
}

// renewingToken hands out a new token whenever it is asked with claims, as
// azidentity does past its cache, and the cached one otherwise.
type renewingToken struct {
	mu      sync.Mutex
	current int
	claims  []string
}

func (r *renewingToken) GetToken(_ context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if opts.Claims != "" {
		r.claims = append(r.claims, opts.Claims)
		r.current++
	}
	return azcore.AccessToken{Token: fmt.Sprintf("token-%d", r.current), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// A 401 makes the client ask the credential for a token past its cache
// (a claims request) and retry with that new token, once.
func TestUnauthorizedRenewsTheToken(t *testing.T) {
	var seen []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") == "Bearer token-0" {
			status(401)(w)
			return
		}
		io.WriteString(w, `{"id":"x","version":1,"sessions":[]}`)
	}))
	defer srv.Close()
	cred := &renewingToken{}
	c, _ := newTestClient(t, srv, func(c *Config) { c.Credential = cred })
	if _, err := c.GetCallRecord(context.Background(), "x"); err != nil {
		t.Fatal(err)
	}
	if want := []string{"Bearer token-0", "Bearer token-1"}; !slices.Equal(seen, want) {
		t.Errorf("Authorization headers %q, want %q", seen, want)
	}
	if len(cred.claims) != 1 || !strings.Contains(cred.claims[0], `"nbf"`) {
		t.Errorf("claims requests %q, want one asking for a token issued from now on", cred.claims)
	}
}
