package graph

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hostileBody is a gzip body of about gzipBytes that decodes into a record
// holding as many empty elements as fit: {"id":id,...[{},{},...]...}, the
// decode amplification an attack review found (3 GiB of heap from 8 KiB).
func hostileBody(tb testing.TB, id, prefix, suffix string, gzipBytes int) (body []byte, decoded int) {
	tb.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	head := `{"id":"` + id + `",` + prefix
	zw.Write([]byte(head))
	decoded = len(head)
	chunk := []byte(strings.Repeat("{},", 1<<18)) // 768 KiB
	for buf.Len() < gzipBytes-1024 {
		zw.Write(chunk)
		decoded += len(chunk)
		zw.Flush()
	}
	zw.Write([]byte("{}" + suffix + "}"))
	zw.Close()
	return buf.Bytes(), decoded + 3 + len(suffix)
}

func gzipServer(body []byte) *httptest.Server {
	return httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(body)
	}))
}

// A few KiB of gzip that decode into millions of empty sessions or streams
// are refused once a bound is reached, as a record over the bounds:
// malformed, skipped and counted, never gigabytes of heap. A body whose
// decompressed size is over the limit is refused as too large.
func TestHostileRecordBodies(t *testing.T) {
	tests := []struct {
		name           string
		prefix, suffix string
		maxBody        int64
		want           error
	}{
		{"streams", `"sessions":[{"segments":[{"media":[{"streams":[`, `]}]}]}]`, 0, ErrRecordBounds},
		{"sessions", `"sessions":[`, `]`, 0, ErrRecordBounds},
		{"media", `"sessions":[{"segments":[{"media":[`, `]}]}]`, 0, ErrRecordBounds},
		{"modalities", `"modalities":[""`, `]`, 0, nil}, // not objects: a type error, still malformed
		{"decompressed size", `"padding":"`, `"`, 1 << 20, ErrBodyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, decoded := hostileBody(t, "x", tt.prefix, tt.suffix, 8<<10)
			if len(body) > 9<<10 || decoded < 4<<20 {
				t.Fatalf("hostile body %d bytes decoding to %d: not the attack", len(body), decoded)
			}
			srv := gzipServer(body)
			defer srv.Close()
			c, _ := newTestClient(t, srv, func(c *Config) {
				if tt.maxBody > 0 {
					c.MaxBodyBytes = tt.maxBody
				}
			})
			_, err := c.GetCallRecord(context.Background(), "x")
			want := tt.want
			if want == nil {
				want = ErrMalformed
			}
			if !errors.Is(err, want) {
				t.Fatalf("err = %v, want %v", err, want)
			}
			if want != ErrBodyTooLarge && !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v is not ErrMalformed: it would count as Graph failing", err)
			}
		})
	}
}

// BenchmarkHostileRecord fetches the 8 KiB gzip body of {},{},... streams
// through the client: B/op is what one hostile record can make the
// exporter allocate (peak heap is at most that).
func BenchmarkHostileRecord(b *testing.B) {
	body, decoded := hostileBody(b, "x", `"sessions":[{"segments":[{"media":[{"streams":[`, `]}]}]}]`, 8<<10)
	srv := gzipServer(body)
	defer srv.Close()
	c, _ := newTestClient(b, srv, nil)
	b.ReportAllocs()
	b.ReportMetric(float64(decoded), "decoded-bytes")
	for b.Loop() {
		if _, err := c.GetCallRecord(context.Background(), "x"); !errors.Is(err, ErrRecordBounds) {
			b.Fatal(err)
		}
	}
}

// A $batch answer over the element budget fails as a whole (and is
// split by the caller); an item over its own record's bounds fails alone.
func TestBatchAnswerBudget(t *testing.T) {
	item := func(id string, streams int) string {
		return `{"id":"` + id + `","status":200,"body":{"id":"` + id + `","sessions":[{"segments":[{"media":[{"streams":[` +
			strings.TrimSuffix(strings.Repeat("{},", streams), ",") + `]}]}]}]}}`
	}
	env := `{"responses":[` + item("a", 10) + "," + item("b", maxStreamsPerMedia+1) + "," + item("c", 10) + `]}`
	var resp batchResponse
	if err := decodeJSON(strings.NewReader(env), &resp, newBudget()); err != nil {
		t.Fatal(err)
	}
	if resp.Responses[0].Body.err != nil || resp.Responses[2].Body.err != nil || !errors.Is(resp.Responses[1].Body.err, ErrRecordBounds) {
		t.Errorf("items: %v / %v / %v; want only the second over its bounds", resp.Responses[0].Body.err, resp.Responses[1].Body.err, resp.Responses[2].Body.err)
	}
	if err := decodeJSON(strings.NewReader(env), &resp, &budget{left: 25}); !errors.Is(err, errAnswerBudget) {
		t.Errorf("envelope over the budget: err %v, want errAnswerBudget", err)
	}
}

// The list limiter never allows more than 40 requests in any 20 s window,
// its burst included, whatever the rate up to 1.95/s: checked by asking
// greedily every 10 ms for five minutes of the limiter's own clock.
func TestListLimiterWindow(t *testing.T) {
	start := simEpoch
	for _, r := range []float64{0.5, 1, 1.5, 1.8, 1.95} {
		l := newListLimiter(rateLimit(r))
		var granted []int64 // ms since start
		for ms := int64(0); ms < 5*60*1000; ms += 10 {
			if l.AllowN(start.Add(msDuration(ms)), 1) {
				granted = append(granted, ms)
			}
		}
		peak := 0
		for i, j := 0, 0; j < len(granted); j++ {
			for granted[j]-granted[i] >= listWindow.Milliseconds() {
				i++
			}
			peak = max(peak, j-i+1)
		}
		if peak > listWindowMax {
			t.Errorf("rate %v/s: %d list requests within 20 s, want at most %d", r, peak, listWindowMax)
		}
		if peak < listWindowMax-2 {
			t.Errorf("rate %v/s: at most %d requests within 20 s: the burst is smaller than it need be", r, peak)
		}
	}
	// The limiter this replaced (burst 9 at 1.8/s) allowed 45.
}

// A 12 KiB gzip page inflating to 12 MiB of empty items ({"value":[{},...]})
// cost 1.8 GiB of heap as a list page and 317 MiB as a call-log page. Every
// page is now decoded within the element budget: the error names the
// operation, the refusal is counted, and the heap stays small.
func TestHostilePages(t *testing.T) {
	ctx := context.Background()
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		op   Operation
		list func(*Client) error
	}{
		{OpList, func(c *Client) error {
			_, err := c.ListCallRecords(ctx, from, from.Add(time.Hour), func(CallRecord) error { return nil })
			return err
		}},
		{OpPSTNCalls, func(c *Client) error {
			return c.ListPSTNCalls(ctx, from, from.Add(time.Hour), func(PSTNCall, error) error { return nil })
		}},
		{OpDirectRoutingCalls, func(c *Client) error {
			return c.ListDirectRoutingCalls(ctx, from, from.Add(time.Hour), func(DirectRoutingCall, error) error { return nil })
		}},
		{OpSubscription, func(c *Client) error {
			_, err := c.ListSubscriptions(ctx)
			return err
		}},
	}
	body, decoded := hostileBody(t, "x", `"value":[`, `]`, 13<<10)
	if len(body) > 14<<10 || decoded < 12<<20 {
		t.Fatalf("hostile page %d bytes decoding to %d: not the attack", len(body), decoded)
	}
	srv := gzipServer(body)
	defer srv.Close()
	for _, tt := range tests {
		t.Run(string(tt.op), func(t *testing.T) {
			c, obs := newTestClient(t, srv, nil)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			err := tt.list(c)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), string(tt.op)) {
				t.Errorf("err = %v; want ErrMalformed naming %s", err, tt.op)
			}
			if obs.refused[tt.op] != 1 {
				t.Errorf("refused bodies counted %v, want 1 for %s", obs.refused, tt.op)
			}
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d-byte gzip page of %d bytes: %d bytes allocated", len(body), decoded, alloc)
			if alloc > 64<<20 {
				t.Errorf("a %d-byte gzip page allocated %d MiB", len(body), alloc>>20)
			}
		})
	}
}
