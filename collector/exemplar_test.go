package collector

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/teams-exporter/teams-exporter/graph"
)

func scrape(t *testing.T, c *Collector, accept string) string {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Snapshot())
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, ErrorHandling: promhttp.HTTPErrorOnError}))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: status %d, %v: %s", resp.StatusCode, err, body)
	}
	return string(body)
}

const openMetrics = "application/openmetrics-text; version=1.0.0"

func TestExemplarsInOpenMetrics(t *testing.T) {
	rec := loadRecord(t, expandedPath)
	const id = "e523d2ed-2966-4b6b-925b-754a88034cc5"
	for _, native := range []bool{false, true} {
		c := newTestCollector(native)
		c.Ingest(rec)
		checkExemplars(t, c, id)
	}
}

func checkExemplars(t *testing.T, c *Collector, id string) {
	t.Helper()
	body := scrape(t, c, openMetrics)

	// The exemplar timestamp is the time of ingestion (fixedNow).
	const ts = "TS"
	for _, want := range []string{
		// Counter exemplar.
		`teams_streams_total{connection_type="wifi",direction="inbound",media="audio",platform="android",quality="good"} 1.0 # {call_id="` + id + `"} 1.0 ` + ts,
		// Exemplar on the classic bucket the value fell into (0.007 <= 0.01).
		`teams_stream_jitter_seconds_bucket{connection_type="wifi",direction="inbound",media="audio",platform="android",le="0.01"} 1 # {call_id="` + id + `"} 0.007 ` + ts,
		`teams_call_duration_seconds_bucket{type="peerToPeer",le="30.0"} 1 # {call_id="` + id + `"} 25.5470124 ` + ts,
		`teams_feedback_total{platform="windows",rating="poor"} 1.0 # {call_id="` + id + `"} 1.0 ` + ts,
	} {
		m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(strings.TrimSuffix(want, ts)) + `(\S+)$`).FindStringSubmatch(body)
		if m == nil {
			t.Errorf("OpenMetrics output lacks\n%s\n", want)
			continue
		}
		if got, err := strconv.ParseFloat(m[1], 64); err != nil || math.Abs(got-float64(fixedNow.UnixMilli())/1e3) > 1e-3 {
			t.Errorf("exemplar timestamp %s, want %v", m[1], fixedNow)
		}
	}
	// The id appears only inside exemplars, never as a label.
	for _, line := range strings.Split(body, "\n") {
		if i := strings.Index(line, id); i >= 0 && !strings.Contains(line[:i], ` # {call_id="`) {
			t.Errorf("record id outside an exemplar: %s", line)
		}
	}
	// The classic text format carries no exemplars, so no id at all.
	if text := scrape(t, c, "text/plain"); strings.Contains(text, id) {
		t.Error("record id in the text exposition")
	}
}

// TestExemplarLastWins: each series keeps the exemplar of its last
// observation, also when that lands in the +Inf bucket.
func TestExemplarLastWins(t *testing.T) {
	c := newTestCollector(false)
	first := meetingRecord("first-call", "web", "wifi", "main-audio",
		graph.MediaStream{StreamDirection: graph.CallerToCallee, AverageJitter: ms(4)})
	second := meetingRecord("second-call", "web", "wifi", "main-audio",
		graph.MediaStream{StreamDirection: graph.CallerToCallee, AverageJitter: ms(900)})
	c.Ingest(first)
	c.Ingest(second)
	body := scrape(t, c, openMetrics)
	want := regexp.MustCompile(`(?m)^teams_stream_jitter_seconds_bucket\{connection_type="wifi",direction="outbound",media="audio",platform="web",le="\+Inf"\} 2 # \{call_id="second-call"\} 0\.9 \S+$`)
	if !want.MatchString(body) {
		t.Errorf("no +Inf exemplar of the second call in\n%s", grep(body, "teams_stream_jitter_seconds_bucket"))
	}
	if strings.Contains(body, "first-call") {
		t.Error("exemplar of the first call still shown after the second")
	}
}

// TestExemplarOddIDs: an id OpenMetrics cannot carry gives no exemplar but
// the observation still counts, and the scrape does not fail.
func TestExemplarOddIDs(t *testing.T) {
	c := newTestCollector(false)
	for _, id := range []string{"", strings.Repeat("a", 200), "bad\xffutf8"} {
		c.Ingest(meetingRecord(id, "web", "wifi", "main-audio", graph.MediaStream{StreamDirection: graph.CallerToCallee, AverageJitter: ms(4)}))
	}
	body := scrape(t, c, openMetrics)
	if strings.Contains(body, "call_id") {
		t.Errorf("exemplar for an unusable id:\n%s", grep(body, "call_id"))
	}
	if !strings.Contains(body, `teams_call_records_total{type="groupCall"} 3.0`) {
		t.Errorf("records not counted:\n%s", grep(body, "teams_call_records_total"))
	}
}

func grep(body, substr string) string {
	var out []string
	for _, line := range strings.Split(body, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
