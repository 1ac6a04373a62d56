package collector

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/sites"
)

// boundedSpec is the documented list of values for every label, fallbacks included
// ("unknown", "other", "unclassified").
var boundedSpec = map[string][]string{
	"platform":        {"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknown"},
	"connection_type": {"wired", "wifi", "mobile", "tunnel", "unknown"},
	"direction":       {"inbound", "outbound"},
	"media":           {"audio", "video", "screen_sharing", "data", "other"},
	"type":            {"groupCall", "peerToPeer", "unknown"},
	"rating":          {"notRated", "bad", "poor", "fair", "good", "excellent", "unknown"},
	"quality":         {"good", "poor", "unclassified"},
	"stage":           specLabelValues["stage"],
	"transport":       specLabelValues["transport"],
	"band":            specLabelValues["band"],
	"radio_type":      specLabelValues["radio_type"],
	"event":           specLabelValues["event"],
	"device":          specLabelValues["device"],
	"token":           specLabelValues["token"],
	"site":            specLabelValues["site"],
	"cause":           specLabelValues["cause"],
	"codec":           specLabelValues["codec"],
	"product":         specLabelValues["product"],
	"client_version":  specLabelValues["client_version"],
}

// boundedSubnets put a client in each site of boundedBuildings: HQ, Lab
// (inside HQ's supernet), Dublin (IPv6), unmapped, unknown (no address).
var boundedSubnets = []graph.Address{"10.3.4.0", "10.1.2.0", "2001:db8:5::", "192.168.1.0", ""}

// boundedDevice reports every device event, glitch rate and a howling
// count.
func boundedDevice() *graph.DeviceInfo {
	return &graph.DeviceInfo{
		CaptureNotFunctioningEventRatio: num(0.1), CPUInsufficientEventRatio: num(0.1), DeviceClippingEventRatio: num(0.1),
		DeviceGlitchEventRatio: num(0.1), LowSpeechLevelEventRatio: num(0.1), LowSpeechToNoiseEventRatio: num(0.1),
		RenderNotFunctioningEventRatio: num(0.1), RenderZeroVolumeEventRatio: num(0.1), RenderMuteEventRatio: num(0.1),
		MicGlitchRate: num(3), SpeakerGlitchRate: num(30), HowlingEventCount: num(2),
	}
}

// boundedTokens are the documented feedback tokens and one that is not.
var boundedTokens = graph.FeedbackTokens{"NoSound", "OtherNoSound", "Echo", "Noisy", "LowVolume", "StoppedSound", "DistortedSound", "Interruptions", "Robotic"}

// boundedMediaLabels give every media label value once.
var boundedMediaLabels = []string{"main-audio", "main-video", "applicationsharing-video", "data", "whiteboard"}

// boundedStream is a stream with every field measured, good or poor by
// every CQD rule, or one that no rule classifies.
func boundedStream(dir, quality string) graph.MediaStream {
	s := graph.MediaStream{
		StreamDirection: dir, AverageJitter: ms(10), AveragePacketLossRate: num(0.01),
		AverageRoundTripTime: ms(100), AverageAudioDegradation: num(0.5), AverageRatioOfConcealedSamples: num(0.02),
		AverageAudioNetworkJitter: ms(12), AverageBandwidthEstimate: num(1e6), AverageVideoPacketLossRate: num(0.01),
		AverageFreezeDuration: ms(300), LowFrameRateRatio: num(0.1),
	}
	switch quality {
	case "good":
		s.PacketUtilization, s.AverageVideoFrameLossPercentage, s.AverageVideoFrameRate, s.PostForwardErrorCorrectionPacketLossRate = num(1000), num(1), num(30), num(0.01)
	case "poor":
		s.PacketUtilization, s.AverageJitter, s.AverageVideoFrameLossPercentage = num(1000), ms(100), num(80)
	}
	return s
}

// boundedRecords builds records that together use every allowed label
// combination: each platform, connection type and media label, both
// directions, the three qualities, every call type and every rating.
func boundedRecords() []*graph.CallRecord {
	recs := boundedWhyRecords()
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	platforms := []string{"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknownFutureValue"}
	conns := []string{"wired", "wifi", "mobile", "tunnel", "unknownFutureValue"}
	for pi, p := range platforms {
		for ci, c := range conns {
			for mi, label := range boundedMediaLabels {
				i := len(recs)
				client := clientEndpoint(p)
				client.Feedback = &graph.Feedback{Rating: boundedSpec["rating"][(ci*len(boundedMediaLabels)+mi)%7], Tokens: boundedTokens}
				var streams []graph.MediaStream
				for _, dir := range []string{graph.CallerToCallee, graph.CalleeToCaller} {
					for _, q := range boundedSpec["quality"] {
						streams = append(streams, boundedStream(dir, q))
					}
				}
				net := &graph.NetworkInfo{ConnectionType: c, LinkSpeed: num(1e8), SentQualityEventRatio: num(0.1),
					ReceivedQualityEventRatio: num(0.1), DelayEventRatio: num(0.1), BandwidthLowEventRatio: num(0.1),
					Subnet:                   boundedSubnets[(pi+ci+mi)%len(boundedSubnets)], // every site with every platform, connection and media
					NetworkTransportProtocol: []string{"udp", "tcp", "unknownFutureValue"}[i%3],
					WifiBand:                 "frequency50GHz", WifiRadioType: "wifi80211ax", WifiSignalStrength: num(70)}
				recs = append(recs, &graph.CallRecord{
					ID: fmt.Sprintf("bounded-%d", i), Type: []string{"groupCall", "peerToPeer", "unknownFutureValue"}[i%3],
					StartDateTime: start, EndDateTime: start.Add(10 * time.Minute),
					Sessions: []graph.Session{{
						Caller: client, Callee: serverEndpoint(),
						Segments: []graph.Segment{{
							Caller: client, Callee: serverEndpoint(),
							Media: []graph.Media{{Label: label, CallerNetwork: net, CallerDevice: boundedDevice(), Streams: streams}},
						}},
						FailureInfo: &graph.FailureInfo{Stage: []string{"callSetup", "midcall", "unknownFutureValue"}[(i/3)%3]},
					}},
				})
			}
		}
	}
	// Wi-Fi: every band and radio type, with every transport and media.
	for _, band := range []string{"frequency24GHz", "frequency50GHz", "frequency60GHz", "frequency6GHz"} {
		for _, radio := range []string{"wifi80211a", "wifi80211b", "wifi80211g", "wifi80211n", "wifi80211ac", "wifi80211ax", "wifi80211be"} {
			for _, transport := range []string{"udp", "tcp", "quic"} {
				for _, label := range boundedMediaLabels {
					var streams []graph.MediaStream
					for _, dir := range []string{graph.CallerToCallee, graph.CalleeToCaller} {
						for _, q := range boundedSpec["quality"] {
							streams = append(streams, boundedStream(dir, q))
						}
					}
					net := &graph.NetworkInfo{ConnectionType: "wifi", WifiBand: band, WifiRadioType: radio, WifiSignalStrength: num(40),
						NetworkTransportProtocol: transport, Subnet: "10.1.2.0"}
					client := clientEndpoint("windows")
					recs = append(recs, &graph.CallRecord{
						ID: fmt.Sprintf("bounded-wifi-%d", len(recs)), Type: "groupCall", StartDateTime: start, EndDateTime: start.Add(time.Minute),
						Sessions: []graph.Session{{Caller: client, Callee: serverEndpoint(), Segments: []graph.Segment{{
							Caller: client, Callee: serverEndpoint(),
							Media: []graph.Media{{Label: label, CallerNetwork: net, Streams: streams}},
						}}}},
					})
				}
			}
		}
	}
	return recs
}

// boundedVersions are the 50 client versions the bounded tests learn
// first, so that every later one is other.
func boundedVersions() []string {
	v := make([]string, maxClientVersions)
	for i := range v {
		v[i] = fmt.Sprintf("1.%d.00.%d", i, 1000+i)
	}
	return v
}

// boundedWhyRecords use every value of the why labels: the 50 versions
// (learned first), every platform, product, version kind, media and
// quality together; every codec of its media with every quality; every
// poor cause on every connection type.
func boundedWhyRecords() []*graph.CallRecord {
	var recs []*graph.CallRecord
	add := func(platform, product, version, conn, label string, streams ...graph.MediaStream) {
		rec := meetingRecord(fmt.Sprintf("why-%d", len(recs)), platform, conn, label, streams...)
		for _, e := range []*graph.Endpoint{&rec.Sessions[0].Caller, &rec.Sessions[0].Segments[0].Caller} {
			e.UserAgent.ProductFamily, e.UserAgent.ApplicationVersion = graph.ShortString(product), graph.ShortString(version)
		}
		recs = append(recs, rec)
	}
	qualities := func(set func(*graph.MediaStream)) []graph.MediaStream {
		var streams []graph.MediaStream
		for _, q := range boundedSpec["quality"] {
			s := boundedStream(graph.CallerToCallee, q)
			set(&s)
			streams = append(streams, s)
		}
		return streams
	}
	keep := func(*graph.MediaStream) {}
	for _, v := range boundedVersions() {
		add("windows", "teams", v, "wired", "main-audio", qualities(keep)...)
	}
	platforms := []string{"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknownFutureValue"}
	for _, p := range platforms {
		for _, product := range []string{"teams", "skypeForBusiness", "lync", "azureCommunicationServices", "", "unknownFutureValue"} {
			for _, version := range []string{"", "9.9.9"} { // unknown, and other: the 51st
				for _, label := range boundedMediaLabels {
					add(p, product, version, "wired", label, qualities(keep)...)
				}
			}
		}
	}
	for _, codec := range append(specLabelValues["codec"], "", "unknownFutureValue") {
		for _, label := range boundedMediaLabels[:3] {
			add("windows", "teams", "", "wired", label, qualities(func(s *graph.MediaStream) {
				s.AudioCodec, s.VideoCodec = graph.ShortString(codec), graph.ShortString(codec)
			})...)
		}
	}
	poor := func(s graph.MediaStream) graph.MediaStream {
		s.StreamDirection = graph.CallerToCallee
		s.PacketUtilization = num(1000)
		return s
	}
	for _, conn := range []string{"wired", "wifi", "mobile", "tunnel", "unknownFutureValue"} {
		add("windows", "teams", "", conn, "main-audio",
			poor(graph.MediaStream{AverageRoundTripTime: ms(600)}), poor(graph.MediaStream{AveragePacketLossRate: num(0.2)}), poor(graph.MediaStream{AverageJitter: ms(40)}))
		for _, label := range boundedMediaLabels[1:3] {
			add("windows", "teams", "", conn, label,
				poor(graph.MediaStream{AverageVideoFrameLossPercentage: num(60)}), poor(graph.MediaStream{AverageVideoFrameRate: num(1)}),
				poor(graph.MediaStream{PostForwardErrorCorrectionPacketLossRate: num(0.5)}))
		}
	}
	return recs
}

// boundedHostilePool holds strings no label may carry, and near misses of
// valid values.
var boundedHostilePool = boundedWithUpper(
	"", " ", "unknownFutureValue", "Windows ", " windows", "windows\x00", "win dows", "linux", "tizen",
	"ipphone2", "wired\n", "wifi6", "5G", "satellite", "mainaudio", "audioo", "main-vid", "vbs", "VIDEO-ish",
	"callerToCallee ", "both", "inbound", "outbound", "callertocallee-x", "teams", "skypeForBusiness",
	"Ω≈ç√", "平台", "🙂🙂", "\u202ewindows", "\xff\xfe", "a\"b", "x{y=\"z\"}", "user@example.com", "10.0.0.1",
	"00:11:22:33:44:55", strings.Repeat("w", 5000), strings.Repeat("🙂", 1000),
)

// boundedWithUpper adds the upper-case form of each string, made once
// rather than per draw (the long ones are costly under -race).
func boundedWithUpper(pool ...string) []string {
	for _, s := range pool {
		pool = append(pool, strings.ToUpper(s))
	}
	return pool
}

func boundedHostile(r *rand.Rand) string {
	s := boundedHostilePool[r.IntN(len(boundedHostilePool))]
	if r.IntN(4) == 0 {
		s += "-" + strconv.Itoa(r.IntN(1_000_000))
	}
	return s
}

func boundedHostileEndpoint(r *rand.Rand) graph.Endpoint {
	e := graph.Endpoint{UserAgent: graph.UserAgent{
		Platform: boundedHostile(r), ProductFamily: graph.ShortString(boundedHostile(r)), ApplicationVersion: graph.ShortString(boundedHostile(r)),
	}}
	switch r.IntN(4) {
	case 0:
		e.UserAgent.ODataType = graph.TypeClientUserAgent
	case 1:
		e.UserAgent.ODataType = boundedHostile(r)
	case 2:
		e.ODataType = graph.TypeParticipantEndpoint
	}
	if r.IntN(2) == 0 {
		e.Feedback = &graph.Feedback{Rating: boundedHostile(r)}
	}
	return e
}

func boundedHostileRecord(r *rand.Rand, i int) *graph.CallRecord {
	start := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	rec := &graph.CallRecord{ID: fmt.Sprintf("hostile-%d", i), Type: boundedHostile(r), StartDateTime: start, EndDateTime: start.Add(time.Minute)}
	seg := graph.Segment{Caller: boundedHostileEndpoint(r), Callee: boundedHostileEndpoint(r)}
	for range 1 + r.IntN(2) {
		m := graph.Media{Label: boundedHostile(r),
			CallerNetwork: &graph.NetworkInfo{ConnectionType: boundedHostile(r), DelayEventRatio: num(0.2), LinkSpeed: num(1e7),
				Subnet: boundedHostileAddress(r), IPAddress: boundedHostileAddress(r), NetworkTransportProtocol: boundedHostile(r)},
			CalleeNetwork: &graph.NetworkInfo{ConnectionType: "wifi", SentQualityEventRatio: num(0.3), WifiBand: boundedHostile(r),
				WifiRadioType: boundedHostile(r), WifiSignalStrength: num(r.Float64()*1e6 - 100), NetworkTransportProtocol: boundedHostile(r),
				IPAddress: boundedHostileAddress(r)},
			CallerDevice: &graph.DeviceInfo{DeviceGlitchEventRatio: num(r.Float64() * 100), MicGlitchRate: num(r.Float64() * 1e9),
				HowlingEventCount: num(r.Float64() * 1e12), RenderMuteEventRatio: graph.Number{Value: math.NaN(), Valid: true}},
		}
		for range 1 + r.IntN(3) {
			dir := boundedHostile(r)
			if r.IntN(3) == 0 {
				dir = []string{graph.CallerToCallee, graph.CalleeToCaller}[r.IntN(2)]
			}
			s := boundedStream(dir, boundedSpec["quality"][r.IntN(3)])
			s.AudioCodec, s.VideoCodec = graph.ShortString(boundedHostile(r)), graph.ShortString(boundedHostile(r))
			m.Streams = append(m.Streams, s)
		}
		seg.Media = append(seg.Media, m)
	}
	rec.Sessions = []graph.Session{{Caller: seg.Caller, Callee: seg.Callee, Segments: []graph.Segment{seg},
		FailureInfo: &graph.FailureInfo{Stage: boundedHostile(r)}}}
	if rec.Sessions[0].Caller.Feedback != nil {
		rec.Sessions[0].Caller.Feedback.Tokens = graph.FeedbackTokens{boundedHostile(r), boundedHostile(r)}
	}
	return rec
}

// boundedHostileAddress is a random IPv4 or IPv6 address (subnets beyond
// count over 10,000 records), or a hostile string.
func boundedHostileAddress(r *rand.Rand) graph.Address {
	switch r.IntN(3) {
	case 0:
		return graph.Address(fmt.Sprintf("%d.%d.%d.0", r.IntN(256), r.IntN(256), r.IntN(256)))
	case 1:
		return graph.Address(fmt.Sprintf("2001:db8:%x:%x::", r.IntN(1<<16), r.IntN(1<<16)))
	}
	return graph.Address(boundedHostile(r))
}

// boundedSeries gathers c and returns every exposed series as
// "name{label=value,...}", checking each label value against the documented lists (docs/design.md).
func boundedSeries(t *testing.T, c *Collector) map[string]bool {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c.Snapshot())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var pairs []string
			for _, lp := range m.GetLabel() {
				allowed, ok := boundedSpec[lp.GetName()]
				if !ok {
					t.Fatalf("%s: label %q is not documented", mf.GetName(), lp.GetName())
				}
				if !contains(allowed, lp.GetValue()) {
					t.Errorf("%s: %s=%.40q is not in the documented list", mf.GetName(), lp.GetName(), lp.GetValue())
				}
				pairs = append(pairs, lp.GetName()+"="+lp.GetValue())
			}
			sort.Strings(pairs)
			out[mf.GetName()+"{"+strings.Join(pairs, ",")+"}"] = true
		}
	}
	return out
}

// TestBoundedLabelsUnderHostileInput ingests every allowed combination once,
// then 10,000 records full of hostile strings (unknown platforms, product
// families, connection types, media labels, stream directions, call types
// and ratings; garbage, very long strings, unicode, personal-looking data):
// every label value stays in the documented lists (docs/design.md) and the series stay the same.
//
// With a building file, hostile records carry random subnets and addresses
// (IPv4 and IPv6, about 10,000 distinct ones, in and out of the file), and
// the site stays one of its buildings, unmapped or unknown.
func TestBoundedLabelsUnderHostileInput(t *testing.T) {
	m, _, err := sites.Parse(strings.NewReader(boundedBuildings))
	if err != nil {
		t.Fatal(err)
	}
	allowed := New(Options{Sites: func() *sites.Map { return m }})
	for _, rec := range boundedRecords() {
		allowed.Ingest(rec)
	}
	bounded := boundedSeries(t, allowed)

	// Sanity: the allowed combinations reach every value of every label.
	seen := map[string]bool{}
	for s := range bounded {
		_, labels, _ := strings.Cut(strings.TrimSuffix(s, "}"), "{")
		for _, p := range strings.Split(labels, ",") {
			seen[p] = true
		}
	}
	for name, values := range boundedSpec {
		for _, v := range values {
			if !seen[name+"="+v] {
				t.Errorf("the allowed combinations never produce %s=%q", name, v)
			}
		}
	}

	// The same collector, after 10,000 hostile records: not one more series.
	r := rand.New(rand.NewPCG(8, 8))
	for i := range 10_000 {
		allowed.Ingest(boundedHostileRecord(r, i))
	}
	got := boundedSeries(t, allowed)
	if len(got) > len(bounded) {
		t.Errorf("%d series after 10,000 hostile records, more than the %d of the allowed combinations", len(got), len(bounded))
	}
	extra := 0
	for s := range got {
		if !bounded[s] {
			if extra++; extra <= 10 {
				t.Errorf("hostile input made a series the allowed combinations did not: %.200s", s)
			}
		}
	}
	t.Logf("series: %d from the allowed combinations, %d after hostile input", len(bounded), len(got))
}
