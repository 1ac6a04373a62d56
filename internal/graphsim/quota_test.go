package graphsim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestQuotaCountsSlidingWindowsAndThrottlesAsGraph(t *testing.T) {
	clock := t0
	q := &Quota{Enforce: true, Now: func() time.Time { return clock }}
	tenant, srv := startTenant(t, Options{})
	tenant.Use(q.Middleware())
	tok := fetchToken(t, srv)
	tenant.Add(simpleRecord("a", t0, 1), simpleRecord("b", t0, 1))

	// 40 list requests in one instant fit; the 41st is throttled with
	// the wait until the window has room.
	for i := range 41 {
		resp, _ := graphGetResp(t, srv, tok, "/v1.0/communications/callRecords", nil)
		if want := map[bool]int{true: 429, false: 200}[i == 40]; resp.StatusCode != want {
			t.Fatalf("list %d: %d, want %d", i+1, resp.StatusCode, want)
		}
		if i == 40 && resp.Header.Get("Retry-After") != "20" {
			t.Errorf("Retry-After %q, want 20", resp.Header.Get("Retry-After"))
		}
	}
	// The window slides: 20 s later there is room again, and the
	// throttled request was counted too.
	clock = clock.Add(20 * time.Second)
	if code, _ := graphGet(t, srv, tok, "/v1.0/communications/callRecords", nil); code != 200 {
		t.Errorf("list after the window: %d", code)
	}
	st := q.Stats()
	if st.List != 42 || st.MaxList != 41 || st.Over != 1 {
		t.Errorf("stats %+v, want 42 lists counted, worst window 41, one over", st)
	}

	// Inside a $batch every item counts singly against the app, and the
	// per-record account sees each record; the envelope is not counted.
	var items []map[string]any
	for i := range 20 {
		items = append(items, map[string]any{"id": fmt.Sprint(i), "method": "GET", "url": "/communications/callRecords/" + []string{"a", "b"}[i%2]})
	}
	b, _ := json.Marshal(map[string]any{"requests": items})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1.0/$batch", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if resp, _ := graphDo(t, srv, req, tok); resp.StatusCode != 200 {
		t.Fatalf("batch: %d", resp.StatusCode)
	}
	st = q.Stats()
	if st.PerApp != 42+20 || st.MaxPerRecord != 10 || st.MaxPerApp != 41 {
		t.Errorf("stats %+v, want 62 per-app requests, worst record window 10", st)
	}
}

func TestQuotaPerAppLimit(t *testing.T) {
	clock := t0
	q := &Quota{Enforce: true, Now: func() time.Time { return clock }, Limits: Limits{Window: 20 * time.Second, List: 1000, PerRecord: 1000, PerApp: 30}}
	for i := range 60 {
		if i == 30 {
			clock = clock.Add(10 * time.Second)
		}
		_, over := q.count(OpGet, fmt.Sprint("r", i))
		if over != (i >= 30) {
			t.Fatalf("request %d: over=%v", i+1, over)
		}
	}
	// The first 30 leave the window 20 s after they came, but the 30
	// throttled ones count as well: Graph keeps counting while throttled.
	clock = clock.Add(10 * time.Second)
	if wait, over := q.count(OpGet, "x"); !over || wait != 10*time.Second {
		t.Errorf("throttled requests did not count: over=%v wait %v", over, wait)
	}
	clock = clock.Add(10 * time.Second)
	if wait, over := q.count(OpGet, "y"); over {
		t.Errorf("still over once the window slid past them all (wait %v)", wait)
	}
	if st := q.Stats(); st.MaxPerApp != 60 || st.Over != 31 {
		t.Errorf("stats %+v", st)
	}
}
