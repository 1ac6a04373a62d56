package graphsim

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// FuzzParseFilter: any $filter gives an interval or an error, never a panic.
func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{
		"startDateTime ge 2025-01-01T00:00:00Z and startDateTime lt 2025-01-02T00:00:00Z",
		"((startDateTime gt 2025-01-01T00:00:00.5+02:00))", "startDateTime ge '", "(((", "and and", ")", "startDateTime lt",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iv, err := parseFilter(s)
		if err == nil && iv.Lo == nil && iv.Hi == nil {
			t.Errorf("parseFilter(%q) accepted a filter without bounds", s)
		}
	})
}

// FuzzHandler sends arbitrary paths, queries, headers and bodies with a
// valid token: the tenant answers, never with a 5xx, and never panics.
func FuzzHandler(f *testing.F) {
	for _, seed := range []struct{ method, target, prefer, body string }{
		{"GET", "/v1.0/communications/callRecords?$filter=startDateTime%20ge%202025-01-01T00:00:00Z", "odata.maxpagesize=2", ""},
		{"GET", "/v1.0/communications/callRecords?$skiptoken=eyJmIjp7fX0", "", ""},
		{"GET", "/v1.0/communications/callRecords/a?$expand=sessions($expand=segments)", "include-unknown-enum-members", ""},
		{"GET", "/v1.0/communications/callRecords('a')/sessions?$skiptoken=e30", "", ""},
		{"POST", "/v1.0/$batch", "", `{"requests":[{"id":"1","method":"GET","url":"/communications/callRecords/a"}]}`},
		{"POST", "/v1.0/$batch", "", `{"requests":[{"id":"1","method":"GET","url":"/$batch"}]}`},
		{"POST", "/v1.0/$batch", "", `{"requests":[{"id":"1","method":"GET","url":"%zz"}]}`},
		{"POST", "/" + testTenant + "/oauth2/v2.0/token", "", "grant_type=client_credentials&client_assertion=a.b.c"},
		{"GET", "/common/discovery/instance?api-version=1.1&authorization_endpoint=https://x/t/oauth2/v2.0/authorize", "", ""},
		{"GET", "/v1.0/communications/callRecords('')", "", ""},
	} {
		f.Add(seed.method, seed.target, seed.prefer, seed.body)
	}
	tenant := New(Options{TenantID: testTenant, ClientID: testClient, ClientSecret: testSecret})
	tenant.Add(simpleRecord("a", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC), 3))
	tok, _ := tenant.issueToken("")
	h := tenant.Handler()
	f.Fuzz(func(t *testing.T, method, target, prefer, body string) {
		if !strings.HasPrefix(target, "/") || strings.ContainsAny(target, " \r\n#") || !validMethod(method) {
			return
		}
		req, err := http.NewRequest(method, "https://graph.test"+target, bytes.NewReader([]byte(body)))
		if err != nil {
			return
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Prefer", prefer)
		if strings.HasPrefix(body, "{") {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Errorf("%s %s: %d %s", method, target, rec.Code, rec.Body.Bytes())
		}
	})
}

func validMethod(m string) bool {
	switch m {
	case "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD":
		return true
	}
	return false
}
