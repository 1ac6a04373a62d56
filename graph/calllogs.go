package graph

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/time/rate"
)

// Graph's PSTN and direct-routing call logs are two functions bound to the
// callRecords collection, getPstnCalls and getDirectRoutingCalls. They are
// read by call start time, answer at most 1,000 rows a page with an
// @odata.nextLink, and are throttled apart from call records: 200 requests
// per 60 s per app and tenant, and 50 per 60 s per collection (each
// function). The client paces each function under the second, which keeps
// the two under the first.

// The call-log operations, as counted in metrics.
const (
	OpPSTNCalls          Operation = "pstn_calls"
	OpDirectRoutingCalls Operation = "direct_routing_calls"
)

// ErrForbidden is matched (errors.Is) by an Error whose status is 403: the
// application lacks the permission, and asking again will not help until an
// administrator grants it.
var ErrForbidden = errors.New("forbidden")

// ErrMalformedRow is matched (errors.Is) by the error given for a call-log
// row that cannot be read; the rest of the page is read all the same.
var ErrMalformedRow = errors.New("malformed call-log row")

// maxLogWindow keeps each function call inside the 90 days Graph accepts
// between fromDateTime and toDateTime; a longer window is read in parts.
const maxLogWindow = 89 * 24 * time.Hour

// callLogLimits paces the call-log functions, one limiter per function. A
// token bucket lets burst + 60 s × rate requests through in any 60 s: 10 +
// 35 = 45, under the 50 per function; both functions together stay under
// the 200 per app and tenant.
type callLogLimits map[Operation]*rate.Limiter

func newCallLogLimits(perFunction rate.Limit) callLogLimits {
	perFunction = orDefault(perFunction, rate.Limit(35.0/60))
	return callLogLimits{
		OpPSTNCalls:          rate.NewLimiter(perFunction, 10),
		OpDirectRoutingCalls: rate.NewLimiter(perFunction, 10),
	}
}

// wait reports whether op is a call-log operation, after waiting for its
// limiter when it is.
func (l callLogLimits) wait(ctx context.Context, op Operation) (bool, error) {
	lim, ok := l[op]
	if !ok {
		return false, nil
	}
	return true, lim.Wait(ctx)
}

// ListDirectRoutingCalls reads the direct-routing log rows of the calls
// that started in [from, to) and calls fn for each, in Graph's order. A
// row that cannot be read is passed with a non-nil error (matching
// ErrMalformedRow) and as much of the row as was read, at least its ID
// when that could be read; fn's own error stops the listing. A row listed
// twice is passed twice; callers de-duplicate by ID.
func (c *Client) ListDirectRoutingCalls(ctx context.Context, from, to time.Time, fn func(DirectRoutingCall, error) error) error {
	return c.listCallLog(ctx, OpDirectRoutingCalls, "getDirectRoutingCalls", from, to, func(raw jsontext.Value) error {
		row, err := decodeDirectRoutingRow(raw)
		return fn(row, err)
	})
}

// ListPSTNCalls reads the PSTN log rows (Calling Plans, Operator Connect)
// of the calls that started in [from, to), as ListDirectRoutingCalls does.
func (c *Client) ListPSTNCalls(ctx context.Context, from, to time.Time, fn func(PSTNCall, error) error) error {
	return c.listCallLog(ctx, OpPSTNCalls, "getPstnCalls", from, to, func(raw jsontext.Value) error {
		row, err := decodePSTNRow(raw)
		return fn(row, err)
	})
}

func (c *Client) listCallLog(ctx context.Context, op Operation, function string, from, to time.Time, fn func(jsontext.Value) error) error {
	from, to = from.UTC().Truncate(time.Second), ceilSecond(to).UTC()
	for part := from; part.Before(to); part = part.Add(maxLogWindow) {
		if err := c.listCallLogWindow(ctx, op, function, part, minTime(to, part.Add(maxLogWindow)), fn); err != nil {
			return err
		}
	}
	return nil
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func (c *Client) listCallLogWindow(ctx context.Context, op Operation, function string, from, to time.Time, fn func(jsontext.Value) error) error {
	// The function-call syntax puts the parameters in the path as OData
	// DateTimeOffset literals, unquoted.
	next := c.endpoint(fmt.Sprintf("/v1.0/communications/callRecords/%s(fromDateTime=%s,toDateTime=%s)",
		function, url.PathEscape(from.Format(time.RFC3339)), url.PathEscape(to.Format(time.RFC3339))))
	seen := map[string]bool{}
	for pages := 0; next != ""; pages++ {
		if pages >= maxPages || seen[next] {
			return fmt.Errorf("%s: next link loops", function)
		}
		seen[next] = true
		var page struct {
			Value    []jsontext.Value `json:"value"`
			NextLink string           `json:"@odata.nextLink"`
		}
		if err := c.getJSON(ctx, op, next, &page); err != nil {
			return fmt.Errorf("%s: %w", function, err)
		}
		for _, raw := range page.Value {
			if err := fn(raw); err != nil {
				return err
			}
		}
		if page.NextLink != "" {
			if err := c.sameOrigin(page.NextLink); err != nil {
				return fmt.Errorf("%s: %w", function, err)
			}
		}
		next = page.NextLink
	}
	return nil
}
