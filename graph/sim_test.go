package graph_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/graphsim"
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

// syncBuffer is a log destination safe for the client's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type simRig struct {
	tenant *graphsim.Tenant
	srv    *graphsim.Server
	client *graph.Client
	obs    *simObserver
	logs   *syncBuffer
	roots  *x509.CertPool // trusted by the client: the tenant's certificate, and any added
}

// startSim serves tenant over TLS and returns a client of it with a real
// client-secret credential; tune adjusts the client's configuration.
func startSim(t *testing.T, opts graphsim.Options, tune func(*graph.Config)) *simRig {
	t.Helper()
	opts.TenantID, opts.ClientID, opts.ClientSecret = simTenant, simClient, simSecret
	tenant := graphsim.New(opts)
	srv, err := graphsim.NewTLSServer(tenant.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(srv.CertPEM)
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	cred, err := azidentity.NewClientSecretCredential(simTenant, simClient, simSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL + "/"}, Transport: httpClient},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	rig := &simRig{tenant: tenant, srv: srv, obs: &simObserver{}, logs: &syncBuffer{}, roots: roots}
	cfg := graph.Config{
		BaseURL: srv.URL, Credential: cred, HTTPClient: httpClient, Observer: rig.obs,
		Logger:   slog.New(slog.NewTextHandler(rig.logs, nil)),
		ListRate: 1000, TenantRate: 10000, BackoffBase: time.Millisecond, BackoffMax: 10 * time.Millisecond,
	}
	if tune != nil {
		tune(&cfg)
	}
	rig.client, err = graph.New(cfg)
	if err != nil {
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
	recs, _ := graphsim.Generate(graphsim.GenOptions{Seed: 11, Count: n, Start: simStart, End: simStart.Add(time.Hour)})
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

// rewriteBody passes the tenant's answer to operation op through fn.
func rewriteBody(op string, fn func(r *http.Request, body []byte) []byte) graphsim.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if graphsim.Operation(r) != op {
				next.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			next.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(fn(r, rec.Body.Bytes()))
		})
	}
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
				rig.tenant.Use(rewriteBody(tc.op, func(_ *http.Request, b []byte) []byte {
					return bytes.ReplaceAll(b, []byte(rig.srv.URL), []byte(evil.URL))
				}))
				var err error
				if tc.op == graphsim.OpList {
					err = rig.client.ListCallRecords(context.Background(), simStart.Add(-time.Hour), simStart.Add(2*time.Hour), func(graph.CallRecord) error { return nil })
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
	err = rig.client.ListCallRecords(context.Background(), simStart, simStart.Add(time.Hour), func(graph.CallRecord) error { return nil })
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
