package graph

import (
	"fmt"
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
	if r[3].Body.err != nil || r[3].Status != 429 || r[3].Headers.retryAfter != "3" ||
		r[3].Body.Error == nil || r[3].Body.Error.Code != "TooManyRequests" {
		t.Errorf("item 3: %+v", r[3])
	}

	// A broken envelope is the whole response's error.
	if err := decodeJSON(strings.NewReader(`{"responses":[{"id":"0","body":{"id":"a"`), &resp, newBudget()); err == nil {
		t.Error("truncated $batch response decoded without error")
	}
}

// TestBatchItemHeadersWithinTheBudget: an item's headers keep only
// Retry-After and WWW-Authenticate, whatever the case of their names; the
// rest are skipped, each counted against the answer's budget, and an item
// with more than maxBatchHeaders is refused. A 60 MiB answer of headers
// used to decode into 5.3 M map entries and 518 MiB of heap.
func TestBatchItemHeadersWithinTheBudget(t *testing.T) {
	item := func(headers string) string {
		return `{"responses":[{"id":"0","status":429,"headers":` + headers + `,"body":{}}]}`
	}
	many := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			if i > 0 {
				b.WriteString(",")
			}
			fmt.Fprintf(&b, `"X-%d":"v"`, i)
		}
		return b.String() + "}"
	}
	tests := []struct {
		name, headers       string
		retryAfter, authent string
		ok                  bool
	}{
		{"kept, any case", `{"retry-after":"7","Www-Authenticate":"Bearer claims=\"e30=\"","Content-Type":"application/json"}`, "7", `Bearer claims="e30="`, true},
		{"null", `null`, "", "", true},
		{"other values skipped", `{"X-A":{"deep":[1,2,{"x":null}]},"Retry-After":"2"}`, "2", "", true},
		{"a number where a string goes", `{"Retry-After":5}`, "", "", true},
		{"at the bound", many(maxBatchHeaders), "", "", true},
		{"over the bound", many(maxBatchHeaders + 1), "", "", false},
		{"not an object", `["Retry-After","1"]`, "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp batchResponse
			err := decodeJSON(strings.NewReader(item(tt.headers)), &resp, newBudget())
			if (err == nil) != tt.ok {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if !tt.ok {
				return
			}
			h := resp.Responses[0].Headers
			if h.retryAfter != tt.retryAfter || h.wwwAuthenticate != tt.authent {
				t.Errorf("headers %+v, want Retry-After %q, WWW-Authenticate %q", h, tt.retryAfter, tt.authent)
			}
		})
	}

	// 20 items of 60 headers: 1,200 members, within the bound per item and
	// charged to the answer's budget.
	var b strings.Builder
	b.WriteString(`{"responses":[`)
	for i := range 20 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"id":"%d","status":200,"headers":%s,"body":{"id":"r%d"}}`, i, many(60), i)
	}
	b.WriteString("]}")
	bud := newBudget()
	var resp batchResponse
	if err := decodeJSON(strings.NewReader(b.String()), &resp, bud); err != nil {
		t.Fatal(err)
	}
	if used := maxElementsPerAnswer - bud.left; used < 20*60 {
		t.Errorf("%d elements charged for 1,200 headers", used)
	}
}
