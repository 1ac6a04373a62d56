package exposition

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// stalledClient is a scraper that never reads: its first body write blocks
// until the test releases it. It records the write deadline it was given,
// as the server's connection would (http.ResponseController finds it).
type stalledClient struct {
	header   http.Header
	release  <-chan struct{}
	blocked  chan<- struct{}
	once     sync.Once
	deadline time.Time
}

func (c *stalledClient) Header() http.Header { return c.header }
func (c *stalledClient) WriteHeader(int)     {}
func (c *stalledClient) Write(p []byte) (int, error) {
	c.once.Do(func() { c.blocked <- struct{}{} })
	<-c.release
	return len(p), nil
}
func (c *stalledClient) SetWriteDeadline(t time.Time) error {
	c.deadline = t
	return nil
}

// TestStalledScrapersKeepNoScrapeOut: scrapers that stop reading hold
// their connections, not the in-flight slots, so with twice as many
// stalled as slots every normal scrape is still answered; and each
// stalled write was given a deadline before it began.
func TestStalledScrapersKeepNoScrapeOut(t *testing.T) {
	const slots = 4
	pub := newPublished()
	pub.ingest(metricsTestRecord("r1"))
	reg := prometheus.NewRegistry()
	h := NewHandler(reg, pub.current.Load, Options{Registry: reg, MaxRequestsInFlight: slots})

	release := make(chan struct{})
	blocked := make(chan struct{}, 2*slots)
	var wg sync.WaitGroup
	clients := make([]*stalledClient, 2*slots)
	for i := range clients {
		c := &stalledClient{header: http.Header{}, release: release, blocked: blocked}
		clients[i] = c
		wg.Go(func() {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			h.ServeHTTP(c, req)
		})
		<-blocked // one at a time: each is writing its body before the next
	}
	answered := 0
	for range 10 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if rec.Code == http.StatusOK && rec.Body.Len() > 0 {
			answered++
		}
	}
	close(release)
	wg.Wait()
	if answered != 10 {
		t.Errorf("%d of 10 scrapes answered while %d scrapers stalled with %d slots", answered, 2*slots, slots)
	}
	for i, c := range clients {
		if c.deadline.IsZero() {
			t.Errorf("stalled scraper %d was written to without a write deadline", i)
		}
	}
}
