package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = repoRoot + "/deploy/helm/teams-exporter"

// chartCases are the values the chart is linted and rendered with: its
// defaults, and each way of giving credentials with the toggles on.
var chartCases = []struct {
	name   string
	values string
}{
	{"defaults", ``},
	{"secret, basic auth, operator objects", `
azure: {create: true, tenantId: 00000000-0000-0000-0000-000000000001, clientId: 00000000-0000-0000-0000-000000000002, clientSecret: not-a-real-secret}
webConfig:
  basic_auth_users:
    prometheus: $2a$04$1vgaO9qdyzInbuqXhy4QO.C9N3OIQZ4soThwJYIL89QP7Q148MU2S
serviceMonitor:
  enabled: true
  labels: {release: kube-prometheus-stack}
  basicAuth:
    username: {name: scrape-auth, key: username}
    password: {name: scrape-auth, key: password}
prometheusRule: {enabled: true, labels: {release: kube-prometheus-stack}}
extraEnv: {AZURE_AUTHORITY_HOST: "https://login.microsoftonline.us/"}
`},
	{"existing secret and claim, workload identity", `
azure: {existingSecret: my-azure-credentials}
persistence: {existingClaim: my-claim}
serviceAccount: {create: true, annotations: {azure.workload.identity/client-id: 00000000-0000-0000-0000-000000000002}}
podLabels: {azure.workload.identity/use: "true"}
image: {repository: registry.example.com/teams-exporter, tag: 1.2.3}
`},
	{"no persistence", `persistence: {enabled: false}`},
}

// helmTemplate renders the chart with values.
func helmTemplate(t *testing.T, values string) []byte {
	t.Helper()
	helm := needTool(t, "helm")
	// Not under t.TempDir(): its name carries the subtest's, commas
	// included, and helm splits a -f argument at commas.
	dir, err := os.MkdirTemp("", "teams-exporter-helm-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "values.yaml")
	if err := os.WriteFile(file, []byte(values), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(helm, "template", "teams", chartDir, "--namespace", "monitoring", "-f", file).Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderrOf(err))
	}
	if lint, err := exec.Command(helm, "lint", "--strict", chartDir, "-f", file).CombinedOutput(); err != nil {
		t.Errorf("helm lint --strict: %v\n%s", err, lint)
	}
	return out
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return ""
}

// TestHelmChart lints and renders the chart with each case's values and
// decodes every object strictly; the objects must fit together (Secret,
// claim, Service and ServiceMonitor selectors, job label), the Deployment
// keeps the security settings of the kustomization, and the
// PrometheusRule carries the rules file.
func TestHelmChart(t *testing.T) {
	for _, tc := range chartCases {
		t.Run(tc.name, func(t *testing.T) {
			objs := decodeStrictly(t, tc.name, helmTemplate(t, tc.values))
			byKind := map[string][]object{}
			for _, o := range objs {
				byKind[o.kind] = append(byKind[o.kind], o)
				checkObject(t, o)
			}
			if len(byKind["Deployment"]) != 1 || len(byKind["Service"]) != 1 {
				t.Fatalf("want one Deployment and one Service, got %v", kindsOf(objs))
			}
			dep := byKind["Deployment"][0].value.(*appsv1.Deployment)
			svc := byKind["Service"][0].value.(*corev1.Service)
			pod := dep.Spec.Template.Spec
			ctr := pod.Containers[0]
			if !subset(svc.Spec.Selector, dep.Spec.Template.Labels) || !subset(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
				t.Error("the Service's or the Deployment's selector does not match the pod labels")
			}
			env := map[string]string{}
			for _, e := range ctr.Env {
				env[e.Name] = e.Value
			}
			if env["TEAMS_EXPORTER_STATE_FILE"] != "/var/lib/teams-exporter/state.json" || ctr.VolumeMounts[0].MountPath != "/var/lib/teams-exporter" {
				t.Errorf("state file %q is not on the state volume %v", env["TEAMS_EXPORTER_STATE_FILE"], ctr.VolumeMounts)
			}
			for _, o := range byKind["Secret"] {
				s := o.value.(*corev1.Secret)
				if strings.HasSuffix(s.Name, "-web-config") {
					if !slices.ContainsFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == s.Name }) || env["TEAMS_EXPORTER_WEB_CONFIG_FILE"] == "" {
						t.Errorf("web config Secret %s is not mounted and passed", s.Name)
					}
					continue
				}
				if len(ctr.EnvFrom) != 1 || ctr.EnvFrom[0].SecretRef.Name != s.Name {
					t.Errorf("the chart's Secret %s is not what the container reads (%v)", s.Name, ctr.EnvFrom)
				}
				for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"} {
					if s.StringData[k] == "" {
						t.Errorf("Secret lacks %s", k)
					}
				}
			}
			state := pod.Volumes[0]
			switch pvcs := byKind["PersistentVolumeClaim"]; {
			case state.PersistentVolumeClaim == nil:
				if len(pvcs) != 0 || state.EmptyDir == nil {
					t.Errorf("state volume %v with claims %v", state, kindsOf(pvcs))
				}
			case len(pvcs) == 1:
				if claim := pvcs[0].value.(*corev1.PersistentVolumeClaim); claim.Name != state.PersistentVolumeClaim.ClaimName {
					t.Errorf("Deployment claims %s, the chart's claim is %s", state.PersistentVolumeClaim.ClaimName, claim.Name)
				}
			case state.PersistentVolumeClaim.ClaimName != "my-claim":
				t.Errorf("claim %s without a PersistentVolumeClaim", state.PersistentVolumeClaim.ClaimName)
			}
			for _, o := range byKind["ServiceMonitor"] {
				sm := o.value.(*monitoringv1.ServiceMonitor)
				if !subset(sm.Spec.Selector.MatchLabels, svc.Labels) || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
					t.Error("the ServiceMonitor does not select the Service's metrics port")
				}
				if svc.Labels[sm.Spec.JobLabel] != scrapeJob {
					t.Errorf("job label %q (the Service's label %q), the rules expect %q", svc.Labels[sm.Spec.JobLabel], sm.Spec.JobLabel, scrapeJob)
				}
			}
			for _, o := range byKind["PrometheusRule"] {
				checkPrometheusRuleSpec(t, o.source, o.value.(*monitoringv1.PrometheusRule))
			}
		})
	}
}

func kindsOf(objs []object) []string {
	var k []string
	for _, o := range objs {
		k = append(k, o.kind)
	}
	return k
}

func subset(sel, labels map[string]string) bool {
	if len(sel) == 0 {
		return false
	}
	for k, v := range sel {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// checkPrometheusRuleSpec: the spec is the rules file, group for group.
func checkPrometheusRuleSpec(t *testing.T, where string, pr *monitoringv1.PrometheusRule) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(repoRoot, rulesPath))
	if err != nil {
		t.Fatal(err)
	}
	var want monitoringv1.PrometheusRuleSpec
	if err := yaml.UnmarshalStrict(raw, &want); err != nil {
		t.Fatalf("%s: %v", rulesPath, err)
	}
	if !reflect.DeepEqual(pr.Spec, want) {
		t.Errorf("%s: the PrometheusRule's spec is not %s", where, rulesPath)
	}
}

// chartSetVariables are the variables the chart sets from other values.
var chartSetVariables = []string{
	"TEAMS_EXPORTER_LISTEN_ADDRESS", "TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS", "TEAMS_EXPORTER_STATE_FILE", "TEAMS_EXPORTER_WEB_CONFIG_FILE",
}

// TestHelmValuesCoverEveryVariable: values.yaml's config has every
// TEAMS_EXPORTER_* variable of exporter -h that the chart does not set
// itself, with the exporter's default, and each reaches the container.
func TestHelmValuesCoverEveryVariable(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values struct {
		Config map[string]string `json:"config"`
	}
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	// Defaults the chart changes on purpose.
	chartDefaults := map[string]string{"TEAMS_EXPORTER_LOG_FORMAT": "json"}
	secretTemplate, err := os.ReadFile(filepath.Join(chartDir, "templates", "secret.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range exporterVariables(t) {
		if slices.Contains(chartSetVariables, v.key) {
			continue
		}
		if isSecretVariable(v.key) {
			// Never a plain value: the chart's Secret carries it.
			if !strings.Contains(string(secretTemplate), "\n  "+v.key+": ") {
				t.Errorf("secret variable %s cannot be set through the chart's Secret", v.key)
			}
			if _, ok := values.Config[v.key]; ok {
				t.Errorf("secret variable %s is a plain value in config", v.key)
			}
			continue
		}
		got, ok := values.Config[v.key]
		want := v.def
		if d, ok := chartDefaults[v.key]; ok {
			want = d
		}
		if !ok || got != want {
			t.Errorf("values.yaml config.%s = %q (present: %v), want the default %q", v.key, got, ok, want)
		}
	}
	objs := decodeStrictly(t, "defaults", helmTemplate(t, ""))
	for _, o := range objs {
		dep, ok := o.value.(*appsv1.Deployment)
		if !ok {
			continue
		}
		env := map[string]string{}
		for _, e := range dep.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		for k, v := range values.Config {
			if v != "" && env[k] != v {
				t.Errorf("config.%s = %q does not reach the container (%q)", k, v, env[k])
			}
		}
	}
}

// isSecretVariable tells a variable holding a secret by its name, as the
// exporter's start-up line does.
func isSecretVariable(key string) bool {
	for _, w := range []string{"SECRET", "PASSWORD", "TOKEN", "CLIENT_STATE"} {
		if strings.Contains(key, w) {
			return true
		}
	}
	return false
}

// exporterVar is one variable as `exporter -h` documents it.
type exporterVar struct{ key, def string }

var (
	exporterOnce sync.Once
	exporterBin  string
	exporterErr  error
)

// exporterBinary builds the exporter once for the tests of this package.
func exporterBinary(t *testing.T) string {
	t.Helper()
	exporterOnce.Do(func() {
		dir, err := os.MkdirTemp("", "teams-exporter-check-")
		if err != nil {
			exporterErr = err
			return
		}
		exporterBin = filepath.Join(dir, "exporter")
		cmd := exec.Command("go", "build", "-o", exporterBin, "./cmd/exporter")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			exporterErr = err
			t.Logf("%s", out)
		}
	})
	if exporterErr != nil {
		t.Fatalf("build the exporter: %v", exporterErr)
	}
	return exporterBin
}

var helpVarRE = regexp.MustCompile(`(?m)^  (TEAMS_EXPORTER_[A-Z0-9_]+) \(default: (.*)\)$`)

// exporterVariables is every TEAMS_EXPORTER_* variable of exporter -h.
func exporterVariables(t *testing.T) []exporterVar {
	t.Helper()
	out, err := exec.Command(exporterBinary(t), "-h").Output()
	if err != nil {
		t.Fatalf("exporter -h: %v", err)
	}
	var vars []exporterVar
	for _, m := range helpVarRE.FindAllStringSubmatch(string(out), -1) {
		def := m[2]
		if def == "empty" {
			def = ""
		}
		vars = append(vars, exporterVar{m[1], def})
	}
	if len(vars) < 15 {
		t.Fatalf("exporter -h lists %d variables", len(vars))
	}
	return vars
}
