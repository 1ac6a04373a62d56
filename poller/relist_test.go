package poller

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// missedEvents is a subscribed notification source of missed lifecycle
// events (re-list requests) arriving at given times of the test's clock.
type missedEvents struct {
	clock *econClock
	mu    sync.Mutex
	at    []time.Time // arrival times, in order
	taken int
	// replays, if set, are replays of the first event taken, a second
	// apart from a poll interval after it was taken: while the poll that
	// ends its re-list runs.
	replays  int
	interval time.Duration
}

func (*missedEvents) Take(int) []notifications.Notified { return nil }
func (*missedEvents) Notified() <-chan struct{}         { return nil }
func (*missedEvents) Subscribed() bool                  { return true }
func (m *missedEvents) TakeRelist() bool {
	_, ok := m.TakeRelistRequest()
	return ok
}

// TakeRelistRequest returns the first event arrived since the last take.
func (m *missedEvents) TakeRelistRequest() (time.Time, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock.now()
	first, ok := time.Time{}, false
	for m.taken < len(m.at) && !m.at[m.taken].After(now) {
		if !ok {
			first, ok = m.at[m.taken], true
		}
		m.taken++
	}
	if ok && m.replays > 0 {
		for i := range m.replays {
			m.at = append(m.at, now.Add(m.interval+time.Duration(i+1)*time.Second))
		}
		m.replays = 0
	}
	return first, ok
}

// slowGraph makes each request to Graph take a second of the test's clock,
// so that a poll lasts while it lists.
type slowGraph struct {
	base  http.RoundTripper
	clock *econClock
}

func (s slowGraph) RoundTrip(req *http.Request) (*http.Response, error) {
	s.clock.add(time.Second)
	return s.base.RoundTrip(req)
}

// TestReplayedMissedEventsCoalesce: a missed event replayed while its
// re-list runs costs at most one more sweep, however often it is replayed:
// the sweep under way does not list records that started after it began,
// so a request made since asks for one more, and every later one is
// coalesced into it. Each replay used to start the re-list again. A missed
// event after the re-list has ended still lists the look-back again.
func TestReplayedMissedEventsCoalesce(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const interval = time.Minute
	first, later := t0.Add(2*interval+30*time.Second), t0.Add(8*interval) // between polls
	lists := func(events []time.Time, replays int) float64 {
		clock := &econClock{}
		clock.set(t0)
		tenant := graphsim.New(graphsim.Options{TenantID: "t", ClientID: "c", ClientSecret: "s", MaxPageSize: 7, Now: clock.now})
		tenant.Add(graphsim.Generate(graphsim.GenOptions{Seed: 19, Count: 40, Start: t0.Add(-110 * time.Minute), End: t0.Add(-time.Minute)})...)
		source := &missedEvents{clock: clock, at: events, replays: replays, interval: interval}
		gm := NewGraphMetrics(prometheus.NewRegistry(), clock.now)
		p, _ := newTestPoller(t, tenant, "", nil, func(gc *graph.Config, pc *Config) {
			gc.Observer, pc.Graph = gm, gm
			gc.HTTPClient = &http.Client{Transport: slowGraph{base: gc.HTTPClient.Transport, clock: clock}}
			pc.Now, pc.Notifications = clock.now, source
			pc.Interval, pc.Lookback, pc.RecentWindow, pc.FullScanInterval = interval, 2*time.Hour, 30*time.Minute, time.Hour
		})
		for i := range 12 {
			clock.set(t0.Add(time.Duration(i) * interval))
			if err := p.Poll(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		if !p.relistSince.IsZero() {
			t.Errorf("a re-list is still pending since %v", p.relistSince)
		}
		return float64(tenant.Requests().List) // as the simulated Graph counted them
	}
	none := lists(nil, 0)
	once := lists([]time.Time{first}, 0)
	replayedOnce := lists([]time.Time{first}, 1)
	replayed := lists([]time.Time{first}, 5)
	if once <= none {
		t.Fatalf("%v list requests with a missed event, %v without: no re-list to compare", once, none)
	}
	if replayed != replayedOnce {
		t.Errorf("%v list requests with the missed event replayed 5 times while its re-list ran, %v with it replayed once", replayed, replayedOnce)
	}
	if sweep := once - none; replayed > once+sweep {
		t.Errorf("%v list requests with the missed event replayed 5 times, more than two re-lists (%v, one costs %v)", replayed, once, sweep)
	}
	if again := lists([]time.Time{first, later}, 5); again <= replayed {
		t.Errorf("%v list requests with a second missed event after the re-list ended, %v without: it was ignored", again, replayed)
	}
}

// TestMissedEventDuringARelistIsNotDropped: a re-list's sweep lists start
// times only up to when it began, so a record that started after that, and
// whose notification was missed while the sweep ran, is listed by one more
// sweep at once, not by the schedule a full-scan interval later.
func TestMissedEventDuringARelistIsNotDropped(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const interval = time.Minute
	clock := &econClock{}
	clock.set(t0)
	tenant := graphsim.New(graphsim.Options{TenantID: "t", ClientID: "c", ClientSecret: "s", MaxPageSize: 7, Now: clock.now})
	tenant.Add(graphsim.Generate(graphsim.GenOptions{Seed: 19, Count: 40, Start: t0.Add(-110 * time.Minute), End: t0.Add(-time.Minute)})...)
	// late starts after the re-list's sweep began (with the poll at 4m);
	// its missed event arrives while that sweep runs (each request takes a
	// second of the clock).
	late := graphsim.Generate(graphsim.GenOptions{Seed: 23, Count: 1, Start: t0.Add(4*interval + time.Second), End: t0.Add(4*interval + 2*time.Second)})[0]
	tenant.Add(late)
	source := &missedEvents{clock: clock, at: []time.Time{t0.Add(2*interval + 30*time.Second), t0.Add(4*interval + 3*time.Second)}}
	p, _ := newTestPoller(t, tenant, "", nil, func(gc *graph.Config, pc *Config) {
		gc.HTTPClient = &http.Client{Transport: slowGraph{base: gc.HTTPClient.Transport, clock: clock}}
		pc.Now, pc.Notifications = clock.now, source
		pc.Interval, pc.Lookback, pc.RecentWindow, pc.FullScanInterval = interval, 2*time.Hour, 30*time.Minute, time.Hour
	})
	for i := range 8 {
		clock.set(t0.Add(time.Duration(i) * interval))
		if err := p.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !p.ledger.Has(ledger.CallRecords, late.ID) {
		t.Errorf("a record whose missed event came during a re-list's sweep, after it began, is not ingested %v later", 8*interval)
	}
	if !p.relistSince.IsZero() {
		t.Errorf("a re-list is still pending since %v", p.relistSince)
	}
}
