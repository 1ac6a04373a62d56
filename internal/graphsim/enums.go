package graphsim

import (
	"bytes"
	"encoding/json"
	"slices"
)

// unknownFutureValue is the sentinel of Graph's evolvable enums. Members
// added after it reach a client only when it sends
// "Prefer: include-unknown-enum-members"; otherwise Graph substitutes the
// sentinel.
const unknownFutureValue = "unknownFutureValue"

// knownMembers lists, per property name, the members up to and including the
// sentinel, as documented for v1.0. Any other value is "past the sentinel".
var knownMembers = map[string][]string{
	"platform":                 {"unknown", "windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", unknownFutureValue},
	"productFamily":            {"unknown", "teams", "skypeForBusiness", "lync", unknownFutureValue},
	"connectionType":           {"unknown", "wired", "wifi", "mobile", "tunnel", unknownFutureValue},
	"rating":                   {"notRated", "bad", "poor", "fair", "good", "excellent", unknownFutureValue},
	"modalities":               {"unknown", "audio", "video", "videoBasedScreenSharing", "data", "screenSharing", unknownFutureValue},
	"networkTransportProtocol": {"unknown", "udp", "tcp", unknownFutureValue},
	"wifiBand":                 {"unknown", "frequency24GHz", "frequency50GHz", "frequency60GHz", unknownFutureValue},
	"wifiRadioType":            {"unknown", "wifi80211a", "wifi80211b", "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax", unknownFutureValue},
	"stage":                    {"unknown", "callSetup", "midcall", unknownFutureValue},
	"audioCodec": {"unknown", "invalid", "cn", "pcma", "pcmu", "amrWide", "g722", "g7221", "g7221c", "g729", "multiChannelAudio",
		"muchv2", "opus", "satin", "satinFullband", "rtAudio8", "rtAudio16", "silk", "silkNarrow", "silkWide", "siren", "xmsRta", unknownFutureValue},
	"videoCodec": {"unknown", "invalid", "av1", "h263", "h264", "h264s", "h264uc", "h265", "rtvc1", "rtVideo", "xrtvc1", unknownFutureValue},
	"role": {"unknown", "customBot", "skypeForBusinessMicrosoftTeamsGateway", "skypeForBusinessAudioVideoMcu",
		"skypeForBusinessApplicationSharingMcu", "skypeForBusinessCallQueues", "skypeForBusinessAutoAttendant",
		"mediationServer", "mediationServerCloudConnectorEdition", "exchangeUnifiedMessagingService",
		"mediaController", "conferencingAnnouncementService", "conferencingAttendant",
		"audioTeleconferencerController", "skypeForBusinessUnifiedCommunicationApplicationPlatform",
		"responseGroupServiceAnnouncementService", "gateway", "skypeTranslator", "skypeForBusinessAttendant",
		"responseGroupService", "voicemail", unknownFutureValue},
}

// knownCallTypes is the callType enum; "type" is an enum only on the record
// itself, so it is handled apart from knownMembers.
var knownCallTypes = []string{"unknown", "groupCall", "peerToPeer", unknownFutureValue}

// downgradeEnums replaces members past the sentinel with unknownFutureValue
// throughout a JSON value (a session, with its segments). It reports whether
// anything changed; when nothing did, the input is returned as is.
func downgradeEnums(raw json.RawMessage) (json.RawMessage, bool, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep numbers exactly as written
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false, err
	}
	if !downgradeValue(v) {
		return raw, false, nil
	}
	out, err := json.Marshal(v)
	return out, true, err
}

func downgradeValue(v any) bool {
	changed := false
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if known, ok := knownMembers[k]; ok && downgradeMember(x, k, val, known) {
				changed = true
				continue
			}
			if downgradeValue(val) {
				changed = true
			}
		}
	case []any:
		for _, e := range x {
			if downgradeValue(e) {
				changed = true
			}
		}
	}
	return changed
}

// downgradeMember handles one enum-valued property: a string or, for
// flag-like collections such as modalities, an array of strings.
func downgradeMember(obj map[string]any, key string, val any, known []string) bool {
	switch x := val.(type) {
	case string:
		if !slices.Contains(known, x) {
			obj[key] = unknownFutureValue
			return true
		}
	case []any:
		changed := false
		for i, e := range x {
			if s, ok := e.(string); ok && !slices.Contains(known, s) {
				x[i] = unknownFutureValue
				changed = true
			}
		}
		return changed
	}
	return false
}

// downgradeTop applies the same rule to a record's top-level properties.
func downgradeTop(top map[string]json.RawMessage) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(top))
	for k, v := range top {
		out[k] = downgradeTopMember(k, v)
	}
	return out
}

// downgradeTopMember applies it to one top-level property: the record's
// type and modalities are its enums.
func downgradeTopMember(key string, raw json.RawMessage) json.RawMessage {
	switch key {
	case "type":
		var s string
		if json.Unmarshal(raw, &s) == nil && !slices.Contains(knownCallTypes, s) {
			return json.RawMessage(`"` + unknownFutureValue + `"`)
		}
	case "modalities":
		var mods []string
		if json.Unmarshal(raw, &mods) != nil {
			return raw
		}
		changed := false
		for i, m := range mods {
			if !slices.Contains(knownMembers["modalities"], m) {
				mods[i] = unknownFutureValue
				changed = true
			}
		}
		if changed {
			b, _ := json.Marshal(mods)
			return b
		}
	}
	return raw
}
