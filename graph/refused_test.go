package graph

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
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
