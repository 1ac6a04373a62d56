package graph

import (
	"strings"
	"testing"
)

// TestBatchItemBodyDecodedApart: an item body that is not a record (base64
// text, a wrongly typed member) fails only that item; the envelope and the
// other items still decode, through the same decoder the client uses.
func TestBatchItemBodyDecodedApart(t *testing.T) {
	body := `{"responses":[
		{"id":"0","status":200,"headers":{"Content-Type":"application/json"},"body":{"id":"a","sessions":[{"id":"s"}]}},
		{"id":"1","status":200,"body":"eyJpZCI6ImIi"},
		{"id":"2","status":200,"body":{"id":"c","version":"two"}},
		{"id":"3","status":429,"headers":{"Retry-After":"3"},"body":{"error":{"code":"TooManyRequests","message":"slow down"}}}
	]}`
	var resp batchResponse
	if err := decodeJSON(strings.NewReader(body), &resp, newBudget()); err != nil {
		t.Fatal(err)
	}
	if len(resp.Responses) != 4 {
		t.Fatalf("got %d items, want 4", len(resp.Responses))
	}
	r := resp.Responses
	if r[0].Body.err != nil || r[0].Body.ID != "a" || len(r[0].Body.Sessions) != 1 {
		t.Errorf("item 0: %+v, err %v", r[0].Body.CallRecord, r[0].Body.err)
	}
	for _, i := range []int{1, 2} {
		if r[i].Body.err == nil {
			t.Errorf("item %d: no error for a body that is not a record", i)
		}
	}
	if !strings.Contains(r[2].Body.err.Error(), `"/version"`) {
		t.Errorf("item 2: error %q does not say which member", r[2].Body.err)
	}
	if r[3].Body.err != nil || r[3].Status != 429 || headerValue(r[3].Headers, "retry-after") != "3" ||
		r[3].Body.Error == nil || r[3].Body.Error.Code != "TooManyRequests" {
		t.Errorf("item 3: %+v", r[3])
	}

	// A broken envelope is the whole response's error.
	if err := decodeJSON(strings.NewReader(`{"responses":[{"id":"0","body":{"id":"a"`), &resp, newBudget()); err == nil {
		t.Error("truncated $batch response decoded without error")
	}
}
