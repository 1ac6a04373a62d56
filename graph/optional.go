package graph

import (
	"bytes"
	"fmt"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
)

// Number is a JSON number that Graph may send as null or leave out. Valid is
// false when the value was not measured; it must never be observed as zero.
type Number struct {
	Value float64
	Valid bool
}

// UnmarshalJSON accepts a JSON number or null; anything else is an error, so
// a record with a wrongly typed field is refused whole rather than half read.
func (n *Number) UnmarshalJSON(b []byte) error { return n.fromJSON(b) }

// UnmarshalJSONFrom is UnmarshalJSON for the JSON v2 decoder that
// UnmarshalCallRecord uses: it reads the raw value in place, so the value is
// neither scanned twice nor copied.
func (n *Number) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return n.fromJSON(b)
}

func (n *Number) fromJSON(b []byte) error {
	if isNull(b) {
		*n = Number{}
		return nil
	}
	// The conversion does not escape, so it costs no allocation.
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil || len(b) == 0 || b[0] == '"' {
		return fmt.Errorf("number: want a JSON number, got %s", truncate(b))
	}
	*n = Number{Value: v, Valid: true}
	return nil
}

// MarshalJSON writes the number, or null when not Valid.
func (n Number) MarshalJSON() ([]byte, error) {
	if !n.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendFloat(nil, n.Value, 'g', -1, 64), nil
}

func isNull(b []byte) bool { return bytes.Equal(bytes.TrimSpace(b), []byte("null")) }

// truncate keeps error strings short when the input is large or hostile.
func truncate(b []byte) string {
	const limit = 40
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "..."
	}
	return strconv.Quote(string(b))
}
