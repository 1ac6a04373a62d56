package graph

import (
	"time"

	"golang.org/x/time/rate"
)

// SetRetryAfterCap shortens the Retry-After cap, so a test can see an
// absurd Retry-After capped without waiting ten minutes.
func SetRetryAfterCap(c *Client, d time.Duration) { c.retryAfterCap = d }

// Bounds a record may hold, for tests outside the package.
const (
	MaxStreamsPerMedia   = maxStreamsPerMedia
	MaxSessions          = maxSessions
	MaxElementsPerAnswer = maxElementsPerAnswer
)

var simEpoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

func rateLimit(r float64) rate.Limit { return rate.Limit(r) }
