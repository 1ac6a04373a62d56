package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The dashboards' JSON, as much of Grafana's model as the tests look at.
type dashboard struct {
	file       string
	Title      string  `json:"title"`
	UID        string  `json:"uid"`
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Datasource  *datasourceRef `json:"datasource"`
	Targets     []target       `json:"targets"`
	Panels      []panel        `json:"panels"` // a collapsed row's panels
	GridPos     *struct {
		H, W, X, Y int
	} `json:"gridPos"`
	FieldConfig struct {
		Defaults struct {
			Unit string `json:"unit"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
	Options struct {
		YAxis struct {
			Unit string `json:"unit"`
		} `json:"yAxis"`
	} `json:"options"`
}

type target struct {
	RefID      string         `json:"refId"`
	Expr       string         `json:"expr"`
	Datasource *datasourceRef `json:"datasource"`
	Format     string         `json:"format"`
	Instant    bool           `json:"instant"`
}

type variable struct {
	Name       string          `json:"name"`
	Label      string          `json:"label"`
	Type       string          `json:"type"`
	Datasource *datasourceRef  `json:"datasource"`
	Query      json.RawMessage `json:"query"` // a string, or {"query": "..."}
	Multi      bool            `json:"multi"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
	Refresh    int             `json:"refresh"`
	Current    struct {
		Value any `json:"value"`
	} `json:"current"`
}

// queryText is the variable's query, in either of Grafana's two shapes.
func (v variable) queryText() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	json.Unmarshal(v.Query, &o)
	return o.Query
}

// panelRef is a panel with the dashboard it is on, for messages.
type panelRef struct {
	d *dashboard
	p panel
}

func (r panelRef) String() string { return fmt.Sprintf("%s: panel %d %q", r.d.file, r.p.ID, r.p.Title) }

// allPanels is every panel but rows, the panels of collapsed rows included.
func (d *dashboard) allPanels() []panelRef {
	var out []panelRef
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			out = append(out, panelRef{d, p})
		}
	}
	walk(d.Panels)
	return out
}

func (d *dashboard) variable(name string) *variable {
	for i := range d.Templating.List {
		if d.Templating.List[i].Name == name {
			return &d.Templating.List[i]
		}
	}
	return nil
}

var dashboardFiles = []string{"teams-call-quality.json", "teams-exporter-health.json", "teams-phone.json"}

func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	var out []*dashboard
	for _, name := range dashboardFiles {
		raw, err := os.ReadFile(filepath.Join(repoRoot, "dashboards", name))
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{file: name}
		if err := json.Unmarshal(raw, d); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out = append(out, d)
	}
	return out
}

var (
	// A selector: a metric name followed by its label matchers. The
	// dashboards write every metric with matchers (job and instance at
	// least), so this finds every metric a query reads.
	selectorRE = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}`)
	// Names of the exporter's, the process collector's and Go's metrics.
	metricNameRE = regexp.MustCompile(`\b(?:teams|process|go)_[a-zA-Z0-9_]+\b`)
	// A range vector inside the function that consumes it.
	rangeCallRE = regexp.MustCompile(`\b([a-z_]+)\(\s*[a-zA-Z_:][a-zA-Z0-9_:]*\s*\{[^}]*\}\s*\[([^\]]*)\]\s*(?:@\s*end\(\)\s*)?\)`)
	// A template variable: $name or ${name}.
	variableRE = regexp.MustCompile(`\$\{?(\w+)\}?`)
)

// Units Grafana knows that suit these dashboards (a subset of the linter's
// list of valid units).
var grafanaUnits = []string{"none", "short", "percent", "percentunit", "s", "ms", "bytes", "Bps", "bps",
	"reqps", "ops", "opm", "cps", "cpm", "dateTimeFromNow", "dtdurations"}

// TestDashboardsFollowLinterRules checks the dashboards against the rules of
// Grafana's dashboard linter (github.com/grafana/dashboard-linter) that the
// issue names, without needing the linter: a datasource variable every panel
// and query uses, job and instance variables used in every selector,
// $__rate_interval in rates, counters only inside rate or increase, a unit and
// a description on every panel.
func TestDashboardsFollowLinterRules(t *testing.T) {
	uids := map[string]string{}
	for _, d := range loadDashboards(t) {
		t.Run(d.file, func(t *testing.T) {
			if d.Title == "" || d.UID == "" {
				t.Errorf("title %q, uid %q: both must be set (uid keeps links stable)", d.Title, d.UID)
			}
			if other, dup := uids[d.UID]; dup {
				t.Errorf("uid %q is also the uid of %s", d.UID, other)
			}
			uids[d.UID] = d.file
			checkVariables(t, d)
			ids := map[int]bool{}
			for _, r := range d.allPanels() {
				if ids[r.p.ID] {
					t.Errorf("%v: duplicate panel id", r)
				}
				ids[r.p.ID] = true
				checkPanel(t, r)
			}
			if len(ids) == 0 {
				t.Error("no panels")
			}
		})
	}
}

func isDatasourceVar(ds *datasourceRef) bool {
	return ds != nil && ds.Type == "prometheus" && ds.UID == "${datasource}"
}

func checkVariables(t *testing.T, d *dashboard) {
	t.Helper()
	ds := d.variable("datasource")
	if ds == nil || ds.Type != "datasource" || ds.queryText() != "prometheus" || ds.Label != "Data source" {
		t.Errorf("want a variable named datasource of type datasource, query prometheus, label \"Data source\"; got %+v", ds)
	}
	used := strings.Builder{}
	for _, r := range d.allPanels() {
		for _, tg := range r.p.Targets {
			used.WriteString(tg.Expr)
		}
	}
	for _, v := range d.Templating.List {
		if v.Type == "datasource" {
			continue
		}
		if v.Type != "query" {
			t.Errorf("variable %s: type %q, want query", v.Name, v.Type)
			continue
		}
		if !isDatasourceVar(v.Datasource) {
			t.Errorf("variable %s: datasource %+v, want ${datasource}", v.Name, v.Datasource)
		}
		if v.Refresh != 2 {
			t.Errorf("variable %s: refresh %d, want 2 (on time range change)", v.Name, v.Refresh)
		}
		if !v.Multi || !v.IncludeAll || v.AllValue != ".+" {
			t.Errorf("variable %s: want multi, include All, allValue \".+\"; got %v, %v, %q", v.Name, v.Multi, v.IncludeAll, v.AllValue)
		}
		if !strings.HasPrefix(v.queryText(), "label_values(") {
			t.Errorf("variable %s: query %q, want label_values(...)", v.Name, v.queryText())
		}
		if !strings.Contains(used.String(), `"$`+v.Name+`"`) {
			t.Errorf("variable %s is used by no panel", v.Name)
		}
	}
	for _, name := range []string{"job", "instance"} {
		v := d.variable(name)
		if v == nil {
			t.Errorf("no %s variable", name)
		} else if want := strings.ToUpper(name[:1]) + name[1:]; v.Label != want {
			t.Errorf("variable %s: label %q, want %q", name, v.Label, want)
		}
	}
}

func checkPanel(t *testing.T, r panelRef) {
	t.Helper()
	p := r.p
	if p.Title == "" || p.Description == "" {
		t.Errorf("%v: needs a title and a description", r)
	}
	if p.GridPos == nil || p.GridPos.W == 0 || p.GridPos.H == 0 {
		t.Errorf("%v: no gridPos", r)
	}
	if !isDatasourceVar(p.Datasource) {
		t.Errorf("%v: datasource %+v, want {prometheus ${datasource}}", r, p.Datasource)
	}
	unit := p.FieldConfig.Defaults.Unit
	if p.Type == "heatmap" {
		unit = p.Options.YAxis.Unit
	}
	if !slices.Contains(grafanaUnits, unit) {
		t.Errorf("%v: unit %q is not one of %v", r, unit, grafanaUnits)
	}
	if len(p.Targets) == 0 {
		t.Errorf("%v: no queries", r)
	}
	for _, tg := range p.Targets {
		where := fmt.Sprintf("%v, query %s", r, tg.RefID)
		if !isDatasourceVar(tg.Datasource) {
			t.Errorf("%s: datasource %+v, want {prometheus ${datasource}}", where, tg.Datasource)
		}
		if p.Type == "heatmap" && tg.Format != "heatmap" {
			t.Errorf("%s: a heatmap of histogram buckets needs format heatmap", where)
		}
		if p.Type == "stat" && !tg.Instant {
			t.Errorf("%s: a stat over $__range should be an instant query", where)
		}
		for _, msg := range lintExpr(tg.Expr) {
			t.Errorf("%s: %s\n%s", where, msg, tg.Expr)
		}
	}
}

// lintExpr returns what is wrong with one dashboard query.
func lintExpr(expr string) []string {
	var errs []string
	selectors := selectorRE.FindAllStringSubmatchIndex(expr, -1)
	if len(selectors) == 0 {
		errs = append(errs, "no metric selector")
	}
	for _, m := range selectors {
		name, matchers := expr[m[2]:m[3]], expr[m[4]:m[5]]
		for _, want := range []string{`job=~"$job"`, `instance=~"$instance"`} {
			if !strings.Contains(matchers, want) {
				errs = append(errs, fmt.Sprintf("%s: matcher %s missing", name, want))
			}
		}
		if isCounter(name) {
			before, after := strings.TrimSpace(expr[:m[0]]), strings.TrimSpace(expr[m[1]:])
			if !(strings.HasSuffix(before, "rate(") || strings.HasSuffix(before, "increase(")) || !strings.HasPrefix(after, "[") {
				errs = append(errs, fmt.Sprintf("counter %s must be inside rate(...[...]) or increase(...[...])", name))
			}
		}
	}
	// Every metric name must be written as a selector (so the checks above
	// see it).
	for _, loc := range metricNameRE.FindAllStringIndex(expr, -1) {
		if !strings.HasPrefix(strings.TrimSpace(expr[loc[1]:]), "{") {
			errs = append(errs, fmt.Sprintf("metric %s without label matchers", expr[loc[0]:loc[1]]))
		}
	}
	// topk ranks anew at every step: the series it keeps change along the
	// graph and the legend churns. Ranked once over the whole range
	// ([$__range] @ end()), the same ones stay.
	if (strings.Contains(expr, "topk(") || strings.Contains(expr, "bottomk(")) && !strings.Contains(expr, "[$__range] @ end()") {
		errs = append(errs, "topk or bottomk ranks per step: rank over [$__range] @ end()")
	}
	calls := rangeCallRE.FindAllStringSubmatch(expr, -1)
	if n := strings.Count(expr, "["); n != len(calls) {
		errs = append(errs, fmt.Sprintf("%d range selectors, %d of them directly inside a function", n, len(calls)))
	}
	for _, c := range calls {
		fn, rng := c[1], c[2]
		switch {
		case (fn == "rate" || fn == "irate") && rng != "$__rate_interval":
			errs = append(errs, fmt.Sprintf("%s over [%s], want [$__rate_interval]", fn, rng))
		case fn == "increase" && rng != "$__rate_interval" && rng != "$__range":
			errs = append(errs, fmt.Sprintf("increase over [%s], want [$__rate_interval] or [$__range]", rng))
		case fn != "rate" && fn != "irate" && fn != "increase":
			errs = append(errs, fmt.Sprintf("range vector in %s()", fn))
		}
	}
	return errs
}

// isCounter tells the series that only grow: counters, and the buckets, sums
// and counts of histograms.
func isCounter(name string) bool {
	for _, suffix := range []string{"_total", "_bucket", "_sum", "_count"} {
		if strings.HasSuffix(name, suffix) {
			return true
		}
	}
	return name == "process_cpu_seconds_total"
}

// TestLintExprCatches proves the query checks above reject what they are
// meant to reject.
func TestLintExprCatches(t *testing.T) {
	for _, tc := range []struct {
		expr, want string
	}{
		{`sum(rate(teams_streams_total{job=~"$job", instance=~"$instance"}[$__rate_interval]))`, ""},
		{`sum(rate(teams_streams_total{job=~"$job"}[$__rate_interval]))`, `matcher instance=~"$instance" missing`},
		{`sum(rate(teams_streams_total{instance=~"$instance"}[$__rate_interval]))`, `matcher job=~"$job" missing`},
		{`sum(rate(teams_streams_total{job=~"$job", instance=~"$instance"}[5m]))`, "want [$__rate_interval]"},
		{`sum(teams_streams_total{job=~"$job", instance=~"$instance"})`, "must be inside rate"},
		{`teams_stream_jitter_seconds_bucket{job=~"$job", instance=~"$instance"}`, "must be inside rate"},
		{`teams_exporter_last_successful_poll_timestamp_seconds`, "without label matchers"},
		{`max_over_time(teams_exporter_last_successful_poll_timestamp_seconds{job=~"$job", instance=~"$instance"}[1h])`, "range vector in max_over_time()"},
		{`sum(increase(teams_streams_total{job=~"$job", instance=~"$instance"}[$__range]))`, ""},
		{`topk(3, sum by (x) (rate(teams_streams_total{job=~"$job", instance=~"$instance"}[$__rate_interval])))`, "ranks per step"},
		{`topk(3, sum by (x) (increase(teams_streams_total{job=~"$job", instance=~"$instance"}[$__range] @ end())))`, ""},
	} {
		got := strings.Join(lintExpr(tc.expr), "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("lintExpr(%s) = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

// dashboardQueries is every query of every panel, by where it is.
func dashboardQueries(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, d := range loadDashboards(t) {
		for _, r := range d.allPanels() {
			for _, tg := range r.p.Targets {
				out[fmt.Sprintf("%v, query %s", r, tg.RefID)] = tg.Expr
			}
		}
		for _, v := range d.Templating.List {
			if v.Type == "query" {
				out[fmt.Sprintf("%s: variable %s", d.file, v.Name)] = v.queryText()
			}
		}
	}
	return out
}

// TestCallQualityDashboardGoesDeeper: the call-quality dashboard reads the
// families that say why streams are poor (cause, client version, product,
// codec), and has the audio objective's row: the indicator and the budget
// left over 30 days, and the burn rate. TestDashboardsAgainstPrometheus
// then checks that each of their queries returns data from the demo.
func TestCallQualityDashboardGoesDeeper(t *testing.T) {
	var d *dashboard
	for _, db := range loadDashboards(t) {
		if db.file == "teams-call-quality.json" {
			d = db
		}
	}
	reads := func(p panel, s string) bool {
		for _, tg := range p.Targets {
			if strings.Contains(tg.Expr, s) {
				return true
			}
		}
		return false
	}
	for _, want := range []struct{ what, query string }{
		{"poor streams by cause", "teams_poor_stream_causes_total{"},
		{"client versions", "sum by (client_version)"},
		// Per media: with $media at All, audio and video would mix.
		{"products", "sum by (media, product)"},
		{"codecs", "teams_codec_streams_total{"},
		{"the error budget", "/ (1 - 0.97)"},
	} {
		found := false
		for _, r := range d.allPanels() {
			found = found || reads(r.p, want.query)
		}
		if !found {
			t.Errorf("no panel shows %s (a query with %s)", want.what, want.query)
		}
	}
	var thirtyDays int
	raw, err := os.ReadFile(filepath.Join(repoRoot, "dashboards", d.file))
	if err != nil {
		t.Fatal(err)
	}
	var withTime struct {
		Panels []struct {
			Title    string `json:"title"`
			TimeFrom string `json:"timeFrom"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &withTime); err != nil {
		t.Fatal(err)
	}
	for _, p := range withTime.Panels {
		if p.TimeFrom == "30d" {
			thirtyDays++
		}
	}
	if thirtyDays < 2 {
		t.Errorf("%d panels over 30 days, want the indicator and the error budget left", thirtyDays)
	}
}
