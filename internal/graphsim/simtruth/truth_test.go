package simtruth

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// tinyRecord is a group call checked by hand below: an iOS client on wifi
// talking to a conferencing server, then a server-to-server segment.
func tinyRecord() graphsim.Record {
	start := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	ios := graphsim.Endpoint{ODataType: graphsim.TypeParticipantEndpoint, UserAgent: &graphsim.UserAgent{ODataType: graphsim.TypeClientUserAgent, Platform: "iOS", ProductFamily: "teams"}}
	conf := graphsim.Endpoint{ODataType: graphsim.TypeServiceEndpoint, UserAgent: &graphsim.UserAgent{ODataType: graphsim.TypeServiceUserAgent, Role: "skypeForBusinessConferencingService"}}
	med := graphsim.Endpoint{ODataType: graphsim.TypeServiceEndpoint, UserAgent: &graphsim.UserAgent{ODataType: graphsim.TypeServiceUserAgent, Role: "mediationServer"}}
	withFeedback := ios
	withFeedback.Feedback = &graphsim.UserFeedback{Rating: "good"}
	return graphsim.Record{
		ID: "tiny", Version: 1, Type: "groupCall", StartDateTime: start, EndDateTime: start.Add(90 * time.Second),
		Sessions: []graphsim.Session{{
			ID: "s1", Caller: withFeedback, Callee: conf,
			Segments: []graphsim.Segment{
				{ID: "g1", Caller: ios, Callee: conf, Media: []graphsim.Media{
					{
						Label:         "main-audio",
						CallerNetwork: &graphsim.NetworkInfo{ConnectionType: "wifi", LinkSpeed: i64(54_000_000), SentQualityEventRatio: f64(0.02), DelayEventRatio: f64(0)},
						CalleeNetwork: &graphsim.NetworkInfo{ConnectionType: "wired", LinkSpeed: i64(1_000_000_000), DelayEventRatio: f64(0.9)},
						Streams: []graphsim.MediaStream{
							// Sent by the client: loss over 0.1, so poor.
							{StreamDirection: graphsim.CallerToCallee, AverageJitter: graphsim.Dur(12 * time.Millisecond), AveragePacketLossRate: f64(0.2),
								PacketUtilization: i64(1000), AverageBandwidthEstimate: i64(800_000)},
							// Received: exactly at the thresholds, which are not exceeded: good.
							{StreamDirection: graphsim.CalleeToCaller, AverageJitter: graphsim.Dur(30 * time.Millisecond), AveragePacketLossRate: f64(0),
								AverageRoundTripTime: graphsim.Dur(500 * time.Millisecond), PacketUtilization: i64(501)},
						},
					},
					{
						Label: "applicationsharing-video", // no caller network: connection_type unknown
						Streams: []graphsim.MediaStream{
							// Frame rate under 2 decides (no frame loss): poor.
							{StreamDirection: graphsim.CalleeToCaller, AverageVideoFrameRate: f64(1.5), PostForwardErrorCorrectionPacketLossRate: f64(0.2)},
						},
					},
					{
						Label: "main-video",
						Streams: []graphsim.MediaStream{
							// Frame loss 50% is not over 50 and decides first: good.
							{StreamDirection: graphsim.CallerToCallee, AverageVideoFrameLossPercentage: f64(50), AverageVideoFrameRate: f64(3)},
						},
					},
				}},
				{ID: "g2", Caller: conf, Callee: med, Media: []graphsim.Media{{Label: "main-audio", Streams: []graphsim.MediaStream{
					{StreamDirection: graphsim.CallerToCallee, AverageJitter: graphsim.Dur(5 * time.Millisecond)},
				}}}},
			},
		}},
	}
}

func TestTruthByHand(t *testing.T) {
	tr := Of(tinyRecord())
	const (
		audioOut = `connection_type="wifi",direction="outbound",media="audio",platform="iOS"`
		audioIn  = `connection_type="wifi",direction="inbound",media="audio",platform="iOS"`
		shareIn  = `connection_type="unknown",direction="inbound",media="screen_sharing",platform="iOS"`
		videoOut = `connection_type="unknown",direction="outbound",media="video",platform="iOS"`
		netAudio = `connection_type="wifi",media="audio",platform="iOS"`
	)
	want := map[string]float64{
		`teams_call_records_total{type="groupCall"}`:                     1,
		`teams_sessions_total{type="groupCall"}`:                         1,
		`teams_call_duration_seconds_bucket{le="60",type="groupCall"}`:   0,
		`teams_call_duration_seconds_bucket{le="300",type="groupCall"}`:  1,
		`teams_call_duration_seconds_bucket{le="+Inf",type="groupCall"}`: 1,
		`teams_call_duration_seconds_sum{type="groupCall"}`:              90,
		`teams_feedback_total{platform="iOS",rating="good"}`:             1,
		`teams_exporter_skipped_total{reason="no_client_endpoint"}`:      1,

		`teams_streams_total{` + audioOut + `,quality="poor"}`: 1,
		`teams_streams_total{` + audioIn + `,quality="good"}`:  1,
		`teams_streams_total{` + shareIn + `,quality="poor"}`:  1,
		`teams_streams_total{` + videoOut + `,quality="good"}`: 1,

		// 12 ms jitter: above .01, within .02.
		`teams_stream_jitter_seconds_bucket{connection_type="wifi",direction="outbound",le="0.01",media="audio",platform="iOS"}`: 0,
		`teams_stream_jitter_seconds_bucket{connection_type="wifi",direction="outbound",le="0.02",media="audio",platform="iOS"}`: 1,
		`teams_stream_jitter_seconds_sum{` + audioOut + `}`:                                                                      0.012,
		// 30 ms falls in le="0.03" (upper bounds are inclusive).
		`teams_stream_jitter_seconds_bucket{connection_type="wifi",direction="inbound",le="0.02",media="audio",platform="iOS"}`: 0,
		`teams_stream_jitter_seconds_bucket{connection_type="wifi",direction="inbound",le="0.03",media="audio",platform="iOS"}`: 1,
		// A measured zero loss is an observation in every bucket.
		`teams_stream_packet_loss_ratio_bucket{connection_type="wifi",direction="inbound",le="0.001",media="audio",platform="iOS"}`:     1,
		`teams_stream_packet_loss_ratio_count{` + audioIn + `}`:                                                                         1,
		`teams_stream_packet_loss_ratio_bucket{connection_type="wifi",direction="outbound",le="0.1",media="audio",platform="iOS"}`:      0,
		`teams_stream_packet_loss_ratio_bucket{connection_type="wifi",direction="outbound",le="0.2",media="audio",platform="iOS"}`:      1,
		`teams_stream_round_trip_time_seconds_bucket{connection_type="wifi",direction="inbound",le="0.5",media="audio",platform="iOS"}`: 1,
		`teams_stream_round_trip_time_seconds_bucket{connection_type="wifi",direction="inbound",le="0.3",media="audio",platform="iOS"}`: 0,
		// 800 kbit/s = 100 kB/s.
		`teams_stream_bandwidth_estimate_bytes_per_second_sum{` + audioOut + `}`:                                                                        100_000,
		`teams_stream_bandwidth_estimate_bytes_per_second_bucket{connection_type="wifi",direction="outbound",le="32000",media="audio",platform="iOS"}`:  0,
		`teams_stream_bandwidth_estimate_bytes_per_second_bucket{connection_type="wifi",direction="outbound",le="125000",media="audio",platform="iOS"}`: 1,
		// 50 % = 0.5.
		`teams_stream_video_frame_loss_ratio_sum{` + videoOut + `}`:                                                                                           0.5,
		`teams_stream_video_frame_loss_ratio_bucket{connection_type="unknown",direction="outbound",le="0.2",media="video",platform="iOS"}`:                    0,
		`teams_stream_video_frame_loss_ratio_bucket{connection_type="unknown",direction="outbound",le="0.5",media="video",platform="iOS"}`:                    1,
		`teams_stream_video_frame_rate_fps_sum{` + shareIn + `}`:                                                                                              1.5,
		`teams_stream_video_post_fec_packet_loss_ratio_bucket{connection_type="unknown",direction="inbound",le="0.15",media="screen_sharing",platform="iOS"}`: 0,
		`teams_stream_video_post_fec_packet_loss_ratio_bucket{connection_type="unknown",direction="inbound",le="0.2",media="screen_sharing",platform="iOS"}`:  1,

		// Network: the client's side only; 54 Mbit/s = 6.75 MB/s.
		`teams_network_quality_event_ratio_bucket{connection_type="wifi",direction="outbound",le="0.01",media="audio",platform="iOS"}`: 0,
		`teams_network_quality_event_ratio_bucket{connection_type="wifi",direction="outbound",le="0.05",media="audio",platform="iOS"}`: 1,
		`teams_network_delay_event_ratio_count{` + netAudio + `}`:                                                                      1,
		`teams_network_delay_event_ratio_sum{` + netAudio + `}`:                                                                        0,
		`teams_network_link_speed_bytes_per_second_sum{` + netAudio + `}`:                                                              6_750_000,
		`teams_network_link_speed_bytes_per_second_bucket{connection_type="wifi",le="1.25e+07",media="audio",platform="iOS"}`:          1,
		`teams_network_link_speed_bytes_per_second_bucket{connection_type="wifi",le="1.25e+06",media="audio",platform="iOS"}`:          0,

		// One level deeper: loss over 0.1 on Wi-Fi; frame rate decided the
		// sharing stream; no codec and no version given.
		`teams_poor_stream_causes_total{cause="packet_loss",connection_type="wifi",media="audio"}`:                                  1,
		`teams_poor_stream_causes_total{cause="frame_rate",connection_type="unknown",media="screen_sharing"}`:                       1,
		`teams_codec_streams_total{codec="unknown",media="audio",quality="poor"}`:                                                   1,
		`teams_codec_streams_total{codec="unknown",media="audio",quality="good"}`:                                                   1,
		`teams_codec_streams_total{codec="unknown",media="screen_sharing",quality="poor"}`:                                          1,
		`teams_codec_streams_total{codec="unknown",media="video",quality="good"}`:                                                   1,
		`teams_client_streams_total{client_version="unknown",media="audio",platform="iOS",product="teams",quality="poor"}`:          1,
		`teams_client_streams_total{client_version="unknown",media="audio",platform="iOS",product="teams",quality="good"}`:          1,
		`teams_client_streams_total{client_version="unknown",media="screen_sharing",platform="iOS",product="teams",quality="poor"}`: 1,
		`teams_client_streams_total{client_version="unknown",media="video",platform="iOS",product="teams",quality="good"}`:          1,
	}
	for k, v := range want {
		if got, ok := tr[k]; !ok && v != 0 || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	// Nothing else: 14 histogram series (3+3 audio, 2 sharing, 2 video, 3
	// network, 1 duration) and 24 counters (8, 4 transport streams, all
	// transport unknown, 2 Wi-Fi streams of the audio on wifi, band and
	// radio type unknown, 2 causes, 4 codec and 4 client streams).
	counts, counters := 0, 0
	for k := range tr {
		name, _, _ := strings.Cut(k, "{")
		switch {
		case strings.HasSuffix(name, "_count"):
			counts++
		case strings.HasSuffix(name, "_total"):
			counters++
		}
	}
	if counts != 14 || counters != 24 {
		t.Errorf("%d histogram series and %d counters, want 14 and 24:\n%s", counts, counters, strings.Join(sortedKeys(tr), "\n"))
	}
	for k := range tr {
		if strings.Contains(k, "inbound") && strings.Contains(k, "teams_network_quality_event_ratio") {
			t.Errorf("a null receivedQualityEventRatio was observed: %s", k)
		}
		if strings.Contains(k, `connection_type="wired"`) {
			t.Errorf("the server's network was observed: %s", k)
		}
	}
}

// TestTruthWhyByHand: the where and why families of one peer-to-peer
// call, by hand: a windows caller on Wi-Fi over TCP in a supernet's
// building, an iOS callee wired over UDP at home, a failed session, a
// feedback with tokens.
func TestTruthWhyByHand(t *testing.T) {
	start := time.Date(2025, 5, 1, 10, 0, 0, 0, time.UTC)
	win := graphsim.Endpoint{ODataType: graphsim.TypeParticipantEndpoint, UserAgent: &graphsim.UserAgent{ODataType: graphsim.TypeClientUserAgent, Platform: "windows"}}
	ios := graphsim.Endpoint{ODataType: graphsim.TypeParticipantEndpoint, UserAgent: &graphsim.UserAgent{ODataType: graphsim.TypeClientUserAgent, Platform: "iOS"}}
	rated := ios
	rated.Feedback = &graphsim.UserFeedback{Rating: "bad", Tokens: map[string]bool{"Echo": true, "NoSound": false, "Robotic": true}}
	rec := graphsim.Record{ID: "why", Type: "peerToPeer", StartDateTime: start, EndDateTime: start.Add(time.Minute), Sessions: []graphsim.Session{{
		Caller: win, Callee: rated, FailureInfo: &graphsim.FailureInfo{Stage: "midcall"},
		Segments: []graphsim.Segment{{Caller: win, Callee: ios, Media: []graphsim.Media{{
			Label: "main-audio",
			CallerNetwork: &graphsim.NetworkInfo{ConnectionType: "wifi", Subnet: "10.10.7.0", IPAddress: "10.10.7.9", NetworkTransportProtocol: "tcp",
				WifiBand: "frequency50GHz", WifiRadioType: "wifi80211ax", WifiSignalStrength: i64(45)},
			CalleeNetwork: &graphsim.NetworkInfo{ConnectionType: "wired", IPAddress: "192.168.1.20", NetworkTransportProtocol: "udp"},
			CallerDevice:  &graphsim.DeviceInfo{MicGlitchRate: f64(12), DeviceClippingEventRatio: f64(0.3), HowlingEventCount: i64(2)},
			Streams: []graphsim.MediaStream{
				// Sent by the caller: jitter over 30 ms, poor.
				{StreamDirection: graphsim.CallerToCallee, AverageJitter: graphsim.Dur(40 * time.Millisecond), PacketUtilization: i64(900), AverageRoundTripTime: graphsim.Dur(80 * time.Millisecond)},
			},
		}}}},
	}}}
	buildings, err := ParseBuildings(graphsim.DemoBuildingFile)
	if err != nil {
		t.Fatal(err)
	}
	tr := With(buildings, rec)
	want := map[string]float64{
		`teams_session_failures_total{stage="midcall",type="peerToPeer"}`:                                                                  1,
		`teams_feedback_tokens_total{platform="iOS",token="Echo"}`:                                                                         1,
		`teams_feedback_tokens_total{platform="iOS",token="other"}`:                                                                        1,
		`teams_transport_streams_total{media="audio",quality="poor",transport="tcp"}`:                                                      1,
		`teams_transport_streams_total{media="audio",quality="poor",transport="udp"}`:                                                      1,
		`teams_wifi_streams_total{band="frequency50GHz",media="audio",quality="poor",radio_type="wifi80211ax"}`:                            1,
		`teams_wifi_signal_strength_ratio_bucket{band="frequency50GHz",le="0.4"}`:                                                          0,
		`teams_wifi_signal_strength_ratio_bucket{band="frequency50GHz",le="0.5"}`:                                                          1,
		`teams_wifi_signal_strength_ratio_sum{band="frequency50GHz"}`:                                                                      0.45,
		`teams_device_event_ratio_bucket{event="device_clipping",le="0.2",platform="windows"}`:                                             0,
		`teams_device_event_ratio_bucket{event="device_clipping",le="0.3",platform="windows"}`:                                             1,
		`teams_device_glitches_per_5m_bucket{device="microphone",le="20",platform="windows"}`:                                              1,
		`teams_device_glitches_per_5m_bucket{device="microphone",le="10",platform="windows"}`:                                              0,
		`teams_device_howling_events_total{platform="windows"}`:                                                                            2,
		`teams_site_streams_total{connection_type="wifi",direction="outbound",media="audio",quality="poor",site="Seattle HQ"}`:             1,
		`teams_site_streams_total{connection_type="wired",direction="inbound",media="audio",quality="poor",site="unmapped"}`:               1,
		`teams_site_audio_jitter_seconds_sum{direction="outbound",site="Seattle HQ"}`:                                                      0.04,
		`teams_site_audio_round_trip_time_seconds_bucket{direction="inbound",le="0.1",site="unmapped"}`:                                    1,
		`teams_site_info{city="Seattle",country="US",express_route="true",inside_corp="true",region="NOAM",site="Seattle HQ",vpn="false"}`: 1,
		`teams_site_info{city="",country="",express_route="false",inside_corp="true",region="",site="VPN",vpn="true"}`:                     1,
	}
	for k, v := range want {
		if got, ok := tr[k]; !ok && v != 0 || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	// Device families from the caller only (the callee has no device
	// info); the site families exist only with buildings.
	for k := range tr {
		if strings.HasPrefix(k, "teams_device_") && strings.Contains(k, `platform="iOS"`) {
			t.Errorf("a missing device was observed: %s", k)
		}
	}
	for k := range Of(rec) {
		if strings.HasPrefix(k, "teams_site_") {
			t.Errorf("a site family without buildings: %s", k)
		}
	}
}

// TestTruthOfFixture: the peer-to-peer example record from Microsoft's docs,
// observed once from each client.
func TestTruthOfFixture(t *testing.T) {
	raw, err := os.ReadFile("../../../graph/testdata/callrecord-expanded.json")
	if err != nil {
		t.Fatal(err)
	}
	rec, err := graphsim.ParseRecord(raw)
	if err != nil {
		t.Fatal(err)
	}
	tr := Of(rec)
	want := map[string]float64{
		// callerToCallee (16 ms): sent by the android caller, received by the windows callee.
		`teams_stream_jitter_seconds_sum{connection_type="wifi",direction="outbound",media="audio",platform="android"}`: 0.016,
		`teams_stream_jitter_seconds_sum{connection_type="wired",direction="inbound",media="audio",platform="windows"}`: 0.016,
		`teams_stream_jitter_seconds_sum{connection_type="wifi",direction="inbound",media="audio",platform="android"}`:  0.007,
		// packetUtilization 67 leaves the first stream unclassified; the second is good.
		`teams_streams_total{connection_type="wifi",direction="outbound",media="audio",platform="android",quality="unclassified"}`: 1,
		`teams_streams_total{connection_type="wired",direction="outbound",media="audio",platform="windows",quality="good"}`:        1,
		// averageAudioDegradation is null on the first stream: one observation per client.
		`teams_stream_audio_degradation_count{connection_type="wifi",direction="inbound",media="audio",platform="android"}`:   1,
		`teams_stream_audio_degradation_count{connection_type="wired",direction="outbound",media="audio",platform="windows"}`: 1,
		`teams_feedback_total{platform="windows",rating="poor"}`:                                                              1,
		`teams_network_quality_event_ratio_sum{connection_type="wifi",direction="inbound",media="audio",platform="android"}`:  0.27,
		`teams_network_link_speed_bytes_per_second_sum{connection_type="wired",media="audio",platform="windows"}`:             4294967295.0 / 8,
		`teams_call_records_total{type="peerToPeer"}`:                                                                         1,
		`teams_call_duration_seconds_sum{type="peerToPeer"}`:                                                                  25.5470124,
		// Both clients are skypeForBusiness with no version and no codec.
		`teams_client_streams_total{client_version="unknown",media="audio",platform="android",product="skypeForBusiness",quality="good"}`: 1,
		`teams_codec_streams_total{codec="unknown",media="audio",quality="unclassified"}`:                                                 2,
	}
	for k, v := range want {
		if got := tr[k]; !valueMatches(k, got, v) {
			t.Errorf("%s = %v, want %v", k, got, v)
		}
	}
	if _, ok := tr[`teams_stream_audio_degradation_count{connection_type="wifi",direction="outbound",media="audio",platform="android"}`]; ok {
		t.Error("a null averageAudioDegradation was observed")
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		kind string
		s    graphsim.MediaStream
		want string
	}{
		{"audio", graphsim.MediaStream{PacketUtilization: i64(500), AverageJitter: graphsim.Dur(time.Second)}, QualityUnclassified},
		{"audio", graphsim.MediaStream{AverageJitter: graphsim.Dur(time.Second)}, QualityUnclassified},
		{"audio", graphsim.MediaStream{PacketUtilization: i64(501)}, QualityUnclassified},
		{"audio", graphsim.MediaStream{PacketUtilization: i64(501), AverageRoundTripTime: graphsim.Dur(501 * time.Millisecond)}, QualityPoor},
		{"audio", graphsim.MediaStream{PacketUtilization: i64(501), AverageJitter: graphsim.Dur(31 * time.Millisecond)}, QualityPoor},
		{"audio", graphsim.MediaStream{PacketUtilization: i64(501), AveragePacketLossRate: f64(0.1)}, QualityGood},
		{"video", graphsim.MediaStream{AverageVideoFrameLossPercentage: f64(50.01)}, QualityPoor},
		{"video", graphsim.MediaStream{AverageVideoFrameRate: f64(7)}, QualityGood},
		{"video", graphsim.MediaStream{AverageVideoFrameRate: f64(6.99)}, QualityPoor},
		{"video", graphsim.MediaStream{PostForwardErrorCorrectionPacketLossRate: f64(0.15)}, QualityGood},
		{"video", graphsim.MediaStream{PostForwardErrorCorrectionPacketLossRate: f64(0.16)}, QualityPoor},
		{"video", graphsim.MediaStream{AverageJitter: graphsim.Dur(time.Second)}, QualityUnclassified},
		{"screen_sharing", graphsim.MediaStream{AverageVideoFrameRate: f64(2)}, QualityGood},
		{"screen_sharing", graphsim.MediaStream{AverageVideoFrameRate: f64(6)}, QualityGood},
		{"data", graphsim.MediaStream{AverageVideoFrameRate: f64(1)}, QualityUnclassified},
	}
	for _, tt := range tests {
		if got := Classify(tt.kind, tt.s); got != tt.want {
			t.Errorf("Classify(%s, %+v) = %s, want %s", tt.kind, tt.s, got, tt.want)
		}
	}
	for label, want := range map[string]string{
		"main-audio": "audio", "secondary-audio": "audio", "main-video": "video", "panoramic-video": "video",
		"applicationsharing-video": "screen_sharing", "main-vbss": "screen_sharing", "desktop-sharing": "screen_sharing",
		"data": "data", "transfer": "other", "": "other",
	} {
		if got := graphsim.MediaKind(label); got != want {
			t.Errorf("graphsim.MediaKind(%q) = %s, want %s", label, got, want)
		}
	}
}

// TestCompareWithRegistry exposes hand-observed metrics through a real
// client_golang registry and the text encoder, and checks Compare on the
// result: agreement, then each kind of difference.
func TestCompareWithRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	jitter := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "teams_stream_jitter_seconds", Help: "h", Buckets: jitterBuckets},
		[]string{"media", "direction", "platform", "connection_type"})
	bw := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "teams_stream_bandwidth_estimate_bytes_per_second", Help: "h",
		Buckets: []float64{8e3, 32e3, 125e3, 500e3, 1.25e6, 5e6, 12.5e6}}, []string{"media", "direction", "platform", "connection_type"})
	streams := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "teams_streams_total", Help: "h"},
		[]string{"media", "direction", "platform", "connection_type", "quality"})
	own := prometheus.NewCounter(prometheus.CounterOpts{Name: "teams_exporter_records_ingested_total", Help: "h"})
	reg.MustRegister(jitter, bw, streams, own)
	jitter.WithLabelValues("audio", "inbound", "web", "wifi").Observe(0.03)
	jitter.WithLabelValues("audio", "inbound", "web", "wifi").Observe(0.1)
	bw.WithLabelValues("video", "outbound", "macOS", "wired").Observe(1.25e6)
	streams.WithLabelValues("audio", "inbound", "web", "wifi", "good").Add(2)
	streams.WithLabelValues("audio", "inbound", "web", "tunnel", "poor") // present at zero: not a difference
	own.Add(5)                                                           // the exporter's own metric: not compared

	b := newBuilder()
	in := newLabels(map[string]string{"media": "audio", "direction": "inbound", "platform": "web", "connection_type": "wifi"})
	b.observe("teams_stream_jitter_seconds", in, jitterBuckets, 0.03)
	b.observe("teams_stream_jitter_seconds", in, jitterBuckets, 0.1)
	b.observe("teams_stream_bandwidth_estimate_bytes_per_second",
		newLabels(map[string]string{"media": "video", "direction": "outbound", "platform": "macOS", "connection_type": "wired"}),
		[]float64{8e3, 32e3, 125e3, 500e3, 1.25e6, 5e6, 12.5e6}, 1.25e6)
	b.inc("teams_streams_total", newLabels(map[string]string{"media": "audio", "direction": "inbound", "platform": "web", "connection_type": "wifi", "quality": "good"}), 2)
	truth := b.truth()

	var buf bytes.Buffer
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, f := range fams {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	exposition := buf.String()
	if !strings.Contains(exposition, `le="1.25e+06"`) {
		t.Fatalf("exposition does not write bounds as expected:\n%s", exposition)
	}
	diff := func(tr Truth) []string {
		d, err := tr.Compare(strings.NewReader(exposition))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	if d := diff(truth); d != nil {
		t.Fatalf("agreeing truth gives differences: %v", d)
	}

	const sum = `teams_stream_jitter_seconds_sum{connection_type="wifi",direction="inbound",media="audio",platform="web"}`
	const bucket = `teams_stream_jitter_seconds_bucket{connection_type="wifi",direction="inbound",le="0.03",media="audio",platform="web"}`
	const counter = `teams_streams_total{connection_type="wifi",direction="inbound",media="audio",platform="web",quality="good"}`
	tests := []struct {
		name   string
		change func(Truth)
		want   string // substring of the single expected difference; "" for none
	}{
		{"sum within 1e-9", func(tr Truth) { tr[sum] *= 1 + 1e-12 }, ""},
		{"sum off", func(tr Truth) { tr[sum] *= 1 + 1e-6 }, sum + " = "},
		{"bucket off by one", func(tr Truth) { tr[bucket]-- }, bucket + " = 1, want 0"},
		{"missing series", func(tr Truth) { tr[`teams_feedback_total{platform="web",rating="bad"}`] = 1 }, "missing teams_feedback_total"},
		{"unexpected series", func(tr Truth) { delete(tr, counter) }, "unexpected " + counter},
	}
	for _, tt := range tests {
		tr := Truth{}
		tr.Merge(truth)
		tt.change(tr)
		d := diff(tr)
		switch {
		case tt.want == "" && d != nil:
			t.Errorf("%s: differences %v", tt.name, d)
		case tt.want != "" && (len(d) != 1 || !strings.Contains(d[0], tt.want)):
			t.Errorf("%s: differences %v, want one containing %q", tt.name, d, tt.want)
		}
	}
	if _, err := truth.Compare(strings.NewReader("not an exposition {")); err == nil {
		t.Error("Compare accepted a malformed exposition")
	}
}

func TestTruthMerge(t *testing.T) {
	a, b := tinyRecord(), tinyRecord()
	b.ID = "tiny2"
	merged := Of(a)
	merged.Merge(Of(b))
	if d := Of(a, b).Diff(merged); d != nil {
		t.Errorf("Merge differs from TruthOf of both: %v", d)
	}
	if merged[`teams_call_records_total{type="groupCall"}`] != 2 {
		t.Error("Merge did not add")
	}
}

func f64(v float64) *float64 { return &v }
func i64(v int64) *int64     { return &v }
