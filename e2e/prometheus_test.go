package e2e

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

const (
	rulesFile = "teams-exporter.rules.yml"
	// scrapeJob is the job name the rules expect (see TeamsExporterDown).
	scrapeJob = "teams-exporter"
	// rangeWindow replaces $__rate_interval and $__range: longer than the
	// test runs, so every rate sees all the samples Prometheus has.
	rangeWindow = "5m"
)

// promServer is a running Prometheus scraping the exporter.
type promServer struct {
	t    *testing.T
	base string
}

// promConfig is what a test's Prometheus runs.
type promConfig struct {
	// bin is the Prometheus binary (see prometheus3 and prometheusLegacy).
	bin string
	// targets are the scrape targets of job scrapeJob.
	targets []string
	// rules is the rule file; the project's if empty.
	rules string
	// alertmanager is the host:port of an Alertmanager to send alerts to;
	// none if empty.
	alertmanager string
	// scrapeInterval is also the scrape timeout; 2s if zero.
	scrapeInterval time.Duration
}

// prometheus3 is the prometheus on PATH, which must be 3.x: what users run
// today, and the one .ci/run puts first on PATH (.ci/tools builds it).
// Missing or older, it fails the test under CI=true and skips it otherwise.
func prometheus3(t *testing.T) string {
	t.Helper()
	bin := needTool(t, "prometheus")
	if major := prometheusMajor(t, bin); major < 3 {
		missingTool(t, fmt.Sprintf("%s is Prometheus %d.x; the end-to-end tests need 3.x first on PATH (.ci/tools builds it)", bin, major))
	}
	return bin
}

// prometheusLegacy is the older Prometheus the tests also run against,
// E2E_PROMETHEUS_LEGACY (.ci/run sets it to Debian's 2.42), so that the
// rules and dashboards keep working for users who have not moved to 3.x.
// Unset, the test fails under CI=true and is skipped otherwise.
func prometheusLegacy(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("E2E_PROMETHEUS_LEGACY")
	if bin == "" {
		missingTool(t, "E2E_PROMETHEUS_LEGACY is not set (.ci/run sets it to Debian's Prometheus 2.42)")
	}
	if major := prometheusMajor(t, bin); major >= 3 {
		t.Fatalf("E2E_PROMETHEUS_LEGACY=%s is Prometheus %d.x; it is the 2.x target beside 3.x", bin, major)
	}
	return bin
}

var prometheusVersionRE = regexp.MustCompile(`(?m)^prometheus, version (\d+)\.`)

// prometheusMajor is the major version bin reports. The module's v0.3xx.y
// builds report 0.3xx.y: their release is 3.xx.y.
func prometheusMajor(t *testing.T, bin string) int {
	t.Helper()
	out, err := exec.Command(bin, "--version").CombinedOutput()
	m := prometheusVersionRE.FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("%s --version: %v\n%s", bin, err, out)
	}
	major, _ := strconv.Atoi(string(m[1]))
	if major == 0 && bytes.Contains(out, []byte("version 0.3")) {
		major = 3
	}
	return major
}

// startPrometheus runs Prometheus with rules evaluated every second and
// its targets scraped every two seconds unless cfg says otherwise (the
// demo's exposition is a few megabytes, and a race-enabled exporter on a
// busy machine needs more than a second for it). Prometheus 3 scrapes native histograms too (the
// exporters the tests run have them on), and keeps the classic buckets the
// dashboards read.
func startPrometheus(t *testing.T, cfg promConfig) *promServer {
	t.Helper()
	dir := t.TempDir()
	rules := cfg.rules
	if rules == "" {
		var err error
		if rules, err = filepath.Abs(filepath.Join(repoRoot, "dashboards", "rules", rulesFile)); err != nil {
			t.Fatal(err)
		}
	}
	var native, alerting string
	if prometheusMajor(t, cfg.bin) >= 3 {
		native = "  scrape_native_histograms: true\n  always_scrape_classic_histograms: true\n"
	}
	if cfg.alertmanager != "" {
		alerting = fmt.Sprintf("alerting:\n  alertmanagers:\n    - static_configs:\n        - targets: [%q]\n", cfg.alertmanager)
	}
	targets, _ := json.Marshal(cfg.targets)
	interval := cmp.Or(cfg.scrapeInterval, 2*time.Second)
	config := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
  evaluation_interval: 1s
%s%srule_files:
  - %q
scrape_configs:
  - job_name: %s
    static_configs:
      - targets: %s
`, model.Duration(interval), native, alerting, rules, scrapeJob, targets)
	configFile := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(configFile, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testrun.FreeAddr(t)
	startProcess(t, "prometheus", cleanEnv(), cfg.bin,
		"--config.file="+configFile,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
	)
	p := &promServer{t: t, base: "http://" + addr}
	waitFor(t, 60*time.Second, "Prometheus to be ready", func() error {
		_, err := httpGet(t.Context(), p.base+"/-/ready")
		return err
	})
	return p
}

type apiResponse struct {
	Status    string          `json:"status"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Data      json.RawMessage `json:"data"`
}

type sample struct {
	Metric map[string]string `json:"metric"`
	Value  [2]any            `json:"value"` // [unix time, "value"]
}

func (s sample) value() float64 {
	str, _ := s.Value[1].(string)
	var f float64
	fmt.Sscan(str, &f)
	if str == "NaN" {
		return math.NaN()
	}
	return f
}

func (p *promServer) api(path string, params url.Values) (json.RawMessage, error) {
	body, err := httpGet(p.t.Context(), p.base+path+"?"+params.Encode())
	var r apiResponse
	if jerr := json.Unmarshal(body, &r); jerr == nil && r.Status == "error" {
		return nil, fmt.Errorf("%s: %s", r.ErrorType, r.Error)
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("decode %s: %w", path, err)
	}
	return r.Data, nil
}

// query evaluates expr now and returns its instant vector.
func (p *promServer) query(expr string) ([]sample, error) {
	data, err := p.api("/api/v1/query", url.Values{"query": {expr}})
	if err != nil {
		return nil, err
	}
	var v struct {
		ResultType string   `json:"resultType"`
		Result     []sample `json:"result"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("decode result: %w", err)
	}
	if v.ResultType != "vector" {
		return nil, fmt.Errorf("result type %s, want vector", v.ResultType)
	}
	return v.Result, nil
}

// value evaluates expr, which must give one sample, and returns it.
func (p *promServer) value(expr string) (float64, error) {
	s, err := p.query(expr)
	if err != nil {
		return 0, err
	}
	if len(s) != 1 {
		return 0, fmt.Errorf("%s: %d samples, want 1", expr, len(s))
	}
	return s[0].value(), nil
}

type rule struct {
	Name      string `json:"name"`
	Query     string `json:"query"`
	Type      string `json:"type"` // recording or alerting
	Health    string `json:"health"`
	LastError string `json:"lastError"`
}

// rules is every rule Prometheus loaded, as it parsed them.
func (p *promServer) rules() ([]rule, error) {
	data, err := p.api("/api/v1/rules", nil)
	if err != nil {
		return nil, err
	}
	var v struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("decode rules: %w", err)
	}
	var out []rule
	for _, g := range v.Groups {
		out = append(out, g.Rules...)
	}
	return out, nil
}

// comparisonRE is a comparison with a number literal: by the rules file's
// convention, an alert expression is its signal compared with thresholds.
var comparisonRE = regexp.MustCompile(`\s*(?:==|!=|>=|<=|>|<)\s*(?:bool\s+)?[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?`)

// alertSignal is an alert expression without its threshold comparisons: the
// signal the thresholds apply to, which must have data while all is well.
func alertSignal(expr string) (string, bool) {
	if m := absentRE.FindStringSubmatch(expr); m != nil {
		return m[1], true
	}
	s := comparisonRE.ReplaceAllString(expr, "")
	return s, s != expr
}

// absentRE is an alert on a missing signal: absent(<signal>).
var absentRE = regexp.MustCompile(`^\s*absent\((.+)\)\s*$`)

func TestAlertSignal(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`up{job="teams-exporter"} == 0`, `up{job="teams-exporter"}`},
		{"a > 0.1\nand on (job) b * 3600 >= 20", "a\nand on (job) b * 3600"},
		{`time() - x > 1800 and on (job, instance) time() - y > 1.8e3`, `time() - x and on (job, instance) time() - y`},
		{`sum(rate(x{code!="429", le="0.5"}[5m])) > bool 0`, `sum(rate(x{code!="429", le="0.5"}[5m]))`},
	} {
		got, changed := alertSignal(tc.in)
		if got != tc.want || !changed {
			t.Errorf("alertSignal(%q) = %q, %v; want %q, true", tc.in, got, changed, tc.want)
		}
	}
	if got, ok := alertSignal("absent(up{job=\"x\"})\n"); !ok || got != `up{job="x"}` {
		t.Errorf("alertSignal(absent(...)) = %q, %v", got, ok)
	}
	if _, changed := alertSignal(`rate(x[5m])`); changed {
		t.Error("alertSignal changed an expression without a comparison")
	}
}

var labelValuesRE = regexp.MustCompile(`^label_values\((.+),\s*(\w+)\)$`)

// promQL turns a dashboard query into PromQL Prometheus can run: the
// variables of the dashboard (job, instance, platform, ...) match any value,
// the range variables become rangeWindow, and a label_values() variable query
// becomes the count of each value.
func promQL(expr string, dashboardVars map[string]bool) (string, error) {
	var bad []string
	out := variableRE.ReplaceAllStringFunc(expr, func(v string) string {
		name := variableRE.FindStringSubmatch(v)[1]
		switch {
		case name == "__rate_interval" || name == "__range":
			return rangeWindow
		case dashboardVars[name]:
			return ".+"
		}
		bad = append(bad, v)
		return v
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("unknown variables %v", bad)
	}
	if m := labelValuesRE.FindStringSubmatch(out); m != nil {
		out = fmt.Sprintf("count by (%s) (%s)", m[2], m[1])
	}
	return out, nil
}

// check is one expression that must return data.
type check struct {
	where, expr string
	mustBeEmpty bool // instead: must return nothing
}

// TestDashboardsAgainstPrometheus runs the demo exporter, scraped every
// second by a real Prometheus that evaluates the project's rules, and checks
// against that Prometheus:
//   - every query of every dashboard panel and every dashboard variable
//     query runs without error and returns at least one series, not all
//     of them NaN (the demo's data reaches every panel);
//   - every rule is healthy in Prometheus; every recording rule's expression
//     returns data; every alert expression runs, and its signal (the
//     expression without its threshold comparisons, see alertSignal)
//     returns data, so a misspelt metric or label cannot hide behind a
//     threshold;
//   - the exporter-health alerts (TeamsExporter*) are quiet against the
//     healthy demo exporter (call-quality alerts depend on the demo's data and
//     are only logged);
//   - every metric a dashboard reads is in the exporter's scrape;
//   - teams_exporter_build_info carries the version set through ldflags;
//   - with Prometheus 3, the histograms arrive as native histograms too.
//
// It runs against Prometheus 3 and against the legacy Prometheus (2.42 in
// CI), without native histograms there: 2.42 would drop the classic
// buckets the dashboards read. One after the other: two race-built demo
// exporters at once, beside the other tests' exporters, can miss the
// two-second scrape timeout on a loaded two-core runner.
func TestDashboardsAgainstPrometheus(t *testing.T) {
	t.Parallel()
	t.Run("prometheus-3", func(t *testing.T) {
		dashboardsAgainst(t, prometheus3(t), true)
	})
	t.Run("prometheus-legacy", func(t *testing.T) {
		dashboardsAgainst(t, prometheusLegacy(t), false)
	})
}

func dashboardsAgainst(t *testing.T, bin string, native bool) {
	exporterAddr := testrun.FreeAddr(t)
	// Prometheus first, so that its first scrapes see the exporter before
	// it ingested anything. Every 5 s: a scrape of the demo (1.3 MB of
	// protobuf, 4 MB of text) from a race-built exporter that re-encodes
	// what each poll changed took over two seconds on a loaded two-core
	// runner.
	prom := startPrometheus(t, promConfig{bin: bin, targets: []string{exporterAddr}, scrapeInterval: 5 * time.Second})
	startDemoExporterAt(t, exporterAddr)

	waitFor(t, 2*time.Minute, "several scrapes and two successful polls", func() error {
		scrapes, err := prom.value(fmt.Sprintf(`sum_over_time(up{job=%q}[1m])`, scrapeJob))
		if err != nil || scrapes < 4 {
			return fmt.Errorf("successful scrapes: %v, %v", scrapes, err)
		}
		polls, err := prom.value(`sum(teams_exporter_polls_total{result="success"})`)
		if err != nil || polls < 2 {
			return fmt.Errorf("successful polls: %v, %v", polls, err)
		}
		return nil
	})

	checks := dashboardChecks(t)
	checks = append(checks, check{
		where: "build info with the version set through ldflags",
		expr:  fmt.Sprintf(`teams_exporter_build_info{version=%q, revision=%q}`, testVersion, testRevision),
	})
	if native {
		// A native histogram's series has the family's own name, which
		// classic buckets never give.
		checks = append(checks, check{
			where: "native histogram scraped",
			expr:  `histogram_count(teams_stream_jitter_seconds)`,
		})
	}
	ruleCount := countRules(t)
	var (
		failures []string
		results  map[string][]sample
	)
	// Rules are evaluated every second and data keeps arriving: try until
	// everything passes, and report what still fails at the deadline. A
	// rate or ratio has real data only once the demo's live calls have been
	// ingested after Prometheus first saw a series (a counter that appears
	// at its full value has no increase yet): the demo adds a few calls
	// every few seconds, so a minute or two is enough even for the rarer
	// label values.
	start := time.Now()
	deadline := start.Add(150 * time.Second)
	for {
		rules, err := prom.rules()
		if err != nil {
			t.Fatalf("rules: %v", err)
		}
		failures = nil
		var all []check
		all = append(all, checks...)
		all = append(all, ruleChecks(rules, &failures)...)
		if len(rules) != ruleCount {
			failures = append(failures, fmt.Sprintf("Prometheus loaded %d rules, %s has %d", len(rules), rulesFile, ruleCount))
		}
		for _, r := range rules {
			if r.Health != "ok" {
				failures = append(failures, fmt.Sprintf("rule %s: health %q %s", r.Name, r.Health, r.LastError))
			}
		}
		results = map[string][]sample{}
		for _, c := range all {
			res, err := prom.query(c.expr)
			results[c.where] = res
			switch {
			case err != nil:
				failures = append(failures, fmt.Sprintf("%s: %v\n\t%s", c.where, err, c.expr))
			case c.mustBeEmpty && len(res) > 0:
				failures = append(failures, fmt.Sprintf("%s: should be quiet against the healthy demo exporter, got %v\n\t%s", c.where, res, c.expr))
			case !c.mustBeEmpty && len(res) == 0:
				failures = append(failures, fmt.Sprintf("%s: no data\n\t%s", c.where, c.expr))
			case !c.mustBeEmpty && allNaN(res):
				// NaN is 0/0: a ratio or quantile over a window in
				// which nothing was observed; a panel showing only it
				// is empty.
				failures = append(failures, fmt.Sprintf("%s: only NaN (nothing observed in the window)\n\t%s", c.where, c.expr))
			}
		}
		if len(failures) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Second)
	}
	for _, f := range failures {
		t.Error(f)
	}
	t.Logf("evaluated %d expressions for %v", len(results), time.Since(start).Round(time.Second))

	checkMetricNames(t, exporterAddr)
}

func allNaN(res []sample) bool {
	for _, s := range res {
		if !math.IsNaN(s.value()) {
			return false
		}
	}
	return true
}

// dashboardChecks is every dashboard query, made runnable.
func dashboardChecks(t *testing.T) []check {
	t.Helper()
	vars := map[string]bool{}
	for _, d := range loadDashboards(t) {
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				vars[v.Name] = true
			}
		}
	}
	var out []check
	for where, expr := range dashboardQueries(t) {
		q, err := promQL(expr, vars)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		out = append(out, check{where: where, expr: q})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].where < out[j].where })
	return out
}

// ruleChecks is what each rule must satisfy; an alert without a comparison
// with a number breaks the file's convention and is reported in failures.
func ruleChecks(rules []rule, failures *[]string) []check {
	var out []check
	for _, r := range rules {
		if r.Type == "recording" {
			out = append(out, check{where: "recording rule " + r.Name, expr: r.Query})
			continue
		}
		signal, ok := alertSignal(r.Query)
		if !ok {
			*failures = append(*failures, fmt.Sprintf("alert %s: no comparison with a number; the convention is <signal> <comparison> <threshold>", r.Name))
		}
		out = append(out, check{where: "signal of alert " + r.Name, expr: signal})
		// The whole expression must run; exporter-health alerts must also be
		// quiet here, as the demo exporter is healthy.
		whole := check{where: "alert " + r.Name, expr: fmt.Sprintf("(%s) or vector(0)", r.Query)}
		if strings.HasPrefix(r.Name, "TeamsExporter") {
			whole = check{where: "alert " + r.Name, expr: r.Query, mustBeEmpty: true}
		}
		out = append(out, whole)
	}
	return out
}

// countRules counts the rules in the rules file, to check that Prometheus
// loaded them all.
func countRules(t *testing.T) int {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "dashboards", "rules", rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	return len(regexp.MustCompile(`(?m)^\s*- (?:record|alert):`).FindAll(raw, -1))
}

// checkMetricNames checks that every metric a dashboard reads is in the
// exporter's scrape (up comes from Prometheus itself).
func checkMetricNames(t *testing.T, exporterAddr string) {
	t.Helper()
	// Retried: a race-built exporter beside other tests on a loaded runner
	// can take longer than httpGet's timeout for one scrape.
	var body []byte
	waitFor(t, 60*time.Second, "a scrape of the exporter", func() (err error) {
		body, err = httpGetWithin(t.Context(), "http://"+exporterAddr+"/metrics", 30*time.Second)
		return err
	})
	scraped := map[string]bool{"up": true}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		scraped[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
	}
	var missing []string
	for where, expr := range dashboardQueries(t) {
		for _, m := range selectorRE.FindAllStringSubmatch(expr, -1) {
			if name := m[1]; name != "label_values" && !scraped[name] {
				missing = append(missing, fmt.Sprintf("%s (%s)", name, where))
			}
		}
	}
	slices.Sort(missing)
	for _, m := range slices.Compact(missing) {
		t.Errorf("dashboard reads %s, which is not in the exporter's scrape", m)
	}
}
