package collector

import (
	"encoding/json"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/graph"
)

// TestIngestOddData: values that are not measured, negative, NaN or
// infinite are not observed, and odd structure never panics.
func TestIngestOddData(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		rec  *graph.CallRecord
		want Stats
	}{
		{"nil record", nil, Stats{}},
		{"empty record", &graph.CallRecord{}, Stats{Observations: 1}}, // records_total only
		{"end before start", &graph.CallRecord{StartDateTime: start, EndDateTime: start.Add(-time.Second)}, Stats{Observations: 1}},
		{"only start", &graph.CallRecord{StartDateTime: start}, Stats{Observations: 1}},
		{"zero-length call", &graph.CallRecord{StartDateTime: start, EndDateTime: start}, Stats{Observations: 2}},
		{"segment without client", &graph.CallRecord{Sessions: []graph.Session{{
			Segments: []graph.Segment{{Caller: serverEndpoint(), Callee: serverEndpoint(), Media: []graph.Media{{
				Label: "main-audio", CallerNetwork: &graph.NetworkInfo{DelayEventRatio: num(0.5)},
				Streams: []graph.MediaStream{{StreamDirection: graph.CallerToCallee, AverageJitter: ms(3)}},
			}}}, {}},
		}}}, Stats{Observations: 2, SegmentsWithoutClient: 2}}, // records, sessions
		{"bad values", meetingRecord("odd", "windows", "wired", "main-audio", graph.MediaStream{
			StreamDirection:          "CALLERTOCALLEE", // case-insensitive
			AverageJitter:            graph.Duration{Value: -time.Millisecond, Valid: true},
			AveragePacketLossRate:    graph.Number{Value: nan, Valid: true},
			AverageRoundTripTime:     graph.Duration{Value: time.Second},             // not valid
			AverageAudioDegradation:  graph.Number{Value: inf, Valid: true},          // infinite
			AverageBandwidthEstimate: graph.Number{Value: -8, Valid: true},           // negative
			AverageVideoFrameRate:    graph.Number{Value: math.Inf(-1), Valid: true}, // -Inf
			LowFrameRateRatio:        num(0),                                         // a real zero
		}), Stats{Observations: 8}}, // records, duration, sessions, low frame rate, streams_total, transport, codec and client streams
		{"unknown stream direction", meetingRecord("dir", "windows", "wired", "main-audio",
			graph.MediaStream{StreamDirection: "sideways", AverageJitter: ms(3)},
			graph.MediaStream{AverageJitter: ms(3)}), Stats{Observations: 3}},
		{"nil networks", &graph.CallRecord{Sessions: []graph.Session{{Segments: []graph.Segment{{
			Caller: clientEndpoint("web"), Callee: clientEndpoint("iOS"),
			Media: []graph.Media{{Streams: []graph.MediaStream{{StreamDirection: graph.CalleeToCaller, AverageJitter: ms(3)}}}},
		}}}}}, Stats{Observations: 10}}, // records, sessions, 2x (jitter + streams_total + transport and client streams); media other has no codec
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(Options{NativeHistograms: true})
			if got := c.Ingest(tt.rec); got != tt.want {
				t.Errorf("stats %+v, want %+v", got, tt.want)
			}
			if _, err := testutil.CollectAndLint(c.Snapshot()); err != nil {
				t.Errorf("collect: %v", err)
			}
		})
	}
}

// TestIngestSumOverflow: a value so large that the sum would become
// infinite is dropped, so the state stays JSON-encodable.
func TestIngestSumOverflow(t *testing.T) {
	c := New(Options{})
	st := c.Ingest(lossRecord(math.MaxFloat64, math.MaxFloat64, 1))
	// records, duration, sessions, 3 loss values minus the one dropped, 3 streams_total,
	// 3 transport_streams, 3 client streams, 3 codec streams
	if st.Observations != 17 {
		t.Errorf("observations %d, want 17", st.Observations)
	}
	if _, err := json.Marshal(c.Snapshot()); err != nil {
		t.Errorf("snapshot not encodable: %v", err)
	}
}

// TestFeedback counts session-level feedback once, with the platform of
// that endpoint; a server endpoint's feedback is platform unknown.
func TestFeedback(t *testing.T) {
	rec := meetingRecord("fb", "iOS", "wifi", "main-audio")
	rec.Sessions[0].Caller.Feedback = &graph.Feedback{Rating: "Excellent"}
	rec.Sessions[0].Callee.Feedback = &graph.Feedback{Rating: "bad"}
	// Feedback repeated on the segment must not count again.
	rec.Sessions[0].Segments[0].Caller.Feedback = &graph.Feedback{Rating: "excellent"}
	c := New(Options{})
	c.Ingest(rec)
	const want = `# HELP teams_feedback_total User feedback ratings, one per session endpoint that has feedback, by rating and that endpoint's platform. Counts what has been ingested since the exporter's state began; observed when the call record is ingested, not when the call happened.
# TYPE teams_feedback_total counter
teams_feedback_total{platform="iOS",rating="excellent"} 1
teams_feedback_total{platform="unknown",rating="bad"} 1
`
	if err := testutil.CollectAndCompare(c.Snapshot(), stringsReader(want), "teams_feedback_total"); err != nil {
		t.Error(err)
	}
}

// TestStreamPerspectives: a peer-to-peer stream is seen by both clients, a
// meeting stream once (docs/design.md, the observation model).
func TestStreamPerspectives(t *testing.T) {
	c := New(Options{})
	c.Ingest(loadRecord(t, expandedPath))
	if got := testutil.CollectAndCount(c.Snapshot(), "teams_streams_total"); got != 4 {
		t.Errorf("peer-to-peer: %d stream series, want 4 (2 streams x 2 clients)", got)
	}
	c = New(Options{})
	c.Ingest(meetingRecord("m", "web", "wifi", "main-audio",
		graph.MediaStream{StreamDirection: graph.CallerToCallee}, graph.MediaStream{StreamDirection: graph.CalleeToCaller}))
	if got := testutil.CollectAndCount(c.Snapshot(), "teams_streams_total"); got != 2 {
		t.Errorf("meeting: %d stream series, want 2", got)
	}
}

func TestConcurrentUse(t *testing.T) {
	rec := loadRecord(t, expandedPath)
	c := New(Options{NativeHistograms: true})
	const writers, perWriter = 4, 200
	var wg sync.WaitGroup
	for range writers {
		wg.Go(func() {
			for range perWriter {
				c.Ingest(rec)
			}
		})
	}
	wg.Go(func() {
		for range 20 {
			testutil.CollectAndCount(c.Snapshot())
			_ = c.Snapshot()
		}
	})
	wg.Wait()
	if got := testutil.ToFloat64(collectorFor(c, "teams_call_records_total")); got != writers*perWriter {
		t.Errorf("records counted %v, want %d", got, writers*perWriter)
	}
}

func BenchmarkIngest(b *testing.B) {
	raw, err := os.ReadFile(expandedPath)
	if err != nil {
		b.Fatal(err)
	}
	var rec graph.CallRecord
	if err := json.Unmarshal(raw, &rec); err != nil {
		b.Fatal(err)
	}
	c := New(Options{NativeHistograms: true})
	b.ReportAllocs()
	for b.Loop() {
		c.Ingest(&rec)
	}
}

// FuzzIngest: whatever JSON decodes into a record, ingesting and collecting
// it must not panic and must keep the store snapshot-able.
func FuzzIngest(f *testing.F) {
	for _, p := range []string{expandedPath, "../graph/testdata/callrecord-basic.json"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	// Poor streams of every cause, codecs, a product and versions.
	f.Add([]byte(`{"id":"w","sessions":[{"segments":[{"caller":{"userAgent":{"@odata.type":"#microsoft.graph.callRecords.clientUserAgent","platform":"windows","productFamily":"azureCommunicationServices","applicationVersion":"1.0.0"}},` +
		`"callee":{"userAgent":{"platform":"macOS","productFamily":null,"applicationVersion":"a b"}},"media":[` +
		`{"label":"main-audio","callerNetwork":{"connectionType":"wifi"},"streams":[{"streamDirection":"callerToCallee","audioCodec":"satin","packetUtilization":900,"averageJitter":"PT0.1S","averageRoundTripTime":"PT1S","averagePacketLossRate":0.5}]},` +
		`{"label":"main-video","streams":[{"streamDirection":"calleeToCaller","videoCodec":"vp9","averageVideoFrameRate":3},{"streamDirection":"callerToCallee","videoCodec":"h264","postForwardErrorCorrectionPacketLossRate":0.9}]}]}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var rec graph.CallRecord
		if json.Unmarshal(b, &rec) != nil {
			return
		}
		c := New(Options{NativeHistograms: true})
		c.Ingest(&rec)
		if _, err := testutil.CollectAndLint(c.Snapshot()); err != nil {
			t.Fatal(err)
		}
		snap := c.Snapshot()
		if err := New(Options{}).Restore(snap); err != nil {
			t.Fatalf("own snapshot refused: %v", err)
		}
	})
}
