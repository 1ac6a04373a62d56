package collector

import (
	"cmp"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
)

// The family table and the labels are documented in docs/metrics.md, which
// TestMetricsDoc checks and rewrites:
//go:generate go test -run ^TestMetricsDoc$ -update .

// A familyID names one metric family of the store.
type familyID uint8

// The stream histograms come first and share their label dimensions, so one
// index addresses the same label set in each of them.
const (
	famJitter familyID = iota
	famPacketLoss
	famRoundTrip
	famAudioDegradation
	famConcealed
	famAudioNetworkJitter
	famBandwidth
	famVideoFrameRate
	famVideoFrameLoss
	famVideoPacketLoss
	famFreeze
	famPostFEC
	famLowFrameRate
	famStreams
	famNetQualityEvent
	famNetDelayEvent
	famNetBandwidthLow
	famNetLinkSpeed
	famCallRecords
	famCallDuration
	famSessions
	famFeedback
	famDRCalls
	famDRSIPCodes
	famDRDuration
	famDRSetup
	famPSTNCalls
	famPSTNDuration
	famPSTNCharge
	famSiteStreams
	famSiteJitter
	famSitePacketLoss
	famSiteRoundTrip
	famSessionFailures
	famTransportStreams
	famWifiStreams
	famWifiSignal
	famDeviceEvent
	famDeviceGlitches
	famDeviceHowling
	famFeedbackTokens
	famPoorCauses
	famCodecStreams
	famClientStreams
	numFamilies
)

// family describes one metric: its name, help, kind, classic buckets and
// label dimensions. A series is addressed by a seriesKey: the value id of
// each of its dims, in dims order.
type family struct {
	name    string
	help    string
	counter bool
	// sum marks a counter whose value is a sum of amounts (a charge)
	// rather than a count: it is kept in the series' sum.
	sum    bool
	bounds []float64 // classic upper bounds without +Inf; nil for counters
	// eventOf ends the HELP text: what an observation is made of (default
	// sinceStateBegan, for call records).
	eventOf string
	dims    []dim
	// size is the most series the family can hold: the product of its
	// dims' cardinalities.
	size int
	desc *prometheus.Desc
	// labelOrder lists positions in dims in label-name order, because
	// dto label pairs are expected sorted by name.
	labelOrder []int
}

// maxDims bounds the labels of a family, so that a seriesKey is a small
// comparable array.
const maxDims = 8

// seriesKey addresses one series of a family: the value id of each dim
// (an enum for a fixed dim, a learned value's id for a learned one), in the
// family's dims order; unused positions are zero.
type seriesKey [maxDims]uint16

// sinceStateBegan ends every HELP text: call records are events, counted
// when ingested.
const sinceStateBegan = " Counts what has been ingested since the exporter's state began; observed when the call record is ingested, not when the call happened."

var (
	streamDims       = []dim{dimMedia, dimDirection, dimPlatform, dimConnection}
	streamsTotalDims = []dim{dimMedia, dimDirection, dimPlatform, dimConnection, dimQuality}
	networkDirDims   = []dim{dimMedia, dimDirection, dimPlatform, dimConnection}
	networkDims      = []dim{dimMedia, dimPlatform, dimConnection}
	callDims         = []dim{dimCallType}
	feedbackDims     = []dim{dimRating, dimPlatform}
	siteStreamsDims  = []dim{dimSite, dimMedia, dimDirection, dimConnection, dimQuality}
	siteAudioDims    = []dim{dimSite, dimDirection}

	roundTripBuckets = []float64{.025, .05, .1, .2, .3, .5, 1, 2}

	jitterBuckets    = []float64{.005, .01, .02, .03, .05, .075, .1, .2, .5}
	lossBuckets      = []float64{.001, .005, .01, .02, .05, .1, .2, .5}
	eventBuckets     = []float64{.01, .05, .1, .2, .3, .5, 1}
	streamHelpSuffix = " One observation per stream and client endpoint, from that client's point of view (direction inbound if it received the stream)."
)

var families = [numFamilies]*family{
	famJitter: {name: "teams_stream_jitter_seconds", dims: streamDims, bounds: jitterBuckets,
		help: "Average jitter of media streams in seconds (Graph averageJitter)." + streamHelpSuffix},
	famPacketLoss: {name: "teams_stream_packet_loss_ratio", dims: streamDims, bounds: lossBuckets,
		help: "Average packet loss rate of media streams (Graph averagePacketLossRate)." + streamHelpSuffix},
	famRoundTrip: {name: "teams_stream_round_trip_time_seconds", dims: streamDims,
		bounds: roundTripBuckets,
		help:   "Average round-trip time of media streams in seconds (Graph averageRoundTripTime)." + streamHelpSuffix},
	famAudioDegradation: {name: "teams_stream_audio_degradation", dims: streamDims,
		bounds: []float64{.25, .5, 1, 1.5, 2, 3},
		help:   "Average audio degradation of media streams in Mean Opinion Score points (Graph averageAudioDegradation)." + streamHelpSuffix},
	famConcealed: {name: "teams_stream_concealed_samples_ratio", dims: streamDims,
		bounds: []float64{.01, .03, .05, .07, .1, .2, .5},
		help:   "Average ratio of concealed audio samples of media streams (Graph averageRatioOfConcealedSamples)." + streamHelpSuffix},
	famAudioNetworkJitter: {name: "teams_stream_audio_network_jitter_seconds", dims: streamDims, bounds: jitterBuckets,
		help: "Average network jitter of audio streams in seconds (Graph averageAudioNetworkJitter)." + streamHelpSuffix},
	famBandwidth: {name: "teams_stream_bandwidth_estimate_bytes_per_second", dims: streamDims,
		bounds: []float64{8e3, 32e3, 125e3, 500e3, 1.25e6, 5e6, 12.5e6},
		help:   "Average bandwidth estimate of media streams in bytes per second (Graph averageBandwidthEstimate in bits per second, divided by 8)." + streamHelpSuffix},
	famVideoFrameRate: {name: "teams_stream_video_frame_rate_fps", dims: streamDims,
		bounds: []float64{5, 10, 15, 20, 25, 30, 60},
		help:   "Average video frame rate of media streams in frames per second (Graph averageVideoFrameRate)." + streamHelpSuffix},
	famVideoFrameLoss: {name: "teams_stream_video_frame_loss_ratio", dims: streamDims,
		bounds: []float64{.001, .01, .02, .05, .1, .2, .5},
		help:   "Average video frame loss of media streams as a ratio (Graph averageVideoFrameLossPercentage divided by 100)." + streamHelpSuffix},
	famVideoPacketLoss: {name: "teams_stream_video_packet_loss_ratio", dims: streamDims, bounds: lossBuckets,
		help: "Average video packet loss rate of media streams (Graph averageVideoPacketLossRate)." + streamHelpSuffix},
	famFreeze: {name: "teams_stream_video_freeze_duration_seconds", dims: streamDims,
		bounds: []float64{.1, .25, .5, 1, 2, 5, 10},
		help:   "Average video freeze duration of media streams in seconds (Graph averageFreezeDuration)." + streamHelpSuffix},
	famPostFEC: {name: "teams_stream_video_post_fec_packet_loss_ratio", dims: streamDims,
		bounds: []float64{.001, .005, .01, .02, .05, .1, .15, .2, .5},
		help:   "Packet loss rate of video streams after forward error correction (Graph postForwardErrorCorrectionPacketLossRate)." + streamHelpSuffix},
	famLowFrameRate: {name: "teams_stream_video_low_frame_rate_ratio", dims: streamDims,
		bounds: []float64{.01, .05, .1, .2, .3, .5, 1},
		help:   "Ratio of time video streams ran at a low frame rate (Graph lowFrameRateRatio)." + streamHelpSuffix},
	famStreams: {name: "teams_streams_total", dims: streamsTotalDims, counter: true,
		help: "Media streams, classified as Microsoft's Call Quality Dashboard does (quality good, poor or unclassified); the poor-stream rate is poor / (good + poor)." + streamHelpSuffix},
	famNetQualityEvent: {name: "teams_network_quality_event_ratio", dims: networkDirDims, bounds: eventBuckets,
		help: "Ratio of network quality events per client endpoint and media (Graph sentQualityEventRatio as outbound, receivedQualityEventRatio as inbound)."},
	famNetDelayEvent: {name: "teams_network_delay_event_ratio", dims: networkDims, bounds: eventBuckets,
		help: "Ratio of network delay events per client endpoint and media (Graph delayEventRatio)."},
	famNetBandwidthLow: {name: "teams_network_bandwidth_low_event_ratio", dims: networkDims, bounds: eventBuckets,
		help: "Ratio of low-bandwidth events per client endpoint and media (Graph bandwidthLowEventRatio)."},
	famNetLinkSpeed: {name: "teams_network_link_speed_bytes_per_second", dims: networkDims,
		bounds: []float64{125e3, 1.25e6, 12.5e6, 125e6, 1.25e9},
		help:   "Network link speed per client endpoint and media in bytes per second (Graph linkSpeed in bits per second, divided by 8)."},
	famCallRecords: {name: "teams_call_records_total", dims: callDims, counter: true,
		help: "Call records, by call type."},
	famCallDuration: {name: "teams_call_duration_seconds", dims: callDims,
		bounds: []float64{30, 60, 300, 600, 1800, 3600, 7200, 14400},
		help:   "Call duration (end minus start) in seconds, by call type."},
	famSessions: {name: "teams_sessions_total", dims: callDims, counter: true,
		help: "Sessions of call records, by call type."},
	famFeedback: {name: "teams_feedback_total", dims: feedbackDims, counter: true,
		help: "User feedback ratings, one per session endpoint that has feedback, by rating and that endpoint's platform."},
	famDRCalls: {name: "teams_direct_routing_calls_total", dims: drCallsDims, counter: true, eventOf: sinceRowIngested,
		help: "Direct-routing calls (Graph getDirectRoutingCalls), by trunk (the session border controller's FQDN, lower-cased), call type, result (success or failure, from successfulCall) and whether the trunk has media bypass."},
	famDRSIPCodes: {name: "teams_direct_routing_final_sip_codes_total", dims: drCodeDims, counter: true, eventOf: sinceRowIngested,
		help: "Direct-routing calls by trunk and final SIP code (0 for a normal hang-up; other outside 100-699)."},
	famDRDuration: {name: "teams_direct_routing_call_duration_seconds", dims: drDurationDims, bounds: callLogDurationBuckets, eventOf: sinceRowIngested,
		help: "Duration of connected direct-routing calls in seconds (Graph duration), by trunk and call type."},
	famDRSetup: {name: "teams_direct_routing_setup_seconds", dims: drSetupDims, bounds: []float64{.5, 1, 2, 3, 5, 10, 20, 30, 60}, eventOf: sinceRowIngested,
		help: "Setup time of connected direct-routing calls in seconds (startDateTime minus inviteDateTime), by trunk."},
	famPSTNCalls: {name: "teams_pstn_calls_total", dims: pstnCallsDims, counter: true, eventOf: sinceRowIngested,
		help: "PSTN calls of Calling Plans and Operator Connect (Graph getPstnCalls), by call type and destination (domestic or international, unknown where Graph gives none)."},
	famPSTNDuration: {name: "teams_pstn_call_duration_seconds", dims: pstnDurationDims, bounds: callLogDurationBuckets, eventOf: sinceRowIngested,
		help: "Duration of PSTN calls in seconds (Graph duration), by call type."},
	famPSTNCharge: {name: "teams_pstn_charge_total", dims: pstnChargeDims, counter: true, sum: true, eventOf: sinceRowIngested,
		help: "Charges of PSTN calls (Graph charge, connection fees not included), in units of the currency."},

	// Where: with a building file only.
	famSiteStreams: {name: "teams_site_streams_total", dims: siteStreamsDims, counter: true,
		help: "Media streams by site (the building of the client's subnet, else address, in the building file; unmapped: in no building; unknown: no address), classified as teams_streams_total." + streamHelpSuffix},
	famSiteJitter: {name: "teams_site_audio_jitter_seconds", dims: siteAudioDims, bounds: jitterBuckets,
		help: "Average jitter of audio streams in seconds (Graph averageJitter), by the client's site." + streamHelpSuffix},
	famSitePacketLoss: {name: "teams_site_audio_packet_loss_ratio", dims: siteAudioDims, bounds: lossBuckets,
		help: "Average packet loss rate of audio streams (Graph averagePacketLossRate), by the client's site." + streamHelpSuffix},
	famSiteRoundTrip: {name: "teams_site_audio_round_trip_time_seconds", dims: siteAudioDims, bounds: roundTripBuckets,
		help: "Average round-trip time of audio streams in seconds (Graph averageRoundTripTime), by the client's site." + streamHelpSuffix},

	// Why.
	famSessionFailures: {name: "teams_session_failures_total", dims: []dim{dimCallType, dimStage}, counter: true,
		help: "Sessions whose failureInfo is set, by call type and failure stage (callSetup: never connected; midcall: dropped); the failure rate is this over teams_sessions_total."},
	famTransportStreams: {name: "teams_transport_streams_total", dims: []dim{dimMedia, dimTransport, dimQuality}, counter: true,
		help: "Media streams by the client's transport protocol (Graph networkTransportProtocol), classified as teams_streams_total." + streamHelpSuffix},
	famWifiStreams: {name: "teams_wifi_streams_total", dims: []dim{dimMedia, dimBand, dimRadioType, dimQuality}, counter: true,
		help: "Media streams of clients on Wi-Fi by band and radio type (Graph wifiBand, wifiRadioType), classified as teams_streams_total." + streamHelpSuffix},
	famWifiSignal: {name: "teams_wifi_signal_strength_ratio", dims: []dim{dimBand}, bounds: []float64{.2, .4, .5, .6, .7, .8, .9, 1},
		help: "Wi-Fi signal strength as a ratio (Graph wifiSignalStrength divided by 100), once per Wi-Fi client endpoint and media, by band."},
	famDeviceEvent: {name: "teams_device_event_ratio", dims: []dim{dimEvent, dimPlatform}, bounds: eventBuckets,
		help: "Fraction of the call during which the client's audio device had an event (Graph deviceInfo ...EventRatio fields), once per client endpoint and audio media."},
	famDeviceGlitches: {name: "teams_device_glitches_per_5m", dims: []dim{dimDevice, dimPlatform}, bounds: []float64{1, 2, 5, 10, 20, 50, 100},
		help: "Glitches per 5 minutes of the client's microphone and speaker (Graph micGlitchRate, speakerGlitchRate), once per client endpoint and audio media."},
	famDeviceHowling: {name: "teams_device_howling_events_total", dims: []dim{dimPlatform}, counter: true,
		help: "Howling or screeching the client's audio device detected (sum of Graph howlingEventCount), by platform."},
	famFeedbackTokens: {name: "teams_feedback_tokens_total", dims: []dim{dimToken, dimPlatform}, counter: true,
		help: "Problems users ticked in their feedback: one per feedback token set to true, by token (other: any name not listed) and that endpoint's platform."},

	// Why, one level deeper: see why.go.
	famPoorCauses: {name: "teams_poor_stream_causes_total", dims: []dim{dimMedia, dimConnection, dimCause}, counter: true,
		help: "Causes of poor media streams (CQD's Poor Due To): for audio every threshold exceeded (round trip over 500 ms, packet loss over 0.1, jitter over 30 ms), so a stream can count under several; for video and screen sharing the metric that decided (frame_loss, frame_rate, post_fec_packet_loss)." + streamHelpSuffix},
	famCodecStreams: {name: "teams_codec_streams_total", dims: []dim{dimMedia, dimCodec, dimQuality}, counter: true,
		help: "Audio, video and screen-sharing streams by codec (Graph audioCodec for audio, videoCodec otherwise; unknown when absent, other when not a documented member), classified as teams_streams_total." + streamHelpSuffix},
	famClientStreams: {name: "teams_client_streams_total", dims: []dim{dimPlatform, dimProduct, dimClientVersion, dimMedia, dimQuality}, counter: true,
		help: "Media streams by the client's product family and application version (the first 50 versions seen; later ones other, implausible ones unknown), classified as teams_streams_total." + streamHelpSuffix},
}

// familyByName finds a family for Restore.
var familyByName = map[string]familyID{}

// familiesByName lists the families in name order, the order of an
// exposition.
var familiesByName []familyID

func init() {
	for id, f := range families {
		if len(f.dims) > maxDims {
			panic(f.name + ": more than maxDims labels")
		}
		f.help += cmp.Or(f.eventOf, sinceStateBegan)
		f.size = 1
		names := make([]string, len(f.dims))
		for i, d := range f.dims {
			f.size *= dims[d].cardinality()
			names[i] = dims[d].name
		}
		f.labelOrder = make([]int, len(f.dims))
		for i := range f.labelOrder {
			f.labelOrder[i] = i
		}
		slices.SortStableFunc(f.labelOrder, func(a, b int) int { return strings.Compare(names[a], names[b]) })
		f.desc = prometheus.NewDesc(f.name, f.help, names, nil)
		familyByName[f.name] = familyID(id)
		familiesByName = append(familiesByName, familyID(id))
	}
	slices.SortFunc(familiesByName, func(a, b familyID) int { return strings.Compare(families[a].name, families[b].name) })
}

// Series keys of the families' label sets, in their dims order.
func streamKey(media, dir, platform, conn uint8) seriesKey {
	return seriesKey{uint16(media), uint16(dir), uint16(platform), uint16(conn)}
}

func streamsTotalKey(stream seriesKey, quality uint8) seriesKey {
	stream[4] = uint16(quality)
	return stream
}

func networkKey(media, platform, conn uint8) seriesKey {
	return seriesKey{uint16(media), uint16(platform), uint16(conn)}
}

func callKey(callType uint8) seriesKey { return seriesKey{uint16(callType)} }

func feedbackKey(rating, platform uint8) seriesKey {
	return seriesKey{uint16(rating), uint16(platform)}
}
