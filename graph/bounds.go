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
	// maxPageItems bounds the records of a list page, the rows of a
	// call-log page, the subscriptions listed and the answers of a $batch:
	// Graph's hold at most 999, 1,000, 100 and 20.
	maxPageItems = 10000
)

// What a body may hold after decompression, by operation, below the
// client's MaxBodyBytes: a list page of 999 records (six fields each, the
// $select) is about 400 KB, a call-log page of 1,000 rows a few MB; a
// record with its sessions can be tens of MB.
const (
	maxListBodyBytes    = 16 << 20
	maxCallLogBodyBytes = 32 << 20
	// A subscription is a few hundred bytes; a page holds at most 100.
	maxSubscriptionBodyBytes = 4 << 20
)

// maxBodyFor is the size limit of op's bodies after decompression.
func (c *Client) maxBodyFor(op Operation) int64 {
	switch op {
	case OpList:
		return min(c.maxBody, maxListBodyBytes)
	case OpPSTNCalls, OpDirectRoutingCalls:
		return min(c.maxBody, maxCallLogBodyBytes)
	case OpSubscription:
		return min(c.maxBody, maxSubscriptionBodyBytes)
	}
	return c.maxBody
}

// ErrPageBounds is matched by a list or call-log page that holds more
// items than any page Graph sends; it is also ErrMalformed.
var ErrPageBounds = fmt.Errorf("%w: page exceeds a bound", ErrMalformed)

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
		boundedPage[CallRecord](b, "records in a list page"),
		boundedPage[jsontext.Value](b, "rows in a call-log page"),
		boundedPage[Subscription](b, "subscriptions in a page"),
		boundedPage[batchResponseItem](b, "answers in a $batch"),
		jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, item *batchItemBody) error {
			return item.decode(dec, b)
		}),
		jsonv2.UnmarshalFromFunc(func(dec *jsontext.Decoder, h *batchHeaders) error {
			return h.decode(dec, b)
		}),
	)))
}

// boundedSlice decodes a JSON array into a []T as the default decoder does
// (null is a nil slice; each element starts from zero), refusing more than
// limit elements or more than the budget has left before decoding them.
func boundedSlice[T any](b *budget, limit int, what string) *jsonv2.Unmarshalers {
	return bounded[T](b, limit, ErrRecordBounds, what)
}

// boundedPage decodes the items of a page as boundedSlice does, refusing
// more than maxPageItems with ErrPageBounds: a few KiB of gzip that inflate
// into a page of millions of empty records would otherwise cost gigabytes.
func boundedPage[T any](b *budget, what string) *jsonv2.Unmarshalers {
	return bounded[T](b, maxPageItems, ErrPageBounds, what)
}

func bounded[T any](b *budget, limit int, over error, what string) *jsonv2.Unmarshalers {
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
				return fmt.Errorf("%w: more than %d %s", over, limit, what)
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
