package graph

import (
	"io"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"
)

// Graph's bodies are decoded with JSON v2 (github.com/go-json-experiment/json,
// the module behind Go's encoding/json/v2): encoding/json v1 scans a body
// once to validate it and again to decode it, and spent most of the exporter's
// time per record doing so; v2 does both in one pass, about twice as fast.
//
// decodeOptions keep v1's leniency, so that records decode exactly as they
// did with encoding/json and a quirk in one member does not refuse a whole
// record: a repeated member name is allowed (the last one wins), invalid
// UTF-8 in a string becomes U+FFFD, and member names match as
// strings.EqualFold does ("ID" sets id; v2 folds an unmatched name in any
// case, so this costs nothing), and timestamps are parsed as loosely as
// encoding/json parses them (a one-digit hour, a comma before the fraction).
var decodeOptions = jsonv2.JoinOptions(
	jsontext.AllowDuplicateNames(true),
	jsontext.AllowInvalidUTF8(true),
	jsonv2.MatchCaseInsensitiveNames(true),
	jsonv1.MatchCaseSensitiveDelimiter(true),
	jsonv1.ParseTimeWithLooseRFC3339(true),
)

// UnmarshalCallRecord decodes one call record as Graph sends it (GET
// /communications/callRecords/{id}) into rec. Unknown members are ignored;
// null or absent numbers and durations stay not Valid; a member of the wrong
// JSON type is an error.
//
// A record over the bounds a record may hold (see bounds.go) is refused
// with ErrRecordBounds, without decoding the rest.
func UnmarshalCallRecord(data []byte, rec *CallRecord) error {
	return jsonv2.Unmarshal(data, rec, newBudget().options())
}

// decodeJSON reads one JSON value from r into v, which must be all r holds
// (apart from white space), charging the lists it decodes to b.
func decodeJSON(r io.Reader, v any, b *budget) error {
	return shortError(jsonv2.UnmarshalRead(r, v, b.options()))
}

// maxErrorDetail bounds the text of a decode error. The decoder names where
// it failed by a JSON pointer, one step per level: 20,000 nested arrays made
// an error of 40 KB, logged at every poll.
const maxErrorDetail = 200

// shortError cuts err's text to maxErrorDetail bytes; errors.Is and
// errors.As still see err.
func shortError(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error() // up to 40 KB on hostile input: built once
	if len(msg) <= maxErrorDetail {
		return err
	}
	return &cutError{msg: strings.ToValidUTF8(msg[:maxErrorDetail], "") + "...", err: err}
}

type cutError struct {
	msg string
	err error
}

func (e *cutError) Error() string { return e.msg }
func (e *cutError) Unwrap() error { return e.err }
