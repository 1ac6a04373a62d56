package graphsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The PSTN and direct-routing call logs, as Microsoft documents them
// (callRecord: getPstnCalls, callRecord: getDirectRoutingCalls and the
// pstnCallLogRow and directRoutingLogRow resources):
//
//   - GET /communications/callRecords/getPstnCalls(fromDateTime={from},toDateTime={to})
//     and .../getDirectRoutingCalls(...): function parameters in the path,
//     OData DateTimeOffset (or Date) literals, "based on the call start
//     time"; fromDateTime inclusive; toDateTime exclusive for direct routing
//     and inclusive for PSTN (as the two pages say); at most 90 days apart
//     for PSTN.
//   - At most 1,000 rows a page, "@odata.count" of the page and an
//     "@odata.nextLink" while more remain. The documented next links end in
//     "?$skip=1000"; the PSTN one spells the parameters from= and to=, so
//     both spellings are accepted.
//   - Throttled apart from call records: 200 requests per 60 s per app and
//     tenant, 50 per 60 s per collection.
//   - Application permission CallRecord-PstnCalls.Read.All (or
//     CallRecords.Read.All); without it, 403.
//   - Absent times are written 0001-01-01T00:00:00Z; destinationContext may
//     be null.

// Call-log operations, as Operation reports them and RequestStats counts
// them; they match the exporter's operation label.
const (
	OpPSTNCalls          = "pstn_calls"
	OpDirectRoutingCalls = "direct_routing_calls"
)

// PermissionCallLogs is the application permission the call logs need.
const PermissionCallLogs = "CallRecord-PstnCalls.Read.All"

const (
	callLogPageSize       = 1000
	callLogFunctionLimit  = 50  // requests per 60 s per collection
	callLogTenantLimit    = 200 // requests per 60 s per app and tenant
	callLogThrottleWindow = time.Minute
	pstnMaxRange          = 90 * 24 * time.Hour
)

// DirectRoutingRow is a directRoutingLogRow, every documented property.
// Zero times marshal as 0001-01-01T00:00:00Z, as Graph writes absent ones.
type DirectRoutingRow struct {
	ID                            string    `json:"id"`
	CorrelationID                 string    `json:"correlationId"`
	UserID                        *string   `json:"userId"`
	UserPrincipalName             *string   `json:"userPrincipalName"`
	UserDisplayName               *string   `json:"userDisplayName"`
	StartDateTime                 time.Time `json:"startDateTime"`
	InviteDateTime                time.Time `json:"inviteDateTime"`
	FailureDateTime               time.Time `json:"failureDateTime"`
	EndDateTime                   time.Time `json:"endDateTime"`
	Duration                      int32     `json:"duration"`
	CallType                      string    `json:"callType"`
	SuccessfulCall                bool      `json:"successfulCall"`
	CallerNumber                  string    `json:"callerNumber"`
	CalleeNumber                  string    `json:"calleeNumber"`
	MediaPathLocation             string    `json:"mediaPathLocation"`
	SignalingLocation             string    `json:"signalingLocation"`
	FinalSIPCode                  int32     `json:"finalSipCode"`
	CallEndSubReason              int32     `json:"callEndSubReason"`
	FinalSIPCodePhrase            string    `json:"finalSipCodePhrase"`
	TrunkFullyQualifiedDomainName string    `json:"trunkFullyQualifiedDomainName"`
	MediaBypassEnabled            bool      `json:"mediaBypassEnabled"`
}

// PSTNRow is a pstnCallLogRow, every documented property.
type PSTNRow struct {
	ID                 string    `json:"id"`
	CallID             string    `json:"callId"`
	UserID             *string   `json:"userId"`
	UserPrincipalName  *string   `json:"userPrincipalName"`
	UserDisplayName    *string   `json:"userDisplayName"`
	StartDateTime      time.Time `json:"startDateTime"`
	EndDateTime        time.Time `json:"endDateTime"`
	Duration           int32     `json:"duration"`
	Charge             float64   `json:"charge"`
	CallType           string    `json:"callType"`
	Currency           string    `json:"currency"`
	CalleeNumber       string    `json:"calleeNumber"`
	UsageCountryCode   string    `json:"usageCountryCode"`
	TenantCountryCode  string    `json:"tenantCountryCode"`
	ConnectionCharge   float64   `json:"connectionCharge"`
	CallerNumber       string    `json:"callerNumber"`
	DestinationContext *string   `json:"destinationContext"`
	DestinationName    string    `json:"destinationName"`
	ConferenceID       *string   `json:"conferenceId"`
	LicenseCapability  string    `json:"licenseCapability"`
	InventoryType      string    `json:"inventoryType"`
	Operator           string    `json:"operator"`
	CallDurationSource string    `json:"callDurationSource"`
}

// callLogs holds both logs of a tenant, each in (start, id) order, and
// what the call-log endpoints need besides: permissions and the throttling
// windows.
type callLogs struct {
	mu     sync.Mutex
	rows   map[string][]storedRow // by operation
	denied map[string]bool        // operation -> 403
	recent map[string][]time.Time // operation -> request times in the window
}

type storedRow struct {
	id    string
	start time.Time
	raw   json.RawMessage
}

// AddDirectRoutingRows adds rows to the direct-routing log, replacing any
// with the same id.
func (t *Tenant) AddDirectRoutingRows(rows ...DirectRoutingRow) {
	for _, r := range rows {
		t.addRow(OpDirectRoutingCalls, r.ID, r.StartDateTime, mustMarshal(r))
	}
}

// AddPSTNRows adds rows to the PSTN log, replacing any with the same id.
func (t *Tenant) AddPSTNRows(rows ...PSTNRow) {
	for _, r := range rows {
		t.addRow(OpPSTNCalls, r.ID, r.StartDateTime, mustMarshal(r))
	}
}

// AddRawCallLogRow adds a hand-written row (op is OpPSTNCalls or
// OpDirectRoutingCalls), served as given, for hostile-input tests: it is
// filed under id and start whatever the row itself says.
func (t *Tenant) AddRawCallLogRow(op, id string, start time.Time, raw json.RawMessage) error {
	if op != OpPSTNCalls && op != OpDirectRoutingCalls {
		return fmt.Errorf("add raw call-log row: unknown log %q", op)
	}
	t.addRow(op, id, start, raw)
	return nil
}

// DenyCallLogs makes the tenant answer 403 to op (OpPSTNCalls or
// OpDirectRoutingCalls), as Graph does when the application lacks
// CallRecord-PstnCalls.Read.All; false grants it again.
func (t *Tenant) DenyCallLogs(op string, deny bool) {
	l := &t.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.denied == nil {
		l.denied = map[string]bool{}
	}
	l.denied[op] = deny
}

func mustMarshal(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("graphsim: marshal row: %v", err)) // NaN or Inf: a bug in the caller
	}
	return b
}

func (t *Tenant) addRow(op, id string, start time.Time, raw json.RawMessage) {
	l := &t.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.rows == nil {
		l.rows = map[string][]storedRow{}
	}
	rows := l.rows[op]
	for i := range rows {
		if rows[i].id == id {
			rows = append(rows[:i], rows[i+1:]...)
			break
		}
	}
	s := storedRow{id: id, start: start.UTC(), raw: raw}
	i := sort.Search(len(rows), func(i int) bool {
		r := rows[i]
		return r.start.After(s.start) || r.start.Equal(s.start) && r.id >= s.id
	})
	rows = append(rows, storedRow{})
	copy(rows[i+1:], rows[i:])
	rows[i] = s
	l.rows[op] = rows
}

// pruneCallLogs drops rows past the retention window.
func (t *Tenant) pruneCallLogs() {
	if t.opts.Retention <= 0 {
		return
	}
	cutoff := t.now().Add(-t.opts.Retention)
	l := &t.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	for op, rows := range l.rows {
		i := sort.Search(len(rows), func(i int) bool { return !rows[i].start.Before(cutoff) })
		l.rows[op] = append(rows[:0:0], rows[i:]...)
	}
}

// CallLogLen returns the number of rows in a log.
func (t *Tenant) CallLogLen(op string) int {
	t.logs.mu.Lock()
	defer t.logs.mu.Unlock()
	return len(t.logs.rows[op])
}

// callLogFunction reads the last path segment of a call-log request:
// getPstnCalls(...) or getDirectRoutingCalls(...), bare or qualified with
// the namespace (microsoft.graph.callRecords.getPstnCalls(...), as
// Microsoft's SDKs write it). It returns the operation and the text inside
// the parentheses.
func callLogFunction(seg string) (op, params string, ok bool) {
	seg = strings.TrimPrefix(seg, "microsoft.graph.callRecords.")
	name, rest, found := strings.Cut(seg, "(")
	if !found || !strings.HasSuffix(rest, ")") {
		return "", "", false
	}
	switch name {
	case "getPstnCalls":
		op = OpPSTNCalls
	case "getDirectRoutingCalls":
		op = OpDirectRoutingCalls
	default:
		return "", "", false
	}
	return op, strings.TrimSuffix(rest, ")"), true
}

// parseLogParams reads "fromDateTime=...,toDateTime=..." (or from=, to=).
func parseLogParams(s string) (from, to time.Time, fromText, toText string, err error) {
	for _, part := range strings.Split(s, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return from, to, "", "", fmt.Errorf("function parameter %q has no value", clip(part))
		}
		t, perr := parseLogTime(strings.TrimSpace(value))
		if perr != nil {
			return from, to, "", "", fmt.Errorf("parameter '%s': %w", clip(name), perr)
		}
		switch name {
		case "fromDateTime", "from":
			from, fromText = t, value
		case "toDateTime", "to":
			to, toText = t, value
		default:
			return from, to, "", "", fmt.Errorf("the parameter '%s' is not defined for this function", clip(name))
		}
	}
	if fromText == "" || toText == "" {
		return from, to, "", "", errors.New("the function requires the parameters 'fromDateTime' and 'toDateTime'")
	}
	return from, to, fromText, toText, nil
}

// parseLogTime reads an OData DateTimeOffset literal, or an OData Date
// (midnight UTC) as in Microsoft's examples.
func parseLogTime(s string) (time.Time, error) {
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := parseDateTimeOffset(s)
	return t.UTC(), err
}

// serveCallLog answers getPstnCalls and getDirectRoutingCalls.
func (t *Tenant) serveCallLog(w http.ResponseWriter, r *http.Request) {
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	op, params, _ := callLogFunction(p[len(p)-1])
	if t.callLogDenied(op) {
		graphError(w, r, http.StatusForbidden, "Forbidden",
			"Missing role permissions on the request. API requires one of '"+PermissionCallLogs+", CallRecords.Read.All'. Roles on the request 'CallRecords.Read.PstnCalls'.")
		return
	}
	if wait, throttled := t.throttleCallLog(op); throttled {
		w.Header().Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
		graphError(w, r, http.StatusTooManyRequests, "TooManyRequests", "Too many requests.")
		return
	}
	q := r.URL.Query()
	if err := checkQueryOptions(q, "$skip"); err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	skip := 0
	if s := q.Get("$skip"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			graphError(w, r, http.StatusBadRequest, "BadRequest", "Invalid value for $skip.")
			return
		}
		skip = n
	}
	from, to, fromText, toText, err := parseLogParams(params)
	if err != nil {
		graphError(w, r, http.StatusBadRequest, "BadRequest", err.Error())
		return
	}
	if op == OpPSTNCalls && to.Sub(from) > pstnMaxRange {
		graphError(w, r, http.StatusBadRequest, "BadRequest", "The date range between fromDateTime and toDateTime cannot be more than 90 days.")
		return
	}
	page, more := t.callLogPage(op, from, to, skip)
	base := baseURL(r)
	resource := "directRoutingLogRow"
	if op == OpPSTNCalls {
		resource = "pstnCallLogRow"
	}
	body := struct {
		Context  string            `json:"@odata.context"`
		Count    int               `json:"@odata.count"`
		Value    []json.RawMessage `json:"value"`
		NextLink string            `json:"@odata.nextLink,omitempty"`
	}{
		Context: base + "/v1.0/$metadata#Collection(microsoft.graph.callRecords." + resource + ")",
		Count:   len(page),
		Value:   page,
	}
	if body.Value == nil {
		body.Value = []json.RawMessage{}
	}
	if more {
		next := fmt.Sprintf("getDirectRoutingCalls(fromDateTime=%s,toDateTime=%s)", fromText, toText)
		if op == OpPSTNCalls {
			next = fmt.Sprintf("getPstnCalls(from=%s,to=%s)", fromText, toText)
		}
		body.NextLink = base + "/v1.0/communications/callRecords/" + next + "?$skip=" + strconv.Itoa(skip+len(page))
	}
	b, _ := json.Marshal(body)
	writeGraph(w, r, http.StatusOK, b)
}

// callLogPage returns up to a page of the rows that started in the window
// after skipping skip of them. Rows that arrive meanwhile shift the
// offsets, as with any $skip paging: a row may be served twice or missed
// by a client that pages while the log grows.
func (t *Tenant) callLogPage(op string, from, to time.Time, skip int) ([]json.RawMessage, bool) {
	l := &t.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	rows := l.rows[op]
	i := sort.Search(len(rows), func(i int) bool { return !rows[i].start.Before(from) })
	var page []json.RawMessage
	for ; i < len(rows); i++ {
		s := rows[i]
		if s.start.After(to) || op == OpDirectRoutingCalls && s.start.Equal(to) {
			break
		}
		if t.opts.Retention > 0 && s.start.Before(t.now().Add(-t.opts.Retention)) {
			continue
		}
		if skip > 0 {
			skip--
			continue
		}
		if len(page) == callLogPageSize {
			return page, true
		}
		page = append(page, s.raw)
	}
	return page, false
}

func (t *Tenant) callLogDenied(op string) bool {
	t.logs.mu.Lock()
	defer t.logs.mu.Unlock()
	return t.logs.denied[op]
}

// throttleCallLog counts a request against Graph's call-log limits and
// reports how long to wait when it is over one. Refused requests count
// too: Graph keeps counting while a client is throttled.
func (t *Tenant) throttleCallLog(op string) (time.Duration, bool) {
	l := &t.logs
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.recent == nil {
		l.recent = map[string][]time.Time{}
	}
	now := t.now()
	cut := now.Add(-callLogThrottleWindow)
	total := 0
	var wait time.Duration
	for o, ts := range l.recent {
		i := sort.Search(len(ts), func(i int) bool { return ts[i].After(cut) })
		ts = ts[i:]
		l.recent[o] = ts
		total += len(ts)
	}
	mine := l.recent[op]
	over := false
	if len(mine) >= callLogFunctionLimit {
		over, wait = true, mine[len(mine)-callLogFunctionLimit].Sub(cut)
	}
	if total >= callLogTenantLimit {
		over = true
		wait = max(wait, time.Second)
	}
	if len(mine) < 4*callLogFunctionLimit { // bounded memory under a storm
		l.recent[op] = append(mine, now)
	}
	return wait, over
}
