package poller

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// TestSettlingWaitsForTheLastVersion: records Graph changes after their
// first version (a late stream, then late feedback) are not ingested until
// they have not changed for the settle delay, and each new version makes
// them wait again; a restart while they wait loses nothing; once settled
// each is ingested once, at its last version. Records that settled long
// ago are ingested at once; one about to leave the look-back is ingested
// unsettled rather than lost, one a little further from the edge waits;
// one modified "in the future" waits from when it was first listed.
func TestSettlingWaitsForTheLastVersion(t *testing.T) {
	clock := &econClock{}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock.set(t0)
	tenant := newTenant()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 31, Count: 30, Start: t0.Add(-6 * time.Hour), End: t0.Add(-time.Hour)})
	var changing []string
	for i := range recs {
		recs[i].LastModifiedDateTime = t0.Add(-3 * time.Hour) // settled long ago
		if i%3 == 0 && len(recs[i].Sessions) > 0 {
			recs[i].LastModifiedDateTime = t0.Add(-time.Minute) // just published
			changing = append(changing, recs[i].ID)
		}
	}
	if len(changing) < 5 {
		t.Fatalf("only %d changing records", len(changing))
	}
	// Just changed, about to leave the look-back: the margin is two sweeps
	// and two polls (2h10m here), so 10 minutes from the edge it is
	// ingested now, unsettled, and 3 hours from it it waits.
	edge, nearEdge, future := &recs[1], &recs[2], &recs[4]
	edge.StartDateTime = t0.Add(-24*time.Hour + 10*time.Minute)
	edge.EndDateTime = edge.StartDateTime.Add(time.Minute)
	edge.LastModifiedDateTime = t0
	nearEdge.StartDateTime = t0.Add(-21 * time.Hour)
	nearEdge.EndDateTime = nearEdge.StartDateTime.Add(time.Minute)
	nearEdge.LastModifiedDateTime = t0
	future.LastModifiedDateTime = t0.Add(1000 * time.Hour)
	tenant.Add(recs...)
	final := map[string]graphsim.Record{}
	for _, r := range recs {
		final[r.ID] = r
	}

	state := filepath.Join(t.TempDir(), "state.json")
	tune := func(_ *graph.Config, pc *Config) {
		pc.Now = clock.now
		pc.SettleDelay = 30 * time.Minute
		pc.Interval = 5 * time.Minute
		pc.RecentWindow = 24 * time.Hour // every poll lists every record
	}
	p, reg := newTestPoller(t, tenant, state, nil, tune)
	check := func(when string, settling, ingested int) {
		t.Helper()
		if err := p.Poll(context.Background()); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if got := gaugeValue(t, reg, "teams_exporter_records_settling"); got != float64(settling) {
			t.Errorf("%s: teams_exporter_records_settling = %v, want %d", when, got, settling)
		}
		if got := sumCounter(t, reg, "teams_exporter_records_ingested_total"); got != float64(ingested) {
			t.Errorf("%s: ingested %v records, want %d", when, got, ingested)
		}
	}

	waiting := len(changing) + 2 // with the one near the edge and the one from the future
	check("first poll", waiting, len(recs)-waiting)
	if !p.ledger.Has(ledger.CallRecords, edge.ID) {
		t.Error("the record at the look-back's edge was not ingested at once")
	}
	for step, after := range []time.Duration{10 * time.Minute, 25 * time.Minute} {
		clock.set(t0.Add(after))
		for _, id := range changing {
			final[id] = graphsim.NextVersion(final[id], clock.now())
			tenant.Add(final[id])
		}
		check([]string{"a new version", "another new version"}[step], waiting, len(recs)-waiting)
	}
	// The one near the edge and the one from the future settled at t0+30m;
	// the changing ones wait until t0+55m.
	clock.set(t0.Add(50 * time.Minute))
	check("25 minutes after the last change", len(changing), len(recs)-len(changing))

	// Restart while they wait: nothing about them was saved, the listing
	// finds them again, and they settle from the same lastModifiedDateTime.
	if err := p.ledger.Close(); err != nil {
		t.Fatal(err)
	}
	clock.set(t0.Add(52 * time.Minute))
	p, reg = newTestPoller(t, tenant, state, nil, tune)
	check("after a restart", len(changing), 0)
	clock.set(t0.Add(56 * time.Minute))
	check("settled", 0, len(changing))

	if got := skippedReason(t, reg, ReasonUpdated); got != 0 {
		t.Errorf("%v records ingested at an older version, then updated: settling should have waited", got)
	}
	// The series are those of the last versions, computed by the
	// simulator's truth: the late streams and feedback are counted, once.
	// (They are not those of the first versions: the check tells versions
	// apart.)
	var last []graphsim.Record
	for _, r := range final {
		last = append(last, r)
	}
	exposition := gatherText(t, reg)
	assertCallQuality(t, simtruth.Of(last...), exposition)
	if diffs, err := simtruth.Of(recs...).CallQuality().Compare(bytes.NewReader(exposition)); err != nil || len(diffs) == 0 {
		t.Errorf("the first versions' truth matches too (err %v): the test does not tell versions apart", err)
	}
	// Every record is ingested (the one at the edge has left the look-back
	// since, and its id is pruned), at its last version: none is newer.
	delete(final, edge.ID)
	if n := p.ledger.Len(ledger.CallRecords); n != len(final) {
		t.Errorf("%d records ingested, want %d", n, len(final))
	}
	unseen, updated := p.ledger.Select(ledger.CallRecords, func(yield func(string, int64) bool) {
		for id, r := range final {
			if !yield(id, r.Version) {
				return
			}
		}
	})
	if len(unseen) != 0 || updated != 0 {
		t.Errorf("%d records not ingested and %d ingested at an older version than the last", len(unseen), updated)
	}
}

// TestSettledBetweenPolls: a listed record that settles between two polls
// is fetched when it settles, not at the next poll.
func TestSettledBetweenPolls(t *testing.T) {
	clock := &econClock{}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock.set(t0)
	tenant := newTenant()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 33, Count: 6, Start: t0.Add(-3 * time.Hour), End: t0.Add(-time.Hour)})
	for i := range recs {
		recs[i].LastModifiedDateTime = t0.Add(-time.Duration(i) * time.Minute)
	}
	tenant.Add(recs...)
	p, reg := newTestPoller(t, tenant, "", nil, func(_ *graph.Config, pc *Config) {
		pc.Now, pc.SettleDelay, pc.Interval = clock.now, 10*time.Minute, 30*time.Minute
	})
	if err := p.Poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := gaugeValue(t, reg, "teams_exporter_records_settling"); got != float64(len(recs)) {
		t.Fatalf("settling = %v, want %d", got, len(recs))
	}
	// The oldest change was 5 minutes before t0: due at t0+5m.
	wait, ok := p.nextSettled()
	if !ok || wait != 5*time.Minute {
		t.Fatalf("next record due in %v (%v), want 5m", wait, ok)
	}
	clock.set(t0.Add(7*time.Minute + 30*time.Second)) // three settled
	p.fetchSettled(context.Background())
	if got := sumCounter(t, reg, "teams_exporter_records_ingested_total"); got != 3 {
		t.Errorf("ingested %v between polls, want 3", got)
	}
	if got := gaugeValue(t, reg, "teams_exporter_records_settling"); got != 3 {
		t.Errorf("settling = %v after three settled, want 3", got)
	}
	if wait, _ := p.nextSettled(); wait != 30*time.Second {
		t.Errorf("next record due in %v, want 30s", wait)
	}
	clock.set(t0.Add(10 * time.Minute))
	p.fetchSettled(context.Background())
	if got := sumCounter(t, reg, "teams_exporter_records_ingested_total"); got != float64(len(recs)) {
		t.Errorf("ingested %v, want all %d", got, len(recs))
	}
	if _, ok := p.nextSettled(); ok {
		t.Error("a record still waits")
	}
}

// TestSettlingNotifiedAndListed: a notified record and a listed one wait in
// the same set by the same rule: a record notified, then listed, then
// notified again with a new version, is fetched once, when its last change
// is the settle delay old.
func TestSettlingNotifiedAndListed(t *testing.T) {
	clock := &econClock{}
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock.set(t0)
	tenant := graphsim.New(graphsim.Options{
		TenantID: "t", ClientID: "c", ClientSecret: "s", Now: clock.now,
		Notifications: graphsim.NotificationOptions{LoopbackHTTP: true, Seed: 1},
	})
	var receiver *notifications.Receiver
	p, reg := newTestPoller(t, tenant, "", nil, func(_ *graph.Config, pc *Config) {
		pc.Now, pc.SettleDelay, pc.Interval = clock.now, 30*time.Minute, 5*time.Minute
		var err error
		receiver, err = notifications.NewReceiver(notifications.Config{ClientState: "simulated-day", Now: clock.now}) // subscribe's
		if err != nil {
			t.Fatal(err)
		}
		pc.Notifications = receiver
	})
	ctx := context.Background()
	subscribe(t, tenant, p, receiver, clock)

	recs := graphsim.Generate(graphsim.GenOptions{Seed: 34, Count: 1, Start: t0.Add(-2 * time.Hour), End: t0.Add(-time.Hour)})
	r := recs[0]
	r.LastModifiedDateTime = t0.Add(-5 * time.Minute)
	tenant.Add(r) // notified now, at t0: later than its lastModifiedDateTime
	tenant.DeliverNotifications(ctx)
	p.fetchSettled(ctx)
	if got := gaugeValue(t, reg, "teams_exporter_records_settling"); got != 1 {
		t.Fatalf("settling = %v after the notification, want 1 (notifications %+v, queued %d)", got, tenant.NotificationStats(), receiver.Queued())
	}
	clock.set(t0.Add(time.Minute))
	if err := p.Poll(ctx); err != nil { // lists it: still one record waiting, due at t0+30m
		t.Fatal(err)
	}
	if wait, ok := p.nextSettled(); !ok || wait != 29*time.Minute {
		t.Errorf("due in %v, want 29m (the notification's time counts: later than the listed change)", wait)
	}
	clock.set(t0.Add(20 * time.Minute))
	r = graphsim.NextVersion(r, clock.now())
	tenant.Add(r)
	tenant.DeliverNotifications(ctx)
	clock.set(t0.Add(31 * time.Minute))
	p.fetchSettled(ctx)
	if got := sumCounter(t, reg, "teams_exporter_records_ingested_total"); got != 0 {
		t.Errorf("ingested %v records at t0+31m; the new version at t0+20m should make it wait until t0+50m", got)
	}
	clock.set(t0.Add(50 * time.Minute))
	p.fetchSettled(ctx)
	if got := sumCounter(t, reg, "teams_exporter_records_ingested_total"); got != 1 {
		t.Errorf("ingested %v records once settled, want 1", got)
	}
	if got := gaugeValue(t, reg, "teams_exporter_records_settling"); got != 0 {
		t.Errorf("settling = %v, want 0", got)
	}
	clock.set(t0.Add(55 * time.Minute))
	if err := p.Poll(ctx); err != nil {
		t.Fatal(err)
	}
	if got := sumCounter(t, reg, "teams_exporter_records_ingested_total"); got != 1 {
		t.Errorf("ingested %v after the next poll, want 1", got)
	}
	if got := skippedReason(t, reg, ReasonUpdated); got != 0 {
		t.Errorf("updated = %v: ingested before its last version", got)
	}
}

// TestSettleWindowTooShortIsLogged: when the settle delay and the margin
// kept before the look-back's edge do not fit in the look-back, records are
// fetched before they settle; the poller says so once at start, and not
// with the defaults.
func TestSettleWindowTooShortIsLogged(t *testing.T) {
	for _, tc := range []struct {
		name     string
		lookback time.Duration
		settle   time.Duration
		want     bool
	}{
		{"defaults", 24 * time.Hour, 30 * time.Minute, true},
		{"look-back of 2h", 2 * time.Hour, 30 * time.Minute, false},
		{"no settle delay", 2 * time.Hour, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testrun.Output{}
			New(Config{
				Interval: 5 * time.Minute, Lookback: tc.lookback, RecentWindow: time.Hour, FullScanInterval: time.Hour,
				SettleDelay: tc.settle, Logger: slog.New(slog.NewTextHandler(logs, nil)),
			}, nil, memoryLedger(t))
			warned := strings.Count(logs.String(), "the look-back is too short for the settle delay")
			if quiet := warned == 0; quiet != tc.want || warned > 1 {
				t.Errorf("warned %d times, want quiet=%v:\n%s", warned, tc.want, logs)
			}
		})
	}
}

// TestSettleListedNewVersion: a listed record waits again when a newer
// version is listed, even if its lastModifiedDateTime is not newer (the
// same second, or an earlier one after an absurd first listing).
func TestSettleListedNewVersion(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const delay = 30 * time.Minute
	for _, tc := range []struct {
		name          string
		first, second listedRecord
		wantDue       time.Time
	}{
		{"newer version, same time", listedRecord{version: 1, lastModified: now.Add(-time.Hour).UnixNano()},
			listedRecord{version: 2, lastModified: now.Add(-time.Hour).UnixNano()}, now.Add(delay)},
		{"newer version after a time in the future", listedRecord{version: 1, lastModified: now.Add(1000 * time.Hour).UnixNano()},
			listedRecord{version: 2, lastModified: now.Add(-time.Minute).UnixNano()}, now.Add(delay)},
		{"same version listed again", listedRecord{version: 1, lastModified: now.Add(-time.Hour).UnixNano()},
			listedRecord{version: 1, lastModified: now.Add(-time.Hour).UnixNano()}, now.Add(-time.Hour + delay)},
		{"newer version, newer time", listedRecord{version: 1, lastModified: now.Add(-time.Hour).UnixNano()},
			listedRecord{version: 2, lastModified: now.Add(-10 * time.Minute).UnixNano()}, now.Add(-10*time.Minute + delay)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := newSettleQueue()
			tc.first.start, tc.second.start = now.Add(-2*time.Hour).UnixNano(), now.Add(-2*time.Hour).UnixNano()
			q.listed(listing{"r": tc.first}, []string{"r"}, now.Add(-time.Hour), delay)
			q.listed(listing{"r": tc.second}, []string{"r"}, now, delay)
			r, _ := q.get("r")
			if got := time.Unix(0, r.due).UTC(); !got.Equal(tc.wantDue) {
				t.Errorf("due %v, want %v", got, tc.wantDue)
			}
		})
	}
}
