package collector

import (
	"math"
	"testing"

	"github.com/teams-exporter/teams-exporter/graph"
)

func TestClassify(t *testing.T) {
	const (
		good  = "good"
		poor  = "poor"
		uncl  = "unclassified"
		audio = "main-audio"
		video = "main-video"
		share = "applicationsharing-video"
	)
	nan := graph.Number{Value: math.NaN(), Valid: true}
	tests := []struct {
		name  string
		label string
		s     graph.MediaStream
		want  string
	}{
		// Audio.
		{"audio no packetUtilization", audio, graph.MediaStream{AverageRoundTripTime: ms(900)}, uncl},
		{"audio packetUtilization exactly 500", audio, graph.MediaStream{PacketUtilization: num(500), AverageRoundTripTime: ms(900)}, uncl},
		{"audio packetUtilization negative", audio, graph.MediaStream{PacketUtilization: num(-600), AverageRoundTripTime: ms(900)}, uncl},
		{"audio packetUtilization NaN", audio, graph.MediaStream{PacketUtilization: nan, AverageRoundTripTime: ms(900)}, uncl},
		{"audio all three absent", audio, graph.MediaStream{PacketUtilization: num(501)}, uncl},
		{"audio all at thresholds", audio, graph.MediaStream{PacketUtilization: num(501), AverageRoundTripTime: ms(500), AveragePacketLossRate: num(0.1), AverageJitter: ms(30)}, good},
		{"audio round trip over", audio, graph.MediaStream{PacketUtilization: num(501), AverageRoundTripTime: ms(501), AveragePacketLossRate: num(0), AverageJitter: ms(1)}, poor},
		{"audio packet loss over", audio, graph.MediaStream{PacketUtilization: num(501), AverageRoundTripTime: ms(10), AveragePacketLossRate: num(0.1000001), AverageJitter: ms(1)}, poor},
		{"audio jitter over", audio, graph.MediaStream{PacketUtilization: num(501), AverageRoundTripTime: ms(10), AveragePacketLossRate: num(0), AverageJitter: ms(30.001)}, poor},
		{"audio only loss present, fine", audio, graph.MediaStream{PacketUtilization: num(10000), AveragePacketLossRate: num(0.05)}, good},
		{"audio only jitter present, bad", audio, graph.MediaStream{PacketUtilization: num(10000), AverageJitter: ms(40)}, poor},
		{"audio only round trip present, bad", audio, graph.MediaStream{PacketUtilization: num(10000), AverageRoundTripTime: ms(2000)}, poor},
		{"audio negative duration counts as absent", audio, graph.MediaStream{PacketUtilization: num(10000), AverageRoundTripTime: ms(-1)}, uncl},
		{"audio label other spelling", "secondary-AUDIO", graph.MediaStream{PacketUtilization: num(10000), AverageJitter: ms(5)}, good},

		// Video: the first present of frame loss, frame rate, post-FEC loss.
		{"video nothing present", video, graph.MediaStream{AveragePacketLossRate: num(0.9)}, uncl},
		{"video frame loss exactly 50", video, graph.MediaStream{AverageVideoFrameLossPercentage: num(50)}, good},
		{"video frame loss over 50", video, graph.MediaStream{AverageVideoFrameLossPercentage: num(50.1)}, poor},
		{"video frame loss decides over frame rate", video, graph.MediaStream{AverageVideoFrameLossPercentage: num(10), AverageVideoFrameRate: num(1)}, good},
		{"video frame loss NaN is absent", video, graph.MediaStream{AverageVideoFrameLossPercentage: nan, AverageVideoFrameRate: num(1)}, poor},
		{"video frame rate exactly 7", video, graph.MediaStream{AverageVideoFrameRate: num(7)}, good},
		{"video frame rate under 7", video, graph.MediaStream{AverageVideoFrameRate: num(6.9)}, poor},
		{"video frame rate decides over post-FEC", video, graph.MediaStream{AverageVideoFrameRate: num(30), PostForwardErrorCorrectionPacketLossRate: num(0.9)}, good},
		{"video post-FEC exactly 0.15", video, graph.MediaStream{PostForwardErrorCorrectionPacketLossRate: num(0.15)}, good},
		{"video post-FEC over 0.15", video, graph.MediaStream{PostForwardErrorCorrectionPacketLossRate: num(0.1500001)}, poor},

		// Screen sharing: as video, frame rate poor below 2.
		{"sharing frame rate 5 is fine", share, graph.MediaStream{AverageVideoFrameRate: num(5)}, good},
		{"sharing frame rate exactly 2", "vbss", graph.MediaStream{AverageVideoFrameRate: num(2)}, good},
		{"sharing frame rate under 2", share, graph.MediaStream{AverageVideoFrameRate: num(1.9)}, poor},
		{"sharing frame loss over 50", share, graph.MediaStream{AverageVideoFrameLossPercentage: num(60), AverageVideoFrameRate: num(30)}, poor},
		{"sharing post-FEC", "video-based-screen-sharing", graph.MediaStream{PostForwardErrorCorrectionPacketLossRate: num(0.2)}, poor},
		{"sharing nothing present", share, graph.MediaStream{}, uncl},

		// Data and other media are never classified.
		{"data", "data", graph.MediaStream{AverageVideoFrameLossPercentage: num(90), PacketUtilization: num(9999), AverageJitter: ms(900)}, uncl},
		{"other", "something-new", graph.MediaStream{AverageVideoFrameLossPercentage: num(90), PacketUtilization: num(9999), AverageJitter: ms(900)}, uncl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := dims[dimQuality].values[classify(mediaOf(tt.label), &tt.s)]
			if got != tt.want {
				t.Errorf("classify(%q) = %s, want %s", tt.label, got, tt.want)
			}
		})
	}
}
