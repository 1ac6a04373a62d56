package graph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"

	"github.com/go-json-experiment/json/jsontext"
)

// Address is a client's IP address or subnet as Graph reports it. It is
// personal data: the exporter uses it only to find the client's building
// and never shows it. It prints, formats, marshals and logs as "[redacted]"; Value
// gives the address for the lookup.
type Address string

const redacted = "[redacted]"

// Value is the address itself, for the building lookup only.
func (a Address) Value() string { return string(a) }

// String hides the address.
func (a Address) String() string { return redacted }

// GoString hides the address from %#v too.
func (a Address) GoString() string { return redacted }

// Format hides the address from every fmt verb.
func (a Address) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(redacted)) }

// LogValue hides the address from slog.
func (a Address) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText hides the address from encoders (slog's JSON handler
// marshals structs).
func (a Address) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// MaxFeedbackTokens bounds the tokens kept per feedback: the token set is an
// open type, so its size is the sender's choice.
const MaxFeedbackTokens = 32

// FeedbackTokens are the names of a feedback's tokens whose value is true
// (feedbackTokenSet, an open type of Boolean properties whose names
// Microsoft says may change). Members that are not true, or not Boolean, are
// left out; at most MaxFeedbackTokens names are kept.
type FeedbackTokens []string

// UnmarshalJSON reads the token set; null or a non-object leaves no tokens.
func (t *FeedbackTokens) UnmarshalJSON(b []byte) error {
	*t = nil
	dec := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	return t.read(dec)
}

// UnmarshalJSONFrom is UnmarshalJSON for the JSON v2 decoder.
func (t *FeedbackTokens) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*t = nil
	return t.read(dec)
}

func (t *FeedbackTokens) read(dec *jsontext.Decoder) error {
	if dec.PeekKind() != '{' {
		return dec.SkipValue()
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String() // before the next read voids tok
		if dec.PeekKind() != 't' {
			if err := dec.SkipValue(); err != nil {
				return err
			}
			continue
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		if len(*t) < MaxFeedbackTokens {
			*t = append(*t, name)
		}
	}
	_, err := dec.ReadToken()
	return err
}

// MarshalJSON writes the tokens as Graph does, each true.
func (t FeedbackTokens) MarshalJSON() ([]byte, error) {
	m := make(map[string]bool, len(t))
	for _, name := range t {
		m[name] = true
	}
	return json.Marshal(m)
}
