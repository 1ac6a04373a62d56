package graph

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// A row shaped as Microsoft documents directRoutingLogRow, with made-up
// values; the personal members are there to be skipped.
const directRoutingRow = `{
	"id": "9e8bba57-dc14-533a-a7dd-f0da6575eed1",
	"correlationId": "c98e1515-a937-4b81-b8a8-3992afde64e0",
	"userId": "db03c14b-06eb-4189-939b-7cbf3a20ba27",
	"userPrincipalName": "ada.lovelace@example.org",
	"userDisplayName": "Ada Lovelace",
	"startDateTime": "2026-11-01T00:00:25.105Z",
	"inviteDateTime": "2026-11-01T00:00:21.949Z",
	"failureDateTime": "0001-01-01T00:00:00Z",
	"endDateTime": "2026-11-01T00:00:30.105Z",
	"duration": 5,
	"callType": "ByotIn",
	"successfulCall": true,
	"callerNumber": "+4420790001234",
	"calleeNumber": "+4420790005678",
	"mediaPathLocation": "EUWE",
	"signalingLocation": "EUNO",
	"finalSipCode": 0,
	"callEndSubReason": 540000,
	"finalSipCodePhrase": "BYE",
	"trunkFullyQualifiedDomainName": "sbc1.example.org",
	"mediaBypassEnabled": false
}`

const pstnRow = `{
	"id": "9c4984c7-6c3c-427d-a30c-bd0b2eacee90",
	"callId": "1835317186_112562680@192.0.2.17",
	"userId": "db03c14b-06eb-4189-939b-7cbf3a20ba27",
	"userPrincipalName": "ada.lovelace@example.org",
	"userDisplayName": "Ada Lovelace",
	"startDateTime": "2026-11-01T00:00:08.2589935Z",
	"endDateTime": "2026-11-01T00:03:47.2589935Z",
	"duration": 219,
	"charge": 0.25,
	"callType": "user_out",
	"currency": "EUR",
	"calleeNumber": "+4420790005678",
	"usageCountryCode": "GB",
	"tenantCountryCode": "GB",
	"connectionCharge": 0.00,
	"callerNumber": "+4420790001234",
	"destinationContext": null,
	"destinationName": "United Kingdom",
	"conferenceId": null,
	"licenseCapability": "MCOPSTNU",
	"inventoryType": "Subscriber",
	"operator": "Microsoft",
	"callDurationSource": "microsoft"
}`

// personalInRows are values of the rows above that must never be decoded.
var personalInRows = []string{"c98e1515", "db03c14b", "ada.lovelace", "Ada Lovelace", "+44207900", "1835317186", "192.0.2.17"}

func TestUnmarshalDirectRoutingRow(t *testing.T) {
	row, err := UnmarshalDirectRoutingRow([]byte(directRoutingRow))
	if err != nil {
		t.Fatal(err)
	}
	want := DirectRoutingCall{
		ID: "9e8bba57-dc14-533a-a7dd-f0da6575eed1", CallType: "ByotIn", Trunk: "sbc1.example.org",
		Successful: true, FinalSIPCode: Number{0, true},
		Invite:   time.Date(2026, 11, 1, 0, 0, 21, 949e6, time.UTC),
		Start:    time.Date(2026, 11, 1, 0, 0, 25, 105e6, time.UTC),
		Duration: Number{5, true},
	}
	if row != want {
		t.Errorf("row = %+v\nwant  %+v", row, want)
	}
	if d, ok := row.SetupTime(); !ok || d != 3156*time.Millisecond {
		t.Errorf("setup = %v, %v", d, ok)
	}
	if s := fmt.Sprintf("%+v", row); containsAny(s, personalInRows) != "" {
		t.Errorf("decoded row holds %q", containsAny(s, personalInRows))
	}
}

func TestUnmarshalPSTNRow(t *testing.T) {
	row, err := UnmarshalPSTNRow([]byte(pstnRow))
	if err != nil {
		t.Fatal(err)
	}
	want := PSTNCall{
		ID: "9c4984c7-6c3c-427d-a30c-bd0b2eacee90", CallType: "user_out", Currency: "EUR",
		Start:    time.Date(2026, 11, 1, 0, 0, 8, 258993500, time.UTC),
		Duration: Number{219, true}, Charge: Number{0.25, true},
	}
	if row != want {
		t.Errorf("row = %+v\nwant  %+v", row, want)
	}
	if s := fmt.Sprintf("%+v", row); containsAny(s, personalInRows) != "" {
		t.Errorf("decoded row holds %q", containsAny(s, personalInRows))
	}
}

func containsAny(s string, subs []string) string {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return sub
		}
	}
	return ""
}

// withMember returns the documented row with one member replaced (or
// added); value "" removes it.
func withMember(row, name, value string) string {
	lines := strings.Split(row, "\n")
	out := lines[:0:0]
	found := false
	for _, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), `"`+name+`":`) {
			found = true
			if value == "" {
				continue
			}
			comma := strings.HasSuffix(l, ",")
			l = "\t\"" + name + "\": " + value
			if comma {
				l += ","
			}
		}
		out = append(out, l)
	}
	s := strings.Join(out, "\n")
	if !found && value != "" {
		s = strings.Replace(s, "{", "{\n\t\""+name+"\": "+value+",", 1)
	}
	if value == "" { // the removed member may have been the last one
		s = strings.Replace(s, ",\n}", "\n}", 1)
	}
	return s
}

func TestHostileDirectRoutingRows(t *testing.T) {
	long := `"` + strings.Repeat("x", 5000) + `"`
	tests := []struct {
		name, member, value string
		err                 string // in the error; "" for none
		check               func(DirectRoutingCall) bool
	}{
		{"null call type", "callType", "null", "", func(r DirectRoutingCall) bool { return r.CallType == "" }},
		{"5,000-character call type", "callType", long, "", func(r DirectRoutingCall) bool { return r.CallType == "" }},
		{"5,000-character trunk", "trunkFullyQualifiedDomainName", long, "", func(r DirectRoutingCall) bool { return r.Trunk == "" }},
		{"number call type", "callType", "7", "callType: want a string, got a number", nil},
		{"phone number where a boolean goes", "successfulCall", `"+4420790001234"`, "successfulCall: want a boolean, got a string", nil},
		{"no successfulCall", "successfulCall", "", "successfulCall: missing", nil},
		{"null successfulCall", "successfulCall", "null", "successfulCall: missing", nil},
		{"absent invite (year 1)", "inviteDateTime", `"0001-01-01T00:00:00Z"`, "", func(r DirectRoutingCall) bool {
			_, ok := r.SetupTime()
			return r.Invite.IsZero() && !ok
		}},
		{"invite after start", "inviteDateTime", `"2026-11-01T00:01:00Z"`, "", func(r DirectRoutingCall) bool {
			_, ok := r.SetupTime()
			return !ok
		}},
		{"start in year 1", "startDateTime", `"0001-01-01T00:00:00Z"`, "startDateTime: missing", nil},
		{"start not a time", "startDateTime", `"yesterday"`, "startDateTime: not an RFC 3339 timestamp", nil},
		{"start a number", "startDateTime", `1700000000`, "startDateTime: want a timestamp string, got a number", nil},
		{"negative duration", "duration", "-5", "", func(r DirectRoutingCall) bool { return !r.Duration.Valid }},
		{"fractional duration", "duration", "5.5", "", func(r DirectRoutingCall) bool { return !r.Duration.Valid }},
		{"huge duration", "duration", "1e300", "", func(r DirectRoutingCall) bool { return !r.Duration.Valid }},
		{"duration as string", "duration", `"PT5S"`, "duration: want a number, got a string", nil},
		{"SIP code null", "finalSipCode", "null", "", func(r DirectRoutingCall) bool { return !r.FinalSIPCode.Valid }},
		{"SIP code object", "finalSipCode", `{"code":"+4420790001234"}`, "finalSipCode: want a number, got an object", nil},
		{"media bypass null", "mediaBypassEnabled", "null", "", func(r DirectRoutingCall) bool { return !r.MediaBypass }},
		{"no id", "id", "", "id: missing", nil},
		{"empty id", "id", `""`, "id: empty", nil},
		{"huge id", "id", long, "id: longer than", nil},
		{"id an array", "id", `["+4420790001234"]`, "id: want a string, got an array", nil},
		{"duplicate member, last wins", "ID", `"other-id"`, "", func(r DirectRoutingCall) bool {
			return r.ID == "9e8bba57-dc14-533a-a7dd-f0da6575eed1" || r.ID == "other-id"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := withMember(directRoutingRow, tt.member, tt.value)
			row, err := UnmarshalDirectRoutingRow([]byte(body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrMalformedRow) {
					t.Fatalf("err = %v, want one with %q", err, tt.err)
				}
				if p := containsAny(err.Error(), append(personalInRows, "xxxx")); p != "" {
					t.Errorf("error %q quotes %q", err, p)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.check(row) {
				t.Errorf("row = %+v", row)
			}
		})
	}
}

func TestHostilePSTNRows(t *testing.T) {
	tests := []struct {
		name, member, value string
		err                 string
		check               func(PSTNCall) bool
	}{
		{"null destination (as documented)", "destinationContext", "null", "", func(r PSTNCall) bool { return r.DestinationContext == "" }},
		{"negative charge", "charge", "-3", "", func(r PSTNCall) bool { return !r.Charge.Valid }},
		{"absurd charge", "charge", "1e20", "", func(r PSTNCall) bool { return !r.Charge.Valid }},
		{"null charge", "charge", "null", "", func(r PSTNCall) bool { return !r.Charge.Valid }},
		{"charge as string", "charge", `"0.25"`, "charge: want a number, got a string", nil},
		{"currency a number", "currency", "978", "currency: want a string, got a number", nil},
		{"no start", "startDateTime", "", "startDateTime: missing", nil},
		{"negative duration", "duration", "-219", "", func(r PSTNCall) bool { return !r.Duration.Valid }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row, err := UnmarshalPSTNRow([]byte(withMember(pstnRow, tt.member, tt.value)))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || !errors.Is(err, ErrMalformedRow) {
					t.Fatalf("err = %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.check(row) {
				t.Errorf("row = %+v", row)
			}
		})
	}
	for _, body := range []string{`null`, `7`, `"+4420790001234"`, `[]`} {
		_, err := UnmarshalPSTNRow([]byte(body))
		if !errors.Is(err, ErrMalformedRow) || strings.Contains(err.Error(), "+44") {
			t.Errorf("row %s: err = %v", body, err)
		}
	}
}

// TestCallLogPaging checks the function-call syntax, paging through
// @odata.nextLink (in either case Graph's pages spell it), bad rows passed
// on without stopping the page, and the operation counted.
func TestCallLogPaging(t *testing.T) {
	from := time.Date(2026, 11, 22, 10, 0, 0, 500, time.UTC)
	to := time.Date(2026, 11, 22, 12, 0, 0, 1, time.UTC)
	var srv *httptest.Server
	srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "/v1.0/communications/callRecords/getDirectRoutingCalls(fromDateTime=2026-11-22T10:00:00Z,toDateTime=2026-11-22T12:00:01Z)"
		if r.URL.Path != want {
			t.Errorf("path = %s, want %s", r.URL.Path, want)
		}
		switch r.URL.Query().Get("$skip") {
		case "":
			fmt.Fprintf(w, `{"@odata.count":2,"value":[%s,%s],"@odata.NextLink":"%s%s?$skip=2"}`,
				withMember(directRoutingRow, "id", `"a"`), withMember(directRoutingRow, "id", `"b"`), srv.URL, r.URL.EscapedPath())
		case "2":
			fmt.Fprintf(w, `{"value":[%s,%s],"@odata.nextLink":"%s%s?$skip=4"}`,
				withMember(directRoutingRow, "successfulCall", `"yes"`), withMember(directRoutingRow, "id", `"c"`), srv.URL, r.URL.EscapedPath())
		default:
			_, _ = w.Write([]byte(`{"value":[]}`))
		}
	}))
	defer srv.Close()
	c, obs := newTestClient(t, srv, nil)
	var ids []string
	bad := 0
	err := c.ListDirectRoutingCalls(context.Background(), from, to, func(r DirectRoutingCall, err error) error {
		if err != nil {
			bad++
			return nil
		}
		ids = append(ids, r.ID)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "a,b,c" || bad != 1 {
		t.Errorf("ids = %v, bad = %d", ids, bad)
	}
	if obs.requests["direct_routing_calls 200"] != 3 {
		t.Errorf("requests = %v", obs.requests)
	}
}

func TestCallLogNextLinkElsewhereIsRefused(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"value":[%s],"@odata.nextLink":"https://evil.example/v1.0/communications/callRecords/getPstnCalls(from=2026-11-01,to=2026-11-02)?$skip=1000"}`, pstnRow)
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv, nil)
	err := c.ListPSTNCalls(context.Background(), time.Now().Add(-time.Hour), time.Now(), func(PSTNCall, error) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "not followed") {
		t.Fatalf("err = %v, want a refusal", err)
	}
}

// TestCallLogForbidden: a missing permission is its own error kind and is
// not retried.
func TestCallLogForbidden(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		status(403)(w)
	}))
	defer srv.Close()
	c, obs := newTestClient(t, srv, nil)
	err := c.ListPSTNCalls(context.Background(), time.Now().Add(-time.Hour), time.Now(), func(PSTNCall, error) error { return nil })
	if !errors.Is(err, ErrForbidden) || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrForbidden", err)
	}
	if hits.Load() != 1 || obs.requests["pstn_calls 403"] != 1 {
		t.Errorf("hits = %d, requests = %v", hits.Load(), obs.requests)
	}
}

// TestCallLogWindowOver90Days: Graph refuses a range over 90 days, so a
// longer one is read in parts that cover it without gaps.
func TestCallLogWindowOver90Days(t *testing.T) {
	var paths []string
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths = append(paths, strings.TrimPrefix(r.URL.Path, "/v1.0/communications/callRecords/"))
		_, _ = w.Write([]byte(`{"value":[]}`))
	}))
	defer srv.Close()
	c, _ := newTestClient(t, srv, nil)
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := c.ListPSTNCalls(context.Background(), from, from.Add(100*24*time.Hour), func(PSTNCall, error) error { return nil }); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"getPstnCalls(fromDateTime=2026-01-01T00:00:00Z,toDateTime=2026-03-31T00:00:00Z)",
		"getPstnCalls(fromDateTime=2026-03-31T00:00:00Z,toDateTime=2026-04-11T00:00:00Z)",
	}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Errorf("requests:\n%s\nwant\n%s", strings.Join(paths, "\n"), strings.Join(want, "\n"))
	}
}

// TestCallLogPacingStaysUnderGraphsLimits replays the default limiters'
// reservations for back-to-back requests of both functions on a virtual
// clock and counts every 60-second window: at most 50 per function and 200
// for both, Graph's published limits, and not far below.
func TestCallLogPacingStaysUnderGraphsLimits(t *testing.T) {
	l := newCallLogLimits(0)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var all []time.Time
	byOp := map[Operation][]time.Time{}
	for i := range 600 {
		op := []Operation{OpPSTNCalls, OpDirectRoutingCalls}[i%2]
		next := now
		if r := l[op].ReserveN(now, 1); r.DelayFrom(now) > 0 {
			next = now.Add(r.DelayFrom(now))
		}
		all = append(all, next)
		byOp[op] = append(byOp[op], next)
		if i%2 == 1 {
			now = next // both functions' requests go out side by side
		}
	}
	check := func(name string, ts []time.Time, limit, least int) {
		most := mostInAMinute(ts)
		if most > limit || most < least {
			t.Errorf("%s: at most %d requests in 60 s, want %d..%d", name, most, least, limit)
		}
	}
	check("pstn_calls", byOp[OpPSTNCalls], 50, 40)
	check("direct_routing_calls", byOp[OpDirectRoutingCalls], 50, 40)
	check("both", all, 200, 80)
}

func mostInAMinute(ts []time.Time) int {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Before(ts[j]) })
	most := 0
	for i := range ts {
		n := 0
		for j := i; j < len(ts) && ts[j].Sub(ts[i]) < time.Minute; j++ {
			n++
		}
		most = max(most, n)
	}
	return most
}
