package notifications

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// FuzzReceiver throws arbitrary requests at the handler. Whatever arrives,
// it answers 200 (a handshake), 202 or a 4xx, counts every 4xx as rejected
// once, and queues only ids that look like Graph's, from requests it
// accepted.
func FuzzReceiver(f *testing.F) {
	f.Add("POST", NotificationPath, "", "application/json", changeBody(testSecret, "created", idA, idB))
	f.Add("POST", NotificationPath, "", "application/json", changeBody(testSecret, "updated", idA))
	f.Add("POST", LifecyclePath, "", "application/json", lifecycleBody(testSecret, "s", EventMissed, EventSubscriptionRemoved))
	f.Add("POST", NotificationPath, "validationToken=abc%20def", "text/plain", "")
	f.Add("GET", NotificationPath, "", "", "")
	f.Add("POST", NotificationPath, "", "application/json", `{"value":[{"clientState":"`+testSecret+`","resource":"communications/callRecords('x')"}]}`)
	f.Add("POST", NotificationPath, "", "application/json", `{"value":null}`)
	f.Add("POST", LifecyclePath, "", "application/json;charset=utf-8", `{"value":[{"clientState":"`+testSecret+`","lifecycleEvent":"missed"}]} `)
	f.Add("POST", NotificationPath, "", "application/json", `{"value":[`+items(changeBody("x", "created", idA))+`,`+items(changeBody(testSecret, "created", idB))+`]}`)
	f.Fuzz(func(t *testing.T, method, path, query, contentType, body string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path+query, " #\x00\r\n") {
			return // not something net/http's server would hand to a handler
		}
		r, err := NewReceiver(Config{ClientState: testSecret, QueueSize: 50, Registerer: prometheus.NewRegistry()})
		if err != nil {
			t.Fatal(err)
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return // the server refuses it before any handler
		}
		req := httptest.NewRequest(method, "http://x"+target, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, req)
		rejected := testutil.ToFloat64(r.metrics.notifications.WithLabelValues(ResultRejected))
		switch code := rec.Code; {
		case code == http.StatusOK:
			if !req.URL.Query().Has("validationToken") || rec.Body.String() != req.URL.Query().Get("validationToken") {
				t.Fatalf("200 that is not a handshake echo: %q", rec.Body.String())
			}
		case code == http.StatusAccepted:
			// Items refused alone are counted, the body is not.
			if rejected >= float64(MaxItems) {
				t.Fatalf("accepted and counted %v rejected", rejected)
			}
		case code >= 400 && code < 500:
			// Each notification read from a refused body counts, and one
			// is counted for a body refused before its first: at least
			// one, at most a body's items.
			if rejected < 1 || rejected > float64(MaxItems) {
				t.Fatalf("%d counted as %v rejected", code, rejected)
			}
			if r.Queued() != 0 {
				t.Fatalf("a rejected request queued ids")
			}
		default:
			t.Fatalf("status %d", code)
		}
		for _, n := range r.Take(100) {
			if !validRecordID(n.ID) {
				t.Fatalf("queued id %q", n.ID)
			}
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if c := m[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}
