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

// FuzzReceiver throws arbitrary requests at two handlers, one with the
// tenant unknown and one with Config.TenantID set. Whatever arrives, each
// answers 200 (a handshake), 202 or a 4xx, counts every 4xx as rejected
// once, and queues only ids that look like Graph's, from requests it
// accepted. The tenant check only refuses: the receiver that knows the
// tenant accepts no item the other refuses, and counts each item the
// other counts (a refused one as rejected).
func FuzzReceiver(f *testing.F) {
	change := changeBody(testSecret, "created", idA, idB)
	ours, other := `"tenantId":"`+testTenant+`"`, `"tenantId":"`+otherTenant+`"`
	organization := func(body, organization string) string {
		return strings.Replace(body, `"clientState"`, `"organizationId":"`+organization+`","clientState"`, 1)
	}
	f.Add("POST", NotificationPath, "", "application/json", changeBody(testSecret, "created", idA, idB))
	f.Add("POST", NotificationPath, "", "application/json", changeBody(testSecret, "updated", idA))
	f.Add("POST", LifecyclePath, "", "application/json", lifecycleBody(testSecret, "s", EventMissed, EventSubscriptionRemoved))
	f.Add("POST", NotificationPath, "validationToken=abc%20def", "text/plain", "")
	f.Add("GET", NotificationPath, "", "", "")
	f.Add("POST", NotificationPath, "", "application/json", `{"value":[{"clientState":"`+testSecret+`","resource":"communications/callRecords('x')"}]}`)
	f.Add("POST", NotificationPath, "", "application/json", `{"value":null}`)
	f.Add("POST", LifecyclePath, "", "application/json;charset=utf-8", `{"value":[{"clientState":"`+testSecret+`","lifecycleEvent":"missed"}]} `)
	f.Add("POST", NotificationPath, "", "application/json", `{"value":[`+items(changeBody("x", "created", idA))+`,`+items(changeBody(testSecret, "created", idB))+`]}`)
	// The tenant: ours, another's, twice, as organizationId, escaped.
	f.Add("POST", NotificationPath, "", "application/json", withTenant(change, otherTenant))
	f.Add("POST", NotificationPath, "", "application/json", withTenant(change, ""))
	f.Add("POST", NotificationPath, "", "application/json", strings.Replace(change, ours, ours+","+other, 1))
	f.Add("POST", NotificationPath, "", "application/json", strings.Replace(change, ours, ours+","+ours, 1))
	f.Add("POST", NotificationPath, "", "application/json", organization(change, testTenant))
	f.Add("POST", NotificationPath, "", "application/json", organization(change, otherTenant))
	f.Add("POST", NotificationPath, "", "application/json", organization(withTenant(change, otherTenant), testTenant))
	f.Add("POST", NotificationPath, "", "application/json", organization(organization(change, testTenant), otherTenant))
	f.Add("POST", NotificationPath, "", "application/json", strings.Replace(organization(change, otherTenant), `"organizationId"`, escapedName("organizationId"), 1))
	f.Add("POST", LifecyclePath, "", "application/json", lifecycleOrganizationBody(testSecret, testTenant))
	f.Add("POST", LifecyclePath, "", "application/json", lifecycleOrganizationBody(testSecret, otherTenant))
	f.Fuzz(func(t *testing.T, method, path, query, contentType, body string) {
		if !validMethod(method) || !strings.HasPrefix(path, "/") || strings.ContainsAny(path+query, " #\x00\r\n") {
			return // not something net/http's server would hand to a handler
		}
		target := path
		if query != "" {
			target += "?" + query
		}
		if _, err := url.ParseRequestURI(target); err != nil {
			return // the server refuses it before any handler
		}
		open := serveFuzzed(t, Config{}, method, target, contentType, body)
		known := serveFuzzed(t, Config{TenantID: testTenant}, method, target, contentType, body)
		if known.code == http.StatusAccepted && open.code != http.StatusAccepted {
			t.Fatalf("accepted only with the tenant known (%d without)", open.code)
		}
		if known.accepted > open.accepted || known.lifecycle > open.lifecycle {
			t.Fatalf("the tenant check let more in: %+v, %+v without", known, open)
		}
		// A deleted change is used but counted in no result, so the
		// receiver that knows the tenant may count more (a foreign
		// deleted change, as rejected), never fewer.
		if known.total() < open.total() {
			t.Fatalf("the tenant check lost a count: %+v, %+v without", known, open)
		}
		for id := range known.ids {
			if !open.ids[id] {
				t.Fatalf("id %q queued only with the tenant known", id)
			}
		}
	})
}

// fuzzed is what one receiver made of a fuzzed request.
type fuzzed struct {
	code                          int
	accepted, lifecycle, rejected float64
	ids                           map[string]bool
}

func (f fuzzed) total() float64 { return f.accepted + f.lifecycle + f.rejected }

// serveFuzzed serves one request with a new receiver configured by cfg
// and checks what holds whatever the request: a 200 only as a handshake
// echo, a 4xx counted as rejected and queueing nothing, and queued ids
// only such as Graph's.
func serveFuzzed(t *testing.T, cfg Config, method, target, contentType, body string) fuzzed {
	t.Helper()
	cfg.ClientState, cfg.QueueSize, cfg.Registerer = testSecret, 50, prometheus.NewRegistry()
	r, err := NewReceiver(cfg)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(method, "http://x"+target, strings.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	r.ServeHTTP(rec, req)
	got := fuzzed{
		code:      rec.Code,
		accepted:  testutil.ToFloat64(r.metrics.notifications.WithLabelValues(ResultAccepted)),
		lifecycle: testutil.ToFloat64(r.metrics.notifications.WithLabelValues(ResultLifecycle)),
		rejected:  testutil.ToFloat64(r.metrics.notifications.WithLabelValues(ResultRejected)),
		ids:       map[string]bool{},
	}
	switch code := rec.Code; {
	case code == http.StatusOK:
		if !req.URL.Query().Has("validationToken") || rec.Body.String() != req.URL.Query().Get("validationToken") {
			t.Fatalf("200 that is not a handshake echo: %q", rec.Body.String())
		}
	case code == http.StatusAccepted:
		// Items refused alone are counted, the body is not.
		if got.rejected >= float64(MaxItems) {
			t.Fatalf("accepted and counted %v rejected", got.rejected)
		}
	case code >= 400 && code < 500:
		// Each notification read from a refused body counts, and one
		// is counted for a body refused before its first: at least
		// one, at most a body's items; none as anything else.
		if got.rejected < 1 || got.rejected > float64(MaxItems) || got.accepted+got.lifecycle != 0 {
			t.Fatalf("%d counted as %+v", code, got)
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
		got.ids[n.ID] = true
	}
	return got
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
