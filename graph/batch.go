package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// GetCallRecords fetches the records with the given ids, each with all its
// sessions and segments, and calls fn once per id with the record or the
// error that stopped it. Records are fetched 20 to a JSON $batch request
// (Config.BatchSize), with Config.Concurrency requests in flight; fn is
// called from several goroutines at once.
func (c *Client) GetCallRecords(ctx context.Context, ids []string, fn func(id string, rec *CallRecord, err error)) {
	if slices.ContainsFunc(ids, func(id string) bool { return !ValidID(id) }) {
		valid := make([]string, 0, len(ids))
		for _, id := range ids {
			if err := checkID(id); err != nil {
				fn(id, nil, fmt.Errorf("get call record: %w", err))
				continue
			}
			valid = append(valid, id)
		}
		ids = valid
	}
	chunks := make(chan []string)
	var wg sync.WaitGroup
	for range min(c.workers, (len(ids)+c.batchSize-1)/c.batchSize) {
		wg.Go(func() {
			for chunk := range chunks {
				c.fetchChunk(ctx, chunk, fn)
			}
		})
	}
	for len(ids) > 0 {
		n := min(c.batchSize, len(ids))
		chunks <- ids[:n]
		ids = ids[n:]
	}
	close(chunks)
	wg.Wait()
}

func (c *Client) fetchChunk(ctx context.Context, ids []string, fn func(string, *CallRecord, error)) {
	if c.batchSize == 1 || len(ids) == 1 {
		for _, id := range ids {
			rec, err := c.GetCallRecord(ctx, id)
			fn(id, rec, err)
		}
		return
	}
	c.fetchBatch(ctx, ids, fn)
}

type batchRequest struct {
	Requests []batchRequestItem `json:"requests"`
}

type batchRequestItem struct {
	ID      string            `json:"id"`
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers,omitempty"`
}

// batchItemHeaders go on every item: Graph does not apply the outer
// request's Prefer to the requests inside a $batch.
var batchItemHeaders = map[string]string{"Prefer": "include-unknown-enum-members"}

type batchResponse struct {
	Responses []batchResponseItem `json:"responses"`
}

type batchResponseItem struct {
	ID      string        `json:"id"`
	Status  int           `json:"status"`
	Headers batchHeaders  `json:"headers"`
	Body    batchItemBody `json:"body"`
}

// batchHeaders keeps what the client reads of an item's headers. Decoded
// as a map, a 60 MiB answer of headers made 5.3 M entries and 518 MiB of
// heap outside the element budget.
type batchHeaders struct {
	retryAfter, wwwAuthenticate string
}

// maxBatchHeaders bounds the headers of one $batch item; Graph sends a
// handful.
const maxBatchHeaders = 64

// maxBatchHeaderValue bounds a header value kept; a longer one is dropped.
const maxBatchHeaderValue = 8 << 10

// decode reads an item's headers (an object, or null), keeping Retry-After
// and WWW-Authenticate (names in any case, string values) and skipping the
// rest, each member charged to the answer's budget.
func (h *batchHeaders) decode(dec *jsontext.Decoder, bud *budget) error {
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	switch tok.Kind() {
	case 'n':
		return nil
	case '{':
	default:
		return fmt.Errorf("$batch item headers: want an object, got %v", tok.Kind())
	}
	for n := 0; dec.PeekKind() != '}'; n++ {
		if n >= maxBatchHeaders {
			return fmt.Errorf("$batch item headers: more than %d", maxBatchHeaders)
		}
		if bud.left--; bud.left < 0 {
			return errAnswerBudget
		}
		name, err := dec.ReadToken()
		if err != nil {
			return err
		}
		var keep *string
		switch {
		case strings.EqualFold(name.String(), "Retry-After"):
			keep = &h.retryAfter
		case strings.EqualFold(name.String(), "WWW-Authenticate"):
			keep = &h.wwwAuthenticate
		}
		if keep == nil || dec.PeekKind() != '"' {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		v, err := dec.ReadToken()
		if err != nil {
			return err
		}
		if s := v.String(); len(s) <= maxBatchHeaderValue {
			*keep = s
		}
	}
	_, err = dec.ReadToken() // '}'
	return err
}

// batchItemBody is a record when the status is 200, an OData error
// otherwise. It is decoded on its own, so that one item that cannot be read
// (broken JSON embedded as base64, a field of the wrong type) fails only
// its own record and not the 19 others of its $batch.
type batchItemBody struct {
	CallRecord
	odataError
	err error // why the body could not be read
}

// decode takes the item's body whole (the $batch decoder checks its
// syntax) and decodes it apart from the envelope, charging its lists to
// the envelope's budget: a record over its own bounds fails only its item,
// an envelope over the budget fails as a whole (and is split).
func (b *batchItemBody) decode(dec *jsontext.Decoder, bud *budget) error {
	data, err := dec.ReadValue()
	if err != nil {
		return err // the envelope itself is broken
	}
	var v struct {
		CallRecord
		odataError
	}
	if err := jsonv2.Unmarshal(data, &v, bud.options()); err != nil {
		if errors.Is(err, errAnswerBudget) {
			return err
		}
		b.err = shortError(err)
		return nil
	}
	b.CallRecord, b.odataError = v.CallRecord, v.odataError
	return nil
}

// fetchBatch sends ids as one $batch, retrying only the items Graph
// throttled or failed transiently, after the longest Retry-After among them.
// An answer too large to read (over the body limit or the element budget)
// is split in halves, each fetched again, down to single records: one
// large record cannot fail the others of its batch forever.
func (c *Client) fetchBatch(ctx context.Context, ids []string, fn func(string, *CallRecord, error)) {
	pending := ids
	renewed := false
	for attempt := 0; len(pending) > 0; attempt++ {
		resp, elapsed, err := c.postBatch(ctx, pending)
		if err != nil && len(pending) > 1 && (errors.Is(err, ErrBodyTooLarge) || errors.Is(err, errAnswerBudget)) {
			c.log.Debug("$batch answer too large; splitting", "count", len(pending))
			half := len(pending) / 2
			c.fetchChunk(ctx, pending[:half], fn)
			c.fetchChunk(ctx, pending[half:], fn)
			return
		}
		if err != nil {
			for _, id := range pending {
				fn(id, nil, err)
			}
			return
		}
		retry, wait, lastErr := c.settleBatch(ctx, pending, resp, elapsed, fn)
		if len(retry) == 0 {
			return
		}
		if gerr := unauthorized(lastErr); gerr != nil {
			// Items refused the token (a claims challenge, or a revoked
			// token): renew it once, as for a direct request.
			if renewed {
				for _, id := range retry {
					fn(id, nil, lastErr)
				}
				return
			}
			renewed = true
			if rerr := c.renewToken(ctx, gerr.Claims); rerr != nil {
				for _, id := range retry {
					fn(id, nil, fmt.Errorf("%w (renewing the token: %w)", lastErr, rerr))
				}
				return
			}
			pending = retry
			continue
		}
		if attempt >= c.retries {
			for _, id := range retry {
				fn(id, nil, lastErr)
			}
			return
		}
		if wait == 0 {
			wait = c.backoff.delay(attempt)
		}
		c.log.Debug("retrying batched Graph requests", "op", OpGet, "count", len(retry), "attempt", attempt+1, "wait", wait)
		if err := sleep(ctx, wait); err != nil {
			for _, id := range retry {
				fn(id, nil, fmt.Errorf("get call record: %w", err))
			}
			return
		}
		pending = retry
	}
}

// settleBatch hands every finished item to fn and returns the ids to retry:
// those Graph throttled or failed transiently, and those refused with 401
// (lastErr is then that 401, for the caller to renew the token).
func (c *Client) settleBatch(ctx context.Context, ids []string, resp *batchResponse, elapsed time.Duration, fn func(string, *CallRecord, error)) (retry []string, wait time.Duration, lastErr error) {
	answered := make([]*batchResponseItem, len(ids))
	for i := range resp.Responses {
		item := &resp.Responses[i]
		if n, err := strconv.Atoi(item.ID); err == nil && n >= 0 && n < len(ids) {
			answered[n] = item
		}
	}
	var unauthorizedErr error
	for i, id := range ids {
		item := answered[i]
		if item == nil {
			lastErr = fmt.Errorf("get call record: $batch gave no answer for an item")
			retry = append(retry, id)
			continue
		}
		c.obs.ObserveRequest(OpGet, statusCode(item.Status), elapsed)
		if item.Status/100 == 2 {
			if err := item.Body.err; err != nil {
				if !errors.Is(err, ErrMalformed) {
					err = fmt.Errorf("%w: %w", ErrMalformed, err)
				}
				fn(id, nil, fmt.Errorf("get call record: decode $batch item: %w", err))
				continue
			}
			rec := item.Body.CallRecord
			full, err := c.finishRecord(ctx, id, &rec)
			fn(id, full, err)
			continue
		}
		gerr := newError(OpGet, item.Status, &item.Body.odataError)
		err := fmt.Errorf("get call record: %w", gerr)
		if item.Status == http.StatusUnauthorized {
			gerr.Claims = claimsChallenge([]string{item.Headers.wwwAuthenticate})
			unauthorizedErr = err
			retry = append(retry, id)
			continue
		}
		if !retryable(item.Status) {
			fn(id, nil, err)
			continue
		}
		if item.Status == http.StatusTooManyRequests {
			c.obs.ObserveThrottled(OpGet)
		}
		wait = max(wait, c.retryAfter(OpGet, item.Status, item.Headers.retryAfter))
		lastErr = err
		retry = append(retry, id)
	}
	if unauthorizedErr != nil {
		lastErr = unauthorizedErr
	}
	return retry, wait, lastErr
}

func (c *Client) postBatch(ctx context.Context, ids []string) (*batchResponse, time.Duration, error) {
	body := batchRequest{Requests: make([]batchRequestItem, len(ids))}
	for i, id := range ids {
		body.Requests[i] = batchRequestItem{
			ID:      strconv.Itoa(i),
			Method:  "GET",
			URL:     "/communications/callRecords/" + url.PathEscape(id) + "?$expand=sessions($expand=segments)",
			Headers: batchItemHeaders,
		}
	}
	newReq, err := jsonBody(c.endpoint("/v1.0/$batch"), body)
	if err != nil {
		return nil, 0, fmt.Errorf("get call records: %w", err)
	}
	var resp batchResponse
	start := c.now()
	if err := c.doN(ctx, OpBatch, len(ids), newReq, &resp); err != nil {
		return nil, 0, fmt.Errorf("get call records: %w", err)
	}
	return &resp, c.now().Sub(start), nil
}
