package graph

import (
	"errors"
	"strings"
	"testing"
)

// FuzzRecordBounds: whatever the body, a record that decodes holds no more
// than the bounds allow; a list over a bound is refused as ErrRecordBounds
// (so ErrMalformed); and once implausible values are dropped, every value
// left is inside its range (dropping again drops nothing).
func FuzzRecordBounds(f *testing.F) {
	streams := func(n int) string { return strings.TrimSuffix(strings.Repeat("{},", n), ",") }
	f.Add([]byte(`{"id":"x","sessions":[{"segments":[{"media":[{"streams":[` + streams(maxStreamsPerMedia) + `]}]}]}]}`))
	f.Add([]byte(`{"id":"x","sessions":[{"segments":[{"media":[{"streams":[` + streams(maxStreamsPerMedia+1) + `]}]}]}]}`))
	f.Add([]byte(`{"id":"x","modalities":[` + strings.TrimSuffix(strings.Repeat(`"a",`, maxStringsPerArray+1), ",") + `]}`))
	f.Add([]byte(`{"id":"x","startDateTime":"2026-01-01T00:00:00Z","endDateTime":"9999-01-01T00:00:00Z","sessions":[{"segments":[{"media":[{"callerNetwork":{"linkSpeed":1e300,"delayEventRatio":-0.5},"streams":[{"averageJitter":"P2D","averagePacketLossRate":1e300,"averageVideoFrameLossPercentage":100}]}]}]}]}`))
	f.Add([]byte(`{"id":"x","sessions":null,"modalities":null}`))
	f.Add([]byte(`{"id":"x","sessions":[{"segments":[{"media":[{"streams":[{},]}]}]}]}`))
	f.Add([]byte(`{"id":"x","sessions":[{"segments":[{"caller":{"userAgent":{"productFamily":"` + strings.Repeat("t", 3*MaxShortString) + `","applicationVersion":null}},"media":[{"streams":[{"audioCodec":"` + strings.Repeat("\\u00e9", MaxShortString) + `","videoCodec":"h264"}]}]}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var rec CallRecord
		err := UnmarshalCallRecord(body, &rec)
		if err != nil {
			if errors.Is(err, ErrRecordBounds) && !errors.Is(err, ErrMalformed) {
				t.Fatalf("a record over the bounds is not ErrMalformed: %v", err)
			}
			return
		}
		if err := checkRecordBounds(&rec); err != nil {
			if len(rec.Sessions) <= maxSessions {
				return // more elements in all than one answer may hold: refused by the client
			}
			t.Fatalf("decoded record over the bounds: %v", err)
		}
		if len(rec.Modalities) > maxStringsPerArray {
			t.Fatalf("%d modalities decoded", len(rec.Modalities))
		}
		for _, s := range rec.Sessions {
			if len(s.Segments) > maxSegmentsPerSess {
				t.Fatalf("%d segments decoded", len(s.Segments))
			}
			for _, g := range s.Segments {
				checkShort(t, g.Caller.UserAgent.ProductFamily, g.Caller.UserAgent.ApplicationVersion,
					g.Callee.UserAgent.ProductFamily, g.Callee.UserAgent.ApplicationVersion)
				if len(g.Media) > maxMediaPerSegment {
					t.Fatalf("%d media decoded", len(g.Media))
				}
				for _, m := range g.Media {
					if len(m.Streams) > maxStreamsPerMedia {
						t.Fatalf("%d streams decoded", len(m.Streams))
					}
					for _, st := range m.Streams {
						checkShort(t, st.AudioCodec, st.VideoCodec)
					}
				}
			}
		}
		dropImplausible(&rec)
		if n := dropImplausible(&rec); n != 0 {
			t.Fatalf("%d implausible values left after dropping them", n)
		}
	})
}

// checkShort fails when a short string kept more than its bound.
func checkShort(t *testing.T, strs ...ShortString) {
	t.Helper()
	for _, s := range strs {
		if len(s) > MaxShortString+1 {
			t.Fatalf("short string of %d bytes kept", len(s))
		}
	}
}
