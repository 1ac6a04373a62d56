package poller

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// The tests in this file drive the real graph client (with a real
// azidentity credential) and the poller against a simulated tenant while
// graphsim injects one kind of fault, and check the exact outcome: what was
// ingested, what was counted as skipped and why, and that the record is
// ingested exactly once once the fault stops.

// faultsRig is one poller wired to one tenant with faults installed.
type faultsRig struct {
	tenant *graphsim.Tenant
	faults *graphsim.Faults
	p      *Poller
	reg    *prometheus.Registry
	logs   *bytes.Buffer // written by slog's handler, which serialises writes
	gets   *faultsGetCounter
	offset atomic.Int64 // added to the poller's clock
}

// newFaultsRig starts a poller on tenant with faults (nil for none) and
// retries fast enough for tests; tune adjusts the configuration further.
func newFaultsRig(t *testing.T, tenant *graphsim.Tenant, faults *graphsim.Faults, tune func(*graph.Config, *Config)) *faultsRig {
	t.Helper()
	rig := &faultsRig{tenant: tenant, faults: faults, logs: &bytes.Buffer{}, gets: &faultsGetCounter{n: map[string]int{}}}
	tenant.Use(rig.gets.middleware) // outermost: counts faulted requests too
	if faults != nil {
		tenant.Use(faults.Middleware())
	}
	rig.p, rig.reg = newTestPoller(t, tenant, "", rig.logs, func(gc *graph.Config, pc *Config) {
		gc.BackoffBase, gc.BackoffMax = time.Millisecond, 5*time.Millisecond
		pc.Now = func() time.Time { return time.Now().Add(time.Duration(rig.offset.Load())) }
		if tune != nil {
			tune(gc, pc)
		}
	})
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("poller logs:\n%s", testrun.LastLines(rig.logs.String(), 30))
		}
	})
	return rig
}

func (r *faultsRig) poll(t *testing.T) error {
	t.Helper()
	return r.p.Poll(context.Background())
}

func (r *faultsRig) mustPoll(t *testing.T) {
	t.Helper()
	if err := r.poll(t); err != nil {
		t.Fatalf("poll: %v", err)
	}
}

func (r *faultsRig) ingested() float64 { return testutil.ToFloat64(r.p.metrics.ingested) }

func (r *faultsRig) skipped(reason string) float64 {
	return testutil.ToFloat64(r.p.metrics.skipped.WithLabelValues(reason))
}

// checkTruth compares every call-quality series with the truth of exactly
// one ingestion of each record.
func (r *faultsRig) checkTruth(t *testing.T, truth simtruth.Truth) {
	t.Helper()
	assertCallQuality(t, truth, gatherText(t, r.reg))
}

// faultsGetCounter counts get requests (direct or inside a $batch) per
// record id.
type faultsGetCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *faultsGetCounter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if graphsim.Operation(r) == graphsim.OpGet {
			c.mu.Lock()
			c.n[graphsim.RecordID(r)]++
			c.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (c *faultsGetCounter) of(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n[id]
}

// faultsRecords generates n small records (one to four sessions, which
// keeps the tests fast under -race) that started in [from, to) before now,
// and their truth.
func faultsRecords(t *testing.T, seed int64, n int, from, to time.Duration) ([]graphsim.Record, simtruth.Truth) {
	t.Helper()
	now := time.Now()
	pool := graphsim.Generate(graphsim.GenOptions{Seed: seed, Count: 4*n + 8, Start: now.Add(-from), End: now.Add(-to)})
	var recs []graphsim.Record
	for _, r := range pool {
		if len(recs) < n && len(r.Sessions) >= 1 && len(r.Sessions) <= 4 {
			recs = append(recs, r)
		}
	}
	if len(recs) < n {
		t.Fatalf("seed %d gives %d small records, want %d", seed, len(recs), n)
	}
	return recs, simtruth.Of(recs...)
}

var (
	faultsJitter      = regexp.MustCompile(`"averageJitter":"PT`)
	faultsUtilisation = regexp.MustCompile(`"packetUtilization":[0-9]`)
)

// faultsTarget picks a record every wrong-type fault changes: one with
// sessions, jitter and packet utilisation.
func faultsTarget(t *testing.T, recs []graphsim.Record) graphsim.Record {
	t.Helper()
	for _, r := range recs {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Sessions) > 0 && len(r.Sessions) <= 60 && faultsJitter.Match(b) && faultsUtilisation.Match(b) {
			return r
		}
	}
	t.Fatal("no generated record has jitter and packet utilisation")
	return graphsim.Record{}
}

// TestFaultsUnreadableRecord: a record whose get answers 200 with a body
// that cannot be read (broken JSON, fields of the wrong type) is not
// ingested, is counted as fetch_failed, is logged without personal data
// or its id, does not stop the other records (alone or in the same $batch)
// and is ingested exactly once when the fault stops.
func TestFaultsUnreadableRecord(t *testing.T) {
	recs, truth := faultsRecords(t, 31, 8, 90*time.Minute, time.Minute)
	bad := faultsTarget(t, recs)
	personal := graphsim.PersonalValues(recs)
	for _, fault := range []graphsim.Fault{
		graphsim.FaultMalformed, graphsim.FaultWrongDuration, graphsim.FaultWrongNumber,
		graphsim.FaultWrongDate, graphsim.FaultNotArray,
	} {
		for _, mode := range []struct {
			name  string
			batch int
		}{{"batch", 20}, {"get", 1}} {
			t.Run(string(fault)+"/"+mode.name, func(t *testing.T) {
				tenant := newTenant()
				tenant.Add(recs...)
				faults := &graphsim.Faults{Rules: []graphsim.Rule{{Fault: fault, Op: graphsim.OpGet, Record: bad.ID}}}
				rig := newFaultsRig(t, tenant, faults, func(gc *graph.Config, _ *Config) { gc.BatchSize = mode.batch })
				n := float64(len(recs))
				for i := 1; i <= 2; i++ {
					// The first poll ingests the others; the second has only
					// the unreadable record to fetch. Neither fails: the
					// record is skipped, Graph answered.
					if err := rig.poll(t); err != nil {
						t.Fatalf("poll %d: %v", i, err)
					}
					if !rig.p.Ready() {
						t.Fatalf("poll %d: not ready because of one unreadable record", i)
					}
					if got, want := rig.skipped(ReasonFetchFailed), float64(i); got != want {
						t.Fatalf("poll %d: skipped fetch_failed = %v, want %v", i, got, want)
					}
					if got := rig.ingested(); got != n-1 {
						t.Fatalf("poll %d: ingested %v, want %v (all but the unreadable one)", i, got, n-1)
					}
				}
				if got := faults.Injected()[fault]; got != 2 {
					t.Errorf("fault injected %d times, want once per poll", got)
				}
				logs := rig.logs.String()
				if !strings.Contains(logs, "fetch call record failed") {
					t.Errorf("the failure is not logged")
				}
				for _, v := range append(personal, bad.ID) {
					if strings.Contains(logs, v) {
						t.Errorf("log carries personal data or a record id: %q", v)
					}
				}

				faults.SetEnabled(false)
				rig.mustPoll(t)
				rig.mustPoll(t)
				if got := rig.ingested(); got != n {
					t.Errorf("ingested %v after the fault stopped, want %v", got, n)
				}
				if got := rig.gets.of(bad.ID); got != 3 {
					t.Errorf("unreadable record fetched %d times, want 3 (twice failing, once more)", got)
				}
				rig.checkTruth(t, truth)
			})
		}
	}
}

// TestFaultsRecordListedTwice: Graph's paging is not a snapshot, so a
// record may be on page 1 and page 2 of one listing; it is fetched and
// ingested once.
func TestFaultsRecordListedTwice(t *testing.T) {
	recs, truth := faultsRecords(t, 32, 20, 90*time.Minute, time.Minute) // pages of 7
	tenant := newTenant()
	tenant.Add(recs...)
	faults := &graphsim.Faults{Rules: []graphsim.Rule{{Fault: graphsim.FaultRepeat, Op: graphsim.OpList, Skip: 1}}}
	rig := newFaultsRig(t, tenant, faults, nil)
	rig.mustPoll(t)
	if got := faults.Injected()[graphsim.FaultRepeat]; got != 2 {
		t.Fatalf("repeat injected %d times, want 2 (pages 2 and 3)", got)
	}
	if got := rig.ingested(); got != 20 {
		t.Errorf("ingested %v, want 20", got)
	}
	for _, r := range recs {
		if n := rig.gets.of(r.ID); n != 1 {
			t.Errorf("a record was fetched %d times, want once", n)
		}
	}
	rig.mustPoll(t)
	rig.checkTruth(t, truth)
}

// TestFaultsLateRecords: a record that appears after earlier polls with a
// start time before the recent window is found by the next full scan and
// ingested once. One that started before the look-back window is never
// listed, so never fetched nor counted: the look-back is how late Graph
// may publish a record and still have it exported.
func TestFaultsLateRecords(t *testing.T) {
	recent, _ := faultsRecords(t, 33, 3, 90*time.Minute, time.Minute)
	late, _ := faultsRecords(t, 34, 1, 10*time.Hour, 10*time.Hour)    // inside the 24h look-back
	tooLate, _ := faultsRecords(t, 35, 1, 30*time.Hour, 30*time.Hour) // before it
	tenant := newTenant()
	tenant.Add(recent...)
	rig := newFaultsRig(t, tenant, nil, nil)
	rig.mustPoll(t) // a full scan, as every first poll
	tenant.Add(late[0], tooLate[0])

	rig.mustPoll(t) // recent window only
	if got := rig.ingested(); got != 3 || rig.gets.of(late[0].ID) != 0 {
		t.Fatalf("a poll of the recent window ingested %v, fetched the late record %d times; want 3 and 0",
			got, rig.gets.of(late[0].ID))
	}
	rig.offset.Store(int64(time.Hour)) // the next full scan is due
	rig.mustPoll(t)
	rig.mustPoll(t)
	if got := rig.ingested(); got != 4 {
		t.Errorf("ingested %v after the full scan, want 4", got)
	}
	if got := rig.gets.of(late[0].ID); got != 1 {
		t.Errorf("late record fetched %d times, want once", got)
	}
	if got := rig.gets.of(tooLate[0].ID); got != 0 {
		t.Errorf("record older than the look-back fetched %d times, want never", got)
	}
	if got := sumCounter(t, rig.reg, "teams_call_records_total"); got != 4 {
		t.Errorf("teams_call_records_total = %v, want 4", got)
	}
}

// TestFaultsUpdatedRecord: a new version of a record already ingested is
// counted once as skipped (updated) and neither fetched nor observed again.
func TestFaultsUpdatedRecord(t *testing.T) {
	recs, truth := faultsRecords(t, 36, 3, 90*time.Minute, time.Minute)
	tenant := newTenant()
	tenant.Add(recs...)
	rig := newFaultsRig(t, tenant, nil, nil)
	rig.mustPoll(t)
	tenant.Bump(recs[0].ID)
	rig.mustPoll(t)
	rig.mustPoll(t) // the same version again: not counted twice
	if got := rig.skipped(ReasonUpdated); got != 1 {
		t.Errorf("skipped updated = %v, want 1", got)
	}
	tenant.Bump(recs[0].ID)
	tenant.Bump(recs[0].ID)
	rig.mustPoll(t) // two versions later, seen once
	if got := rig.skipped(ReasonUpdated); got != 2 {
		t.Errorf("skipped updated = %v, want 2", got)
	}
	if got, n := rig.ingested(), rig.gets.of(recs[0].ID); got != 3 || n != 1 {
		t.Errorf("ingested %v, updated record fetched %d times; want 3 and once", got, n)
	}
	rig.checkTruth(t, truth)
}

// TestFaultsExpiredRecord: a listed record whose get answers 404 (expired
// between list and get) is counted as not_found, does not fail the poll,
// is retried while it is listed, and no longer once it is not.
func TestFaultsExpiredRecord(t *testing.T) {
	for _, batch := range []int{20, 1} {
		t.Run(map[int]string{20: "batch", 1: "get"}[batch], func(t *testing.T) {
			gone, _ := faultsRecords(t, 37, 1, 20*time.Hour, 20*time.Hour)
			recs, truth := faultsRecords(t, 38, 3, 90*time.Minute, time.Minute)
			tenant := newTenant()
			tenant.Add(gone[0])
			tenant.Add(recs...)
			faults := &graphsim.Faults{Rules: []graphsim.Rule{{Fault: graphsim.FaultNotFound, Op: graphsim.OpGet, Record: gone[0].ID}}}
			rig := newFaultsRig(t, tenant, faults, func(gc *graph.Config, pc *Config) {
				gc.BatchSize = batch
				pc.FullScanInterval = time.Nanosecond // every poll lists the whole look-back
			})
			rig.mustPoll(t)
			if err := rig.poll(t); err != nil { // only the expired record is new: still no error
				t.Fatalf("poll with only an expired record to fetch: %v", err)
			}
			if got := rig.skipped(ReasonNotFound); got != 2 {
				t.Errorf("skipped not_found = %v, want 2 (once per poll that listed it)", got)
			}
			if got := rig.skipped(ReasonFetchFailed); got != 0 {
				t.Errorf("skipped fetch_failed = %v, want 0", got)
			}
			// Five hours later the record has left the look-back window
			// (it started 20 hours ago): no longer listed, never fetched.
			rig.offset.Store(int64(5 * time.Hour))
			rig.mustPoll(t)
			rig.mustPoll(t)
			if got := rig.gets.of(gone[0].ID); got != 2 {
				t.Errorf("expired record fetched %d times, want 2 (only while listed)", got)
			}
			if got := rig.skipped(ReasonNotFound); got != 2 {
				t.Errorf("skipped not_found = %v after it left the window, want still 2", got)
			}
			if rig.ingested() != 3 || !rig.p.Ready() {
				t.Errorf("ingested %v, ready %v; want 3 and ready", rig.ingested(), rig.p.Ready())
			}
			rig.checkTruth(t, truth)
		})
	}
}

// TestFaultsTokens: tokens that expire between polls are renewed by the
// credential, and a token revoked in the middle of a poll (every request
// then answers 401) is renewed: the client asks the credential for a new
// token past its cache (MSAL would otherwise hand out the revoked one until
// five minutes before its expiry) and retries once, so the poll recovers.
func TestFaultsTokens(t *testing.T) {
	t.Run("short lifetime", func(t *testing.T) {
		// MSAL treats a token as expired five minutes before its expiry:
		// this lifetime gives a few seconds of reuse, then a renewal.
		const reuse = 3 * time.Second
		tenant := graphsim.New(graphsim.Options{TenantID: "t", ClientID: "c", ClientSecret: "s", MaxPageSize: 7,
			TokenLifetime: 5*time.Minute + reuse})
		first, truth1 := faultsRecords(t, 39, 10, 90*time.Minute, 30*time.Minute)
		tenant.Add(first...)
		rig := newFaultsRig(t, tenant, nil, nil)
		started := time.Now()
		rig.mustPoll(t)
		if got := tenant.Requests().Token; got != 1 && time.Since(started) < reuse {
			t.Errorf("%d token requests in the first poll, want 1 (the token reused)", got)
		}
		time.Sleep(reuse + 100*time.Millisecond) // the token was issued before the poll ended
		second, truth2 := faultsRecords(t, 40, 10, 29*time.Minute, time.Minute)
		tenant.Add(second...)
		rig.mustPoll(t)
		if got := tenant.Requests().Token; got < 2 {
			t.Errorf("%d token requests, want a renewal", got)
		}
		if got := rig.ingested(); got != 20 {
			t.Errorf("ingested %v, want 20", got)
		}
		truth1.Merge(truth2)
		rig.checkTruth(t, truth1)
	})
	t.Run("revoked mid-poll", func(t *testing.T) {
		tenant := newTenant()
		recs, truth := faultsRecords(t, 41, 30, 90*time.Minute, time.Minute)
		tenant.Add(recs...)
		var revoked atomic.Bool
		tenant.Use(func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if graphsim.Operation(r) == graphsim.OpBatch && !revoked.Swap(true) {
					tenant.RevokeTokens() // after the list, before the first fetch
				}
				next.ServeHTTP(w, r)
			})
		})
		rig := newFaultsRig(t, tenant, nil, nil)
		_ = rig.poll(t) // may fail: its fetches met the revocation
		rig.mustPoll(t)
		if got := rig.ingested(); got != 30 {
			t.Errorf("ingested %v after the poll following the revocation, want 30", got)
		}
		if got := tenant.Requests().Token; got < 2 {
			t.Errorf("%d token requests: the revoked token was not renewed", got)
		}
		rig.checkTruth(t, truth)
	})
}

// TestFaultsSessionsPageFails: when the second or third page of a record's
// sessions fails for a whole poll, nothing of the record is observed; the
// next poll ingests it once with every session.
func TestFaultsSessionsPageFails(t *testing.T) {
	recs, _ := faultsRecords(t, 42, 1, time.Hour, time.Hour)
	rec := recs[0]
	for len(rec.Sessions) < 150 { // three pages of sessions
		s := rec.Sessions[len(rec.Sessions)%max(1, len(recs[0].Sessions))]
		s.ID = rec.ID + "-extra-" + strconv.Itoa(len(rec.Sessions))
		rec.Sessions = append(rec.Sessions, s)
	}
	if len(recs[0].Sessions) == 0 {
		t.Fatal("generated record has no sessions")
	}
	others, truth := faultsRecords(t, 43, 3, 90*time.Minute, time.Minute)
	truth.Merge(simtruth.Of(rec))

	for _, tt := range []struct {
		fault graphsim.Fault
		page  int // 2 or 3
	}{
		{graphsim.Fault500, 2}, {graphsim.FaultReset, 3}, {graphsim.FaultMalformed, 3},
		{graphsim.FaultTruncate, 2}, {graphsim.FaultNotArray, 2},
	} {
		t.Run(string(tt.fault), func(t *testing.T) {
			tenant := newTenant()
			tenant.Add(rec)
			tenant.Add(others...)
			faults := &graphsim.Faults{Rules: []graphsim.Rule{{Fault: tt.fault, Op: graphsim.OpSessions, Record: rec.ID, Skip: tt.page - 2}}}
			rig := newFaultsRig(t, tenant, faults, nil)
			rig.mustPoll(t)
			if got := rig.skipped(ReasonFetchFailed); got != 1 {
				t.Errorf("skipped fetch_failed = %v, want 1", got)
			}
			if got := rig.ingested(); got != 3 {
				t.Errorf("ingested %v, want the 3 others", got)
			}
			if faults.Injected()[tt.fault] == 0 {
				t.Fatal("fault never injected")
			}
			sessions := sumCounter(t, rig.reg, "teams_sessions_total")
			faults.SetEnabled(false)
			rig.mustPoll(t)
			rig.mustPoll(t)
			if got := rig.ingested(); got != 4 {
				t.Errorf("ingested %v after the fault stopped, want 4", got)
			}
			if got := sumCounter(t, rig.reg, "teams_sessions_total") - sessions; got != float64(len(rec.Sessions)) {
				t.Errorf("sessions observed for the record %v, want all %d", got, len(rec.Sessions))
			}
			rig.checkTruth(t, truth)
		})
	}
}
