package graphsim

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// faultTenant serves one record with faults installed after the test's
// token is issued.
func faultTenant(t *testing.T, f *Faults) (*Server, string) {
	t.Helper()
	tenant, srv := startTenant(t, Options{})
	tenant.Add(simpleRecord("r1", time.Now().Add(-time.Hour), 1))
	tok := fetchToken(t, srv)
	tenant.Use(f.Middleware())
	return srv, tok
}

func getRecord(ctx context.Context, srv *Server, tok string) (*http.Response, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"/v1.0/communications/callRecords/r1", nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := srv.Client().Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp, body, err
}

func TestFaultsEachKind(t *testing.T) {
	for _, tt := range []struct {
		fault      Fault
		status     int
		retryAfter func(string) bool
	}{
		{Fault429Seconds, 429, func(v string) bool { return v == "1" }},
		{Fault429Date, 429, func(v string) bool {
			at, err := http.ParseTime(v)
			d := time.Until(at)
			return err == nil && d > 0 && d <= 3*time.Second
		}},
		{Fault429Bare, 429, func(v string) bool { return v == "" }},
		{Fault500, 500, nil},
		{Fault502, 502, nil},
		{Fault503, 503, nil},
		{Fault504, 504, nil},
	} {
		t.Run(string(tt.fault), func(t *testing.T) {
			f := &Faults{Seed: 1, Rates: map[Fault]float64{tt.fault: 1}}
			srv, tok := faultTenant(t, f)
			resp, body, err := getRecord(context.Background(), srv, tok)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.retryAfter != nil && !tt.retryAfter(resp.Header.Get("Retry-After")) {
				t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
			}
			var e map[string]any
			if err := json.Unmarshal(body, &e); err != nil || errorCode(e) == "" {
				t.Errorf("body is not a Graph error: %.200s", body)
			}
			if got := f.Injected()[tt.fault]; got != 1 {
				t.Errorf("injected %d, want 1", got)
			}
		})
	}
}

func TestFaultReset(t *testing.T) {
	f := &Faults{Rates: map[Fault]float64{FaultReset: 1}}
	srv, tok := faultTenant(t, f)
	if resp, _, err := getRecord(context.Background(), srv, tok); err == nil {
		t.Fatalf("got status %d, want a connection error", resp.StatusCode)
	}
}

func TestFaultTruncate(t *testing.T) {
	f := &Faults{Rates: map[Fault]float64{FaultTruncate: 1}}
	srv, tok := faultTenant(t, f)
	resp, body, err := getRecord(context.Background(), srv, tok)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("status %d, want 200", resp.StatusCode)
	}
	if len(body) < 10 || json.Valid(body) {
		t.Errorf("body not truncated JSON: %.200s", body)
	}
	f.SetEnabled(false)
	_, full, err := getRecord(context.Background(), srv, tok)
	if err != nil || !json.Valid(full) || len(body) != len(full)/2 {
		t.Errorf("truncated %d bytes of %d (%v)", len(body), len(full), err)
	}
}

func TestFaultStall(t *testing.T) {
	f := &Faults{Rates: map[Fault]float64{FaultStall: 1}, StallFor: 300 * time.Millisecond}
	srv, tok := faultTenant(t, f)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, _, err := getRecord(ctx, srv, tok); err == nil {
		t.Error("a stalled request answered before the client's timeout")
	}
	start := time.Now()
	resp, body, err := getRecord(context.Background(), srv, tok)
	if err != nil || resp.StatusCode != http.StatusOK || !json.Valid(body) {
		t.Fatalf("stalled request did not answer after the stall: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("answered after %v, want at least the stall", d)
	}
}

func TestFaultsSpareTokensUnlessAsked(t *testing.T) {
	all := map[Fault]float64{Fault503: 1}
	for _, tt := range []struct {
		name     string
		rate     float64
		wantFail bool
	}{{"no token failures", 0, false}, {"token failures", 1, true}} {
		t.Run(tt.name, func(t *testing.T) {
			tenant, srv := startTenant(t, Options{})
			f := &Faults{Rates: all, TokenFailureRate: tt.rate}
			tenant.Use(f.Middleware())
			resp, err := srv.Client().PostForm(srv.URL+"/"+testTenant+"/oauth2/v2.0/token", url.Values{
				"grant_type": {"client_credentials"}, "client_id": {testClient}, "client_secret": {testSecret},
				"scope": {srv.URL + "/.default"},
			})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if failed := resp.StatusCode != http.StatusOK; failed != tt.wantFail {
				t.Errorf("token status %d, want failure %v", resp.StatusCode, tt.wantFail)
			}
		})
	}
}

// TestFaultsDeterministicAndRated checks that a seed fixes the sequence,
// that rates are roughly honoured, and that SetEnabled(false) stops them.
func TestFaultsDeterministicAndRated(t *testing.T) {
	rates := map[Fault]float64{Fault500: 0.05, Fault429Bare: 0.05, FaultReset: 0.02}
	seq := func(seed uint64) []Fault {
		f := &Faults{Seed: seed, Rates: rates}
		out := make([]Fault, 2000)
		for i := range out {
			out[i] = f.draw(OpList, "")
		}
		return out
	}
	a, b, c := seq(7), seq(7), seq(8)
	same, n := true, map[Fault]int{}
	for i := range a {
		same = same && a[i] == b[i]
		n[a[i]]++
	}
	if !same {
		t.Error("same seed, different faults")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same faults")
	}
	for k, r := range rates {
		want := r * float64(len(a))
		if got := float64(n[k]); got < want/2 || got > want*2 {
			t.Errorf("%s injected %v times in %d, want about %v", k, got, len(a), want)
		}
	}
	f := &Faults{Rates: map[Fault]float64{Fault500: 1}}
	f.SetEnabled(false)
	for range 100 {
		if got := f.draw(OpGet, ""); got != "" {
			t.Fatalf("disabled faults injected %s", got)
		}
	}
	f.SetEnabled(true)
	if got := f.draw(OpGet, ""); got != Fault500 {
		t.Errorf("re-enabled faults injected %q", got)
	}
	if f.Total() != 1 {
		t.Errorf("Total %d, want 1", f.Total())
	}
}

// TestFaultBodies checks each unreadable-body fault on a get and on the
// same get inside a $batch: a 200 whose body is broken as documented.
func TestFaultBodies(t *testing.T) {
	fixture, err := os.ReadFile("../../graph/testdata/callrecord-expanded.json")
	if err != nil {
		t.Fatal(err)
	}
	const id = "e523d2ed-2966-4b6b-925b-754a88034cc5"
	for _, tt := range []struct {
		fault Fault
		check func(body []byte) bool // body is the broken answer
	}{
		{FaultMalformed, func(b []byte) bool { return !json.Valid(b) && bytes.Contains(b, []byte(",}{,")) }},
		{FaultWrongDuration, func(b []byte) bool {
			return bytes.Count(b, []byte(`"averageJitter":"fast"`)) == 2
		}},
		{FaultWrongNumber, func(b []byte) bool { return bytes.Count(b, []byte(`"packetUtilization":"12"`)) == 2 }},
		{FaultWrongDate, func(b []byte) bool {
			return bytes.Contains(b, []byte(`"startDateTime":5`)) && !bytes.Contains(b, []byte(`"startDateTime":"`))
		}},
		{FaultNotArray, func(b []byte) bool { return bytes.Contains(b, []byte(`"sessions":{"count":1}`)) }},
	} {
		t.Run(string(tt.fault), func(t *testing.T) {
			tenant, srv := startTenant(t, Options{})
			if err := tenant.AddRaw(fixture); err != nil {
				t.Fatal(err)
			}
			tok := fetchToken(t, srv)
			f := &Faults{Rules: []Rule{{Fault: tt.fault, Op: OpGet, Record: id}}}
			tenant.Use(f.Middleware())
			path := "/v1.0/communications/callRecords/" + id + "?$expand=sessions($expand=segments)"
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !tt.check(compactJSON(body)) {
				t.Errorf("get: status %d, body not broken as documented: %.300s", resp.StatusCode, body)
			}

			// Inside a $batch: JSON bodies are embedded, others base64-encoded.
			batch := `{"requests":[{"id":"1","method":"GET","url":"` + strings.TrimPrefix(path, "/v1.0") + `"}]}`
			req, _ = http.NewRequest(http.MethodPost, srv.URL+"/v1.0/$batch", strings.NewReader(batch))
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Content-Type", "application/json")
			resp, err = srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var out struct {
				Responses []struct {
					Status int             `json:"status"`
					Body   json.RawMessage `json:"body"`
				} `json:"responses"`
			}
			err = json.NewDecoder(resp.Body).Decode(&out)
			resp.Body.Close()
			if err != nil || len(out.Responses) != 1 || out.Responses[0].Status != 200 {
				t.Fatalf("batch: %v %+v", err, out)
			}
			item := []byte(out.Responses[0].Body)
			if tt.fault == FaultMalformed {
				var b64 string
				if json.Unmarshal(item, &b64) != nil {
					t.Fatalf("batch: malformed item body not base64: %.100s", item)
				}
				item, _ = base64.StdEncoding.DecodeString(b64)
			}
			if !tt.check(compactJSON(item)) {
				t.Errorf("batch item body not broken as documented: %.300s", item)
			}
			if got := f.Injected()[tt.fault]; got != 2 {
				t.Errorf("injected %d, want 2", got)
			}
		})
	}
}

// compactJSON removes insignificant space from valid JSON, so that checks
// can look for "key":value.
func compactJSON(b []byte) []byte {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return b
	}
	return buf.Bytes()
}

// TestFaultRules checks a schedule: which requests a rule matches, Skip
// and Times, and that the rated faults still apply elsewhere.
func TestFaultRules(t *testing.T) {
	tenant, srv := startTenant(t, Options{})
	tenant.Add(simpleRecord("r1", time.Now().Add(-time.Hour), 1), simpleRecord("r2", time.Now().Add(-time.Hour), 1))
	tok := fetchToken(t, srv)
	f := &Faults{Rules: []Rule{
		{Fault: Fault500, Op: OpGet, Record: "r1", Skip: 1, Times: 2},
		{Fault: FaultNotFound, Op: OpGet, Record: "r2", Times: 1},
		{Fault: Fault503}, // every Graph request, but only after the rules above
	}}
	f.Rules[2].Skip = 1 << 30
	tenant.Use(f.Middleware())
	get := func(id string) int {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/v1.0/communications/callRecords/"+id, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	var got []int
	for _, id := range []string{"r1", "r2", "r1", "r1", "r2", "r1"} {
		got = append(got, get(id))
	}
	if want := []int{200, 404, 500, 500, 200, 200}; !slices.Equal(got, want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
	if inj := f.Injected(); inj[Fault500] != 2 || inj[FaultNotFound] != 1 || inj[Fault503] != 0 {
		t.Errorf("injected %v", inj)
	}
	if resp, err := srv.Client().PostForm(srv.URL+"/"+testTenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {testClient}, "client_secret": {testSecret},
		"scope": {srv.URL + "/.default"},
	}); err != nil || resp.StatusCode != 200 {
		t.Errorf("a rule without Op faulted a token request: %v", err)
	}
}

// TestFaultRepeat lists in pages of two with the second page repeating the
// first page's last record.
func TestFaultRepeat(t *testing.T) {
	tenant, srv := startTenant(t, Options{})
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		tenant.Add(simpleRecord(fmt.Sprintf("r%d", i), base.Add(time.Duration(i)*time.Minute), 0))
	}
	tok := fetchToken(t, srv)
	f := &Faults{Rules: []Rule{{Fault: FaultRepeat, Op: OpList, Skip: 1, Times: 1}}}
	tenant.Use(f.Middleware())
	var ids []string
	for next := srv.URL + "/v1.0/communications/callRecords"; next != ""; {
		req, _ := http.NewRequest(http.MethodGet, next, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Prefer", "odata.maxpagesize=2")
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var page struct {
			Value []struct {
				ID string `json:"id"`
			} `json:"value"`
			Next string `json:"@odata.nextLink"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range page.Value {
			ids = append(ids, v.ID)
		}
		next = page.Next
	}
	if want := []string{"r0", "r1", "r1", "r2", "r3", "r4"}; !slices.Equal(ids, want) {
		t.Errorf("listed %v, want %v", ids, want)
	}
	if f.Injected()[FaultRepeat] != 1 {
		t.Errorf("injected %v", f.Injected())
	}
}
