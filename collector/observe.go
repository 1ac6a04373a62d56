package collector

import (
	"math"
	"strings"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/sites"
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
//
// in holds what the observations need beyond the record: the caller's
// stats, and the store's learned values.
func appendRecord(buf []obs, rec *graph.CallRecord, in *ingestion) []obs {
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
		if s.FailureInfo != nil {
			buf = append(buf, obs{famSessionFailures, seriesKey{uint16(ct), uint16(stageOf(s.FailureInfo.Stage))}, 1})
		}
		for j := range s.Segments {
			buf = appendSegment(buf, &s.Segments[j], in)
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
	buf = append(buf, obs{famFeedback, feedbackKey(ratingOf(e.Feedback.Rating), platform), 1})
	// The decoder keeps at most graph.MaxFeedbackTokens tokens, all true.
	for _, tok := range e.Feedback.Tokens {
		buf = append(buf, obs{famFeedbackTokens, seriesKey{uint16(tokenOf(tok)), uint16(platform)}, 1})
	}
	return buf
}

// ingestion is what observing one record needs beside the record; the
// caller holds the store's lock.
type ingestion struct {
	st *Stats
	// sites resolves clients' sites; nil without a building file, and
	// then the site families are not observed.
	sites *siteResolver
	// versions are the store's learned client versions.
	versions *learnedValues
}

// siteResolver finds the sites of one record's clients: the building
// file's map in force when the record is ingested, and the store's learned
// site values (the caller holds the store's lock).
type siteResolver struct {
	m   *sites.Map
	ids *learnedValues
	// recent remembers the last few lookups: a client's network info
	// repeats for every media of every segment of its session.
	recent [4]siteLookup
	next   int
}

type siteLookup struct {
	subnet, ip graph.Address
	id         uint16
	ok         bool
}

// id is the site value id of a client's network info.
func (r *siteResolver) id(net *graph.NetworkInfo) uint16 {
	if net == nil {
		return r.ids.id(sites.Unknown)
	}
	for _, l := range r.recent {
		if l.ok && l.subnet == net.Subnet && l.ip == net.IPAddress {
			return l.id
		}
	}
	id := r.ids.id(r.m.SiteOf(net.Subnet.Value(), net.IPAddress.Value()))
	r.recent[r.next] = siteLookup{subnet: net.Subnet, ip: net.IPAddress, id: id, ok: true}
	r.next = (r.next + 1) % len(r.recent)
	return id
}

// appendSegment observes every media of seg once per client endpoint, from
// that client's side.
func appendSegment(buf []obs, seg *graph.Segment, in *ingestion) []obs {
	callerClient, calleeClient := seg.Caller.IsClient(), seg.Callee.IsClient()
	if !callerClient && !calleeClient {
		in.st.SegmentsWithoutClient++
		return buf
	}
	caller, callee := newClient(&seg.Caller.UserAgent, true), newClient(&seg.Callee.UserAgent, false)
	for k := range seg.Media {
		m := &seg.Media[k]
		media := mediaOf(m.Label)
		if callerClient {
			buf = appendSide(buf, m, media, &caller, m.CallerNetwork, m.CallerDevice, in)
		}
		if calleeClient {
			buf = appendSide(buf, m, media, &callee, m.CalleeNetwork, m.CalleeDevice, in)
		}
	}
	return buf
}

// client is the observing client endpoint of one side of a segment.
type client struct {
	platform, product uint8
	caller            bool // the caller's side
	version           graph.ShortString
	// versionID is the learned value id of version, once looked up: a
	// version is learned only when a stream is observed with it, so that
	// every learned value is in a series (and so in the state).
	versionID uint16
	looked    bool
}

func newClient(ua *graph.UserAgent, caller bool) client {
	return client{platform: platformOf(ua.Platform), product: productOf(ua.ProductFamily), caller: caller, version: ua.ApplicationVersion}
}

func (c *client) versionIn(versions *learnedValues) uint16 {
	if !c.looked {
		c.versionID, c.looked = versions.id(clientVersionOf(c.version)), true
	}
	return c.versionID
}

// appendSide appends the observations of one client endpoint: its
// network, its device, and every stream from its point of view.
func appendSide(buf []obs, m *graph.Media, media uint8, cl *client, net *graph.NetworkInfo, dev *graph.DeviceInfo, in *ingestion) []obs {
	platform := cl.platform
	conn, transport := connUnknown, transportUnknown
	var band, radio uint8
	if net != nil {
		conn = connectionOf(net.ConnectionType)
		transport = transportOf(net.NetworkTransportProtocol)
		buf = appendNumber(buf, famNetQualityEvent, streamKey(media, dirOutbound, platform, conn), net.SentQualityEventRatio, 1)
		buf = appendNumber(buf, famNetQualityEvent, streamKey(media, dirInbound, platform, conn), net.ReceivedQualityEventRatio, 1)
		nk := networkKey(media, platform, conn)
		buf = appendNumber(buf, famNetDelayEvent, nk, net.DelayEventRatio, 1)
		buf = appendNumber(buf, famNetBandwidthLow, nk, net.BandwidthLowEventRatio, 1)
		buf = appendNumber(buf, famNetLinkSpeed, nk, net.LinkSpeed, 8)
		if conn == connWifi {
			band, radio = bandOf(net.WifiBand), radioTypeOf(net.WifiRadioType)
			buf = appendNumber(buf, famWifiSignal, seriesKey{uint16(band)}, net.WifiSignalStrength, 100)
		}
	}
	if media == mediaAudio && dev != nil {
		buf = appendDevice(buf, dev, platform)
	}
	var site uint16
	if in.sites != nil {
		site = in.sites.id(net)
	}
	for i := range m.Streams {
		s := &m.Streams[i]
		dir, ok := streamDirection(s.StreamDirection, cl.caller)
		if !ok {
			continue
		}
		quality := classify(media, s)
		buf = appendStream(buf, s, streamKey(media, dir, platform, conn), quality)
		buf = append(buf, obs{famTransportStreams, seriesKey{uint16(media), uint16(transport), uint16(quality)}, 1})
		if conn == connWifi {
			buf = append(buf, obs{famWifiStreams, seriesKey{uint16(media), uint16(band), uint16(radio), uint16(quality)}, 1})
		}
		if in.sites != nil {
			buf = appendSiteStream(buf, s, site, media, dir, conn, quality)
		}
		buf = appendWhy(buf, s, media, conn, quality, cl, in.versions)
	}
	return buf
}

// appendWhy observes one stream's poor causes, codec, and client product
// and version.
func appendWhy(buf []obs, s *graph.MediaStream, media, conn, quality uint8, cl *client, versions *learnedValues) []obs {
	if quality == qualityPoor {
		for cause, ok := range poorCauses(media, s) {
			if ok {
				buf = append(buf, obs{famPoorCauses, seriesKey{uint16(media), uint16(conn), uint16(cause)}, 1})
			}
		}
	}
	if codec, ok := codecOf(media, s); ok {
		buf = append(buf, obs{famCodecStreams, seriesKey{uint16(media), uint16(codec), uint16(quality)}, 1})
	}
	key := seriesKey{uint16(cl.platform), uint16(cl.product), cl.versionIn(versions), uint16(media), uint16(quality)}
	return append(buf, obs{famClientStreams, key, 1})
}

// appendSiteStream observes one stream by the client's site.
func appendSiteStream(buf []obs, s *graph.MediaStream, site uint16, media, dir, conn, quality uint8) []obs {
	buf = append(buf, obs{famSiteStreams, seriesKey{site, uint16(media), uint16(dir), uint16(conn), uint16(quality)}, 1})
	if media != mediaAudio {
		return buf
	}
	key := seriesKey{site, uint16(dir)}
	buf = appendDuration(buf, famSiteJitter, key, s.AverageJitter)
	buf = appendNumber(buf, famSitePacketLoss, key, s.AveragePacketLossRate, 1)
	return appendDuration(buf, famSiteRoundTrip, key, s.AverageRoundTripTime)
}

// deviceEvents are the deviceInfo ratios of the event label, in its order.
var deviceEvents = [...]func(*graph.DeviceInfo) graph.Number{
	func(d *graph.DeviceInfo) graph.Number { return d.CaptureNotFunctioningEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.CPUInsufficientEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.DeviceClippingEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.DeviceGlitchEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.LowSpeechLevelEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.LowSpeechToNoiseEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.RenderNotFunctioningEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.RenderZeroVolumeEventRatio },
	func(d *graph.DeviceInfo) graph.Number { return d.RenderMuteEventRatio },
}

// maxHowlingEvents is Graph's Int32 bound of howlingEventCount: a larger,
// negative or fractional count is not a count and is not observed.
const maxHowlingEvents = math.MaxInt32

// appendDevice observes one client endpoint's audio device health.
func appendDevice(buf []obs, dev *graph.DeviceInfo, platform uint8) []obs {
	for event, field := range deviceEvents {
		buf = appendNumber(buf, famDeviceEvent, seriesKey{uint16(event), uint16(platform)}, field(dev), 1)
	}
	buf = appendNumber(buf, famDeviceGlitches, seriesKey{0, uint16(platform)}, dev.MicGlitchRate, 1)
	buf = appendNumber(buf, famDeviceGlitches, seriesKey{1, uint16(platform)}, dev.SpeakerGlitchRate, 1)
	if n, ok := measured(dev.HowlingEventCount); ok && n > 0 && n <= maxHowlingEvents && n == math.Trunc(n) {
		buf = append(buf, obs{famDeviceHowling, seriesKey{uint16(platform)}, n})
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

func appendStream(buf []obs, s *graph.MediaStream, key seriesKey, quality uint8) []obs {
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
	return append(buf, obs{famStreams, streamsTotalKey(key, quality), 1})
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
