package graph

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// durationObserver records the durations the client reports.
type durationObserver struct {
	countingObserver
	mu        sync.Mutex
	durations []time.Duration
}

func (o *durationObserver) ObserveRequest(op Operation, code string, d time.Duration) {
	o.countingObserver.ObserveRequest(op, code, d)
	o.mu.Lock()
	defer o.mu.Unlock()
	o.durations = append(o.durations, d)
}

// TestClientTakesTimeFromItsClock: the client's time decisions and
// request durations come from Config.Now, not from the system clock. The
// clock here stands a day before the system's and moves a second at each
// reading: every request lasts a second, and a Retry-After date an hour
// after the clock's time is an hour away (capped), where the system clock
// would have it long past.
func TestClientTakesTimeFromItsClock(t *testing.T) {
	t0 := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
	var readings atomic.Int64
	clock := func() time.Time { return t0.Add(time.Duration(readings.Add(1)) * time.Second) }
	var calls atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			w.Header().Set("Retry-After", t0.Add(time.Hour).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	defer srv.Close()
	var logs bytes.Buffer
	obs := &durationObserver{}
	c, _ := newTestClient(t, srv, func(cfg *Config) {
		cfg.Now, cfg.Observer = clock, obs
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	SetRetryAfterCap(c, 10*time.Millisecond)
	st, err := c.ListCallRecords(context.Background(), t0.Add(-time.Hour), t0, func(CallRecord) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if st.Requests != 2 || st.Throttled != 1 {
		t.Fatalf("call stats %+v, want 2 requests, 1 throttled", st)
	}
	if len(obs.durations) != 2 {
		t.Fatalf("%d request durations observed, want 2", len(obs.durations))
	}
	for i, d := range obs.durations {
		if d != time.Second {
			t.Errorf("request %d lasted %v by the client's clock, want 1s", i, d)
		}
	}
	if !strings.Contains(logs.String(), "longer than the cap") {
		t.Errorf("a Retry-After date an hour after the client's clock was not taken as an hour:\n%s", logs.String())
	}
}
