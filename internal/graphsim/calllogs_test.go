package graphsim

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

const logPath = "/v1.0/communications/callRecords/"

func drRow(id string, start time.Time) DirectRoutingRow {
	return DirectRoutingRow{ID: id, StartDateTime: start, InviteDateTime: start.Add(-2 * time.Second),
		SuccessfulCall: true, CallType: "ByotIn", TrunkFullyQualifiedDomainName: "sbc1.example.org", Duration: 60}
}

func pstnRowAt(id string, start time.Time) PSTNRow {
	return PSTNRow{ID: id, StartDateTime: start, CallType: "user_out", Currency: "USD", Duration: 60, Charge: 0.25, DestinationContext: ptr("Domestic")}
}

func rowIDs(body map[string]any) []string {
	var ids []string
	vals, _ := body["value"].([]any)
	for _, v := range vals {
		m, _ := v.(map[string]any)
		id, _ := m["id"].(string)
		ids = append(ids, id)
	}
	return ids
}

// TestCallLogFunctionSyntax follows Microsoft's pages: both spellings of the
// function (bare, and qualified as the SDKs write it), Date and
// DateTimeOffset parameters, toDateTime exclusive for direct routing and
// inclusive for PSTN, and 400 for what the function does not take.
func TestCallLogFunctionSyntax(t *testing.T) {
	tenant, srv := startTenant(t, Options{})
	tok := fetchToken(t, srv)
	day := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	tenant.AddDirectRoutingRows(drRow("before", day.Add(-time.Second)), drRow("first", day), drRow("mid", day.Add(12*time.Hour)), drRow("at-end", day.Add(24*time.Hour)))
	tenant.AddPSTNRows(pstnRowAt("p-first", day), pstnRowAt("p-at-end", day.Add(24*time.Hour)), pstnRowAt("p-after", day.Add(24*time.Hour+time.Second)))
	tests := []struct {
		path   string
		status int
		ids    string
	}{
		{"getDirectRoutingCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)", 200, "first,mid"},
		{"microsoft.graph.callRecords.getDirectRoutingCalls(fromDateTime=2026-11-02T00:00:00Z,toDateTime=2026-11-03T00:00:00Z)", 200, "first,mid"},
		{"getDirectRoutingCalls(fromDateTime=2026-11-02T00:00:00.000Z,toDateTime=2026-11-03T00:00:00.001Z)", 200, "first,mid,at-end"},
		{"getPstnCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)", 200, "p-first,p-at-end"},
		{"getPstnCalls(from=2026-11-02,to=2026-11-03)", 200, "p-first,p-at-end"},
		{"getPstnCalls(fromDateTime=2026-11-02)", 400, ""},
		{"getPstnCalls(fromDateTime=2026-01-01,toDateTime=2026-11-03)", 400, ""},
		{"getPstnCalls(fromDateTime=yesterday,toDateTime=2026-11-03)", 400, ""},
		{"getPstnCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03,top=5)", 400, ""},
		{"getDirectRoutingCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)?$top=5", 400, ""},
		{"getDirectRoutingCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)?$skip=-1", 400, ""},
	}
	for _, tt := range tests {
		status, body := graphGet(t, srv, tok, logPath+tt.path, nil)
		if status != tt.status {
			t.Errorf("%s: status %d, want %d (%v)", tt.path, status, tt.status, body)
			continue
		}
		if got := strings.Join(rowIDs(body), ","); status == 200 && got != tt.ids {
			t.Errorf("%s: rows %s, want %s", tt.path, got, tt.ids)
		}
	}
	if st := tenant.Requests(); st.DirectRoutingCalls != 5 || st.PSTNCalls != 6 || st.Get != 0 {
		t.Errorf("requests = %+v", st)
	}
}

// TestCallLogPaging: 1,000 rows a page, @odata.count of the page, and a
// next link in the documented shape (the PSTN one with from= and to=) that
// the tenant follows.
func TestCallLogPaging(t *testing.T) {
	tenant, srv := startTenant(t, Options{})
	tok := fetchToken(t, srv)
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	for i := range 2500 {
		tenant.AddPSTNRows(pstnRowAt(fmt.Sprintf("p%04d", i), start.Add(time.Duration(i)*time.Second)))
	}
	link := logPath + "getPstnCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)"
	var sizes []int
	seen := map[string]bool{}
	for link != "" && len(sizes) < 5 {
		status, body := graphGet(t, srv, tok, link, nil)
		if status != 200 {
			t.Fatalf("%s: %d %v", link, status, body)
		}
		ids := rowIDs(body)
		if n, _ := body["@odata.count"].(float64); int(n) != len(ids) {
			t.Errorf("@odata.count %v for %d rows", body["@odata.count"], len(ids))
		}
		for _, id := range ids {
			if seen[id] {
				t.Errorf("row %s served twice", id)
			}
			seen[id] = true
		}
		sizes = append(sizes, len(ids))
		link, _ = body["@odata.nextLink"].(string)
		if link != "" && !strings.Contains(link, "/getPstnCalls(from=2026-11-02,to=2026-11-03)?$skip=") {
			t.Errorf("next link %s", link)
		}
	}
	if fmt.Sprint(sizes) != "[1000 1000 500]" || len(seen) != 2500 {
		t.Errorf("pages %v, %d rows", sizes, len(seen))
	}
}

// TestCallLogThrottling: 50 requests per 60 s per function, 200 per app;
// the 51st gets 429 with the seconds until the window frees one.
func TestCallLogThrottling(t *testing.T) {
	var mu sync.Mutex
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	_, srv := startTenant(t, Options{Now: clock})
	tok := fetchToken(t, srv)
	get := func(fn string) *http.Response {
		resp, _ := graphGetResp(t, srv, tok, logPath+fn+"(fromDateTime=2026-11-02,toDateTime=2026-11-03)", nil)
		return resp
	}
	for i := range 50 {
		if resp := get("getDirectRoutingCalls"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		advance(time.Second)
	}
	resp := get("getDirectRoutingCalls")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "10" {
		t.Fatalf("51st request in 60 s: %d, Retry-After %q; want 429 after 10 s", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if resp := get("getPstnCalls"); resp.StatusCode != 200 {
		t.Errorf("the other function is throttled apart: %d", resp.StatusCode)
	}
	advance(11 * time.Second)
	if resp := get("getDirectRoutingCalls"); resp.StatusCode != 200 {
		t.Errorf("after the window moved: %d", resp.StatusCode)
	}
}

func TestCallLogForbidden(t *testing.T) {
	tenant, srv := startTenant(t, Options{})
	tok := fetchToken(t, srv)
	tenant.DenyCallLogs(OpPSTNCalls, true)
	status, body := graphGet(t, srv, tok, logPath+"getPstnCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)", nil)
	msg, _ := body["error"].(map[string]any)["message"].(string)
	if status != 403 || !strings.Contains(msg, PermissionCallLogs) {
		t.Errorf("status %d, %v", status, body)
	}
	if status, _ := graphGet(t, srv, tok, logPath+"getDirectRoutingCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)", nil); status != 200 {
		t.Errorf("direct routing denied too: %d", status)
	}
	if status, _ := graphGet(t, srv, "", logPath+"getDirectRoutingCalls(fromDateTime=2026-11-02,toDateTime=2026-11-03)", nil); status != 401 {
		t.Errorf("without a token: %d", status)
	}
}

// TestGenerateCallLogs checks the mix the tests and the demo rely on.
func TestGenerateCallLogs(t *testing.T) {
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	opts := CallLogOptions{Seed: 7, DirectRouting: 3000, PSTN: 3000, Start: start, End: start.Add(24 * time.Hour)}
	dr, pstn := GenerateCallLogs(opts)
	dr2, pstn2 := GenerateCallLogs(opts)
	if a, b := string(mustMarshal(dr)), string(mustMarshal(dr2)); a != b || string(mustMarshal(pstn)) != string(mustMarshal(pstn2)) {
		t.Fatal("same seed, different rows")
	}
	calls, ok := map[string]int{}, map[string]int{}
	for _, r := range dr {
		calls[r.TrunkFullyQualifiedDomainName]++
		if r.SuccessfulCall {
			ok[r.TrunkFullyQualifiedDomainName]++
			if r.FinalSIPCode != 0 || r.EndDateTime.IsZero() || r.InviteDateTime.After(r.StartDateTime) {
				t.Fatalf("successful row %+v", r)
			}
		} else if r.FinalSIPCode < 400 || !r.EndDateTime.IsZero() || r.Duration != 0 {
			t.Fatalf("failed row %+v", r)
		}
	}
	for trunk, n := range calls {
		ratio := float64(ok[trunk]) / float64(n)
		if failing := trunk == FailingTrunk; failing && ratio > 0.5 || !failing && ratio < 0.85 {
			t.Errorf("trunk %s: success ratio %.2f", trunk, ratio)
		}
	}
	if len(calls) != 4 {
		t.Errorf("trunks %v", calls)
	}
	contexts, currencies := map[string]int{}, map[string]int{}
	for _, r := range pstn {
		c := "null"
		if r.DestinationContext != nil {
			c = *r.DestinationContext
		}
		contexts[c]++
		currencies[r.Currency]++
	}
	if contexts["Domestic"] == 0 || contexts["International"] == 0 || contexts["null"] == 0 || len(currencies) != 3 {
		t.Errorf("contexts %v, currencies %v", contexts, currencies)
	}
	// Graph's form of an absent time, straight from the marshalled row.
	for _, r := range dr {
		if !r.SuccessfulCall {
			if b := string(mustMarshal(r)); !strings.Contains(b, `"endDateTime":"0001-01-01T00:00:00Z"`) {
				t.Errorf("failed row %s", b)
			}
			break
		}
	}
	pv := CallLogPersonalValues(dr, pstn)
	if len(pv) < 1000 || !strings.HasPrefix(pv[0], "+") {
		t.Errorf("%d personal values, first %q", len(pv), pv[0])
	}
}
