package graph

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxShortString bounds a ShortString: Graph's enum members and version
// strings are a few dozen bytes at most.
const MaxShortString = 64

// ShortString is a string that names something from a small set (an enum
// member such as a codec or a product family) or a version: short by
// nature. The exporter keeps what it needs to tell it apart and no more,
// so a value longer than MaxShortString bytes is cut to MaxShortString+1
// bytes: still longer than any member or version, so it maps to the label
// that stands for "another value", and no bigger than that, whatever the
// sender wrote. A null or absent value is empty.
type ShortString string

// UnmarshalJSON accepts a JSON string or null; anything else is an error,
// as for every other typed field.
func (s *ShortString) UnmarshalJSON(b []byte) error {
	if isNull(b) {
		*s = ""
		return nil
	}
	var v string
	if len(b) == 0 || b[0] != '"' || jsonv2.Unmarshal(b, &v, decodeOptions) != nil {
		return fmt.Errorf("string: want a JSON string, got %s", truncate(b))
	}
	*s = shortString(v)
	return nil
}

// UnmarshalJSONFrom is UnmarshalJSON for the JSON v2 decoder. A member of
// one of Graph's enums is the constant string, so decoding one allocates
// nothing.
func (s *ShortString) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	raw, err := dec.ReadValue()
	if err != nil {
		return err
	}
	switch raw.Kind() {
	case 'n':
		*s = ""
		return nil
	case '"':
		body := raw[1 : len(raw)-1]
		// The conversion in the map index does not allocate.
		if m, ok := enumMembers[string(body)]; ok {
			*s = m
			return nil
		}
		if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
			// Nothing to unescape: cut the bytes, then copy only those.
			*s = ShortString(body[:min(len(body), MaxShortString+1)])
			return nil
		}
	}
	return s.UnmarshalJSON(raw)
}

// enumMembers are the members of Graph's enums decoded as ShortString
// (productFamily, audioCodec, videoCodec), each as its own constant.
var enumMembers = func() map[string]ShortString {
	m := map[string]ShortString{}
	for _, v := range []string{
		"unknown", "invalid", "unknownFutureValue",
		"teams", "skypeForBusiness", "lync", "azureCommunicationServices",
		"cn", "pcma", "pcmu", "amrWide", "g722", "g7221", "g7221c", "g729", "multiChannelAudio", "muchv2",
		"opus", "satin", "satinFullband", "rtAudio8", "rtAudio16", "silk", "silkNarrow", "silkWide", "siren", "xmsRta",
		"av1", "h263", "h264", "h264s", "h264uc", "h265", "rtvc1", "rtVideo", "xrtvc1",
	} {
		m[v] = ShortString(v)
	}
	return m
}()

// shortString cuts v to MaxShortString+1 bytes.
func shortString(v string) ShortString {
	if len(v) > MaxShortString+1 {
		v = v[:MaxShortString+1]
	}
	return ShortString(v)
}

// MarshalJSON writes the string.
func (s ShortString) MarshalJSON() ([]byte, error) { return jsonv2.Marshal(string(s)) }
