package collector

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/teams-exporter/teams-exporter/graph"
)

// whyFamilies are the families of why.go.
var whyFamilies = []string{"teams_poor_stream_causes_total", "teams_codec_streams_total", "teams_client_streams_total"}

// whySeries returns the series of the why families in c as
// "name{label=value,...} count", sorted.
func whySeries(t *testing.T, c *Collector) []string {
	t.Helper()
	var out []string
	for _, ss := range c.Snapshot().Series {
		if !slices.Contains(whyFamilies, ss.Metric) {
			continue
		}
		var pairs []string
		for name, v := range ss.Labels {
			pairs = append(pairs, name+"="+v)
		}
		slices.Sort(pairs)
		out = append(out, fmt.Sprintf("%s{%s} %d", ss.Metric, strings.Join(pairs, ","), ss.Count))
	}
	slices.Sort(out)
	return out
}

// withClient sets the product family and version of the observing client
// (the caller of a meetingRecord) in the session and the segment.
func withClient(rec *graph.CallRecord, product, version graph.ShortString) *graph.CallRecord {
	for _, e := range []*graph.Endpoint{&rec.Sessions[0].Caller, &rec.Sessions[0].Segments[0].Caller} {
		e.UserAgent.ProductFamily, e.UserAgent.ApplicationVersion = product, version
	}
	return rec
}

// TestWhyFromRecords: the causes, codecs, products and versions of
// records, as the why families count them.
func TestWhyFromRecords(t *testing.T) {
	audio := func(s graph.MediaStream) graph.MediaStream {
		s.StreamDirection, s.PacketUtilization = graph.CallerToCallee, num(1000)
		return s
	}
	video := func(s graph.MediaStream) graph.MediaStream { s.StreamDirection = graph.CalleeToCaller; return s }
	tests := []struct {
		name string
		rec  *graph.CallRecord
		want []string
	}{
		{"audio poor by all three: one stream, three causes",
			withClient(meetingRecord("a", "windows", "wifi", "main-audio",
				audio(graph.MediaStream{AudioCodec: "satin", AverageRoundTripTime: ms(501), AveragePacketLossRate: num(0.11), AverageJitter: ms(31)})),
				"teams", "1.6.00.4472"),
			[]string{
				"teams_client_streams_total{client_version=1.6.00.4472,media=audio,platform=windows,product=teams,quality=poor} 1",
				"teams_codec_streams_total{codec=satin,media=audio,quality=poor} 1",
				"teams_poor_stream_causes_total{cause=jitter,connection_type=wifi,media=audio} 1",
				"teams_poor_stream_causes_total{cause=packet_loss,connection_type=wifi,media=audio} 1",
				"teams_poor_stream_causes_total{cause=round_trip,connection_type=wifi,media=audio} 1",
			}},
		{"audio poor by jitter alone, round trip absent, at the loss threshold",
			withClient(meetingRecord("b", "macOS", "wired", "main-audio",
				audio(graph.MediaStream{AudioCodec: "opus", AveragePacketLossRate: num(0.1), AverageJitter: ms(45)})),
				"skypeForBusiness", "16.0.1"),
			[]string{
				"teams_client_streams_total{client_version=16.0.1,media=audio,platform=macOS,product=skypeForBusiness,quality=poor} 1",
				"teams_codec_streams_total{codec=opus,media=audio,quality=poor} 1",
				"teams_poor_stream_causes_total{cause=jitter,connection_type=wired,media=audio} 1",
			}},
		{"good audio has no cause; unknown codec; null product; version with a newline",
			withClient(meetingRecord("c", "web", "mobile", "main-audio",
				audio(graph.MediaStream{AudioCodec: "unknown", AverageJitter: ms(5)}),
				audio(graph.MediaStream{AudioCodec: "invalid", AverageJitter: ms(5)}),
				audio(graph.MediaStream{AverageJitter: ms(5)})),
				"", "1.2.3\n"),
			[]string{
				"teams_client_streams_total{client_version=unknown,media=audio,platform=web,product=unknown,quality=good} 3",
				"teams_codec_streams_total{codec=unknown,media=audio,quality=good} 3",
			}},
		{"member names match as Graph writes them: another case is other",
			withClient(meetingRecord("g", "windows", "wired", "main-audio",
				audio(graph.MediaStream{AudioCodec: "Opus", AverageJitter: ms(5)}),
				audio(graph.MediaStream{AudioCodec: "UNKNOWN", AverageJitter: ms(5)})),
				"Teams", "1.6.00.4472"),
			[]string{
				"teams_client_streams_total{client_version=1.6.00.4472,media=audio,platform=windows,product=other,quality=good} 2",
				"teams_codec_streams_total{codec=other,media=audio,quality=good} 2",
			}},
		{"a codec of another media, unknownFutureValue, a codec not documented; a version of 41 characters",
			withClient(meetingRecord("d", "iOS", "tunnel", "main-audio",
				audio(graph.MediaStream{AudioCodec: "h264", AverageJitter: ms(5)}),
				audio(graph.MediaStream{AudioCodec: "unknownFutureValue", AverageJitter: ms(5)}),
				audio(graph.MediaStream{AudioCodec: "lyra", AverageJitter: ms(5)})),
				"unknownFutureValue", graph.ShortString(strings.Repeat("1", 41))),
			[]string{
				"teams_client_streams_total{client_version=unknown,media=audio,platform=iOS,product=other,quality=good} 3",
				"teams_codec_streams_total{codec=other,media=audio,quality=good} 3",
			}},
		{"video: the first present metric decides the cause",
			withClient(meetingRecord("e", "android", "wifi", "main-video",
				video(graph.MediaStream{VideoCodec: "h264", AverageVideoFrameLossPercentage: num(60), AverageVideoFrameRate: num(1)}),
				video(graph.MediaStream{VideoCodec: "h264", AverageVideoFrameRate: num(3), PostForwardErrorCorrectionPacketLossRate: num(0.5)}),
				video(graph.MediaStream{VideoCodec: "av1", PostForwardErrorCorrectionPacketLossRate: num(0.5)}),
				video(graph.MediaStream{VideoCodec: "h265", AverageVideoFrameRate: num(30), PostForwardErrorCorrectionPacketLossRate: num(0.5)}),
				video(graph.MediaStream{AudioCodec: "opus"})),
				"azureCommunicationServices", graph.ShortString(strings.Repeat("v", 40))),
			[]string{
				"teams_client_streams_total{client_version=" + strings.Repeat("v", 40) + ",media=video,platform=android,product=azureCommunicationServices,quality=good} 1",
				"teams_client_streams_total{client_version=" + strings.Repeat("v", 40) + ",media=video,platform=android,product=azureCommunicationServices,quality=poor} 3",
				"teams_client_streams_total{client_version=" + strings.Repeat("v", 40) + ",media=video,platform=android,product=azureCommunicationServices,quality=unclassified} 1",
				"teams_codec_streams_total{codec=av1,media=video,quality=poor} 1",
				"teams_codec_streams_total{codec=h264,media=video,quality=poor} 2",
				"teams_codec_streams_total{codec=h265,media=video,quality=good} 1",
				"teams_codec_streams_total{codec=unknown,media=video,quality=unclassified} 1",
				"teams_poor_stream_causes_total{cause=frame_loss,connection_type=wifi,media=video} 1",
				"teams_poor_stream_causes_total{cause=frame_rate,connection_type=wifi,media=video} 1",
				"teams_poor_stream_causes_total{cause=post_fec_packet_loss,connection_type=wifi,media=video} 1",
			}},
		{"screen sharing: frame rate poor under 2; lync",
			withClient(meetingRecord("f", "windows", "wired", "applicationsharing-video",
				video(graph.MediaStream{VideoCodec: "rtVideo", AverageVideoFrameRate: num(1.5)}),
				video(graph.MediaStream{VideoCodec: "rtvideo", AverageVideoFrameRate: num(2)})),
				"lync", "5.0"),
			[]string{
				"teams_client_streams_total{client_version=5.0,media=screen_sharing,platform=windows,product=lync,quality=good} 1",
				"teams_client_streams_total{client_version=5.0,media=screen_sharing,platform=windows,product=lync,quality=poor} 1",
				"teams_codec_streams_total{codec=other,media=screen_sharing,quality=good} 1",
				"teams_codec_streams_total{codec=rtVideo,media=screen_sharing,quality=poor} 1",
				"teams_poor_stream_causes_total{cause=frame_rate,connection_type=wired,media=screen_sharing} 1",
			}},
		{"data has no codec and no cause",
			withClient(meetingRecord("g", "windows", "wired", "data",
				graph.MediaStream{StreamDirection: graph.CallerToCallee, AudioCodec: "opus", VideoCodec: "h264"}),
				"teams", "1.0"),
			[]string{
				"teams_client_streams_total{client_version=1.0,media=data,platform=windows,product=teams,quality=unclassified} 1",
			}},
		{"a client without a stream learns no version",
			withClient(meetingRecord("h", "windows", "wired", "main-audio"), "teams", "2.0"),
			nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newTestCollector(false)
			c.Ingest(tt.rec)
			if got := whySeries(t, c); !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			c.mu.Lock()
			learned := len(c.learned[dimClientVersion].values) - 2 // other and unknown
			c.mu.Unlock()
			if tt.want == nil && learned != 0 {
				t.Errorf("%d versions learned from a client without streams", learned)
			}
		})
	}
}

// TestWhyPeerToPeer: each client of a peer-to-peer call counts a stream
// with its own product and version.
func TestWhyPeerToPeer(t *testing.T) {
	rec := loadRecord(t, expandedPath)
	seg := &rec.Sessions[0].Segments[0]
	seg.Caller.UserAgent.ProductFamily, seg.Caller.UserAgent.ApplicationVersion = "teams", "1.7.00.1"
	seg.Callee.UserAgent.ProductFamily, seg.Callee.UserAgent.ApplicationVersion = "lync", "15.0"
	c := newTestCollector(false)
	c.Ingest(rec)
	got := strings.Join(whySeries(t, c), "\n")
	for _, want := range []string{
		"teams_client_streams_total{client_version=1.7.00.1,media=audio,platform=android,product=teams,quality=good} 1",
		"teams_client_streams_total{client_version=15.0,media=audio,platform=windows,product=lync,quality=unclassified} 1",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %s in\n%s", want, got)
		}
	}
}

// versionRecord is one good audio stream seen by a Teams client of
// version v.
func versionRecord(v string) *graph.CallRecord {
	return withClient(meetingRecord("v-"+v, "windows", "wired", "main-audio",
		graph.MediaStream{StreamDirection: graph.CallerToCallee, PacketUtilization: num(1000), AverageJitter: ms(5)}), "teams", graph.ShortString(v))
}

// restarted is c after a restart: its snapshot through the JSON of the
// state, restored into a new collector.
func restarted(t *testing.T, c *Collector) *Collector {
	t.Helper()
	b, err := json.Marshal(c.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var s Snapshot
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	r := newTestCollector(false)
	if err := r.Restore(&s); err != nil {
		t.Fatal(err)
	}
	return r
}

// TestClientVersionBound: the first 50 versions keep their own value, the
// 51st is other, and unknown never takes a place; the same after a
// restart, at every point of the sequence, and a version already learned
// keeps its value after the bound is reached.
func TestClientVersionBound(t *testing.T) {
	version := func(i int) string { return fmt.Sprintf("1.%d.00.%d", i, 3000+i) }
	seriesOf := func(v string) string {
		return "teams_client_streams_total{client_version=" + v + ",media=audio,platform=windows,product=teams,quality=good}"
	}
	for _, restartAfter := range []int{-1, 0, 1, 49, 50} {
		t.Run(fmt.Sprintf("restart after %d", restartAfter), func(t *testing.T) {
			c := newTestCollector(false)
			// Implausible versions first: unknown takes none of the 50.
			c.Ingest(versionRecord(""))
			c.Ingest(versionRecord("1.0\n"))
			for i := 1; i <= 51; i++ {
				if i-1 == restartAfter {
					c = restarted(t, c)
				}
				c.Ingest(versionRecord(version(i)))
			}
			if restartAfter == 50 {
				c = restarted(t, c)
			}
			c.Ingest(versionRecord(version(7)))  // learned: its own value
			c.Ingest(versionRecord(version(52))) // other
			got := strings.Join(whySeries(t, c), "\n")
			for _, want := range []string{
				seriesOf("unknown") + " 2",
				seriesOf(version(1)) + " 1",
				seriesOf(version(7)) + " 2",
				seriesOf(version(50)) + " 1",
				seriesOf("other") + " 2",
			} {
				if !strings.Contains(got, want+"\n") && !strings.HasSuffix(got, want) {
					t.Errorf("missing %s", want)
				}
			}
			for _, absent := range []string{version(51), version(52)} {
				if strings.Contains(got, "client_version="+absent+",") {
					t.Errorf("%s has a series of its own after 50 versions", absent)
				}
			}
			if n := strings.Count(got, "teams_client_streams_total"); n != 52 {
				t.Errorf("%d client series, want 50 versions, unknown and other", n)
			}
		})
	}
}

// TestClientVersionRestoreBounded: a state holding more than 50 versions
// is refused, and a version the label would not accept is too.
func TestClientVersionRestoreBounded(t *testing.T) {
	series := func(v string) string {
		return `{"metric":"teams_client_streams_total","labels":{"platform":"windows","product":"teams","client_version":` +
			fmt.Sprintf("%q", v) + `,"media":"audio","quality":"good"},"count":1}`
	}
	var many []string
	for i := range maxClientVersions + 1 {
		many = append(many, series(fmt.Sprintf("2.%d", i)))
	}
	for name, body := range map[string]string{
		"51 versions":         `{"series":[` + strings.Join(many, ",") + `]}`,
		"a newline":           `{"series":[` + series("1.0\n") + `]}`,
		"41 characters":       `{"series":[` + series(strings.Repeat("1", 41)) + `]}`,
		"an unknown product":  strings.Replace(`{"series":[`+series("1.0")+`]}`, `"teams"`, `"zoom"`, 1),
		"a version too short": `{"series":[` + series("") + `]}`,
	} {
		var s Snapshot
		if err := json.Unmarshal([]byte(body), &s); err != nil {
			t.Fatal(err)
		}
		if err := newTestCollector(false).Restore(&s); err == nil {
			t.Errorf("%s: restored", name)
		}
	}
	// 50 versions, unknown and other restore.
	ok := append(many[:maxClientVersions:maxClientVersions], series("unknown"), series("other"))
	var s Snapshot
	if err := json.Unmarshal([]byte(`{"series":[`+strings.Join(ok, ",")+`]}`), &s); err != nil {
		t.Fatal(err)
	}
	if err := newTestCollector(false).Restore(&s); err != nil {
		t.Errorf("50 versions, unknown and other: %v", err)
	}
}
