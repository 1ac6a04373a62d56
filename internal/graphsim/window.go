package graphsim

import (
	"sync"
	"time"
)

// Graph's published limit for listing call records: 40 requests per 20 s.
const listLimitWindow = 20 * time.Second

// slidingWindow remembers the times of recent requests and the most that
// ever fell within one window.
type slidingWindow struct {
	mu    sync.Mutex
	times []time.Time // within the window of the last request, oldest first
	peak  int
}

func (s *slidingWindow) add(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cut := 0
	for cut < len(s.times) && now.Sub(s.times[cut]) >= listLimitWindow {
		cut++
	}
	s.times = append(s.times[cut:], now)
	s.peak = max(s.peak, len(s.times))
}

// ListWindowPeak returns the most list requests the tenant received within
// any 20 s (Graph allows 40). It is measured on the wall clock, not the
// tenant's clock, because a client paces itself in real time.
func (t *Tenant) ListWindowPeak() int {
	t.listWindow.mu.Lock()
	defer t.listWindow.mu.Unlock()
	return t.listWindow.peak
}
