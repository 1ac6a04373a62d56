package graph

import (
	"errors"
	"fmt"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// What one record may hold. A JSON body amplifies when decoded: "{}," is
// three bytes and an empty media stream is hundreds, so an 8 KiB gzip body
// of "{},{},..." would decode into millions of streams and gigabytes of
// heap. The decoder counts as it goes and stops at these bounds, far above
// real records (a 300-person meeting holds a few thousand elements), so a
// hostile body costs at most a few megabytes. A record over a bound is
// ErrRecordBounds: skipped as malformed and counted.
const (
	maxSessions          = 20000 // per record, all pages together
	maxSegmentsPerSess   = 200   // per session
	maxMediaPerSegment   = 32    // per segment
	maxStreamsPerMedia   = 32    // per media
	maxStringsPerArray   = 64    // modalities and any other list of strings
	maxElementsPerAnswer = 50000 // sessions, segments, media, streams and strings in one answer
)

// errAnswerBudget marks an answer holding more elements than
// maxElementsPerAnswer: for one record that is the record's problem
// (ErrRecordBounds); for a $batch it is the answer's size, and the batch
// is split and retried.
var errAnswerBudget = fmt.Errorf("%w: more than %d elements in one answer", ErrRecordBounds, maxElementsPerAnswer)

// budget counts the elements decoded from one answer.
type budget struct{ left int }

func newBudget() *budget { return &budget{left: maxElementsPerAnswer} }

// options are decodeOptions with the bounded decoding of every list a
// record holds, charged to b.
func (b *budget) options() jsonv2.Options {
	return jsonv2.JoinOptions(decodeOptions, jsonv2.WithUnmarshalers(jsonv2.JoinUnmarshalers(
		boundedSlice[Session](b, maxSessions, "sessions"),
		boundedSlice[Segment](b, maxSegmentsPerSess, "segments in a session"),
		boundedSlice[Media](b, maxMediaPerSegment, "media in a segment"),
		boundedSlice[MediaStream](b, maxStreamsPerMedia, "streams in a media"),
		boundedSlice[string](b, maxStringsPerArray, "strings in a list"),
		jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, item *batchItemBody) error {
			return item.decode(dec, b)
		}),
	)))
}

// boundedSlice decodes a JSON array into a []T as the default decoder does
// (null is a nil slice; each element starts from zero), refusing more than
// limit elements or more than the budget has left before decoding them.
func boundedSlice[T any](b *budget, limit int, what string) *jsonv2.Unmarshalers {
	return jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, s *[]T) error {
		switch dec.PeekKind() {
		case 'n':
			if _, err := dec.ReadToken(); err != nil {
				return err
			}
			*s = nil
			return nil
		case '[':
		default:
			return errors.ErrUnsupported // the default decoder reports the wrong type
		}
		if _, err := dec.ReadToken(); err != nil {
			return err
		}
		out := (*s)[:0]
		if out == nil {
			out = []T{} // [] is an empty list, not an absent one
		}
		for {
			switch dec.PeekKind() {
			case ']':
				if _, err := dec.ReadToken(); err != nil {
					return err
				}
				*s = out
				return nil
			case 0: // invalid or truncated input
				_, err := dec.ReadToken()
				if err == nil {
					err = errors.New("unexpected end of array")
				}
				return err
			}
			if len(out) >= limit {
				return fmt.Errorf("%w: more than %d %s", ErrRecordBounds, limit, what)
			}
			if b.left--; b.left < 0 {
				return errAnswerBudget
			}
			var v T
			if err := jsonv2.UnmarshalDecode(dec, &v); err != nil {
				return err
			}
			out = append(out, v)
		}
	})
}

// checkRecordBounds checks a whole record, sessions from every page
// together, against the bounds.
func checkRecordBounds(rec *CallRecord) error {
	if len(rec.Sessions) > maxSessions {
		return fmt.Errorf("%w: more than %d sessions", ErrRecordBounds, maxSessions)
	}
	n := len(rec.Sessions)
	for i := range rec.Sessions {
		for j := range rec.Sessions[i].Segments {
			n += 1 + len(rec.Sessions[i].Segments[j].Media)
			for k := range rec.Sessions[i].Segments[j].Media {
				n += len(rec.Sessions[i].Segments[j].Media[k].Streams)
			}
		}
	}
	if n > maxElementsPerAnswer {
		return fmt.Errorf("%w: more than %d sessions, segments, media and streams", ErrRecordBounds, maxElementsPerAnswer)
	}
	return nil
}
