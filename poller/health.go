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
	// listSince and reqSince are when the first of an unbroken run of
	// failed list requests, and of other failed requests, was sent. A run
	// ends with a success of a request sent at or after it began: an
	// answer to an older request says nothing of Graph since. Records
	// fetched do not end a run of failed lists (a listing that fails while
	// $batch requests succeed stops new records all the same); a list
	// answered ends a run of other failures.
	listSince, reqSince time.Time
}

func newHealth(now func() time.Time) *health { return &health{now: now} }

// pollEnded records a poll's outcome; start is when it began. A poll
// succeeds only when its listing did, so a success also ends a run of
// failed list requests sent before it began.
func (h *health) pollEnded(ok bool, start time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if ok {
		h.succeeded, h.pollSince = true, time.Time{}
		clearIfSince(&h.listSince, start)
	} else if h.pollSince.IsZero() {
		h.pollSince = start
	}
}

// setClock makes now the clock of every time decision: the poller's,
// so that a poll's start and a request's sending are on one clock.
func (h *health) setClock(now func() time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.now = now
}

// requestAnsweredAgo is requestAnswered for a request sent d ago.
func (h *health) requestAnsweredAgo(list, ok bool, d time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requestAnsweredLocked(list, ok, h.now().Add(-d))
}

// requestAnswered records whether Graph answered a request (see
// graph.Answered), a list request or another; sent is when it was sent.
func (h *health) requestAnswered(list, ok bool, sent time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.requestAnsweredLocked(list, ok, sent)
}

func (h *health) requestAnsweredLocked(list, ok bool, sent time.Time) {
	run := &h.reqSince
	if list {
		run = &h.listSince
	}
	switch {
	case ok && list:
		clearIfSince(&h.listSince, sent)
		clearIfSince(&h.reqSince, sent)
	case ok:
		clearIfSince(&h.reqSince, sent)
	case run.IsZero():
		*run = sent
	}
}

// clearIfSince ends the run of failures begun at *since if t is not before
// it.
func clearIfSince(since *time.Time, t time.Time) {
	if !t.Before(*since) {
		*since = time.Time{}
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
	for _, s := range []time.Time{h.listSince, h.reqSince} {
		if !s.IsZero() && (since.IsZero() || s.Before(since)) {
			since = s
		}
	}
	return since.IsZero() || h.now().Sub(since) <= limit
}
