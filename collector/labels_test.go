package collector

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/graph"
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
	}
	for _, tt := range tests {
		if got := dims[tt.d].values[tt.fn(tt.in)]; got != tt.want {
			t.Errorf("%s %q -> %q, want %q", dims[tt.d].name, tt.in, got, tt.want)
		}
	}
}

// specLabelValues are SPEC's bounded lists, written out again here so that
// a change to the code's lists shows up as a failure.
var specLabelValues = map[string][]string{
	"platform":        {"windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens", "unknown"},
	"connection_type": {"wired", "wifi", "mobile", "tunnel", "unknown"},
	"direction":       {"inbound", "outbound"},
	"media":           {"audio", "video", "screen_sharing", "data", "other"},
	"type":            {"groupCall", "peerToPeer", "unknown"},
	"rating":          {"notRated", "bad", "poor", "fair", "good", "excellent", "unknown"},
	"quality":         {"good", "poor", "unclassified"},
}

// randomLabel mixes valid names in random case, Graph's future values,
// garbage and things that look like personal data.
func randomLabel(r *rand.Rand) string {
	pool := []string{"", "unknownFutureValue", "user@example.com", "10.0.0.1", "00-11-22-33-44-55", "🙂", "\xff", strings.Repeat("x", 300)}
	for _, vals := range specLabelValues {
		pool = append(pool, vals...)
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
	}
	return e
}

func randomRecord(r *rand.Rand, i int) *graph.CallRecord {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(r.IntN(1e6)) * time.Second)
	rec := &graph.CallRecord{
		ID: fmt.Sprintf("rec-%d-%x", i, r.Uint64()), Type: randomLabel(r),
		StartDateTime: start, EndDateTime: start.Add(time.Duration(r.IntN(20000)-1000) * time.Second),
	}
	for range 1 + r.IntN(3) {
		s := graph.Session{Caller: randomEndpoint(r), Callee: randomEndpoint(r)}
		for range 1 + r.IntN(2) {
			seg := graph.Segment{Caller: randomEndpoint(r), Callee: randomEndpoint(r)}
			for range 1 + r.IntN(3) {
				m := graph.Media{Label: randomLabel(r)}
				if r.IntN(4) > 0 {
					m.CallerNetwork = &graph.NetworkInfo{ConnectionType: randomLabel(r), LinkSpeed: num(r.Float64() * 1e9), SentQualityEventRatio: num(r.Float64()), ReceivedQualityEventRatio: num(r.Float64()), DelayEventRatio: num(r.Float64()), BandwidthLowEventRatio: num(r.Float64())}
				}
				if r.IntN(4) > 0 {
					m.CalleeNetwork = &graph.NetworkInfo{ConnectionType: randomLabel(r), DelayEventRatio: num(r.Float64())}
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

// TestSeriesBounded ingests records full of arbitrary strings and checks
// that every label value is from SPEC's lists, that no family has more
// series than the product of its lists, and that no record id leaks into a
// label.
func TestSeriesBounded(t *testing.T) {
	c := New(Options{})
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
				t.Fatalf("%s: label %q not in SPEC", mf.GetName(), lp.GetName())
			}
			product *= len(vals)
		}
		if len(mf.Metric) > product {
			t.Errorf("%s: %d series, more than the %d label combinations", mf.GetName(), len(mf.Metric), product)
		}
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if !contains(specLabelValues[lp.GetName()], lp.GetValue()) {
					t.Errorf("%s: label %s=%q not in SPEC's list", mf.GetName(), lp.GetName(), lp.GetValue())
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
