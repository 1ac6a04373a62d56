package poller

import (
	"sync"
	"time"
)

// health tells whether the exporter is ready: a poll of this process has
// succeeded, and Graph has not been failing for longer than the limit.
// Two things learn that Graph fails, and both report here: a poll when it
// ends (failing since it began), and the Graph client's requests as they
// are answered (failing since the first of an unbroken run of failed
// requests was sent). The poll alone would tell late: with retries and
// Retry-After it may give up many intervals after Graph began to fail. The
// requests alone would miss a poll that fails while Graph answers (a list
// page that cannot be read). Graph has been failing since the earlier of
// the two.
type health struct {
	now func() time.Time

	mu        sync.Mutex
	succeeded bool      // a poll of this process succeeded
	pollSince time.Time // the start of the first failed poll since the last success
	reqSince  time.Time // when the first of an unbroken run of failed requests was sent
}

func newHealth(now func() time.Time) *health { return &health{now: now} }

// pollEnded records a poll's outcome; start is when it began.
func (h *health) pollEnded(ok bool, start time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		h.succeeded, h.pollSince = true, time.Time{}
	} else if h.pollSince.IsZero() {
		h.pollSince = start
	}
}

// requestAnswered records whether Graph answered a request (see
// graph.Answered); sent is when it was sent.
func (h *health) requestAnswered(ok bool, sent time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		h.reqSince = time.Time{}
	} else if h.reqSince.IsZero() {
		h.reqSince = sent
	}
}

// ready reports whether a poll has succeeded and Graph has not been failing
// for more than limit.
func (h *health) ready(limit time.Duration) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.succeeded {
		return false
	}
	since := h.pollSince
	if !h.reqSince.IsZero() && (since.IsZero() || h.reqSince.Before(since)) {
		since = h.reqSince
	}
	return since.IsZero() || h.now().Sub(since) <= limit
}
