package collector

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/teams-exporter/teams-exporter/graph"
)

// busyCollector holds the expanded record, video and sharing streams and
// spread values, so that native schemas and exemplars vary.
func busyCollector(t testing.TB) *Collector {
	c := newTestCollector(true)
	c.Ingest(loadRecord(t, expandedPath))
	c.Ingest(meetingRecord("video-1", "macOS", "mobile", "main-video",
		graph.MediaStream{StreamDirection: graph.CalleeToCaller, AverageVideoFrameRate: num(4), AverageFreezeDuration: ms(300), LowFrameRateRatio: num(0)}))
	c.Ingest(meetingRecord("share-1", "web", "tunnel", "applicationsharing-video",
		graph.MediaStream{StreamDirection: graph.CallerToCallee, AverageVideoFrameLossPercentage: num(12.5), PostForwardErrorCorrectionPacketLossRate: num(0.01)}))
	r := rand.New(rand.NewPCG(5, 6))
	vals := make([]float64, 1000)
	for i := range vals {
		vals[i] = math.Pow(10, -8+16*r.Float64())
	}
	c.Ingest(lossRecord(vals...))
	return c
}

// exposition renders c in the protobuf-equivalent text of every field
// (native buckets and exemplars included), for comparing two stores.
func exposition(t testing.TB, c *Collector) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Snapshot())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeProtoText))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

func TestSnapshotRoundTrip(t *testing.T) {
	c := busyCollector(t)
	snap := c.Snapshot()
	if len(snap.Series) < 40 {
		t.Fatalf("only %d series in the snapshot", len(snap.Series))
	}

	b, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	var decoded Snapshot
	if err := json.Unmarshal(b, &decoded); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(exported(snap), exported(&decoded)) {
		t.Fatal("snapshot changed through encoding/json")
	}

	r := newTestCollector(true)
	if err := r.Restore(&decoded); err != nil {
		t.Fatal(err)
	}
	if got := r.Snapshot(); !reflect.DeepEqual(got, snap) {
		t.Error("Restore(Snapshot()) does not round-trip")
	}
	if got, want := exposition(t, r), exposition(t, c); got != want {
		t.Errorf("restored exposition differs:\n%s\nwant\n%s", got, want)
	}

	// Both continue identically, native schemas included.
	more := loadRecord(t, expandedPath)
	c.Ingest(more)
	r.Ingest(more)
	c.Ingest(lossRecord(1e-9, 3e9))
	r.Ingest(lossRecord(1e-9, 3e9))
	if !reflect.DeepEqual(r.Snapshot(), c.Snapshot()) {
		t.Error("restored store diverges on further ingestion")
	}
}

func TestSnapshotIsDeepCopy(t *testing.T) {
	c := busyCollector(t)
	snap := c.Snapshot()
	before, _ := json.Marshal(snap)
	c.Ingest(loadRecord(t, expandedPath))
	c.Ingest(lossRecord(0.3, 0.4))
	after, _ := json.Marshal(snap)
	if !bytes.Equal(before, after) {
		t.Error("a snapshot changed when the store did")
	}
	restored := newTestCollector(false)
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	snap.Series[0].Buckets[0] += 100
	snap.Series[0].Labels["type"] = "groupCall"
	if got := restored.Snapshot(); string(mustJSON(t, got)) != string(before) {
		t.Error("Restore kept references into the snapshot")
	}
}

// exported is what a snapshot holds without what it caches for rendering:
// what the state file keeps.
func exported(s *Snapshot) []SeriesSnapshot {
	out := slices.Clone(s.Series)
	for i := range out {
		out[i].labels = nil
	}
	return out
}

func mustJSON(t testing.TB, v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRestoreEmpty(t *testing.T) {
	c := busyCollector(t)
	if err := c.Restore(&Snapshot{}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Snapshot().Series); n != 0 {
		t.Errorf("%d series after restoring an empty snapshot", n)
	}
}

func TestRestoreRejects(t *testing.T) {
	find := func(s *Snapshot, metric string) *SeriesSnapshot {
		for i := range s.Series {
			if s.Series[i].Metric == metric {
				return &s.Series[i]
			}
		}
		panic("no series " + metric)
	}
	// The packet-loss series of lossRecord's spread values: many native buckets.
	hist := func(s *Snapshot) *SeriesSnapshot {
		for i := range s.Series {
			if ss := &s.Series[i]; ss.Metric == "teams_stream_packet_loss_ratio" && ss.Labels["platform"] == "windows" && ss.Labels["direction"] == "outbound" {
				return ss
			}
		}
		panic("no spread packet-loss series")
	}
	counter := func(s *Snapshot) *SeriesSnapshot { return find(s, "teams_streams_total") }
	tests := []struct {
		name    string
		mutate  func(s *Snapshot)
		errPart string
	}{
		{"unknown metric", func(s *Snapshot) { hist(s).Metric = "teams_stream_nonsense" }, "unknown metric"},
		{"wrong label value", func(s *Snapshot) { hist(s).Labels["platform"] = "linux" }, "not allowed"},
		{"label spelled differently", func(s *Snapshot) { hist(s).Labels["platform"] = "Windows" }, "not allowed"},
		{"missing label", func(s *Snapshot) { delete(hist(s).Labels, "media") }, "labels"},
		{"extra label", func(s *Snapshot) { hist(s).Labels["call_id"] = "x" }, "labels"},
		{"label renamed", func(s *Snapshot) {
			l := hist(s).Labels
			l["medium"] = l["media"]
			delete(l, "media")
		}, "missing"},
		{"bucket count mismatch", func(s *Snapshot) { h := hist(s); h.Buckets = h.Buckets[1:] }, "bucket count mismatch"},
		{"upper bounds count mismatch", func(s *Snapshot) { h := hist(s); h.UpperBounds = h.UpperBounds[1:] }, "bucket count mismatch"},
		{"upper bound changed", func(s *Snapshot) { hist(s).UpperBounds[2] = 0.011 }, "upper bound"},
		{"count disagrees with buckets", func(s *Snapshot) { hist(s).Count++ }, "count"},
		{"bucket counts overflow", func(s *Snapshot) {
			h := hist(s)
			h.Buckets[0] = math.MaxUint64
			h.Buckets[1] = h.Count + 1
		}, "overflow"},
		{"negative sum", func(s *Snapshot) { hist(s).Sum = -1 }, "sum"},
		{"NaN sum", func(s *Snapshot) { hist(s).Sum = math.NaN() }, "sum"},
		{"native missing", func(s *Snapshot) { hist(s).Native = nil }, "native"},
		{"native schema too high", func(s *Snapshot) { hist(s).Native.Schema = 4 }, "schema"},
		{"native schema too low", func(s *Snapshot) { hist(s).Native.Schema = -5 }, "schema"},
		{"native keys and counts differ", func(s *Snapshot) { n := hist(s).Native; n.Counts = n.Counts[1:] }, "keys"},
		{"native keys unsorted", func(s *Snapshot) { n := hist(s).Native; n.Keys[0], n.Keys[1] = n.Keys[1], n.Keys[0] }, "increasing"},
		{"native key out of range", func(s *Snapshot) { hist(s).Native.Keys[0] = -1 << 30 }, "range"},
		{"native empty bucket", func(s *Snapshot) {
			h := hist(s)
			h.Native.ZeroCount += h.Native.Counts[0]
			h.Native.Counts[0] = 0
		}, "empty"},
		{"native count mismatch", func(s *Snapshot) { hist(s).Native.ZeroCount++ }, "native"},
		{"counter with buckets", func(s *Snapshot) { counter(s).Buckets = []uint64{1} }, "counter"},
		{"counter with native", func(s *Snapshot) { counter(s).Native = &NativeSnapshot{} }, "counter"},
		{"duplicate series", func(s *Snapshot) { s.Series = append(s.Series, *counter(s)) }, "duplicate"},
		{"exemplar without id", func(s *Snapshot) { hist(s).Exemplar.CallID = "" }, "exemplar"},
		{"exemplar id too long", func(s *Snapshot) { hist(s).Exemplar.CallID = strings.Repeat("a", 200) }, "exemplar"},
		{"exemplar value infinite", func(s *Snapshot) { hist(s).Exemplar.Value = math.Inf(1) }, "exemplar"},
		{"exemplar timestamp beyond year 9999", func(s *Snapshot) { hist(s).Exemplar.TimestampMs = math.MaxInt64 }, "timestamp"},
		{"exemplar timestamp negative", func(s *Snapshot) { hist(s).Exemplar.TimestampMs = -1 }, "timestamp"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := busyCollector(t)
			before := mustJSON(t, c.Snapshot())
			var bad Snapshot
			if err := json.Unmarshal(before, &bad); err != nil {
				t.Fatal(err)
			}
			tt.mutate(&bad)
			err := c.Restore(&bad)
			if err == nil {
				t.Fatal("Restore accepted a bad snapshot")
			}
			if !strings.Contains(err.Error(), tt.errPart) {
				t.Errorf("error %q does not mention %q", err, tt.errPart)
			}
			if after := mustJSON(t, c.Snapshot()); !bytes.Equal(before, after) {
				t.Error("store changed by a rejected Restore")
			}
		})
	}
}
