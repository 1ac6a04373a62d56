package graph_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtest"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// The tests in this file run the real client, with a real azidentity
// credential, over TLS against the simulated tenant, each with the
// simulator mode that plays one of Graph's documented behaviours.

const (
	simTenant = "7f1e5b1c-3a2d-4c6e-9f00-5e0b7c1d2a3b"
	simClient = "0b6c2d4e-8f1a-4b3c-9d5e-6f7a8b9c0d1e"
	simSecret = "sim-secret"
)

// simObserver records what the client reports, as the exporter's metrics do.
type simObserver struct {
	mu        sync.Mutex
	requests  map[string]int
	throttled int
	pages     []int
}

func (o *simObserver) ObserveRequest(op graph.Operation, code string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.requests == nil {
		o.requests = map[string]int{}
	}
	o.requests[string(op)+" "+code]++
}

func (o *simObserver) ObserveThrottled(graph.Operation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.throttled++
}

func (o *simObserver) ObserveListPage(n int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.pages = append(o.pages, n)
}

func (o *simObserver) count(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[key]
}

type simRig struct {
	tenant *graphsim.Tenant
	srv    *simtest.Server
	client *graph.Client
	obs    *simObserver
	logs   *testrun.Output
	roots  *x509.CertPool // trusted by the client: the tenant's certificate, and any added
}

// startSim serves tenant over TLS and returns a client of it with a real
// client-secret credential; tune adjusts the client's configuration.
func startSim(t *testing.T, opts graphsim.Options, tune func(*graph.Config)) *simRig {
	t.Helper()
	opts.TenantID, opts.ClientID, opts.ClientSecret = simTenant, simClient, simSecret
	sim := simtest.Start(t, opts)
	tenant, roots := sim.Tenant, sim.Sim.CertPool
	rig := &simRig{tenant: tenant, srv: sim, obs: &simObserver{}, logs: &testrun.Output{}, roots: roots}
	cfg := graph.Config{
		BaseURL: sim.URL, Credential: sim.Credential, HTTPClient: sim.HTTPClient, Observer: rig.obs,
		Logger:   slog.New(slog.NewTextHandler(rig.logs, nil)),
		ListRate: 1000, TenantRate: 10000, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	var err error
	if rig.client, err = graph.New(cfg); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("client logs:\n%s", rig.logs.String())
		}
	})
	return rig
}

var simStart = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)

func simRecords(t *testing.T, n int) []graphsim.Record {
	t.Helper()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 11, Count: n, Start: simStart, End: simStart.Add(time.Hour)})
	return recs
}

// manySessions makes a record of n sessions (copies of its first), so
// that Graph pages them.
func manySessions(r graphsim.Record, n int) graphsim.Record {
	for len(r.Sessions) == 0 {
		panic("record without sessions")
	}
	base := r.Sessions[0]
	r.Sessions = nil
	for i := range n {
		s := base
		s.ID = fmt.Sprintf("%s-s%04d", r.ID, i)
		r.Sessions = append(r.Sessions, s)
	}
	return r
}

func withSessions(t *testing.T, recs []graphsim.Record) int {
	t.Helper()
	for i, r := range recs {
		if len(r.Sessions) > 0 {
			return i
		}
	}
	t.Fatal("no generated record has sessions")
	return -1
}

func fetchAll(t *testing.T, c *graph.Client, ids []string) (map[string]*graph.CallRecord, map[string]error) {
	t.Helper()
	var mu sync.Mutex
	got, errs := map[string]*graph.CallRecord{}, map[string]error{}
	c.GetCallRecords(context.Background(), ids, func(id string, rec *graph.CallRecord, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs[id] = err
			return
		}
		got[id] = rec
	})
	return got, errs
}

// Sessions are paged with a sessions@odata.nextLink in the form Microsoft's
// examples show (fused with the $metadata context URL) and in the plain
// form: either way every session arrives, and the client never asks for
// $metadata (graphsim serves it as XML, which a naive client would choke on).
func TestSimSessionsNextLinkForms(t *testing.T) {
	for _, fused := range []bool{true, false} {
		t.Run(fmt.Sprintf("fused=%v", fused), func(t *testing.T) {
			rig := startSim(t, graphsim.Options{FusedSessionsLinks: fused}, nil)
			recs := simRecords(t, 5)
			i := withSessions(t, recs)
			recs[i] = manySessions(recs[i], 150) // three pages of 60
			rig.tenant.Add(recs...)
			rec, err := rig.client.GetCallRecord(context.Background(), recs[i].ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(rec.Sessions) != 150 {
				t.Errorf("direct get: %d sessions, want 150", len(rec.Sessions))
			}
			got, errs := fetchAll(t, rig.client, []string{recs[0].ID, recs[1].ID, recs[i].ID, recs[3].ID})
			if len(errs) > 0 || len(got[recs[i].ID].Sessions) != 150 {
				t.Errorf("batched get: errors %v, %d sessions", errs, len(got[recs[i].ID].Sessions))
			}
			st := rig.tenant.Requests()
			if st.Other != 0 || st.Sessions < 4 {
				t.Errorf("requests %+v: want at least 4 sessions pages and nothing else (no $metadata)", st)
			}
		})
	}
}

// recordingServer counts every connection made to it and every bearer
// token sent to it.
type recordingServer struct {
	*httptest.Server
	conns, tokens atomic.Int32
}

func newRecordingServer(t *testing.T, useTLS bool) *recordingServer {
	t.Helper()
	rs := &recordingServer{}
	rs.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			rs.tokens.Add(1)
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"value":[]}`)
	}))
	rs.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			rs.conns.Add(1)
		}
	}
	if useTLS {
		rs.StartTLS()
	} else {
		rs.Start()
	}
	t.Cleanup(rs.Close)
	return rs
}

// A next link to another origin (another host or port, plain http) is
// refused: no connection is made to it, so no token can go there. The
// other server is trusted by the client's TLS configuration, so nothing
// but the client's own check stops it.
func TestSimNextLinkToAnotherOriginIsRefused(t *testing.T) {
	for _, tc := range []struct{ name, op string }{
		{"list next link", graphsim.OpList},
		{"fused sessions next link", graphsim.OpGet},
		{"plain sessions next link", graphsim.OpGet},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, useTLS := range []bool{true, false} {
				rig := startSim(t, graphsim.Options{MaxPageSize: 2, FusedSessionsLinks: strings.HasPrefix(tc.name, "fused")}, nil)
				evil := newRecordingServer(t, useTLS)
				if useTLS {
					rig.roots.AddCert(evil.Certificate())
				}
				recs := simRecords(t, 5)
				i := withSessions(t, recs)
				recs[i] = manySessions(recs[i], 70)
				rig.tenant.Add(recs...)
				rig.tenant.Use(graphsim.Rewrite(tc.op, func(_ *http.Request, b []byte) []byte {
					return bytes.ReplaceAll(b, []byte(rig.srv.URL), []byte(evil.URL))
				}))
				var err error
				if tc.op == graphsim.OpList {
					_, err = rig.client.ListCallRecords(context.Background(), simStart.Add(-time.Hour), simStart.Add(2*time.Hour), func(graph.CallRecord) error { return nil })
				} else {
					_, err = rig.client.GetCallRecord(context.Background(), recs[i].ID)
					if !errors.Is(err, graph.ErrMalformed) {
						t.Errorf("sessions link elsewhere: err %v, want ErrMalformed (the record's answer is unusable)", err)
					}
				}
				if err == nil || !strings.Contains(err.Error(), "not followed") {
					t.Errorf("err = %v, want a refusal", err)
				}
				if evil.conns.Load() != 0 || evil.tokens.Load() != 0 {
					t.Errorf("other origin (tls=%v) got %d connections, %d tokens", useTLS, evil.conns.Load(), evil.tokens.Load())
				}
			}
		})
	}
}

// Graph does not redirect these calls, and the client follows no redirect:
// a redirect from https to plain http on the same host reaches nothing,
// and no token leaves.
func TestSimRedirectIsNotFollowed(t *testing.T) {
	rig := startSim(t, graphsim.Options{}, func(c *graph.Config) { c.MaxRetries = 1 })
	plain := newRecordingServer(t, false)
	recs := simRecords(t, 3)
	rig.tenant.Add(recs...)
	rig.tenant.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if op := graphsim.Operation(r); op == graphsim.OpGet || op == graphsim.OpList {
				http.Redirect(w, r, plain.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	_, err := rig.client.GetCallRecord(context.Background(), recs[0].ID)
	var gerr *graph.Error
	if !errors.As(err, &gerr) || gerr.Status != http.StatusTemporaryRedirect {
		t.Errorf("get: err %v, want the 307 as the answer", err)
	}
	_, err = rig.client.ListCallRecords(context.Background(), simStart, simStart.Add(time.Hour), func(graph.CallRecord) error { return nil })
	if err == nil {
		t.Error("list: a redirect was taken for an answer")
	}
	if plain.conns.Load() != 0 || plain.tokens.Load() != 0 {
		t.Errorf("redirect target got %d connections, %d tokens", plain.conns.Load(), plain.tokens.Load())
	}
	if rig.obs.count("get 307") == 0 {
		t.Errorf("observed %v, want the 307 counted", rig.obs.requests)
	}
}

// Retry-After as Graph sends it: a decimal is rounded up and honoured, an
// absurd one (a day) is capped and logged; a request with each still
// succeeds.
func TestSimRetryAfterForms(t *testing.T) {
	tests := []struct {
		fault   graphsim.Fault
		minWait time.Duration
		log     string
	}{
		{graphsim.Fault429Decimal, 2 * time.Second, `retry_after=2s`}, // "1.128" rounded up
		{graphsim.Fault429Absurd, 300 * time.Millisecond, `retry_after=24h0m0s cap=300ms`},
		{graphsim.Fault429Date, time.Second, `msg="Graph asked to wait"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.fault), func(t *testing.T) {
			rig := startSim(t, graphsim.Options{}, nil)
			if tt.fault == graphsim.Fault429Absurd {
				graph.SetRetryAfterCap(rig.client, 300*time.Millisecond)
			}
			recs := simRecords(t, 3)
			rig.tenant.Add(recs...)
			faults := &graphsim.Faults{RetryAfter: 2 * time.Second, Rules: []graphsim.Rule{{Fault: tt.fault, Op: graphsim.OpList, Times: 1}}}
			rig.tenant.Use(faults.Middleware())
			start := time.Now()
			n := 0
			st, err := rig.client.ListCallRecords(context.Background(), simStart, simStart.Add(time.Hour), func(graph.CallRecord) error { n++; return nil })
			if err != nil {
				t.Fatal(err)
			}
			// The call tells what it cost: the 429 and the retry, one page.
			if want := (graph.CallStats{Requests: 2, Pages: 1, Throttled: 1}); st != want {
				t.Errorf("call stats %+v, want %+v", st, want)
			}
			if elapsed := time.Since(start); elapsed < tt.minWait || n != 3 {
				t.Errorf("listed %d records after %v; want 3 after at least %v", n, elapsed, tt.minWait)
			}
			if !strings.Contains(rig.logs.String(), tt.log) {
				t.Errorf("logs lack %q:\n%s", tt.log, rig.logs.String())
			}
			if rig.obs.throttled != 1 {
				t.Errorf("throttled %d, want 1", rig.obs.throttled)
			}
		})
	}
}

// Inside a $batch (always 200 outside) one item is throttled with its own
// decimal Retry-After and another fails with 503: only those two are sent
// again, after the item's Retry-After, and every record arrives.
func TestSimBatchItemThrottledAndUnavailable(t *testing.T) {
	rig := startSim(t, graphsim.Options{}, nil)
	recs := simRecords(t, 20)
	rig.tenant.Add(recs...)
	faults := &graphsim.Faults{RetryAfter: 2 * time.Second, Rules: []graphsim.Rule{
		{Fault: graphsim.Fault429Decimal, Op: graphsim.OpGet, Record: recs[3].ID, Times: 1},
		{Fault: graphsim.Fault503, Op: graphsim.OpGet, Record: recs[11].ID, Times: 1},
	}}
	rig.tenant.Use(faults.Middleware())
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	start := time.Now()
	got, errs := fetchAll(t, rig.client, ids)
	if len(got) != 20 || len(errs) != 0 {
		t.Fatalf("got %d records, errors %v", len(got), errs)
	}
	if elapsed := time.Since(start); elapsed < 2*time.Second {
		t.Errorf("items retried after %v; the throttled item asked for 1.128s, 2s rounded up", elapsed)
	}
	st := rig.tenant.Requests()
	if st.Batch != 2 || st.BatchItems != 22 {
		t.Errorf("requests %+v: want 2 batches, the second with the 2 failed items only", st)
	}
	if rig.obs.count("get 429") != 1 || rig.obs.count("get 503") != 1 || rig.obs.throttled != 1 {
		t.Errorf("observed %v, throttled %d", rig.obs.requests, rig.obs.throttled)
	}
}

// Continuous access evaluation: Graph answers a request (direct, or an
// item inside a $batch) with a claims challenge and revokes the token. The
// client asks azidentity for a token with exactly those claims, which the
// simulated Entra checks, and retries once; the request then succeeds.
func TestSimClaimsChallenge(t *testing.T) {
	for _, op := range []string{graphsim.OpList, graphsim.OpGet} {
		t.Run(op, func(t *testing.T) {
			rig := startSim(t, graphsim.Options{}, nil)
			recs := simRecords(t, 20)
			rig.tenant.Add(recs...)
			var tokenClaims []string
			var mu sync.Mutex
			rig.tenant.Use(func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if graphsim.Operation(r) == graphsim.OpToken {
						body, _ := io.ReadAll(r.Body)
						r.Body = io.NopCloser(bytes.NewReader(body))
						form, _ := url.ParseQuery(string(body))
						mu.Lock()
						tokenClaims = append(tokenClaims, form.Get("claims"))
						mu.Unlock()
					}
					next.ServeHTTP(w, r)
				})
			})
			faults := &graphsim.Faults{Rules: []graphsim.Rule{{Fault: graphsim.FaultClaims, Op: op, Skip: 1, Times: 1}}}
			rig.tenant.Use(faults.Middleware())
			ids := make([]string, len(recs))
			for i, r := range recs {
				ids[i] = r.ID
			}
			if op == graphsim.OpList {
				n := 0
				_, err := rig.client.ListCallRecords(context.Background(), simStart, simStart.Add(time.Hour), func(graph.CallRecord) error { n++; return nil })
				if err != nil || n != 20 {
					t.Fatalf("listed %d, err %v", n, err)
				}
				// The first list request draws nothing (Skip 1): list once more.
				n = 0
				if _, err := rig.client.ListCallRecords(context.Background(), simStart, simStart.Add(time.Hour), func(graph.CallRecord) error { n++; return nil }); err != nil || n != 20 {
					t.Fatalf("listed %d, err %v", n, err)
				}
				if st := rig.tenant.Requests(); st.List != 3 {
					t.Errorf("list requests %d, want 3 (one retried once)", st.List)
				}
			} else {
				got, errs := fetchAll(t, rig.client, ids)
				if len(got) != 20 || len(errs) != 0 {
					t.Fatalf("got %d records, errors %v", len(got), errs)
				}
			}
			if c := rig.tenant.Claims(); c.Issued != 1 || c.Answered != 1 || c.Unmatched != 0 {
				t.Errorf("claims challenges %+v, want 1 issued and answered with exactly its claims", c)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(tokenClaims) != 2 {
				t.Fatalf("token requests with claims %q, want 2 (the first token, the challenge's)", tokenClaims)
			}
			for _, c := range tokenClaims {
				if !strings.Contains(strings.ToLower(c), `"xms_cc":{"values":["cp1"]}`) {
					t.Errorf("token request claims %q do not announce the CP1 capability", c)
				}
			}
			if !strings.Contains(tokenClaims[1], `"nbf":{"essential":true`) {
				t.Errorf("second token request claims %q, want the challenge's", tokenClaims[1])
			}
		})
	}
}

// Graph may cap list pages at 60 whatever Prefer: odata.maxpagesize asks:
// every record is still listed, once, and the client reports the size of
// the full pages Graph really gave.
func TestSimListPagesCappedAt60(t *testing.T) {
	rig := startSim(t, graphsim.Options{MaxPageSize: 60}, nil)
	recs := simRecords(t, 150)
	rig.tenant.Add(recs...)
	seen := map[string]int{}
	call, err := rig.client.ListCallRecords(context.Background(), simStart, simStart.Add(time.Hour), func(r graph.CallRecord) error {
		seen[r.ID]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 150 {
		t.Errorf("listed %d distinct records, want 150", len(seen))
	}
	if st := rig.tenant.Requests(); st.List != 3 {
		t.Errorf("list requests %d, want 3 pages of at most 60", st.List)
	}
	if want := (graph.CallStats{Requests: 3, Pages: 3}); call != want {
		t.Errorf("the call says it cost %+v, want %+v", call, want)
	}
	if fmt.Sprint(rig.obs.pages) != "[60 60]" {
		t.Errorf("full pages reported %v, want [60 60] (the last page, 30, is not full)", rig.obs.pages)
	}
}

// Lists ask only for what the poller needs ($select), which graphsim
// honours as Graph does: organizer and participant identities never
// arrive.
func TestSimListSelect(t *testing.T) {
	rig := startSim(t, graphsim.Options{}, nil)
	rig.tenant.Add(simRecords(t, 10)...)
	var bodies [][]byte
	var selects []string
	var mu sync.Mutex
	rig.tenant.Use(graphsim.Rewrite(graphsim.OpList, func(r *http.Request, b []byte) []byte {
		mu.Lock()
		defer mu.Unlock()
		bodies = append(bodies, bytes.Clone(b))
		selects = append(selects, r.URL.Query().Get("$select"))
		return b
	}))
	var listed []graph.CallRecord
	if _, err := rig.client.ListCallRecords(context.Background(), simStart, simStart.Add(time.Hour), func(r graph.CallRecord) error {
		listed = append(listed, r)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != 10 || listed[0].LastModifiedDateTime.IsZero() || listed[0].StartDateTime.IsZero() || listed[0].Version == 0 {
		t.Errorf("listed %d records, first %+v", len(listed), listed[0])
	}
	if len(selects) == 0 || selects[0] != "id,version,type,startDateTime,endDateTime,lastModifiedDateTime" {
		t.Errorf("$select = %q", selects)
	}
	var page struct{ Value []map[string]json.RawMessage }
	if err := json.Unmarshal(bodies[0], &page); err != nil {
		t.Fatal(err)
	}
	for _, r := range page.Value {
		for k := range r {
			switch k {
			case "id", "version", "type", "startDateTime", "endDateTime", "lastModifiedDateTime":
			default:
				t.Errorf("listed record carries %q", k)
			}
		}
	}
}

// A crafted $batch item status becomes the code label "other", not a new
// series per number.
func TestSimBatchItemStatusClamped(t *testing.T) {
	rig := startSim(t, graphsim.Options{}, nil)
	recs := simRecords(t, 6)
	rig.tenant.Add(recs...)
	rig.tenant.Use(graphsim.Rewrite(graphsim.OpBatch, func(_ *http.Request, b []byte) []byte {
		var env struct {
			Responses []map[string]any `json:"responses"`
		}
		json.Unmarshal(b, &env)
		for i, item := range env.Responses {
			item["status"] = []int{999, 42, -1, 1 << 40, 600, 99}[i%6]
		}
		out, _ := json.Marshal(env)
		return out
	}))
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	_, errs := fetchAll(t, rig.client, ids)
	if len(errs) != 6 {
		t.Errorf("%d errors, want 6", len(errs))
	}
	for key, n := range rig.obs.requests {
		if op, code, _ := strings.Cut(key, " "); op == "get" && code != "other" {
			t.Errorf("code label %q (%d times), want only \"other\"", code, n)
		}
	}
	if rig.obs.count("get other") != 6 {
		t.Errorf("observed %v", rig.obs.requests)
	}
}

// A body for another record than the one asked for (direct or batched) is
// malformed: it would otherwise be ingested under the wrong id.
func TestSimAnswerForAnotherRecord(t *testing.T) {
	for _, batch := range []int{1, 20} {
		t.Run(fmt.Sprintf("batch=%d", batch), func(t *testing.T) {
			rig := startSim(t, graphsim.Options{}, func(c *graph.Config) { c.BatchSize = batch })
			recs := simRecords(t, 3)
			rig.tenant.Add(recs...)
			rig.tenant.Use(graphsim.Rewrite(graphsim.OpGet, func(r *http.Request, b []byte) []byte {
				if graphsim.RecordID(r) == recs[1].ID {
					return bytes.ReplaceAll(b, []byte(`"id":"`+recs[1].ID+`"`), []byte(`"id":"`+recs[2].ID+`"`))
				}
				return b
			}))
			got, errs := fetchAll(t, rig.client, []string{recs[0].ID, recs[1].ID, recs[2].ID})
			if len(got) != 2 || !errors.Is(errs[recs[1].ID], graph.ErrMalformed) {
				t.Errorf("got %d records, errors %v; want the substituted one malformed", len(got), errs)
			}
		})
	}
}

// Values outside their plausible range are dropped (not observed) and
// counted; the rest of the record stays.
func TestSimImplausibleValues(t *testing.T) {
	rig := startSim(t, graphsim.Options{}, nil)
	recs := simRecords(t, 20)
	i := withSessions(t, recs)
	rig.tenant.Add(recs...)
	rig.tenant.Use(graphsim.Rewrite(graphsim.OpGet, func(r *http.Request, b []byte) []byte {
		if graphsim.RecordID(r) != recs[i].ID {
			return b
		}
		b = bytes.Replace(b, []byte(`"averagePacketLossRate":`), []byte(`"averagePacketLossRate":1e300,"x":`), 1)
		b = bytes.Replace(b, []byte(`"averageRoundTripTime":`), []byte(`"averageRoundTripTime":"P400D","y":`), 1)
		return b
	}))
	rec, err := rig.client.GetCallRecord(context.Background(), recs[i].ID)
	if err != nil {
		t.Fatal(err)
	}
	if rec.ImplausibleValues != 2 {
		t.Errorf("implausible values %d, want 2", rec.ImplausibleValues)
	}
	for _, s := range rec.Sessions {
		for _, g := range s.Segments {
			for _, m := range g.Media {
				for _, st := range m.Streams {
					if st.AveragePacketLossRate.Valid && st.AveragePacketLossRate.Value > 1 || st.AverageRoundTripTime.Valid && st.AverageRoundTripTime.Value > 24*time.Hour {
						t.Errorf("implausible value kept: %+v", st)
					}
				}
			}
		}
	}
}

// One record whose answer alone exceeds the body limit makes its $batch
// answer too large: the batch is split and retried, down to that record
// alone, so the 19 others arrive and only the large one fails.
func TestSimBatchTooLargeIsSplit(t *testing.T) {
	rig := startSim(t, graphsim.Options{}, func(c *graph.Config) { c.MaxBodyBytes = 2 << 20 })
	recs := simRecords(t, 20)
	rig.tenant.Add(recs...)
	big := recs[13].ID
	padding := []byte(`{"padding":"` + strings.Repeat("x", 5<<19) + `",`)
	rig.tenant.Use(graphsim.Rewrite(graphsim.OpGet, func(r *http.Request, b []byte) []byte {
		if graphsim.RecordID(r) == big {
			return append(append([]byte{}, padding...), b[1:]...)
		}
		return b
	}))
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	got, errs := fetchAll(t, rig.client, ids)
	if len(got) != 19 || len(errs) != 1 || !errors.Is(errs[big], graph.ErrBodyTooLarge) {
		t.Fatalf("got %d records, errors %v; want 19 and the large one too large", len(got), errs)
	}
	if st := rig.tenant.Requests(); st.Batch > 12 {
		t.Errorf("requests %+v: the split should take about 2 log2(20) batches", st)
	}
}

// A listing that answers with records outside the start-time window asked
// for (a crafted or broken answer: before it, at its end, far in the future,
// or without a start) passes only the records inside it, and says so once
// in the log: the poller places records by their listed start, and one
// outside its window would be pruned, listed again and counted twice.
func TestSimListOutsideWindowDropped(t *testing.T) {
	rig := startSim(t, graphsim.Options{}, nil)
	recs := simRecords(t, 5)
	rig.tenant.Add(recs...)
	from, to := simStart, simStart.Add(time.Hour)
	strays := []string{
		`{"id":"00000000-0000-0000-0000-0000000000a1","version":1,"type":"peerToPeer","startDateTime":"` + from.Add(-time.Second).Format(time.RFC3339) + `"}`,
		`{"id":"00000000-0000-0000-0000-0000000000a2","version":1,"type":"peerToPeer","startDateTime":"` + to.Format(time.RFC3339) + `"}`,
		`{"id":"00000000-0000-0000-0000-0000000000a3","version":1,"type":"peerToPeer","startDateTime":"9999-12-31T23:59:59Z"}`,
		`{"id":"00000000-0000-0000-0000-0000000000a4","version":1,"type":"peerToPeer"}`,
	}
	rig.tenant.Use(graphsim.Rewrite(graphsim.OpList, func(_ *http.Request, b []byte) []byte {
		i := bytes.Index(b, []byte(`"value":[`))
		if i < 0 {
			t.Errorf("no value array in the list answer: %s", b)
			return b
		}
		i += len(`"value":[`)
		return append(append(bytes.Clone(b[:i]), []byte(strings.Join(strays, ",")+",")...), b[i:]...)
	}))
	var listed []string
	if _, err := rig.client.ListCallRecords(context.Background(), from, to, func(r graph.CallRecord) error {
		listed = append(listed, r.ID)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(listed) != len(recs) {
		t.Errorf("listed %d records %v, want the %d inside the window", len(listed), listed, len(recs))
	}
	for _, id := range listed {
		if strings.HasPrefix(id, "00000000-0000-0000-0000-0000000000a") {
			t.Errorf("record %s outside the window was passed on", id)
		}
	}
	if logs := rig.logs.String(); strings.Count(logs, "outside the requested start-time window") != 1 || !strings.Contains(logs, "records=4") {
		t.Errorf("want one log line counting 4 records outside the window:\n%s", logs)
	}
}
