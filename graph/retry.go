package graph

import (
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// backoff is capped exponential back-off with full jitter, used when Graph
// gives no Retry-After.
type backoff struct {
	base, max time.Duration
}

func (b backoff) delay(attempt int) time.Duration {
	d := b.base << min(attempt, 16)
	if d <= 0 || d > b.max {
		d = b.max
	}
	return d/2 + rand.N(d/2+1) // #nosec G404 -- jitter only spreads retries; nothing depends on it being unpredictable
}

// maxRetryAfter bounds a hostile or mistaken Retry-After: waiting longer
// would stall polls for nothing, since the wait is logged and the request
// is simply throttled again if Graph meant it.
const maxRetryAfter = 10 * time.Minute

// retryAfter is a parsed Retry-After header.
type retryAfter struct {
	wait   time.Duration // rounded up to whole seconds for delta-seconds
	capped bool          // Graph asked for more than the cap (asked holds it)
	asked  time.Duration
}

// parseRetryAfter reads Retry-After as delta seconds, which Graph sometimes
// sends as a decimal ("2.128", rounded up to the next whole second so the
// retry never comes early), or as an HTTP date. A value above limit is
// capped at limit and marked so the caller can log it.
func parseRetryAfter(v string, now time.Time, limit time.Duration) (retryAfter, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return retryAfter{}, false
	}
	var asked time.Duration
	if secs, err := strconv.ParseFloat(v, 64); err == nil && isDeltaSeconds(v) {
		if math.IsNaN(secs) || secs < 0 {
			return retryAfter{}, false
		}
		secs = math.Ceil(secs)
		if secs >= float64(math.MaxInt64/int64(time.Second)) {
			asked = math.MaxInt64
		} else {
			asked = time.Duration(secs) * time.Second
		}
	} else if t, err := http.ParseTime(v); err == nil {
		asked = max(t.Sub(now), 0)
	} else {
		return retryAfter{}, false
	}
	if asked > limit {
		return retryAfter{wait: limit, capped: true, asked: asked}, true
	}
	return retryAfter{wait: asked, asked: asked}, true
}

// isDeltaSeconds accepts digits with at most one decimal point, so that
// strconv.ParseFloat's other forms ("1e3", "Inf", "0x10") are not taken
// for a delay.
func isDeltaSeconds(v string) bool {
	dot := false
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= '0' && c <= '9':
		case c == '.' && !dot && i > 0:
			dot = true
		default:
			return false
		}
	}
	return true
}
