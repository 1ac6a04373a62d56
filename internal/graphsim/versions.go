package graphsim

import (
	"encoding/json"
	"fmt"
	"time"
)

// NextVersion returns the next version of r as Graph publishes it when
// late telemetry arrives. Microsoft's call records FAQ: a record can miss
// fields because a client's telemetry is late; when it arrives, Graph
// generates a new record with the updated information and a higher
// version, and such later versions can come after the first version's
// 60-minute latency. So the next version has version+1,
// lastModifiedDateTime at, and more content: taking turns by version, one
// more media stream (a copy of the first stream of the first media that
// has one, under a stream id of its own) or a user's feedback on the first
// participant endpoint without any (a stream when there is none to add).
// r is not changed. An exporter that waited for the returned version must
// show its content, not r's.
func NextVersion(r Record, at time.Time) Record {
	var next Record
	b, err := json.Marshal(r)
	if err == nil {
		err = json.Unmarshal(b, &next)
	}
	if err != nil {
		panic(fmt.Sprintf("graphsim: copy record: %v", err)) // only a NaN or infinity gets here: a bug in the caller
	}
	next.Version = r.Version + 1
	next.LastModifiedDateTime = at.UTC().Truncate(time.Microsecond)
	if next.Version%2 == 0 && addLateStream(&next) {
		return next
	}
	if !addLateFeedback(&next) {
		addLateStream(&next)
	}
	return next
}

// addLateStream adds a stream to the first media that has one; false if
// none has.
func addLateStream(r *Record) bool {
	for i := range r.Sessions {
		for j := range r.Sessions[i].Segments {
			for k := range r.Sessions[i].Segments[j].Media {
				m := &r.Sessions[i].Segments[j].Media[k]
				if len(m.Streams) == 0 {
					continue
				}
				s := m.Streams[0]
				s.StreamID = fmt.Sprintf("%s-late-v%d", s.StreamID, r.Version)
				m.Streams = append(m.Streams, s)
				return true
			}
		}
	}
	return false
}

// addLateFeedback rates the first participant endpoint without feedback
// poor, with two tokens; false if every endpoint has feedback already.
func addLateFeedback(r *Record) bool {
	for i := range r.Sessions {
		for _, e := range []*Endpoint{&r.Sessions[i].Caller, &r.Sessions[i].Callee} {
			if e.ODataType == TypeParticipantEndpoint && e.Feedback == nil {
				e.Feedback = &UserFeedback{Rating: "poor", Tokens: map[string]bool{"Echo": true, "NoSound": false}}
				return true
			}
		}
	}
	return false
}
