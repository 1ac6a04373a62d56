package graphsim

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestRunLive(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2025, 7, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	tenant := New(Options{Now: clock, Retention: 24 * time.Hour})
	tenant.Add(simpleRecord("expired", now.Add(-48*time.Hour), 1))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tenant.RunLive(ctx, 5*time.Millisecond, 3, 99)
	}()
	// Generous: a loaded machine under -race is slow to run the ticks.
	deadline := time.Now().Add(30 * time.Second)
	for tenant.Len() < 12 {
		if time.Now().After(deadline) {
			t.Fatalf("only %d records after 30s", tenant.Len())
		}
		mu.Lock()
		now = now.Add(time.Minute)
		mu.Unlock()
		time.Sleep(2 * time.Millisecond)
	}
	cancel()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("RunLive did not return after cancel")
	}
	for _, id := range tenant.IDs() {
		if id == "expired" {
			t.Error("a record past retention was kept")
		}
	}
	// Every record has just ended when added: its end is at most "now" and
	// its last modification is not before its end.
	tenant.mu.RLock()
	defer tenant.mu.RUnlock()
	for _, s := range tenant.order {
		top, _ := unpack(s.shape, s.data)
		rec, err := ParseRecord(marshalObject(top))
		if err != nil {
			t.Fatal(err)
		}
		if rec.EndDateTime.After(clock()) || rec.LastModifiedDateTime.Before(rec.EndDateTime) || rec.Version < 1 {
			t.Errorf("live record %s: end %v, modified %v, version %d", rec.ID, rec.EndDateTime, rec.LastModifiedDateTime, rec.Version)
		}
	}
}
