package simtruth

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// Truth maps series, in Prometheus text form with labels sorted by name
// (see SeriesKey), to the value the exporter must expose after ingesting a
// set of records exactly once. Histograms appear as their _bucket (cumulative,
// with le="+Inf"), _sum and _count series. Only series with at least one
// observation (or a non-zero counter) are present.
type Truth map[string]float64

// HistogramFamilies lists the stream and network histogram families the
// truth computes.
func HistogramFamilies() []string {
	var names []string
	for _, f := range streamFields {
		names = append(names, f.name)
	}
	for _, f := range networkFields {
		names = append(names, f.name)
	}
	return names
}

// Generate is graphsim.Generate with the truth of its records.
func Generate(opts graphsim.GenOptions) ([]graphsim.Record, Truth) {
	recs := graphsim.Generate(opts)
	return recs, Of(recs...)
}

// Merge adds o's values to t, as ingesting o's records after t's would.
func (t Truth) Merge(o Truth) {
	for k, v := range o {
		t[k] += v
	}
}

// SeriesKey renders a series as `name{a="x",b="y"}`, labels sorted by name
// and values escaped as in the text exposition.
func SeriesKey(name string, labels map[string]string) string {
	return renderKey(name, sortedPairs(labels))
}

type labelPair struct{ name, value string }

func sortedPairs(labels map[string]string) []labelPair {
	pairs := make([]labelPair, 0, len(labels)+1)
	for k, v := range labels {
		pairs = append(pairs, labelPair{k, v})
	}
	sort.Slice(pairs, func(i, j int) bool { return pairs[i].name < pairs[j].name })
	return pairs
}

// withPair returns pairs with one more label, kept sorted.
func withPair(pairs []labelPair, p labelPair) []labelPair {
	out := make([]labelPair, 0, len(pairs)+1)
	i := sort.Search(len(pairs), func(i int) bool { return pairs[i].name >= p.name })
	out = append(out, pairs[:i]...)
	out = append(out, p)
	return append(out, pairs[i:]...)
}

func renderKey(name string, pairs []labelPair) string {
	if len(pairs) == 0 {
		return name
	}
	var b strings.Builder
	b.WriteString(name)
	b.WriteByte('{')
	for i, p := range pairs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.name)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(p.value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`)

func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\n\"") {
		return v
	}
	return labelEscaper.Replace(v)
}

// formatBound writes a bucket bound the way le labels are keyed here, for
// the truth and the parsed scrape alike.
func formatBound(b float64) string {
	if math.IsInf(b, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(b, 'g', -1, 64)
}

// The call-quality families (docs/metrics.md), with their classic buckets.
var (
	jitterBuckets      = []float64{.005, .01, .02, .03, .05, .075, .1, .2, .5}
	lossBuckets        = []float64{.001, .005, .01, .02, .05, .1, .2, .5}
	eventRatioBuckets  = []float64{.01, .05, .1, .2, .3, .5, 1}
	callDurationBucket = []float64{30, 60, 300, 600, 1800, 3600, 7200, 14400}
)

// streamField is one mediaStream field mapped to a stream histogram, with
// the unit conversion of docs/design.md.
type streamField struct {
	name    string
	buckets []float64
	value   func(graphsim.MediaStream) (float64, bool)
}

var streamFields = []streamField{
	{"teams_stream_jitter_seconds", jitterBuckets, durField(func(s graphsim.MediaStream) *graphsim.Duration { return s.AverageJitter })},
	{"teams_stream_packet_loss_ratio", lossBuckets, numField(func(s graphsim.MediaStream) *float64 { return s.AveragePacketLossRate }, 1)},
	{"teams_stream_round_trip_time_seconds", []float64{.025, .05, .1, .2, .3, .5, 1, 2}, durField(func(s graphsim.MediaStream) *graphsim.Duration { return s.AverageRoundTripTime })},
	{"teams_stream_audio_degradation", []float64{.25, .5, 1, 1.5, 2, 3}, numField(func(s graphsim.MediaStream) *float64 { return s.AverageAudioDegradation }, 1)},
	{"teams_stream_concealed_samples_ratio", []float64{.01, .03, .05, .07, .1, .2, .5}, numField(func(s graphsim.MediaStream) *float64 { return s.AverageRatioOfConcealedSamples }, 1)},
	{"teams_stream_audio_network_jitter_seconds", jitterBuckets, durField(func(s graphsim.MediaStream) *graphsim.Duration { return s.AverageAudioNetworkJitter })},
	{"teams_stream_bandwidth_estimate_bytes_per_second", []float64{8e3, 32e3, 125e3, 500e3, 1.25e6, 5e6, 12.5e6}, intField(func(s graphsim.MediaStream) *int64 { return s.AverageBandwidthEstimate }, 8)},
	{"teams_stream_video_frame_rate_fps", []float64{5, 10, 15, 20, 25, 30, 60}, numField(func(s graphsim.MediaStream) *float64 { return s.AverageVideoFrameRate }, 1)},
	{"teams_stream_video_frame_loss_ratio", []float64{.001, .01, .02, .05, .1, .2, .5}, numField(func(s graphsim.MediaStream) *float64 { return s.AverageVideoFrameLossPercentage }, 100)},
	{"teams_stream_video_packet_loss_ratio", lossBuckets, numField(func(s graphsim.MediaStream) *float64 { return s.AverageVideoPacketLossRate }, 1)},
	{"teams_stream_video_freeze_duration_seconds", []float64{.1, .25, .5, 1, 2, 5, 10}, durField(func(s graphsim.MediaStream) *graphsim.Duration { return s.AverageFreezeDuration })},
	{"teams_stream_video_post_fec_packet_loss_ratio", []float64{.001, .005, .01, .02, .05, .1, .15, .2, .5}, numField(func(s graphsim.MediaStream) *float64 { return s.PostForwardErrorCorrectionPacketLossRate }, 1)},
	{"teams_stream_video_low_frame_rate_ratio", []float64{.01, .05, .1, .2, .3, .5, 1}, numField(func(s graphsim.MediaStream) *float64 { return s.LowFrameRateRatio }, 1)},
}

// numField reads a nullable number, divided by div (percent -> ratio).
func numField(f func(graphsim.MediaStream) *float64, div float64) func(graphsim.MediaStream) (float64, bool) {
	return func(s graphsim.MediaStream) (float64, bool) {
		p := f(s)
		if p == nil {
			return 0, false
		}
		if div == 1 {
			return *p, true
		}
		return *p / div, true
	}
}

// intField reads a nullable integer, divided by div (bits -> bytes).
func intField(f func(graphsim.MediaStream) *int64, div float64) func(graphsim.MediaStream) (float64, bool) {
	return func(s graphsim.MediaStream) (float64, bool) {
		p := f(s)
		if p == nil {
			return 0, false
		}
		return float64(*p) / div, true
	}
}

// durField reads a nullable duration in seconds.
func durField(f func(graphsim.MediaStream) *graphsim.Duration) func(graphsim.MediaStream) (float64, bool) {
	return func(s graphsim.MediaStream) (float64, bool) {
		p := f(s)
		if p == nil {
			return 0, false
		}
		return p.Seconds(), true
	}
}

// networkField is one networkInfo field mapped to a network histogram.
type networkField struct {
	name      string
	direction string // "" when the family has no direction label
	buckets   []float64
	value     func(graphsim.NetworkInfo) (float64, bool)
}

func ratio(f func(graphsim.NetworkInfo) *float64) func(graphsim.NetworkInfo) (float64, bool) {
	return func(n graphsim.NetworkInfo) (float64, bool) {
		if p := f(n); p != nil {
			return *p, true
		}
		return 0, false
	}
}

var networkFields = []networkField{
	{"teams_network_quality_event_ratio", "outbound", eventRatioBuckets, ratio(func(n graphsim.NetworkInfo) *float64 { return n.SentQualityEventRatio })},
	{"teams_network_quality_event_ratio", "inbound", eventRatioBuckets, ratio(func(n graphsim.NetworkInfo) *float64 { return n.ReceivedQualityEventRatio })},
	{"teams_network_delay_event_ratio", "", eventRatioBuckets, ratio(func(n graphsim.NetworkInfo) *float64 { return n.DelayEventRatio })},
	{"teams_network_bandwidth_low_event_ratio", "", eventRatioBuckets, ratio(func(n graphsim.NetworkInfo) *float64 { return n.BandwidthLowEventRatio })},
	{"teams_network_link_speed_bytes_per_second", "", []float64{125e3, 1.25e6, 12.5e6, 125e6, 1.25e9}, func(n graphsim.NetworkInfo) (float64, bool) {
		if n.LinkSpeed == nil {
			return 0, false
		}
		return float64(*n.LinkSpeed) / 8, true
	}},
}

// Quality classes of teams_streams_total.
const (
	QualityGood         = "good"
	QualityPoor         = "poor"
	QualityUnclassified = "unclassified"
)

// builder accumulates observations per series and renders the Truth's keys
// once at the end: rendering a key per bucket per observation is what makes
// thousands of records slow.
type builder struct {
	hists    map[string]*hist
	counters map[string]float64
	versions deeperVersions
}

type hist struct {
	name   string
	pairs  []labelPair
	bounds []float64
	cum    []float64
	sum    float64
	count  float64
}

func newBuilder() *builder {
	return &builder{hists: map[string]*hist{}, counters: map[string]float64{}}
}

// labels is a label set prepared once and shared by many observations.
type labels struct {
	pairs []labelPair
	key   string // rendered {...}
}

func newLabels(m map[string]string) labels {
	p := sortedPairs(m)
	return labels{pairs: p, key: renderKey("", p)}
}

func (b *builder) observe(name string, l labels, bounds []float64, v float64) {
	k := name + l.key
	h := b.hists[k]
	if h == nil {
		h = &hist{name: name, pairs: l.pairs, bounds: bounds, cum: make([]float64, len(bounds))}
		b.hists[k] = h
	}
	for i, bd := range bounds {
		if v <= bd {
			h.cum[i]++
		}
	}
	h.sum += v
	h.count++
}

func (b *builder) inc(name string, l labels, n float64) {
	if n != 0 {
		b.counters[name+l.key] += n
	}
}

func (b *builder) truth() Truth {
	t := Truth{}
	for k, v := range b.counters {
		t[k] = v
	}
	for _, h := range b.hists {
		bucket := h.name + "_bucket"
		for i, bd := range h.bounds {
			t[renderKey(bucket, withPair(h.pairs, labelPair{"le", formatBound(bd)}))] = h.cum[i]
		}
		t[renderKey(bucket, withPair(h.pairs, labelPair{"le", "+Inf"}))] = h.count
		t[renderKey(h.name+"_sum", h.pairs)] = h.sum
		t[renderKey(h.name+"_count", h.pairs)] = h.count
	}
	return t
}

func bucketKey(name string, labels map[string]string, bound float64) string {
	return renderKey(name+"_bucket", withPair(sortedPairs(labels), labelPair{"le", formatBound(bound)}))
}

// Of computes, from the observation model of docs/design.md, the series the
// exporter must expose after ingesting recs once. Besides the call-quality
// families it holds teams_exporter_skipped_total{reason="no_client_endpoint"}
// (one per segment without a client endpoint), which the data determine too.
// Feedback is counted on session endpoints, where Graph reports it.
//
// It includes the families that say why (session failures, transport,
// Wi-Fi, devices, feedback tokens) but not the site families, which need a
// building file: see With.
func Of(recs ...graphsim.Record) Truth {
	return With(nil, recs...)
}

func (b *builder) addRecord(r *graphsim.Record) {
	tl := newLabels(map[string]string{"type": normCallType(r.Type)})
	b.inc("teams_call_records_total", tl, 1)
	b.observe("teams_call_duration_seconds", tl, callDurationBucket, r.EndDateTime.Sub(r.StartDateTime).Seconds())
	b.inc("teams_sessions_total", tl, float64(len(r.Sessions)))
	for si := range r.Sessions {
		s := &r.Sessions[si]
		for _, e := range []graphsim.Endpoint{s.Caller, s.Callee} {
			if e.Feedback != nil {
				b.inc("teams_feedback_total", newLabels(map[string]string{"rating": normRating(e.Feedback.Rating), "platform": endpointPlatform(e)}), 1)
			}
		}
		for gi := range s.Segments {
			b.addSegment(&s.Segments[gi])
		}
	}
}

// side is one client endpoint of a segment with what its point of view needs.
type side struct {
	platform string
	caller   bool
	network  func(graphsim.Media) *graphsim.NetworkInfo
}

var skippedNoClient = newLabels(map[string]string{"reason": "no_client_endpoint"})

func (b *builder) addSegment(g *graphsim.Segment) {
	var sides []side
	if isClient(g.Caller) {
		sides = append(sides, side{endpointPlatform(g.Caller), true, func(m graphsim.Media) *graphsim.NetworkInfo { return m.CallerNetwork }})
	}
	if isClient(g.Callee) {
		sides = append(sides, side{endpointPlatform(g.Callee), false, func(m graphsim.Media) *graphsim.NetworkInfo { return m.CalleeNetwork }})
	}
	if len(sides) == 0 {
		b.inc("teams_exporter_skipped_total", skippedNoClient, 1)
		return
	}
	for _, m := range g.Media {
		kind := graphsim.MediaKind(m.Label)
		for _, sd := range sides {
			net := sd.network(m)
			conn := connectionTypeOf(net)
			for _, st := range m.Streams {
				dir, ok := direction(st.StreamDirection, sd.caller)
				if !ok {
					continue
				}
				lm := map[string]string{"media": kind, "direction": dir, "platform": sd.platform, "connection_type": conn}
				l := newLabels(lm)
				for _, f := range streamFields {
					if v, ok := f.value(st); ok {
						b.observe(f.name, l, f.buckets, v)
					}
				}
				lm["quality"] = Classify(kind, st)
				b.inc("teams_streams_total", newLabels(lm), 1)
			}
			if net == nil {
				continue
			}
			base := map[string]string{"media": kind, "platform": sd.platform, "connection_type": conn}
			undirected := newLabels(base)
			for _, f := range networkFields {
				v, ok := f.value(*net)
				if !ok {
					continue
				}
				l := undirected
				if f.direction != "" {
					base["direction"] = f.direction
					l = newLabels(base)
					delete(base, "direction")
				}
				b.observe(f.name, l, f.buckets, v)
			}
		}
	}
}

// direction is the stream's direction from one client's point of view.
func direction(streamDirection string, clientIsCaller bool) (string, bool) {
	switch streamDirection {
	case graphsim.CallerToCallee:
		if clientIsCaller {
			return "outbound", true
		}
		return "inbound", true
	case graphsim.CalleeToCaller:
		if clientIsCaller {
			return "inbound", true
		}
		return "outbound", true
	}
	return "", false
}

// isClient: a client user agent on an endpoint that is not a service
// endpoint; without @odata.type, a platform or product family and no role.
func isClient(e graphsim.Endpoint) bool {
	if e.ODataType == graphsim.TypeServiceEndpoint || e.UserAgent == nil {
		return false
	}
	switch e.UserAgent.ODataType {
	case graphsim.TypeClientUserAgent:
		return true
	case "":
		return e.UserAgent.Role == "" && (e.UserAgent.Platform != "" || e.UserAgent.ProductFamily != "")
	}
	return false
}

func endpointPlatform(e graphsim.Endpoint) string {
	if !isClient(e) {
		return "unknown"
	}
	return oneOf(e.UserAgent.Platform, "windows", "macOS", "iOS", "android", "web", "ipPhone", "roomSystem", "surfaceHub", "holoLens")
}

func connectionTypeOf(n *graphsim.NetworkInfo) string {
	if n == nil {
		return "unknown"
	}
	return oneOf(n.ConnectionType, "wired", "wifi", "mobile", "tunnel")
}

func normCallType(s string) string { return oneOf(s, "groupCall", "peerToPeer") }

func normRating(s string) string {
	return oneOf(s, "notRated", "bad", "poor", "fair", "good", "excellent")
}

// oneOf returns v when it is one of the bounded values, else "unknown".
func oneOf(v string, allowed ...string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return "unknown"
}

// Classify applies the Call Quality Dashboard's classification (docs/design.md)
// to one stream of the given media kind.
func Classify(kind string, s graphsim.MediaStream) string {
	switch kind {
	case "audio":
		return classifyAudio(s)
	case "video":
		return classifyVideo(s, 7)
	case "screen_sharing":
		return classifyVideo(s, 2)
	}
	return QualityUnclassified
}

func classifyAudio(s graphsim.MediaStream) string {
	if s.PacketUtilization == nil || *s.PacketUtilization <= 500 {
		return QualityUnclassified
	}
	rtt, loss, jitter := s.AverageRoundTripTime, s.AveragePacketLossRate, s.AverageJitter
	if rtt == nil && loss == nil && jitter == nil {
		return QualityUnclassified
	}
	if rtt != nil && time.Duration(*rtt) > 500*time.Millisecond ||
		loss != nil && *loss > 0.1 ||
		jitter != nil && time.Duration(*jitter) > 30*time.Millisecond {
		return QualityPoor
	}
	return QualityGood
}

func classifyVideo(s graphsim.MediaStream, minFPS float64) string {
	poorIf := func(poor bool) string {
		if poor {
			return QualityPoor
		}
		return QualityGood
	}
	switch {
	case s.AverageVideoFrameLossPercentage != nil:
		return poorIf(*s.AverageVideoFrameLossPercentage > 50)
	case s.AverageVideoFrameRate != nil:
		return poorIf(*s.AverageVideoFrameRate < minFPS)
	case s.PostForwardErrorCorrectionPacketLossRate != nil:
		return poorIf(*s.PostForwardErrorCorrectionPacketLossRate > 0.15)
	}
	return QualityUnclassified
}

// callQualityPrefixes name the families whose every series must be in the
// truth; the exporter's own metrics (requests, polls, ...) are not compared
// unless the truth names them.
var callQualityPrefixes = []string{
	"teams_stream_", "teams_streams_total", "teams_network_", "teams_call_", "teams_sessions_total", "teams_feedback_total",
	"teams_direct_routing_", "teams_pstn_",
}

// CallQuality returns the truth's call-quality series only, without the
// exporter's own (which count what one process did and restart with it).
func (t Truth) CallQuality() Truth {
	out := Truth{}
	for k, v := range t {
		if isCallQuality(k) {
			out[k] = v
		}
	}
	return out
}

func isCallQuality(key string) bool {
	for _, p := range whyPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	for _, p := range deeperPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	for _, p := range callQualityPrefixes {
		if strings.HasPrefix(key, p) {
			return true
		}
	}
	return false
}

// ParseExposition reads a scrape in the Prometheus text format (the
// default of /metrics) into the same keys as a Truth: counters, gauges and
// untyped samples by name, histograms as _bucket (le="+Inf" included), _sum
// and _count.
func ParseExposition(r io.Reader) (Truth, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse exposition: %w", err)
	}
	out := Truth{}
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			switch mf.GetType() {
			case dto.MetricType_COUNTER:
				out[SeriesKey(mf.GetName(), labels)] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[SeriesKey(mf.GetName(), labels)] = m.GetGauge().GetValue()
			case dto.MetricType_UNTYPED:
				out[SeriesKey(mf.GetName(), labels)] = m.GetUntyped().GetValue()
			case dto.MetricType_HISTOGRAM:
				flattenHistogram(out, mf.GetName(), labels, m.GetHistogram())
			}
		}
	}
	return out, nil
}

func flattenHistogram(out Truth, name string, labels map[string]string, h *dto.Histogram) {
	count := float64(h.GetSampleCount())
	if h.SampleCountFloat != nil {
		count = h.GetSampleCountFloat()
	}
	sawInf := false
	for _, b := range h.GetBucket() {
		c := float64(b.GetCumulativeCount())
		if b.CumulativeCountFloat != nil {
			c = b.GetCumulativeCountFloat()
		}
		if math.IsInf(b.GetUpperBound(), 1) {
			sawInf = true
		}
		out[bucketKey(name, labels, b.GetUpperBound())] = c
	}
	if !sawInf {
		out[bucketKey(name, labels, math.Inf(1))] = count
	}
	out[SeriesKey(name+"_sum", labels)] = h.GetSampleSum()
	out[SeriesKey(name+"_count", labels)] = count
}

// Diff lists the differences between the truth (want) and a parsed scrape
// (got): series of the truth missing or with another value (sums with a
// relative tolerance of 1e-9, everything else exactly), and call-quality
// series present in the scrape with a non-zero value but absent from the
// truth. Nil means they agree.
func (t Truth) Diff(got Truth) []string {
	var diffs []string
	for _, k := range sortedKeys(t) {
		want := t[k]
		g, ok := got[k]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("missing %s (want %v)", k, want))
		case !valueMatches(k, g, want):
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", k, g, want))
		}
	}
	for _, k := range sortedKeys(got) {
		if _, ok := t[k]; !ok && isCallQuality(k) && got[k] != 0 {
			diffs = append(diffs, fmt.Sprintf("unexpected %s = %v", k, got[k]))
		}
	}
	return diffs
}

// Compare parses a text exposition and diffs it with the truth.
func (t Truth) Compare(exposition io.Reader) ([]string, error) {
	got, err := ParseExposition(exposition)
	if err != nil {
		return nil, err
	}
	return t.Diff(got), nil
}

// Report compares exposition with the truth as Compare does, reports
// each difference (the first 30, in order) as an error of tb, and returns
// how many there were.
func (t Truth) Report(tb testing.TB, exposition []byte) int {
	tb.Helper()
	diffs, err := t.Compare(bytes.NewReader(exposition))
	if err != nil {
		tb.Fatal(err)
	}
	sort.Strings(diffs)
	for i, d := range diffs {
		if i == 30 {
			tb.Errorf("... and %d more differences from the truth", len(diffs)-30)
			break
		}
		tb.Error(d)
	}
	return len(diffs)
}

func valueMatches(key string, got, want float64) bool {
	name, _, _ := strings.Cut(key, "{")
	if strings.HasSuffix(name, "_sum") {
		return math.Abs(got-want) <= 1e-9*math.Max(math.Abs(got), math.Abs(want))
	}
	return got == want
}

func sortedKeys(t Truth) []string {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
