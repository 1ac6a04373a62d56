package graph

import "time"

// SetRetryAfterCap shortens the Retry-After cap, so a test can see an
// absurd Retry-After capped without waiting ten minutes.
func SetRetryAfterCap(c *Client, d time.Duration) { c.retryAfterCap = d }

// Bounds a record may hold, for tests outside the package.
const (
	MaxStreamsPerMedia   = maxStreamsPerMedia
	MaxSessions          = maxSessions
	MaxElementsPerAnswer = maxElementsPerAnswer
)
