package graph

import "context"

// CallStats is what one call of the client cost in requests to Graph. A
// caller that sizes its own work by it (the poller spaces its polls by the
// list requests a poll made) reads it from the call, not back from the
// metrics the Observer keeps.
type CallStats struct {
	// Requests counts the HTTP requests sent, retries included.
	Requests int
	// Pages counts the pages read.
	Pages int
	// Throttled counts the requests Graph answered with 429.
	Throttled int
	// Malformed counts the records listed and left out as malformed: an id
	// empty or over MaxIDBytes.
	Malformed int
}

// Add adds o to s.
func (s *CallStats) Add(o CallStats) {
	s.Requests += o.Requests
	s.Pages += o.Pages
	s.Throttled += o.Throttled
	s.Malformed += o.Malformed
}

type callStatsKey struct{}

// withCallStats makes the requests sent under ctx count in st. A call
// counts its own requests, one after another: st is not safe for
// concurrent requests.
func withCallStats(ctx context.Context, st *CallStats) context.Context {
	return context.WithValue(ctx, callStatsKey{}, st)
}

// countRequest counts a request sent under ctx, if its call counts them.
func countRequest(ctx context.Context, status int) {
	st, ok := ctx.Value(callStatsKey{}).(*CallStats)
	if !ok {
		return
	}
	st.Requests++
	if status == 429 {
		st.Throttled++
	}
}
