package sdkcompare

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/microsoftgraph/msgraph-sdk-go/models/callrecords"

	"github.com/teams-exporter/teams-exporter/graph"
)

// Finding is one way the Graph SDK's model of a record differs from what
// Graph sent, next to what the exporter makes of the same bytes.
type Finding struct {
	What     string // the field, in Graph's terms
	Graph    string // what the JSON holds
	Exporter string // what graph.CallRecord holds
	SDK      string // what the SDK's callRecord model holds
}

// Paths into the documented example record the findings look at.
const (
	nextLinkMember = "sessions@odata.nextLink"
	futurePlatform = "futurePlatform" // a platform value newer than the SDK
)

// SDKFindings decodes the documented example record (expanded) on both
// sides and reports where the SDK loses what Graph sent:
//   - ISO 8601 durations: the SDK keeps the milliseconds in a separate
//     field but ToDuration and String ignore them, so "PT0.016S" (16 ms of
//     jitter) becomes 0 (and "PT1S", without a decimal point, is not
//     matched as seconds at all: see TestSDKDurations);
//   - sessions@odata.nextLink: the SDK's callRecord has no property for it,
//     it is only kept untyped in AdditionalData and nothing follows it;
//   - an enum value newer than the SDK (Graph adds platforms and connection
//     types; the spec asks for include-unknown-enum-members): the SDK sets
//     the property to nil, as if Graph had sent nothing.
func SDKFindings(expanded []byte) ([]Finding, error) {
	var exp graph.CallRecord
	if err := graph.UnmarshalCallRecord(expanded, &exp); err != nil {
		return nil, fmt.Errorf("exporter decode: %w", err)
	}
	sdk, err := SDKParse(expanded)
	if err != nil {
		return nil, err
	}
	var out []Finding

	// Jitter of the first stream of the first session.
	if len(exp.Sessions) == 0 || len(exp.Sessions[0].Segments) == 0 ||
		len(exp.Sessions[0].Segments[0].Media) == 0 || len(exp.Sessions[0].Segments[0].Media[0].Streams) == 0 {
		return nil, fmt.Errorf("example record has no stream")
	}
	expJitter := exp.Sessions[0].Segments[0].Media[0].Streams[0].AverageJitter
	sdkStream, err := firstSDKStream(sdk)
	if err != nil {
		return nil, err
	}
	sdkJitter := "nil"
	if j := sdkStream.GetAverageJitter(); j != nil {
		d, err := j.ToDuration()
		if err != nil {
			return nil, fmt.Errorf("SDK jitter: %w", err)
		}
		sdkJitter = fmt.Sprintf("ToDuration %v, String %q, GetMilliSeconds %d", d, j.String(), j.GetMilliSeconds())
	}
	out = append(out, Finding{
		What:     "sessions[0].segments[0].media[0].streams[0].averageJitter",
		Graph:    rawJitter(expanded),
		Exporter: expJitter.Value.String(),
		SDK:      sdkJitter,
	})

	// The link to the remaining sessions.
	sdkLink := "no property; not in AdditionalData either"
	if _, ok := sdk.GetAdditionalData()[nextLinkMember]; ok {
		sdkLink = "no property; kept untyped in AdditionalData, nothing follows it"
	}
	out = append(out, Finding{
		What:     nextLinkMember,
		Graph:    "a URL (more sessions to fetch)",
		Exporter: fmt.Sprintf("SessionsNextLink set: %t (the client follows it)", exp.SessionsNextLink != ""),
		SDK:      sdkLink,
	})

	// A platform newer than the SDK, in the first session's caller.
	future := bytes.Replace(expanded, []byte(`"platform": "android"`), []byte(`"platform": "`+futurePlatform+`"`), 1)
	if bytes.Equal(future, expanded) {
		return nil, fmt.Errorf("example record has no android platform to replace")
	}
	var expFuture graph.CallRecord
	if err := graph.UnmarshalCallRecord(future, &expFuture); err != nil {
		return nil, fmt.Errorf("exporter decode: %w", err)
	}
	sdkFuture, err := SDKParse(future)
	if err != nil {
		return nil, err
	}
	sdkPlatform := "nil"
	if ua, ok := sdkFuture.GetSessions()[0].GetCaller().GetUserAgent().(callrecords.ClientUserAgentable); ok && ua.GetPlatform() != nil {
		sdkPlatform = ua.GetPlatform().String()
	}
	out = append(out, Finding{
		What:     "sessions[0].caller.userAgent.platform",
		Graph:    fmt.Sprintf("%q", futurePlatform),
		Exporter: fmt.Sprintf("%q", expFuture.Sessions[0].Caller.UserAgent.Platform),
		SDK:      sdkPlatform,
	})
	return out, nil
}

// firstSDKStream returns the SDK's first stream of the first session.
func firstSDKStream(rec callrecords.CallRecordable) (callrecords.MediaStreamable, error) {
	ss := rec.GetSessions()
	if len(ss) == 0 || len(ss[0].GetSegments()) == 0 || len(ss[0].GetSegments()[0].GetMedia()) == 0 ||
		len(ss[0].GetSegments()[0].GetMedia()[0].GetStreams()) == 0 {
		return nil, fmt.Errorf("SDK record has no stream")
	}
	return ss[0].GetSegments()[0].GetMedia()[0].GetStreams()[0], nil
}

// rawJitter returns the averageJitter of the first stream as the JSON has it.
func rawJitter(body []byte) string {
	var raw struct {
		Sessions []struct {
			Segments []struct {
				Media []struct {
					Streams []struct {
						AverageJitter json.RawMessage `json:"averageJitter"`
					} `json:"streams"`
				} `json:"media"`
			} `json:"segments"`
		} `json:"sessions"`
	}
	if json.Unmarshal(body, &raw) != nil || len(raw.Sessions) == 0 || len(raw.Sessions[0].Segments) == 0 ||
		len(raw.Sessions[0].Segments[0].Media) == 0 || len(raw.Sessions[0].Segments[0].Media[0].Streams) == 0 {
		return "?"
	}
	return string(raw.Sessions[0].Segments[0].Media[0].Streams[0].AverageJitter)
}
