package collector

import (
	"github.com/teams-exporter/teams-exporter/graph"
)

// Why, one level deeper: what made a poor stream poor (CQD's "Poor Due
// To"), which codec a stream used, and which client product and version
// observed it. They answer the questions an administrator asks after "how
// many streams are poor": is Wi-Fi audio poor from jitter, loss or round
// trip; did a new client version make things worse; which codec do the
// poor video streams use.

// Causes of a poor stream, in the order of the cause label's values; a
// stream's causes are an array of flags indexed by these.
const (
	causeRoundTrip uint8 = iota
	causePacketLoss
	causeJitter
	causeFrameLoss
	causeFrameRate
	causePostFECLoss
	numCauses
)

var causeValues = [numCauses]string{"round_trip", "packet_loss", "jitter", "frame_loss", "frame_rate", "post_fec_packet_loss"}

// Graph's codec members (microsoft.graph.callRecords.audioCodec and
// videoCodec), as given; unknown and invalid are Graph's own "not known".
var (
	audioCodecs = []string{"cn", "pcma", "pcmu", "amrWide", "g722", "g7221", "g7221c", "g729", "multiChannelAudio",
		"muchv2", "opus", "satin", "satinFullband", "rtAudio8", "rtAudio16", "silk", "silkNarrow", "silkWide", "siren", "xmsRta"}
	videoCodecs = []string{"av1", "h263", "h264", "h264s", "h264uc", "h265", "rtvc1", "rtVideo", "xrtvc1"}
)

// codecValues are the codec label's values: audio members, video members,
// unknown, other. The lookups below rely on this order.
func codecValues() []string {
	v := append(append([]string{}, audioCodecs...), videoCodecs...)
	return append(v, "unknown", "other")
}

var (
	codecUnknown = uint8(len(audioCodecs) + len(videoCodecs))
	codecOther   = codecUnknown + 1
)

// codecOf maps the codec a stream of media used: the audio codec for
// audio, the video codec for video and screen sharing, each matched
// against its own members only. ok is false for other media, which have
// no codec and are not counted.
func codecOf(media uint8, s *graph.MediaStream) (codec uint8, ok bool) {
	switch media {
	case mediaAudio:
		return codecIn(string(s.AudioCodec), audioCodecs, 0), true
	case mediaVideo, mediaScreenSharing:
		return codecIn(string(s.VideoCodec), videoCodecs, uint8(len(audioCodecs))), true
	}
	return 0, false
}

// codecIn finds v among members, whose first value id is base. Absent,
// null, unknown and invalid are unknown; anything else not a member
// (unknownFutureValue included: a member newer than this exporter) is
// other. Graph writes member names in one case: "OPUS" is not a member
// and counts as other, so the label is always a name Graph documents.
func codecIn(v string, members []string, base uint8) uint8 {
	if v == "" || v == "unknown" || v == "invalid" {
		return codecUnknown
	}
	if i := lookupExact(members, v, 255); i != 255 {
		return base + i
	}
	return codecOther
}

var (
	productUnknown = uint8(len(dims[dimProduct].values) - 2)
	productOther   = productUnknown + 1
)

// productOf maps userAgent.productFamily: absent, null or unknown is
// unknown; any value not listed (unknownFutureValue, or a member in
// another case) is other.
func productOf(v graph.ShortString) uint8 {
	if v == "" || v == "unknown" {
		return productUnknown
	}
	return lookupExact(dims[dimProduct].values[:productUnknown], string(v), productOther)
}

// lookupExact returns the index of s in values, compared byte for byte,
// or fallback: for enumerations whose label is Graph's member name as
// given.
func lookupExact(values []string, s string, fallback uint8) uint8 {
	for i, v := range values {
		if v == s {
			return uint8(i)
		}
	}
	return fallback
}

// maxClientVersions bounds the client_version label: the first 50
// distinct versions seen keep a value of their own, later ones are other.
// A tenant runs a handful of versions at once and upgrades monthly, so 50
// covers months of history; the bound keeps a broken or hostile sender from
// making more series.
const maxClientVersions = 50

// maxClientVersionLen is the longest version string a label keeps.
const maxClientVersionLen = 40

// isClientVersion accepts a plausible version string: 1 to 40 letters,
// digits and . _ / + -. Anything else (absent, empty, a newline, a
// sentence) is not a version and counts as unknown.
func isClientVersion(s string) bool {
	if s == "" || len(s) > maxClientVersionLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z',
			c == '.', c == '_', c == '/', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

// clientVersionOf is the value to learn for applicationVersion v.
func clientVersionOf(v graph.ShortString) string {
	if !isClientVersion(string(v)) {
		return "unknown"
	}
	return string(v)
}

// poorCauses are the causes of a stream that classify rated poor: for
// audio every threshold its present values exceed, for video and screen
// sharing the one metric that decided.
func poorCauses(media uint8, s *graph.MediaStream) (causes [numCauses]bool) {
	switch media {
	case mediaAudio:
		rtt, rttOK := measuredDuration(s.AverageRoundTripTime)
		loss, lossOK := measured(s.AveragePacketLossRate)
		jitter, jitterOK := measuredDuration(s.AverageJitter)
		causes[causeRoundTrip] = rttOK && rtt > audioMaxRoundTrip
		causes[causePacketLoss] = lossOK && loss > audioMaxPacketLoss
		causes[causeJitter] = jitterOK && jitter > audioMaxJitter
	case mediaVideo, mediaScreenSharing:
		switch {
		case present(s.AverageVideoFrameLossPercentage):
			causes[causeFrameLoss] = true
		case present(s.AverageVideoFrameRate):
			causes[causeFrameRate] = true
		default:
			causes[causePostFECLoss] = true
		}
	}
	return causes
}

func present(n graph.Number) bool { _, ok := measured(n); return ok }
