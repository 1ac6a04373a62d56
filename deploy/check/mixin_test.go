package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-jsonnet"
	"sigs.k8s.io/yaml"
)

const (
	rulesPath = "dashboards/rules/teams-exporter.rules.yml"
	// scrapeJob is the job label the rules expect.
	scrapeJob = "teams-exporter"
	// runbookBase is where the rules file's runbook URLs point: an alert's
	// is this, its name and ".md".
	runbookBase = "https://github.com/teams-exporter/teams-exporter/blob/main/docs/runbooks/"
)

type ruleGroup struct {
	Name  string           `json:"name"`
	Rules []map[string]any `json:"rules"`
}

type mixinOutput struct {
	Rules      struct{ Groups []ruleGroup } `json:"rules"`
	Alerts     struct{ Groups []ruleGroup } `json:"alerts"`
	Dashboards []string                     `json:"dashboards"`
}

// evalMixin evaluates dashboards/mixin.libsonnet with config merged into
// its _config, as a user's jsonnet would.
func evalMixin(t *testing.T, config string) mixinOutput {
	t.Helper()
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Join(repoRoot, "dashboards")}})
	snippet := `local m = (import 'mixin.libsonnet') + { _config+:: ` + config + ` };
{ rules: m.prometheusRules, alerts: m.prometheusAlerts, dashboards: std.objectFields(m.grafanaDashboards) }`
	out, err := vm.EvaluateAnonymousSnippet(filepath.Join(repoRoot, "dashboards", "check.jsonnet"), snippet)
	if err != nil {
		t.Fatalf("jsonnet: %v", err)
	}
	var m mixinOutput
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func rulesFileGroups(t *testing.T) []ruleGroup {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, rulesPath))
	if err != nil {
		t.Fatal(err)
	}
	var f struct{ Groups []ruleGroup }
	if err := yaml.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	return f.Groups
}

func byName(groups ...[]ruleGroup) map[string]ruleGroup {
	m := map[string]ruleGroup{}
	for _, gs := range groups {
		for _, g := range gs {
			m[g.Name] = g
		}
	}
	return m
}

// TestMixinIsTheRulesFile: with its default _config the mixin gives exactly
// the rules file's groups (recording rules and alerts apart), and every
// dashboard of dashboards/.
func TestMixinIsTheRulesFile(t *testing.T) {
	m := evalMixin(t, "{}")
	got, want := byName(m.Rules.Groups, m.Alerts.Groups), byName(rulesFileGroups(t))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the mixin's groups differ from %s:\n got %v\nwant %v", rulesPath, got, want)
	}
	var files []string
	for _, f := range dashboardFiles(t) {
		files = append(files, filepath.Base(f))
	}
	slices.Sort(files)
	if !slices.Equal(m.Dashboards, files) {
		t.Errorf("the mixin's grafanaDashboards %v, dashboards/ holds %v", m.Dashboards, files)
	}
}

// TestMixinConfig: _config sets the job selector, the runbook URL pattern,
// an alert's for, labels and thresholds.
func TestMixinConfig(t *testing.T) {
	m := evalMixin(t, `{
  jobSelector: 'job="teams", cluster="eu"',
  runbookURLPattern: 'https://wiki.example.com/teams#%s',
  alerts+: { TeamsExporterPollsFailing: { 'for': '15m', thresholds: { '1800': '3600' }, labels: { severity: 'critical', team: 'uc' } } },
}`)
	alerts := map[string]map[string]any{}
	for _, g := range m.Alerts.Groups {
		for _, r := range g.Rules {
			alerts[r["alert"].(string)] = r
		}
	}
	if len(alerts) < 5 {
		t.Fatalf("only %d alerts", len(alerts))
	}
	for name, r := range alerts {
		url := r["annotations"].(map[string]any)["runbook_url"].(string)
		if want := "https://wiki.example.com/teams#" + name; url != want {
			t.Errorf("%s: runbook_url %s, want %s", name, url, want)
		}
		if strings.Contains(r["expr"].(string), `job="teams-exporter"`) {
			t.Errorf("%s still selects job teams-exporter: %s", name, r["expr"])
		}
	}
	for _, name := range []string{"TeamsExporterDown", "TeamsExporterAbsent"} {
		if !strings.Contains(alerts[name]["expr"].(string), `job="teams", cluster="eu"`) {
			t.Errorf("%s does not use the job selector: %s", name, alerts[name]["expr"])
		}
	}
	polls := alerts["TeamsExporterPollsFailing"]
	expr := polls["expr"].(string)
	if strings.Contains(expr, "1800") || strings.Count(expr, "> 3600") != 2 {
		t.Errorf("thresholds not replaced: %s", expr)
	}
	labels := polls["labels"].(map[string]any)
	if polls["for"] != "15m" || labels["severity"] != "critical" || labels["team"] != "uc" {
		t.Errorf("for %v, labels %v", polls["for"], labels)
	}
}

// TestRunbookURLs: every alert of the rules file has an absolute runbook
// URL ending in docs/runbooks/<alert>.md, and that page exists and is titled
// with the alert's name; every page of docs/runbooks/ belongs to an alert;
// docs/alerts.md lists every alert. A new alert needs its runbook.
func TestRunbookURLs(t *testing.T) {
	alerts := map[string]bool{}
	for _, g := range rulesFileGroups(t) {
		for _, r := range g.Rules {
			name, ok := r["alert"].(string)
			if !ok {
				continue
			}
			alerts[name] = true
			url, _ := r["annotations"].(map[string]any)["runbook_url"].(string)
			if want := runbookBase + name + ".md"; url != want {
				t.Errorf("%s: runbook_url %q, want %q", name, url, want)
			}
			page := filepath.Join(repoRoot, "docs", "runbooks", name+".md")
			b, err := os.ReadFile(page)
			if err != nil {
				t.Errorf("%s has no runbook: %v (write docs/runbooks/%s.md)", name, err, name)
				continue
			}
			if !strings.HasPrefix(string(b), "# "+name+"\n") {
				t.Errorf("%s: docs/runbooks/%s.md does not begin with the title # %s", name, name, name)
			}
		}
	}
	if len(alerts) < 5 {
		t.Fatalf("only %d alerts", len(alerts))
	}
	table, err := os.ReadFile(filepath.Join(repoRoot, "docs", "alerts.md"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range alerts {
		if link := "[" + name + "](runbooks/" + name + ".md)"; !strings.Contains(string(table), link) {
			t.Errorf("docs/alerts.md does not list %s: add a row to its table of alerts with %s", name, link)
		}
	}
	pages, err := filepath.Glob(filepath.Join(repoRoot, "docs", "runbooks", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if name := strings.TrimSuffix(filepath.Base(p), ".md"); !alerts[name] {
			t.Errorf("docs/runbooks/%s.md: no alert %s in %s", name, name, rulesPath)
		}
	}
}

// TestMixinAudioObjective: _config.audioObjective sets the burn-rate
// alerts' thresholds (burn rate times the error budget) and the objective
// the call-quality dashboard shows; the default is the rules file's 97 %.
func TestMixinAudioObjective(t *testing.T) {
	alertExprs := func(m mixinOutput) map[string]string {
		out := map[string]string{}
		for _, g := range m.Alerts.Groups {
			for _, r := range g.Rules {
				out[r["alert"].(string)] = r["expr"].(string)
			}
		}
		return out
	}
	def := alertExprs(evalMixin(t, "{}"))
	m := evalMixin(t, `{ audioObjective: 0.99 }`)
	got := alertExprs(m)
	for name, want := range map[string][]string{
		"TeamsAudioQualityBudgetBurnFast": {"ratio_rate1h > 0.144", "ratio_rate5m > 0.144", "poor:increase1h >= 10\n"},
		"TeamsAudioQualityBudgetBurnSlow": {"ratio_rate6h > 0.06", "ratio_rate30m > 0.06", "ratio_rate3d > 0.01", "ratio_rate6h > 0.01"},
	} {
		for _, w := range want {
			if !strings.Contains(got[name], w) {
				t.Errorf("%s with a 99 %% objective lacks %q:\n%s", name, w, got[name])
			}
		}
		for _, old := range []string{"0.432", "0.18", "> 0.03"} {
			if strings.Contains(got[name], old) {
				t.Errorf("%s with a 99 %% objective still compares with %s:\n%s", name, old, got[name])
			}
		}
	}
	// 99.9 %: every threshold from _config, none rewritten twice.
	m999 := alertExprs(evalMixin(t, `{ audioObjective: 0.999 }`))
	for name, want := range map[string][]string{
		"TeamsAudioQualityBudgetBurnFast": {"ratio_rate1h > 0.0144\n", "ratio_rate5m > 0.0144\n"},
		"TeamsAudioQualityBudgetBurnSlow": {"ratio_rate6h > 0.006\n", "ratio_rate30m > 0.006\n", "ratio_rate3d > 0.001\n", "ratio_rate6h > 0.001\n"},
	} {
		for _, w := range want {
			if !strings.Contains(m999[name], w) {
				t.Errorf("%s with a 99.9 %% objective lacks %q:\n%s", name, w, m999[name])
			}
		}
	}
	// The poor streams an alert needs before it may fire.
	guard := alertExprs(evalMixin(t, `{ audioMinPoorStreams: 25 }`))
	if !strings.Contains(guard["TeamsAudioQualityBudgetBurnFast"], "poor:increase1h >= 25\n") ||
		strings.Count(guard["TeamsAudioQualityBudgetBurnSlow"], "poor:increase6h >= 25,") != 2 {
		t.Errorf("audioMinPoorStreams 25 not in the burn-rate alerts:\n%s\n%s",
			guard["TeamsAudioQualityBudgetBurnFast"], guard["TeamsAudioQualityBudgetBurnSlow"])
	}
	// An objective whose thresholds reach 1 would give alerts that can
	// never fire: 90 % makes the fast burn's 14.4 x 10 % = 1.44, 92.8 % makes
	// it 1.0368 (and once rewrote the slow burn's 0.432 into it too).
	for _, objective := range []string{"0.9", "0.928", "1", "0"} {
		vm := jsonnet.MakeVM()
		vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Join(repoRoot, "dashboards")}})
		_, err := vm.EvaluateAnonymousSnippet("objective.jsonnet",
			`local m = (import 'mixin.libsonnet') + { _config+:: { audioObjective: `+objective+` } }; [m.prometheusAlerts, m.grafanaDashboards]`)
		if err == nil || !strings.Contains(err.Error(), "audioObjective") {
			t.Errorf("audioObjective %s: error %v, want one naming audioObjective", objective, err)
		}
	}
	for name, expr := range def {
		if !strings.HasPrefix(name, "TeamsAudioQualityBudgetBurn") && got[name] != expr {
			t.Errorf("%s changed with the audio objective:\n%s", name, got[name])
		}
	}
	vm := jsonnet.MakeVM()
	vm.Importer(&jsonnet.FileImporter{JPaths: []string{filepath.Join(repoRoot, "dashboards")}})
	out, err := vm.EvaluateAnonymousSnippet("objective.jsonnet",
		`std.manifestJson(((import 'mixin.libsonnet') + { _config+:: { audioObjective: 0.99 } }).grafanaDashboards['teams-call-quality.json'])`)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(1 - 0.99)", "99 %"} {
		if !strings.Contains(out, want) {
			t.Errorf("the call-quality dashboard with a 99 %% objective lacks %q", want)
		}
	}
	if strings.Contains(out, "0.97") || strings.Contains(out, "97 %") {
		t.Error("the call-quality dashboard with a 99 % objective still shows 97 %")
	}
}

// TestBurnRateRunbooksFollowTheObjective: the burn-rate runbooks quote the
// default objective's figures, and must say so and how they follow
// _config.audioObjective, or a reader with another objective is misled.
func TestBurnRateRunbooksFollowTheObjective(t *testing.T) {
	for _, name := range []string{"TeamsAudioQualityBudgetBurnFast", "TeamsAudioQualityBudgetBurnSlow"} {
		raw, err := os.ReadFile(filepath.Join(repoRoot, "docs", "runbooks", name+".md"))
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(raw)), " ")
		for _, want := range []string{"97 % (the default)", "figures here are those of the default objective", "`_config.audioObjective`: the budget is 1 minus it"} {
			if !strings.Contains(text, want) {
				t.Errorf("docs/runbooks/%s.md lacks %q", name, want)
			}
		}
	}
}
