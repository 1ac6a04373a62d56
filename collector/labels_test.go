package collector

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/sites"
)

func TestLabelNormalisation(t *testing.T) {
	tests := []struct {
		d    dim
		fn   func(string) uint8
		in   string
		want string
	}{
		{dimPlatform, platformOf, "windows", "windows"},
		{dimPlatform, platformOf, "Windows", "windows"},
		{dimPlatform, platformOf, "MACOS", "macOS"},
		{dimPlatform, platformOf, "ios", "iOS"},
		{dimPlatform, platformOf, "android", "android"},
		{dimPlatform, platformOf, "web", "web"},
		{dimPlatform, platformOf, "ipphone", "ipPhone"},
		{dimPlatform, platformOf, "roomSystem", "roomSystem"},
		{dimPlatform, platformOf, "SurfaceHub", "surfaceHub"},
		{dimPlatform, platformOf, "holoLens", "holoLens"},
		{dimPlatform, platformOf, "unknown", "unknown"},
		{dimPlatform, platformOf, "unknownFutureValue", "unknown"},
		{dimPlatform, platformOf, "", "unknown"},
		{dimPlatform, platformOf, "linux", "unknown"},
		{dimPlatform, platformOf, " windows", "unknown"},
		{dimPlatform, platformOf, "windowsß", "unknown"},

		{dimConnection, connectionOf, "wired", "wired"},
		{dimConnection, connectionOf, "WiFi", "wifi"},
		{dimConnection, connectionOf, "Mobile", "mobile"},
		{dimConnection, connectionOf, "TUNNEL", "tunnel"},
		{dimConnection, connectionOf, "ethernet", "unknown"},
		{dimConnection, connectionOf, "unknownFutureValue", "unknown"},
		{dimConnection, connectionOf, "", "unknown"},

		{dimMedia, mediaOf, "main-audio", "audio"},
		{dimMedia, mediaOf, "Main-Audio", "audio"},
		{dimMedia, mediaOf, "audio", "audio"},
		{dimMedia, mediaOf, "applicationsharing-audio", "audio"},
		{dimMedia, mediaOf, "main-video", "video"},
		{dimMedia, mediaOf, "panoramic-VIDEO", "video"},
		{dimMedia, mediaOf, "applicationsharing-video", "screen_sharing"},
		{dimMedia, mediaOf, "video-based-screen-sharing", "screen_sharing"},
		{dimMedia, mediaOf, "VBSS", "screen_sharing"},
		{dimMedia, mediaOf, "applicationsharing", "screen_sharing"},
		{dimMedia, mediaOf, "data", "data"},
		{dimMedia, mediaOf, "Data", "data"},
		{dimMedia, mediaOf, "data-channel", "other"},
		{dimMedia, mediaOf, "", "other"},
		{dimMedia, mediaOf, "aud", "other"},
		{dimMedia, mediaOf, "\xff\xfe", "other"},

		{dimCallType, callTypeOf, "groupCall", "groupCall"},
		{dimCallType, callTypeOf, "PEERTOPEER", "peerToPeer"},
		{dimCallType, callTypeOf, "unknown", "unknown"},
		{dimCallType, callTypeOf, "unknownFutureValue", "unknown"},
		{dimCallType, callTypeOf, "meeting", "unknown"},

		{dimRating, ratingOf, "notRated", "notRated"},
		{dimRating, ratingOf, "BAD", "bad"},
		{dimRating, ratingOf, "poor", "poor"},
		{dimRating, ratingOf, "Fair", "fair"},
		{dimRating, ratingOf, "good", "good"},
		{dimRating, ratingOf, "excellent", "excellent"},
		{dimRating, ratingOf, "unknownFutureValue", "unknown"},
		{dimRating, ratingOf, "awful", "unknown"},
		{dimRating, ratingOf, "", "unknown"},

		{dimStage, stageOf, "callSetup", "callSetup"},
		{dimStage, stageOf, "MIDCALL", "midcall"},
		{dimStage, stageOf, "unknownFutureValue", "unknown"},
		{dimStage, stageOf, "teardown", "unknown"},
		{dimTransport, transportOf, "tcp", "tcp"},
		{dimTransport, transportOf, "UDP", "udp"},
		{dimTransport, transportOf, "quic", "unknown"},
		{dimBand, bandOf, "frequency50GHz", "frequency50GHz"},
		{dimBand, bandOf, "frequency6GHz", "unknown"},
		{dimRadioType, radioTypeOf, "wifi80211ax", "wifi80211ax"},
		{dimRadioType, radioTypeOf, "wifi80211be", "unknown"},
		{dimToken, tokenOf, "NoSound", "NoSound"},
		{dimToken, tokenOf, "nosound", "other"},
		{dimToken, tokenOf, "Stopped", "other"},
	}
	for _, tt := range tests {
		if got := dims[tt.d].values[tt.fn(tt.in)]; got != tt.want {
			t.Errorf("%s %q -> %q, want %q", dims[tt.d].name, tt.in, got, tt.want)
		}
	}
}

// specLabelValues are the bounded lists of docs/design.md, written out again here so that
// a change to the code's lists shows up as a failure.
var specLabelValues = map[string][]string{
	"platform":        {"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknown"},
	"connection_type": {"wired", "wifi", "mobile", "tunnel", "unknown"},
	"direction":       {"inbound", "outbound"},
	"media":           {"audio", "video", "screen_sharing", "data", "other"},
	"type":            {"groupCall", "peerToPeer", "unknown"},
	"rating":          {"notRated", "bad", "poor", "fair", "good", "excellent", "unknown"},
	"quality":         {"good", "poor", "unclassified"},
	"stage":           {"callSetup", "midcall", "unknown"},
	"transport":       {"udp", "tcp", "unknown"},
	"band":            {"frequency24GHz", "frequency50GHz", "frequency60GHz", "unknown"},
	"radio_type":      {"wifi80211a", "wifi80211b", "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax", "unknown"},
	"event": {"capture_not_functioning", "cpu_insufficient", "device_clipping", "device_glitch", "low_speech_level",
		"low_speech_to_noise", "render_not_functioning", "render_zero_volume", "render_mute"},
	"device": {"microphone", "speaker"},
	"token":  {"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "StoppedSound", "DistortedSound", "Interruptions", "other"},
	"cause":  {"round_trip", "packet_loss", "jitter", "frame_loss", "frame_rate", "post_fec_packet_loss"},
	"codec": {"cn", "pcma", "pcmu", "amrWide", "g722", "g7221", "g7221c", "g729", "multiChannelAudio", "muchv2", "opus", "satin",
		"satinFullband", "rtAudio8", "rtAudio16", "silk", "silkNarrow", "silkWide", "siren", "xmsRta",
		"av1", "h263", "h264", "h264s", "h264uc", "h265", "rtvc1", "rtVideo", "xrtvc1", "unknown", "other"},
	"product": {"teams", "skypeForBusiness", "lync", "azureCommunicationServices", "unknown", "other"},
	// The versions of boundedVersions, and the two values that are not
	// versions.
	"client_version": append(boundedVersions(), "unknown", "other"),
	// The buildings of boundedBuildings, and the two values that are not
	// buildings.
	"site": {"HQ", "Lab", "Dublin", "unmapped", "unknown"},
}

// boundedBuildings is the building file of the bounded-series test: a
// supernet with a subnet inside, and IPv6.
const boundedBuildings = `10.0.0.0,n,8,HQ,,,,Seattle,,US,,NOAM,1,0
10.1.2.0,n,24,Lab,,,,Seattle,,US,,NOAM,1,0
2001:db8::,n,32,Dublin,,,,Dublin,,IE,,EMEA,1,1,0
`

// randomLabel mixes valid names in random case, Graph's future values,
// garbage and things that look like personal data.
func randomLabel(r *rand.Rand) string {
	pool := []string{"", "unknownFutureValue", "user@example.com", "10.0.0.1", "00-11-22-33-44-55", "🙂", "\xff", strings.Repeat("x", 300)}
	// In a fixed order: ranging over the map would change the draws, and
	// with them which families the seeded tests reach, from run to run.
	for _, name := range slices.Sorted(maps.Keys(specLabelValues)) {
		pool = append(pool, specLabelValues[name]...)
	}
	pool = append(pool, "main-audio", "main-video", "applicationsharing-video", "vbss", "data", "callerToCallee", "calleeToCaller")
	s := pool[r.IntN(len(pool))]
	switch r.IntN(4) {
	case 0:
		s = strings.ToUpper(s)
	case 1:
		s = fmt.Sprintf("%s-%d", s, r.IntN(1000))
	}
	return s
}

func randomEndpoint(r *rand.Rand) graph.Endpoint {
	e := graph.Endpoint{UserAgent: graph.UserAgent{Platform: randomLabel(r)}}
	switch r.IntN(3) {
	case 0:
		e.UserAgent.ODataType = graph.TypeClientUserAgent
	case 1:
		e.ODataType = graph.TypeServiceEndpoint
	}
	if r.IntN(2) == 0 {
		e.Feedback = &graph.Feedback{Rating: randomLabel(r)}
		for range r.IntN(graph.MaxFeedbackTokens) {
			e.Feedback.Tokens = append(e.Feedback.Tokens, randomLabel(r))
		}
	}
	return e
}

// randomAddress is an IPv4 or IPv6 address, a subnet in CIDR form, or
// garbage: hostile input to the site lookup.
func randomAddress(r *rand.Rand) graph.Address {
	switch r.IntN(6) {
	case 0:
		return graph.Address(fmt.Sprintf("10.%d.%d.0", r.IntN(256), r.IntN(256)))
	case 1:
		return graph.Address(fmt.Sprintf("%d.%d.%d.%d", r.IntN(256), r.IntN(256), r.IntN(256), r.IntN(256)))
	case 2:
		return graph.Address(fmt.Sprintf("2001:db8:%x::%x", r.IntN(1<<16), r.IntN(1<<16)))
	case 3:
		return graph.Address(fmt.Sprintf("%x:%x::/64", r.IntN(1<<16), r.IntN(1<<16)))
	case 4:
		return ""
	}
	return graph.Address(randomLabel(r))
}

func randomNetwork(r *rand.Rand) *graph.NetworkInfo {
	return &graph.NetworkInfo{
		ConnectionType: randomLabel(r), LinkSpeed: num(r.Float64() * 1e9), SentQualityEventRatio: num(r.Float64()),
		ReceivedQualityEventRatio: num(r.Float64()), DelayEventRatio: num(r.Float64()), BandwidthLowEventRatio: num(r.Float64()),
		Subnet: randomAddress(r), IPAddress: randomAddress(r), NetworkTransportProtocol: randomLabel(r),
		WifiBand: randomLabel(r), WifiRadioType: randomLabel(r), WifiSignalStrength: num(r.Float64()*200 - 50),
	}
}

func randomDevice(r *rand.Rand) *graph.DeviceInfo {
	return &graph.DeviceInfo{
		CaptureNotFunctioningEventRatio: num(r.Float64()), CPUInsufficientEventRatio: num(r.Float64()),
		DeviceClippingEventRatio: num(r.Float64()), DeviceGlitchEventRatio: num(r.Float64()),
		LowSpeechLevelEventRatio: num(r.Float64()), LowSpeechToNoiseEventRatio: num(r.Float64()),
		RenderNotFunctioningEventRatio: num(r.Float64()), RenderZeroVolumeEventRatio: num(r.Float64()),
		RenderMuteEventRatio: num(r.Float64()), MicGlitchRate: num(r.Float64() * 300), SpeakerGlitchRate: num(r.Float64() * 300),
		HowlingEventCount: num(float64(r.IntN(5)) - 1),
	}
}

func randomRecord(r *rand.Rand, i int) *graph.CallRecord {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(1e6)) * time.Second)
	rec := &graph.CallRecord{
		ID: fmt.Sprintf("rec-%d-%x", i, r.Uint64()), Type: randomLabel(r),
		StartDateTime: start, EndDateTime: start.Add(time.Duration(r.IntN(20000)-1000) * time.Second),
	}
	for range 1 + r.IntN(3) {
		s := graph.Session{Caller: randomEndpoint(r), Callee: randomEndpoint(r)}
		if r.IntN(3) == 0 {
			s.FailureInfo = &graph.FailureInfo{Stage: randomLabel(r)}
		}
		for range 1 + r.IntN(2) {
			seg := graph.Segment{Caller: randomEndpoint(r), Callee: randomEndpoint(r)}
			for range 1 + r.IntN(3) {
				m := graph.Media{Label: randomLabel(r)}
				if r.IntN(4) > 0 {
					m.CallerNetwork = randomNetwork(r)
				}
				if r.IntN(4) > 0 {
					m.CalleeNetwork = randomNetwork(r)
				}
				if r.IntN(2) > 0 {
					m.CallerDevice, m.CalleeDevice = randomDevice(r), randomDevice(r)
				}
				for range r.IntN(3) {
					m.Streams = append(m.Streams, graph.MediaStream{
						StreamDirection: randomLabel(r), AverageJitter: ms(r.Float64() * 100),
						PacketUtilization: num(r.Float64() * 1000), AveragePacketLossRate: num(r.Float64() * 0.2),
						AverageVideoFrameRate: num(r.Float64() * 30), AverageVideoFrameLossPercentage: num(r.Float64() * 100),
						AverageRoundTripTime: ms(r.Float64() * 1000), AverageAudioDegradation: num(r.Float64() * 4),
						AverageRatioOfConcealedSamples: num(r.Float64()), AverageAudioNetworkJitter: ms(r.Float64() * 100),
						AverageBandwidthEstimate: num(r.Float64() * 1e8), AverageVideoPacketLossRate: num(r.Float64()),
						AverageFreezeDuration: ms(r.Float64() * 5000), PostForwardErrorCorrectionPacketLossRate: num(r.Float64() * 0.3),
						LowFrameRateRatio: num(r.Float64()),
					})
				}
				seg.Media = append(seg.Media, m)
			}
			s.Segments = append(s.Segments, seg)
		}
		rec.Sessions = append(rec.Sessions, s)
	}
	return rec
}

// TestSeriesBounded ingests records full of arbitrary strings, addresses
// and subnets (about 10,000 distinct ones, IPv4 and IPv6, in and out of the
// building file, and garbage), with a building file, and checks that every
// label value is from the documented lists (docs/design.md) (sites: the file's buildings, unmapped,
// unknown), that no family has more series than the product of its lists,
// and that no record id or address leaks into a label.
func TestSeriesBounded(t *testing.T) {
	m, _, err := sites.Parse(strings.NewReader(boundedBuildings))
	if err != nil {
		t.Fatal(err)
	}
	// A 5,000-character building name never becomes a site: the file is
	// refused (and a running exporter keeps its previous map).
	if _, _, err := sites.Parse(strings.NewReader(boundedBuildings + "10.9.0.0,n,16," + strings.Repeat("b", 5000) + ",,,,,,,,,1,0\n")); err == nil {
		t.Fatal("a 5,000-character building name was accepted")
	}
	c := New(Options{Sites: func() *sites.Map { return m }})
	r := rand.New(rand.NewPCG(1, 2))
	var ids []string
	for i := range 3000 {
		rec := randomRecord(r, i)
		ids = append(ids, rec.ID)
		c.Ingest(rec)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Snapshot())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, f := range families {
		if f.eventOf != sinceRowIngested {
			want++
		}
	}
	if len(mfs) != want {
		t.Fatalf("%d families gathered, want all %d of call records", len(mfs), want)
	}
	idSet := map[string]bool{}
	for _, id := range ids {
		idSet[id] = true
	}
	for _, mf := range mfs {
		product := 1
		for _, lp := range mf.Metric[0].Label {
			vals, ok := specLabelValues[lp.GetName()]
			if !ok {
				t.Fatalf("%s: label %q not documented", mf.GetName(), lp.GetName())
			}
			product *= len(vals)
		}
		if len(mf.Metric) > product {
			t.Errorf("%s: %d series, more than the %d label combinations", mf.GetName(), len(mf.Metric), product)
		}
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if !contains(specLabelValues[lp.GetName()], lp.GetValue()) {
					t.Errorf("%s: label %s=%q not in the documented list", mf.GetName(), lp.GetName(), lp.GetValue())
				}
				if idSet[lp.GetValue()] {
					t.Errorf("%s: record id in label %s", mf.GetName(), lp.GetName())
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
