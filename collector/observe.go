package collector

import (
	"math"
	"strings"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
)

// obs is one observation of a record: a histogram value, or a counter
// increment, for the series key of family fam.
type obs struct {
	fam familyID
	key seriesKey
	v   float64
}

// CQD thresholds: see docs/design.md, "CQD classification".
const (
	audioMinPacketUtilization = 500
	audioMaxRoundTrip         = 500 * time.Millisecond
	audioMaxPacketLoss        = 0.1
	audioMaxJitter            = 30 * time.Millisecond
	videoMaxFrameLossPercent  = 50
	videoMinFrameRate         = 7
	sharingMinFrameRate       = 2
	videoMaxPostFECLoss       = 0.15
)

// appendRecord appends every observation of rec to buf. It reads rec only and
// never panics on odd data: unknown strings map to fallback label values and
// values that are not measured, negative, NaN or infinite are left out.
func appendRecord(buf []obs, rec *graph.CallRecord, st *Stats) []obs {
	ct := callTypeOf(rec.Type)
	buf = append(buf, obs{famCallRecords, callKey(ct), 1})
	if !rec.StartDateTime.IsZero() && !rec.EndDateTime.IsZero() && !rec.EndDateTime.Before(rec.StartDateTime) {
		buf = append(buf, obs{famCallDuration, callKey(ct), rec.EndDateTime.Sub(rec.StartDateTime).Seconds()})
	}
	if n := len(rec.Sessions); n > 0 {
		buf = append(buf, obs{famSessions, callKey(ct), float64(n)})
	}
	for i := range rec.Sessions {
		s := &rec.Sessions[i]
		// Feedback is counted from the session's endpoints only: segments
		// repeat them and would count it twice.
		buf = appendFeedback(buf, &s.Caller)
		buf = appendFeedback(buf, &s.Callee)
		for j := range s.Segments {
			buf = appendSegment(buf, &s.Segments[j], st)
		}
	}
	return buf
}

func appendFeedback(buf []obs, e *graph.Endpoint) []obs {
	if e.Feedback == nil {
		return buf
	}
	platform := platformUnknown
	if e.IsClient() {
		platform = platformOf(e.UserAgent.Platform)
	}
	return append(buf, obs{famFeedback, feedbackKey(ratingOf(e.Feedback.Rating), platform), 1})
}

// appendSegment observes every media of seg once per client endpoint, from
// that client's side.
func appendSegment(buf []obs, seg *graph.Segment, st *Stats) []obs {
	callerClient, calleeClient := seg.Caller.IsClient(), seg.Callee.IsClient()
	if !callerClient && !calleeClient {
		st.SegmentsWithoutClient++
		return buf
	}
	for k := range seg.Media {
		m := &seg.Media[k]
		media := mediaOf(m.Label)
		if callerClient {
			buf = appendSide(buf, m, media, platformOf(seg.Caller.UserAgent.Platform), m.CallerNetwork, true)
		}
		if calleeClient {
			buf = appendSide(buf, m, media, platformOf(seg.Callee.UserAgent.Platform), m.CalleeNetwork, false)
		}
	}
	return buf
}

// appendSide appends the network and stream observations of one client
// endpoint (the caller's side when caller is true).
func appendSide(buf []obs, m *graph.Media, media, platform uint8, net *graph.NetworkInfo, caller bool) []obs {
	conn := connUnknown
	if net != nil {
		conn = connectionOf(net.ConnectionType)
		buf = appendNumber(buf, famNetQualityEvent, streamKey(media, dirOutbound, platform, conn), net.SentQualityEventRatio, 1)
		buf = appendNumber(buf, famNetQualityEvent, streamKey(media, dirInbound, platform, conn), net.ReceivedQualityEventRatio, 1)
		nk := networkKey(media, platform, conn)
		buf = appendNumber(buf, famNetDelayEvent, nk, net.DelayEventRatio, 1)
		buf = appendNumber(buf, famNetBandwidthLow, nk, net.BandwidthLowEventRatio, 1)
		buf = appendNumber(buf, famNetLinkSpeed, nk, net.LinkSpeed, 8)
	}
	for i := range m.Streams {
		s := &m.Streams[i]
		dir, ok := streamDirection(s.StreamDirection, caller)
		if !ok {
			continue
		}
		buf = appendStream(buf, s, media, streamKey(media, dir, platform, conn))
	}
	return buf
}

// streamDirection is inbound when this side received the stream.
func streamDirection(s string, caller bool) (uint8, bool) {
	var fromCaller bool
	switch {
	case strings.EqualFold(s, graph.CallerToCallee):
		fromCaller = true
	case strings.EqualFold(s, graph.CalleeToCaller):
		fromCaller = false
	default:
		return 0, false
	}
	if fromCaller == caller {
		return dirOutbound, true
	}
	return dirInbound, true
}

func appendStream(buf []obs, s *graph.MediaStream, media uint8, key seriesKey) []obs {
	buf = appendDuration(buf, famJitter, key, s.AverageJitter)
	buf = appendNumber(buf, famPacketLoss, key, s.AveragePacketLossRate, 1)
	buf = appendDuration(buf, famRoundTrip, key, s.AverageRoundTripTime)
	buf = appendNumber(buf, famAudioDegradation, key, s.AverageAudioDegradation, 1)
	buf = appendNumber(buf, famConcealed, key, s.AverageRatioOfConcealedSamples, 1)
	buf = appendDuration(buf, famAudioNetworkJitter, key, s.AverageAudioNetworkJitter)
	buf = appendNumber(buf, famBandwidth, key, s.AverageBandwidthEstimate, 8)
	buf = appendNumber(buf, famVideoFrameRate, key, s.AverageVideoFrameRate, 1)
	buf = appendNumber(buf, famVideoFrameLoss, key, s.AverageVideoFrameLossPercentage, 100)
	buf = appendNumber(buf, famVideoPacketLoss, key, s.AverageVideoPacketLossRate, 1)
	buf = appendDuration(buf, famFreeze, key, s.AverageFreezeDuration)
	buf = appendNumber(buf, famPostFEC, key, s.PostForwardErrorCorrectionPacketLossRate, 1)
	buf = appendNumber(buf, famLowFrameRate, key, s.LowFrameRateRatio, 1)
	return append(buf, obs{famStreams, streamsTotalKey(key, classify(media, s)), 1})
}

// appendNumber observes n divided by div (unit conversion), if measured.
func appendNumber(buf []obs, fam familyID, key seriesKey, n graph.Number, div float64) []obs {
	if v, ok := measured(n); ok {
		buf = append(buf, obs{fam, key, v / div})
	}
	return buf
}

func appendDuration(buf []obs, fam familyID, key seriesKey, d graph.Duration) []obs {
	if d.Valid && d.Value >= 0 {
		buf = append(buf, obs{fam, key, d.Seconds()})
	}
	return buf
}

// measured returns a number that may be observed: present, finite and not
// negative. Everything else counts as not measured.
func measured(n graph.Number) (float64, bool) {
	if !n.Valid || !(n.Value >= 0) || math.IsInf(n.Value, 1) {
		return 0, false
	}
	return n.Value, true
}

func measuredDuration(d graph.Duration) (time.Duration, bool) {
	return d.Value, d.Valid && d.Value >= 0
}

// classify rates a stream as Microsoft's Call Quality Dashboard does.
func classify(media uint8, s *graph.MediaStream) uint8 {
	switch media {
	case mediaAudio:
		return classifyAudio(s)
	case mediaVideo:
		return classifyVideo(s, videoMinFrameRate)
	case mediaScreenSharing:
		return classifyVideo(s, sharingMinFrameRate)
	}
	return qualityUnclassified
}

// classifyAudio: unclassified with too few packets or no network metric at
// all; poor when any present metric is beyond its threshold.
func classifyAudio(s *graph.MediaStream) uint8 {
	if pu, ok := measured(s.PacketUtilization); !ok || pu <= audioMinPacketUtilization {
		return qualityUnclassified
	}
	rtt, rttOK := measuredDuration(s.AverageRoundTripTime)
	loss, lossOK := measured(s.AveragePacketLossRate)
	jitter, jitterOK := measuredDuration(s.AverageJitter)
	switch {
	case !rttOK && !lossOK && !jitterOK:
		return qualityUnclassified
	case rttOK && rtt > audioMaxRoundTrip,
		lossOK && loss > audioMaxPacketLoss,
		jitterOK && jitter > audioMaxJitter:
		return qualityPoor
	}
	return qualityGood
}

// classifyVideo: the first present of frame loss, frame rate and post-FEC
// packet loss decides.
func classifyVideo(s *graph.MediaStream, minFrameRate float64) uint8 {
	if v, ok := measured(s.AverageVideoFrameLossPercentage); ok {
		return poorIf(v > videoMaxFrameLossPercent)
	}
	if v, ok := measured(s.AverageVideoFrameRate); ok {
		return poorIf(v < minFrameRate)
	}
	if v, ok := measured(s.PostForwardErrorCorrectionPacketLossRate); ok {
		return poorIf(v > videoMaxPostFECLoss)
	}
	return qualityUnclassified
}

func poorIf(poor bool) uint8 {
	if poor {
		return qualityPoor
	}
	return qualityGood
}
