package simtruth

import (
	"regexp"
	"slices"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// The families that go one level deeper into why (docs/metrics.md): the
// causes of poor streams, codecs, and the client's product and version,
// per stream observation as teams_streams_total.

var (
	audioCodecMembers = []string{"cn", "pcma", "pcmu", "amrWide", "g722", "g7221", "g7221c", "g729", "multiChannelAudio",
		"muchv2", "opus", "satin", "satinFullband", "rtAudio8", "rtAudio16", "silk", "silkNarrow", "silkWide", "siren", "xmsRta"}
	videoCodecMembers = []string{"av1", "h263", "h264", "h264s", "h264uc", "h265", "rtvc1", "rtVideo", "xrtvc1"}
	productMembers    = []string{"teams", "skypeForBusiness", "lync", "azureCommunicationServices"}
	versionPattern    = regexp.MustCompile(`^[0-9A-Za-z._/+-]{1,40}$`)
)

// maxVersions is the number of client versions that get a value of their
// own; the generator makes fewer, so which ones does not depend on the
// order the exporter ingests records in.
const maxVersions = 50

// deeperVersions remembers the client versions seen, in record order.
type deeperVersions struct{ seen []string }

// label is the client_version of v: v when plausible and among the first
// maxVersions, other when plausible and later, else unknown.
func (d *deeperVersions) label(v string) string {
	if !versionPattern.MatchString(v) {
		return "unknown"
	}
	if slices.Contains(d.seen, v) {
		return v
	}
	if len(d.seen) < maxVersions {
		d.seen = append(d.seen, v)
		return v
	}
	return "other"
}

func codecLabel(v string, members []string) string {
	switch {
	case v == "" || v == "unknown" || v == "invalid":
		return "unknown"
	case slices.Contains(members, v):
		return v
	}
	return "other"
}

func productLabel(e graphsim.Endpoint) string {
	v := e.UserAgent.ProductFamily
	switch {
	case v == "" || v == "unknown":
		return "unknown"
	case slices.Contains(productMembers, v):
		return v
	}
	return "other"
}

// poorStreamCauses reads "Poor Due To" from the thresholds: for audio each
// one exceeded, for video and sharing the first metric present.
func poorStreamCauses(kind string, s graphsim.MediaStream) []string {
	var causes []string
	switch kind {
	case "audio":
		if s.AverageRoundTripTime != nil && s.AverageRoundTripTime.Seconds() > 0.5 {
			causes = append(causes, "round_trip")
		}
		if s.AveragePacketLossRate != nil && *s.AveragePacketLossRate > 0.1 {
			causes = append(causes, "packet_loss")
		}
		if s.AverageJitter != nil && s.AverageJitter.Seconds() > 0.03 {
			causes = append(causes, "jitter")
		}
	case "video", "screen_sharing":
		switch {
		case s.AverageVideoFrameLossPercentage != nil:
			causes = append(causes, "frame_loss")
		case s.AverageVideoFrameRate != nil:
			causes = append(causes, "frame_rate")
		default:
			causes = append(causes, "post_fec_packet_loss")
		}
	}
	return causes
}

// addDeeper adds the deeper families of one record.
func (b *builder) addDeeper(r *graphsim.Record) {
	for si := range r.Sessions {
		for gi := range r.Sessions[si].Segments {
			g := &r.Sessions[si].Segments[gi]
			for _, side := range []struct {
				e      graphsim.Endpoint
				caller bool
			}{{g.Caller, true}, {g.Callee, false}} {
				if !isClient(side.e) {
					continue
				}
				for _, m := range g.Media {
					net := m.CalleeNetwork
					if side.caller {
						net = m.CallerNetwork
					}
					b.addDeeperStreams(side.e, side.caller, graphsim.MediaKind(m.Label), connectionTypeOf(net), m.Streams)
				}
			}
		}
	}
}

func (b *builder) addDeeperStreams(e graphsim.Endpoint, caller bool, kind, conn string, streams []graphsim.MediaStream) {
	for _, st := range streams {
		if _, ok := direction(st.StreamDirection, caller); !ok {
			continue
		}
		quality := Classify(kind, st)
		if quality == QualityPoor {
			for _, cause := range poorStreamCauses(kind, st) {
				b.inc("teams_poor_stream_causes_total", newLabels(map[string]string{"media": kind, "connection_type": conn, "cause": cause}), 1)
			}
		}
		switch kind {
		case "audio":
			b.inc("teams_codec_streams_total", newLabels(map[string]string{"media": kind, "codec": codecLabel(st.AudioCodec, audioCodecMembers), "quality": quality}), 1)
		case "video", "screen_sharing":
			b.inc("teams_codec_streams_total", newLabels(map[string]string{"media": kind, "codec": codecLabel(st.VideoCodec, videoCodecMembers), "quality": quality}), 1)
		}
		b.inc("teams_client_streams_total", newLabels(map[string]string{"platform": endpointPlatform(e), "product": productLabel(e),
			"client_version": b.versions.label(e.UserAgent.ApplicationVersion), "media": kind, "quality": quality}), 1)
	}
}

// deeperPrefixes name the families added by addDeeper, for CallQuality.
var deeperPrefixes = []string{"teams_poor_stream_causes_total", "teams_codec_streams_total", "teams_client_streams_total"}
