package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtest"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// alertmanagerExample is the example Alertmanager configuration the
// alerting page (docs/alerts.md) points to; the test runs it as it is, with only
// a webhook added to its default receiver.
const alertmanagerExample = "deploy/compose/alertmanager/alertmanager.yml"

// runbookBase is the runbook base URL the test's rules are generated with
// (the mixin's _config.runbookURLPattern): the notification must carry it,
// absolute, whatever the rules file says.
const runbookBase = "https://runbooks.example.com/teams-exporter"

// testMixinConfig is the mixin _config the test's rules come from: the
// project's rules, with only what waits for real time shortened. Polls
// failing waits for 30 minutes without a success (and as long an uptime):
// 20 seconds here, more than a poll of the test's calls takes with the
// race detector on a loaded runner, so that only Graph's failure fires it. The alerts that fire in the test have no 'for', as
// their conditions hold from the first evaluation the test needs.
const testMixinConfig = `{
  runbookURLPattern: '` + runbookBase + `/%s',
  alerts+: {
    TeamsExporterPollsFailing: { 'for': '0s', thresholds: { '1800': '20' } },
    TeamsExporterGraphAuthenticationFailing: { 'for': '0s' },
    TeamsSitePoorAudioStreamsHigh: { 'for': '0s' },
  },
}`

// jsonnetModule is go-jsonnet's command, at the version deploy/check uses
// for the mixin: `go run` builds it from the module proxy, checksummed.
const jsonnetModule = "github.com/google/go-jsonnet/cmd/jsonnet@v0.22.0"

// mixinRules evaluates dashboards/mixin.libsonnet with config merged into
// its _config, as a user's jsonnet would, and writes its recording rules
// and alerts as one Prometheus rule file (JSON is YAML).
func mixinRules(t *testing.T, config string) string {
	t.Helper()
	snippet := `local m = (import 'mixin.libsonnet') + { _config+:: ` + config + ` };
{ groups: m.prometheusRules.groups + m.prometheusAlerts.groups }`
	cmd := exec.CommandContext(t.Context(), "go", "run", jsonnetModule, "-J", filepath.Join(repoRoot, "dashboards"), "-e", snippet)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("jsonnet mixin: %v\n%s", err, stderrOf(err))
	}
	file := filepath.Join(t.TempDir(), "mixin.rules.json")
	if err := os.WriteFile(file, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return file
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}

// notification is what Alertmanager's webhook integration posts, as far as
// the test reads it.
type notification struct {
	Receiver string  `json:"receiver"`
	Status   string  `json:"status"`
	Alerts   []alert `json:"alerts"`
}

type alert struct {
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
}

// webhook is the receiver the test runs: it keeps every alert delivered.
type webhook struct {
	*httptest.Server
	mu     sync.Mutex
	alerts []alert
}

func startWebhook(t *testing.T) *webhook {
	t.Helper()
	w := &webhook{}
	w.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		var n notification
		if err == nil {
			err = json.Unmarshal(body, &n)
		}
		if err != nil {
			t.Errorf("webhook: undecodable notification: %v\n%s", err, body)
			rw.WriteHeader(http.StatusBadRequest)
			return
		}
		w.mu.Lock()
		w.alerts = append(w.alerts, n.Alerts...)
		w.mu.Unlock()
	}))
	t.Cleanup(w.Close)
	return w
}

// delivered is every firing alert delivered so far.
func (w *webhook) delivered() []alert {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []alert
	for _, a := range w.alerts {
		if a.Status == "firing" {
			out = append(out, a)
		}
	}
	return out
}

// find is the first delivered alert with name whose labels include match.
func (w *webhook) find(name string, match map[string]string) (alert, bool) {
	return w.findSince(name, match, time.Time{})
}

// findSince is find among the alerts that started at since or later.
func (w *webhook) findSince(name string, match map[string]string, since time.Time) (alert, bool) {
	for _, a := range w.delivered() {
		if a.Labels["alertname"] != name || a.StartsAt.Before(since) {
			continue
		}
		ok := true
		for k, v := range match {
			ok = ok && a.Labels[k] == v
		}
		if ok {
			return a, true
		}
	}
	return alert{}, false
}

// startAlertmanager runs Alertmanager with the example configuration, its
// default receiver given a webhook to url, and returns its host:port.
func startAlertmanager(t *testing.T, hookURL string) string {
	t.Helper()
	bin := needTool(t, "alertmanager")
	raw, err := os.ReadFile(filepath.Join(repoRoot, alertmanagerExample))
	if err != nil {
		t.Fatal(err)
	}
	// The example's default receiver sends nothing; the test's sends to the
	// webhook. Edited as text, so that the rest (route timings, inhibition)
	// is exactly the example's.
	const receiver = "receivers:\n  - name: default\n"
	if !strings.Contains(string(raw), receiver) {
		t.Fatalf("%s has no %q: the test cannot add its webhook", alertmanagerExample, receiver)
	}
	config := strings.Replace(string(raw), receiver, receiver+
		fmt.Sprintf("    webhook_configs:\n      - url: %q\n        send_resolved: false\n", hookURL), 1)
	dir := t.TempDir()
	file := filepath.Join(dir, "alertmanager.yml")
	if err := os.WriteFile(file, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := testrun.FreeAddr(t)
	startProcess(t, "alertmanager", cleanEnv(), bin,
		"--config.file="+file,
		"--storage.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr,
		"--cluster.listen-address=", // a single instance: no gossip port
	)
	waitFor(t, 60*time.Second, "Alertmanager to be ready", func() error {
		_, err := httpGet(t.Context(), "http://"+addr+"/-/ready")
		return err
	})
	return addr
}

// amAlert is an alert as Alertmanager's API v2 lists it.
type amAlert struct {
	Labels map[string]string `json:"labels"`
	Status struct {
		State       string   `json:"state"`
		InhibitedBy []string `json:"inhibitedBy"`
	} `json:"status"`
}

func alertmanagerAlerts(t *testing.T, addr string) ([]amAlert, error) {
	body, err := httpGet(t.Context(), "http://"+addr+"/api/v2/alerts")
	if err != nil {
		return nil, err
	}
	var out []amAlert
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, fmt.Errorf("decode /api/v2/alerts: %w", err)
	}
	return out, nil
}

// The simulated tenants' credentials; the exporter gets them through the
// standard azidentity variables.
const (
	tenantID = "11111111-2222-4333-8444-555555555555"
	clientID = "66666666-7777-4888-9999-000000000000"
	secret   = "e2e-alerts-secret"
)

// tenantServer is a simulated tenant over TLS, and its certificate in a
// file for the exporter's SSL_CERT_FILE.
type tenantServer struct {
	tenant   *graphsim.Tenant
	url      string
	certFile string
}

func startTenant(t *testing.T) *tenantServer {
	t.Helper()
	srv := simtest.Start(t, graphsim.Options{TenantID: tenantID, ClientID: clientID, ClientSecret: secret})
	return &tenantServer{tenant: srv.Tenant, url: srv.URL, certFile: srv.CertFile(t)}
}

// startTenantExporter runs the exporter against ts with the client secret
// given, polling every second, the demo's building file and native
// histograms, on addr.
func startTenantExporter(t *testing.T, ts *tenantServer, clientSecret, addr string) {
	t.Helper()
	dir := t.TempDir()
	buildings := filepath.Join(dir, "buildings.csv")
	if err := os.WriteFile(buildings, graphsim.DemoBuildingFile, 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(cleanEnv(),
		// The tenant's certificate is the only trusted root: nothing else
		// is reachable over TLS.
		"SSL_CERT_FILE="+ts.certFile,
		"AZURE_TENANT_ID="+tenantID,
		"AZURE_CLIENT_ID="+clientID,
		"AZURE_CLIENT_SECRET="+clientSecret,
		"AZURE_AUTHORITY_HOST="+ts.url,
		"TEAMS_EXPORTER_GRAPH_URL="+ts.url,
		"TEAMS_EXPORTER_DISABLE_INSTANCE_DISCOVERY=true",
		"TEAMS_EXPORTER_LISTEN_ADDRESS="+addr,
		"TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS="+testrun.FreeAddr(t),
		"TEAMS_EXPORTER_STATE_FILE="+filepath.Join(dir, "state.json"),
		"TEAMS_EXPORTER_POLL_INTERVAL=1s",
		// The test's calls are added whole and never change: nothing to
		// wait for, and the alerts' conditions must follow the additions.
		"TEAMS_EXPORTER_SETTLE_DELAY=0",
		"TEAMS_EXPORTER_BUILDING_FILE="+buildings,
		"TEAMS_EXPORTER_NATIVE_HISTOGRAMS=true",
	)
	startProcess(t, "exporter "+addr, env, exporterBinary(t))
	waitFor(t, 90*time.Second, "the exporter to serve /metrics", func() error {
		_, err := httpGet(t.Context(), "http://"+addr+"/metrics")
		return err
	})
}

var (
	siteRE    = regexp.MustCompile(`[{,]site="([^"]*)"`)
	qualityRE = regexp.MustCompile(`[{,]quality="([^"]*)"`)
)

// siteAudio is the audio streams per site that truth adds to the
// teams_site_streams_total series of existing, as the alert's rates see
// them: poor, and good (classified is good + poor). A series Prometheus
// first sees at its full value adds nothing to a rate; one not in existing
// may or may not have been exposed at 0 before (the exporter may expose a
// stream's other qualities along with the one observed), so its streams are
// counted apart, as uncertain.
type siteAudio struct{ poor, good, uncertainPoor, uncertainGood float64 }

// ratioRange is the lowest and highest poor / (good + poor) the alert can
// see, whichever uncertain series count, and the fewest classified streams.
func (a siteAudio) ratioRange() (lo, hi, classified float64) {
	lo = a.poor / (a.poor + a.good + a.uncertainGood)
	hi = (a.poor + a.uncertainPoor) / (a.poor + a.uncertainPoor + a.good)
	return lo, hi, a.poor + a.good
}

func siteAudioOf(truth, existing simtruth.Truth) map[string]*siteAudio {
	out := map[string]*siteAudio{}
	for key, v := range truth {
		if !strings.HasPrefix(key, "teams_site_streams_total{") || !strings.Contains(key, `media="audio"`) {
			continue
		}
		site, quality := siteRE.FindStringSubmatch(key), qualityRE.FindStringSubmatch(key)
		if site == nil || quality == nil {
			continue
		}
		a := out[site[1]]
		if a == nil {
			a = &siteAudio{}
			out[site[1]] = a
		}
		_, certain := existing[key]
		switch {
		case quality[1] == "poor" && certain:
			a.poor += v
		case quality[1] == "poor":
			a.uncertainPoor += v
		case quality[1] == "good" && certain:
			a.good += v
		case quality[1] == "good":
			a.uncertainGood += v
		}
	}
	return out
}

// TestAlertsReachAlertmanager runs what an operator runs: two exporters,
// each against a simulated tenant, scraped by Prometheus 3 with rules
// generated from the mixin; Prometheus sends the alerts to Alertmanager
// running the example configuration, which delivers them to a webhook the
// test runs.
//
//   - Exporter "auth" has a wrong client secret: Entra ID refuses its token
//     requests, so TeamsExporterGraphAuthenticationFailing fires and
//     TeamsExporterPollsFailing too, which the example's inhibition rule
//     must suppress (same job and instance): Alertmanager lists it as
//     suppressed, and it is never delivered.
//   - Exporter "graph" ingests calls, then Graph answers every request with
//     500: TeamsExporterPollsFailing is delivered for it (no inhibition:
//     authentication works). Among its calls, one site of the building file
//     has poor audio (the simulator's truth says which, before the
//     exporter sees anything): TeamsSitePoorAudioStreamsHigh is delivered
//     for it, and for no site the truth says is fine.
//
// Each delivered alert must carry its name, job, instance (and site),
// severity, the rules' summary, and the absolute runbook URL of the mixin's
// _config. Alertmanager waits the example's group_wait (30 s) before each
// first notification: the test allows for it, with margin.
func TestAlertsReachAlertmanager(t *testing.T) {
	t.Parallel()
	began := time.Now()
	// milestone logs how long each phase took: the test's wall time is
	// mostly waiting, and this says for what.
	milestone := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	promBin := prometheus3(t)
	rules := mixinRules(t, testMixinConfig)
	milestone("rules generated from the mixin")
	hook := startWebhook(t)
	am := startAlertmanager(t, hook.URL)

	authAddr, graphAddr := testrun.FreeAddr(t), testrun.FreeAddr(t)

	// Two batches of calls for the "graph" exporter: the first makes the
	// site series exist, the second, ingested while Prometheus watches,
	// is the increase the rates (and so the alert) see.
	now := time.Now()
	first := graphsim.Generate(graphsim.GenOptions{Seed: 71, Count: 150, Start: now.Add(-20 * time.Hour), End: now.Add(-3 * time.Hour)})
	second := graphsim.Generate(graphsim.GenOptions{Seed: 72, Count: 150, Start: now.Add(-90 * time.Minute), End: now.Add(-5 * time.Minute)})
	buildings, err := simtruth.ParseBuildings(graphsim.DemoBuildingFile)
	if err != nil {
		t.Fatal(err)
	}
	audio := siteAudioOf(simtruth.With(buildings, second...), simtruth.With(buildings, first...))
	// The alert's thresholds (rules file): over 10 % poor, at least 20
	// classified streams. Sites clearly on one side only, so that neither
	// the uncertain series nor the rate's extrapolation can tip them.
	var poorSites, fineSites []string
	for site, a := range audio {
		if site == "unmapped" || site == "unknown" {
			continue
		}
		switch lo, hi, n := a.ratioRange(); {
		case lo > 0.13 && n >= 30:
			poorSites = append(poorSites, site)
		case hi < 0.07:
			fineSites = append(fineSites, site)
		}
	}
	slices.Sort(poorSites)
	slices.Sort(fineSites)
	if len(poorSites) == 0 {
		t.Fatalf("the generated calls have no site with clearly poor audio: change the seeds")
	}
	t.Logf("sites with poor audio %v, fine %v", poorSites, fineSites)

	graphTenant := startTenant(t)
	graphTenant.tenant.Add(first...)
	var graphDown atomic.Bool
	graphTenant.tenant.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if graphDown.Load() && graphsim.Operation(r) != graphsim.OpToken {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"error":{"code":"InternalServerError","message":"e2e: Graph is down"}}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	authTenant := startTenant(t)
	startTenantExporter(t, graphTenant, secret, graphAddr)
	startTenantExporter(t, authTenant, "not-the-secret", authAddr)

	wantFirst := 0.0
	for key, v := range simtruth.With(buildings, first...) {
		if strings.HasPrefix(key, "teams_site_streams_total{") {
			wantFirst += v
		}
	}
	// Prometheus starts once the exporter serves every first call. Its
	// first save follows its first ingested record, so a scrape during the
	// first poll can see part of the first calls: their rest would then
	// count as an increase in the alert's hour, outside the truth below,
	// and can keep a poor site's share under the threshold (Tokyo Office
	// is 14% poor in the second calls, 7% if they come with the first
	// calls' good streams).
	waitFor(t, 3*time.Minute, "the exporter to serve all the first calls' site series", func() error {
		body, err := httpGetWithin(t.Context(), "http://"+graphAddr+"/metrics", 30*time.Second)
		if err != nil {
			return err
		}
		served, err := simtruth.ParseExposition(bytes.NewReader(body))
		if err != nil {
			return err
		}
		got := 0.0
		for key, v := range served {
			if strings.HasPrefix(key, "teams_site_streams_total{") {
				got += v
			}
		}
		if got != wantFirst {
			return fmt.Errorf("site streams %v, want %v", got, wantFirst)
		}
		return nil
	})
	prom := startPrometheus(t, promConfig{bin: promBin, targets: []string{authAddr, graphAddr}, rules: rules, alertmanager: am})
	milestone("Alertmanager, both exporters and Prometheus serving")

	siteSeries := fmt.Sprintf(`teams_site_streams_total{instance=%q}`, graphAddr)
	// Every first call must be in Prometheus before the second are added:
	// a first call's series that appeared only with the second calls would
	// show no increase, yet the truth below counts it as seen.
	waitFor(t, 90*time.Second, "two scrapes of all the first calls' site series", func() error {
		n, err := prom.value(fmt.Sprintf(`min(count_over_time(%s[5m]))`, siteSeries))
		if err != nil || n < 2 {
			return fmt.Errorf("samples: %v, %v", n, err)
		}
		got, err := prom.value(fmt.Sprintf(`sum(%s)`, siteSeries))
		if err != nil || got != wantFirst {
			return fmt.Errorf("site streams %v, want %v (%v)", got, wantFirst, err)
		}
		return nil
	})
	milestone("first calls scraped")
	graphTenant.tenant.Add(second...)
	wantStreams := 0.0
	for key, v := range simtruth.With(buildings, append(first, second...)...) {
		if strings.HasPrefix(key, "teams_site_streams_total{") {
			wantStreams += v
		}
	}
	waitFor(t, 90*time.Second, "the second calls in Prometheus", func() error {
		got, err := prom.value(fmt.Sprintf(`sum(%s)`, siteSeries))
		if err != nil || got != wantStreams {
			return fmt.Errorf("site streams %v, want %v (%v)", got, wantStreams, err)
		}
		return nil
	})
	graphDownAt := time.Now()
	graphDown.Store(true)
	milestone("second calls scraped; Graph down")

	// Prometheus must see the inhibited alert firing, or the inhibition
	// would be checked against nothing.
	waitFor(t, 90*time.Second, "TeamsExporterPollsFailing firing in Prometheus for the exporter that cannot authenticate", func() error {
		s, err := prom.query(fmt.Sprintf(`ALERTS{alertname="TeamsExporterPollsFailing", alertstate="firing", instance=%q}`, authAddr))
		if err != nil || len(s) == 0 {
			return fmt.Errorf("%v, %v", s, err)
		}
		return nil
	})

	milestone("the alert to inhibit fires in Prometheus")

	type expectation struct {
		name   string
		labels map[string]string
		since  time.Time // the alert must have started then or later
	}
	var want []expectation
	want = append(want,
		expectation{"TeamsExporterGraphAuthenticationFailing", map[string]string{"instance": authAddr, "severity": "critical"}, time.Time{}},
		// About Graph's failure, not an earlier slow poll.
		expectation{"TeamsExporterPollsFailing", map[string]string{"instance": graphAddr, "severity": "warning"}, graphDownAt},
	)
	for _, site := range poorSites {
		want = append(want, expectation{"TeamsSitePoorAudioStreamsHigh", map[string]string{"instance": graphAddr, "site": site, "media": "audio", "severity": "warning"}, time.Time{}})
	}
	// The example's group_wait is 30 s after an alert first reaches
	// Alertmanager; a loaded runner adds evaluation and send delays. The
	// site alerts share a group: one that fires after the group's first
	// notification waits for the next, group_interval (5 m) later.
	waitFor(t, 7*time.Minute, "the alerts delivered to the webhook", func() error {
		var missing []string
		for _, w := range want {
			if _, ok := hook.findSince(w.name, w.labels, w.since); !ok {
				missing = append(missing, fmt.Sprintf("%s%v", w.name, w.labels))
			}
		}
		if len(missing) > 0 {
			return fmt.Errorf("not delivered yet: %v; Prometheus sees %s", missing, siteAlertView(prom, graphAddr))
		}
		return nil
	})

	milestone("all alerts delivered")

	summaries := ruleSummaries(t)
	for _, w := range want {
		a, _ := hook.findSince(w.name, w.labels, w.since)
		if a.Labels["job"] != scrapeJob {
			t.Errorf("%s: job %q, want %q", w.name, a.Labels["job"], scrapeJob)
		}
		if got := a.Annotations["summary"]; got == "" || got != summaries[w.name] {
			t.Errorf("%s: summary %q, want the rules file's %q", w.name, got, summaries[w.name])
		}
		u, err := url.Parse(a.Annotations["runbook_url"])
		if err != nil || !u.IsAbs() || u.Host == "" {
			t.Errorf("%s: runbook_url %q is not an absolute URL", w.name, a.Annotations["runbook_url"])
		}
		if want := runbookBase + "/" + w.name; a.Annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url %q, want %q (the mixin's runbookURLPattern with the alert's name)", w.name, a.Annotations["runbook_url"], want)
		}
	}

	// The inhibited alert: in Alertmanager, suppressed by the
	// authentication alert; never delivered.
	ams, err := alertmanagerAlerts(t, am)
	if err != nil {
		t.Fatal(err)
	}
	inhibited := false
	for _, a := range ams {
		if a.Labels["alertname"] == "TeamsExporterPollsFailing" && a.Labels["instance"] == authAddr {
			inhibited = a.Status.State == "suppressed" && len(a.Status.InhibitedBy) > 0
			if !inhibited {
				t.Errorf("TeamsExporterPollsFailing of %s in Alertmanager: %+v, want suppressed by an inhibition", authAddr, a.Status)
			}
		}
	}
	if !inhibited {
		t.Errorf("TeamsExporterPollsFailing of %s is not in Alertmanager as inhibited: %+v", authAddr, ams)
	}
	if a, ok := hook.find("TeamsExporterPollsFailing", map[string]string{"instance": authAddr}); ok {
		t.Errorf("TeamsExporterPollsFailing of %s was delivered although TeamsExporterGraphAuthenticationFailing inhibits it: %+v", authAddr, a)
	}
	for _, site := range fineSites {
		if a, ok := hook.find("TeamsSitePoorAudioStreamsHigh", map[string]string{"site": site}); ok {
			lo, hi, _ := audio[site].ratioRange()
			t.Errorf("TeamsSitePoorAudioStreamsHigh delivered for site %s, whose audio is fine (%.1f%% to %.1f%% poor): %+v", site, 100*lo, 100*hi, a)
		}
	}
	if a, ok := hook.find("TeamsExporterGraphAuthenticationFailing", map[string]string{"instance": graphAddr}); ok {
		t.Errorf("TeamsExporterGraphAuthenticationFailing delivered for %s, whose credential works: %+v", graphAddr, a)
	}
}

// siteAlertView is what Prometheus holds of the site audio alert's inputs
// for instance, per site: the poor share, the classified streams an hour,
// and the alert's state; for a failure message.
func siteAlertView(prom *promServer, instance string) string {
	var b strings.Builder
	for _, q := range []string{
		`site_media:teams_site_streams_poor:ratio_rate1h{media="audio", instance=%q}`,
		`site_media:teams_site_streams_classified:rate1h{media="audio", instance=%q} * 3600`,
		`ALERTS{alertname="TeamsSitePoorAudioStreamsHigh", instance=%q}`,
	} {
		expr := fmt.Sprintf(q, instance)
		res, err := prom.query(expr)
		fmt.Fprintf(&b, "\n\t%s:", expr)
		if err != nil {
			fmt.Fprintf(&b, " %v", err)
		}
		for _, r := range res {
			fmt.Fprintf(&b, " %s=%.3g", r.Metric["site"]+r.Metric["alertstate"], r.value())
		}
	}
	return b.String()
}

// ruleSummaries is each alert's summary in the rules file.
func ruleSummaries(t *testing.T) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, "dashboards", "rules", rulesFile))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	re := regexp.MustCompile(`(?s)- alert: (\w+)\n.*?\n\s+summary: ([^\n]+)`)
	for _, m := range re.FindAllStringSubmatch(string(raw), -1) {
		out[m[1]] = strings.TrimSpace(m[2])
	}
	return out
}
