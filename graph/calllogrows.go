package graph

import (
	"fmt"
	"math"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Call-log rows carry phone numbers, user names and ids, correlation ids
// and conference ids. Only the members the metrics need are read, into the
// types below; the others are skipped by the decoder and never become Go
// values, so they cannot reach a label, a log line or an error.

// DirectRoutingCall is the part of a direct-routing log row
// (microsoft.graph.callRecords.directRoutingLogRow) the metrics use.
type DirectRoutingCall struct {
	ID string
	// CallType is Graph's callType as sent (ByotIn, ByotOut, ...); empty
	// when absent or longer than a row string may be.
	CallType string
	// Trunk is trunkFullyQualifiedDomainName as sent (the session border
	// controller); empty when absent or too long.
	Trunk      string
	Successful bool
	// MediaBypass is mediaBypassEnabled; an absent value reads as false.
	MediaBypass bool
	// FinalSIPCode is the SIP code the call ended with (0 for a normal
	// hang-up); not Valid when absent or not an integer.
	FinalSIPCode Number
	// Invite and Start are zero when absent; Graph writes an absent time as
	// 0001-01-01T00:00:00Z.
	Invite, Start time.Time
	// Duration is in seconds; not Valid when absent or out of Int32's
	// non-negative range.
	Duration Number
}

// SetupTime is the time from the initial INVITE to the start of the call,
// known when both times are and the start is not before the invite.
func (r *DirectRoutingCall) SetupTime() (time.Duration, bool) {
	if r.Invite.IsZero() || r.Start.IsZero() || r.Start.Before(r.Invite) {
		return 0, false
	}
	return r.Start.Sub(r.Invite), true
}

// PSTNCall is the part of a PSTN log row (Calling Plans, Operator Connect;
// microsoft.graph.callRecords.pstnCallLogRow) the metrics use.
type PSTNCall struct {
	ID string
	// CallType is Graph's callType as sent (user_in, user_out, ...).
	CallType string
	// DestinationContext is Domestic or International as sent; Graph may
	// send null.
	DestinationContext string
	// Currency is the ISO 4217 code of Charge, as sent.
	Currency string
	Start    time.Time
	// Duration is in seconds, as Duration of DirectRoutingCall.
	Duration Number
	// Charge is not Valid when absent or outside 0..MaxCharge.
	Charge Number
}

// MaxCharge bounds the charge of one call that is believed: a larger (or
// negative) value is a broken row, not a call to count.
const MaxCharge = 1e6

// maxRowString bounds the strings kept from a row; a longer one is not a
// call type, trunk name or currency, and is dropped (read as absent).
const maxRowString = 256

// maxRowID bounds a row's id, a GUID in Graph's documentation.
const maxRowID = MaxIDBytes

type rawDirectRoutingRow struct {
	ID                            jsontext.Value `json:"id"`
	CallType                      jsontext.Value `json:"callType"`
	TrunkFullyQualifiedDomainName jsontext.Value `json:"trunkFullyQualifiedDomainName"`
	SuccessfulCall                jsontext.Value `json:"successfulCall"`
	MediaBypassEnabled            jsontext.Value `json:"mediaBypassEnabled"`
	FinalSIPCode                  jsontext.Value `json:"finalSipCode"`
	InviteDateTime                jsontext.Value `json:"inviteDateTime"`
	StartDateTime                 jsontext.Value `json:"startDateTime"`
	Duration                      jsontext.Value `json:"duration"`
}

type rawPSTNRow struct {
	ID                 jsontext.Value `json:"id"`
	CallType           jsontext.Value `json:"callType"`
	DestinationContext jsontext.Value `json:"destinationContext"`
	Currency           jsontext.Value `json:"currency"`
	StartDateTime      jsontext.Value `json:"startDateTime"`
	Duration           jsontext.Value `json:"duration"`
	Charge             jsontext.Value `json:"charge"`
}

// UnmarshalDirectRoutingRow decodes one row of getDirectRoutingCalls'
// value array. The id and startDateTime (the row's identity and window)
// and successfulCall are required; a member of the wrong JSON type or a
// timestamp that is not one is an error matching ErrMalformedRow, whose
// text names the member and never its value. The row read so far is
// returned with the error.
func UnmarshalDirectRoutingRow(data []byte) (DirectRoutingCall, error) {
	return decodeDirectRoutingRow(data)
}

// UnmarshalPSTNRow decodes one row of getPstnCalls' value array, as
// UnmarshalDirectRoutingRow does; id and startDateTime are required.
func UnmarshalPSTNRow(data []byte) (PSTNCall, error) {
	return decodePSTNRow(data)
}

func decodeDirectRoutingRow(data []byte) (DirectRoutingCall, error) {
	var raw rawDirectRoutingRow
	if err := unmarshalRow(data, &raw); err != nil {
		return DirectRoutingCall{}, err
	}
	var r rowReader
	row := DirectRoutingCall{ID: r.id(raw.ID)}
	row.Start = r.required(r.time("startDateTime", raw.StartDateTime), "startDateTime")
	row.Successful = r.requiredBool("successfulCall", raw.SuccessfulCall)
	row.CallType = r.str("callType", raw.CallType)
	row.Trunk = r.str("trunkFullyQualifiedDomainName", raw.TrunkFullyQualifiedDomainName)
	row.MediaBypass, _ = r.boolean("mediaBypassEnabled", raw.MediaBypassEnabled)
	row.FinalSIPCode = r.integer("finalSipCode", raw.FinalSIPCode, 0, math.MaxInt32)
	row.Invite = r.time("inviteDateTime", raw.InviteDateTime)
	row.Duration = r.integer("duration", raw.Duration, 0, math.MaxInt32)
	return row, r.err
}

func decodePSTNRow(data []byte) (PSTNCall, error) {
	var raw rawPSTNRow
	if err := unmarshalRow(data, &raw); err != nil {
		return PSTNCall{}, err
	}
	var r rowReader
	row := PSTNCall{ID: r.id(raw.ID)}
	row.Start = r.required(r.time("startDateTime", raw.StartDateTime), "startDateTime")
	row.CallType = r.str("callType", raw.CallType)
	row.DestinationContext = r.str("destinationContext", raw.DestinationContext)
	row.Currency = r.str("currency", raw.Currency)
	row.Duration = r.integer("duration", raw.Duration, 0, math.MaxInt32)
	row.Charge = r.number("charge", raw.Charge)
	if row.Charge.Valid && (row.Charge.Value < 0 || row.Charge.Value > MaxCharge) {
		row.Charge = Number{}
	}
	return row, r.err
}

// unmarshalRow reads the members of a row object into raw. Anything but an
// object is an error that says what it was instead.
func unmarshalRow(data []byte, raw any) error {
	if k := jsontext.Value(data).Kind(); k != '{' {
		return fmt.Errorf("%w: want an object, got %s", ErrMalformedRow, kindName(k))
	}
	if err := jsonv2.Unmarshal(data, raw, decodeOptions); err != nil {
		// Only a syntax error can get here, which a page that decoded does
		// not hold; its text may quote the row, so it is not passed on.
		return fmt.Errorf("%w: not valid JSON", ErrMalformedRow)
	}
	return nil
}

// rowReader converts a row's members, remembering the first problem. Its
// errors name the member and the JSON kind found, never the value.
type rowReader struct{ err error }

func (r *rowReader) fail(name, format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: %s: %s", ErrMalformedRow, name, fmt.Sprintf(format, args...))
	}
}

func present(v jsontext.Value) bool { return len(v) > 0 && v.Kind() != 'n' }

func (r *rowReader) wrongType(name, want string, v jsontext.Value) {
	r.fail(name, "want %s, got %s", want, kindName(v.Kind()))
}

func (r *rowReader) id(v jsontext.Value) string {
	if !present(v) {
		r.fail("id", "missing")
		return ""
	}
	if len(v) > maxRowID+2 {
		r.fail("id", "longer than %d bytes", maxRowID)
		return ""
	}
	s := r.str("id", v)
	if s == "" {
		r.fail("id", "empty")
	}
	return s
}

func (r *rowReader) str(name string, v jsontext.Value) string {
	if !present(v) {
		return ""
	}
	if v.Kind() != '"' {
		r.wrongType(name, "a string", v)
		return ""
	}
	if len(v) > maxRowString+2 { // escapes only make the decoded string shorter
		return ""
	}
	var s string
	if err := jsonv2.Unmarshal(v, &s, decodeOptions); err != nil {
		r.fail(name, "unreadable string")
		return ""
	}
	if len(s) > maxRowString {
		return ""
	}
	return s
}

func (r *rowReader) boolean(name string, v jsontext.Value) (value, ok bool) {
	switch {
	case !present(v):
		return false, false
	case v.Kind() == 't':
		return true, true
	case v.Kind() == 'f':
		return false, true
	}
	r.wrongType(name, "a boolean", v)
	return false, false
}

func (r *rowReader) requiredBool(name string, v jsontext.Value) bool {
	b, ok := r.boolean(name, v)
	if !ok && !present(v) {
		r.fail(name, "missing")
	}
	return b
}

func (r *rowReader) number(name string, v jsontext.Value) Number {
	if !present(v) {
		return Number{}
	}
	if v.Kind() != '0' {
		r.wrongType(name, "a number", v)
		return Number{}
	}
	var n Number
	if err := n.fromJSON(v); err != nil || math.IsInf(n.Value, 0) || math.IsNaN(n.Value) {
		r.fail(name, "unreadable number")
		return Number{}
	}
	return n
}

// integer reads a number that Graph documents as Int32; a value outside
// [lo, hi] or with a fraction is read as absent, not as an error: the row's
// other members are still worth counting.
func (r *rowReader) integer(name string, v jsontext.Value, lo, hi float64) Number {
	n := r.number(name, v)
	if !n.Valid || n.Value < lo || n.Value > hi || n.Value != math.Trunc(n.Value) {
		return Number{}
	}
	return n
}

// time reads a DateTimeOffset. Graph writes an absent time as
// 0001-01-01T00:00:00Z, which is read as the zero time, as is null.
func (r *rowReader) time(name string, v jsontext.Value) time.Time {
	if !present(v) {
		return time.Time{}
	}
	if v.Kind() != '"' {
		r.wrongType(name, "a timestamp string", v)
		return time.Time{}
	}
	s := r.str(name, v)
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		r.fail(name, "not an RFC 3339 timestamp")
		return time.Time{}
	}
	if t.Year() <= 1 {
		return time.Time{}
	}
	return t.UTC()
}

func (r *rowReader) required(t time.Time, name string) time.Time {
	if t.IsZero() {
		r.fail(name, "missing")
	}
	return t
}

func kindName(k jsontext.Kind) string {
	switch k {
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	case '"':
		return "a string"
	case '0':
		return "a number"
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return "nothing"
}
