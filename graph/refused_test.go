package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestMalformedPagesAreCounted: every list page refused for what it holds
// is counted in the refused bodies, whatever the decoder found wrong, and
// the error stays short however deep the page nests. A page cut off is
// retried, not counted. Syntax and type errors used to go uncounted, and
// 20,000 levels of nesting made an error of 40 KB.
func TestMalformedPagesAreCounted(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		body    string
		refused int
	}{
		{"values of the wrong type", `{"value":[1,2]}`, 1},
		{"an HTML page", "<html><body><h1>502 Bad Gateway</h1></body></html>", 1},
		{"20,000 levels of nesting", `{"value":[{"id":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}]}`, 1},
		{"trailing garbage", `{"value":[]} x`, 1},
		{"cut off", `{"value":[{"id":"a"`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(tt.body))
			}))
			defer srv.Close()
			c, obs := newTestClient(t, srv, func(c *Config) { c.MaxRetries = 1 })
			_, err := c.ListCallRecords(context.Background(), from, from.Add(time.Hour), func(CallRecord) error { return nil })
			if err == nil {
				t.Fatal("a broken page was read")
			}
			if tt.refused > 0 && !errors.Is(err, ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
			if obs.refused[OpList] != tt.refused {
				t.Errorf("refused bodies counted %d, want %d (err %v)", obs.refused[OpList], tt.refused, err)
			}
			if n := len(err.Error()); n > 400 {
				t.Errorf("an error of %d bytes: %.300s", n, err)
			}
		})
	}
}

// TestListingLoopsAndFloodsAreRefused: a call-record listing whose next
// link points back to a page already read stops at once, not after
// maxPages requests; one that lists more records than a listing may hold
// is refused and counted.
func TestListingLoopsAndFloodsAreRefused(t *testing.T) {
	from := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	defer func(n int) { maxListedRecords = n }(maxListedRecords)
	maxListedRecords = 5
	tests := []struct {
		name    string
		next    func(page int) string // the next link of page (from 0); "" ends
		records int                   // per page
		pages   int                   // requests, at most
		refused int
		want    string
	}{
		{"a link to itself", func(int) string { return "/v1.0/communications/callRecords?page=0" }, 1, 2, 0, "next link loops"},
		{"a cycle of three", func(p int) string { return fmt.Sprintf("/v1.0/communications/callRecords?page=%d", (p+1)%3) }, 1, 4, 0, "next link loops"},
		{"more records than a listing holds", func(p int) string { return fmt.Sprintf("/v1.0/communications/callRecords?page=%d", p+1) }, 2, 3, 1, "more than 5 records"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var requests atomic.Int32
			var srv *httptest.Server
			srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				page, _ := strconv.Atoi(r.URL.Query().Get("page"))
				var recs []string
				for i := range tt.records {
					recs = append(recs, fmt.Sprintf(`{"id":"r%d-%d","startDateTime":"2026-11-01T00:10:00Z"}`, page, i))
				}
				fmt.Fprintf(w, `{"value":[%s],"@odata.nextLink":%q}`, strings.Join(recs, ","), srv.URL+tt.next(page))
			}))
			defer srv.Close()
			c, obs := newTestClient(t, srv, nil)
			_, err := c.ListCallRecords(context.Background(), from, from.Add(time.Hour), func(CallRecord) error { return nil })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
			if n := int(requests.Load()); n > tt.pages {
				t.Errorf("%d requests, want at most %d", n, tt.pages)
			}
			if obs.refused[OpList] != tt.refused {
				t.Errorf("refused %d, want %d", obs.refused[OpList], tt.refused)
			}
		})
	}
}
