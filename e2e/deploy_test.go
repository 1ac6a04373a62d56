package e2e

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

var update = flag.Bool("update", false, "rewrite the generated deployment files (PrometheusRule, Compose env file)")

const (
	composeDir = repoRoot + "/deploy/compose"
	kubeDir    = repoRoot + "/deploy/kubernetes"
)

// yamlDoc is a parsed YAML document, walked with get.
type yamlDoc = map[any]any

func readYAML(t *testing.T, path string) yamlDoc {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yamlDoc
	if err := yaml.UnmarshalStrict(raw, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc
}

// get walks keys (map keys, or list indexes as ints) down from v.
func get(v any, keys ...any) any {
	for _, k := range keys {
		switch c := v.(type) {
		case map[any]any:
			v = c[k]
		case []any:
			i, ok := k.(int)
			if !ok || i >= len(c) {
				return nil
			}
			v = c[i]
		default:
			return nil
		}
	}
	return v
}

// TestDeployYAMLParses parses every YAML file of the deployment examples and
// the rules (strictly: duplicate keys fail).
func TestDeployYAMLParses(t *testing.T) {
	var files []string
	for _, dir := range []string{repoRoot + "/deploy", repoRoot + "/dashboards"} {
		filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() && d.Name() == "templates" {
				return filepath.SkipDir // Helm templates: YAML only once rendered (deploy/check renders them)
			}
			if err == nil && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				files = append(files, path)
			}
			return err
		})
	}
	if len(files) < 10 {
		t.Fatalf("found only %v", files)
	}
	for _, f := range files {
		readYAML(t, f)
	}
}

// TestPrometheusRuleMatchesRulesFile checks that the Kubernetes
// PrometheusRule carries exactly the rules file: byte for byte (it is the
// file indented under spec:) and, parsed, the same groups.
func TestPrometheusRuleMatchesRulesFile(t *testing.T) {
	rulesPath := filepath.Join(repoRoot, "dashboards", "rules", rulesFile)
	rules, err := os.ReadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	want := prometheusRule(rules)
	path := filepath.Join(kubeDir, "prometheusrule.yaml")
	// The Helm chart can read files of its own directory only: it carries
	// a copy.
	chartCopy := filepath.Join(repoRoot, "deploy", "helm", "teams-exporter", "files", rulesFile)
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(chartCopy, rules, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.ReadFile(chartCopy); err != nil || !bytes.Equal(got, rules) {
		t.Errorf("%s is not a copy of %s (%v); regenerate it: go test ./e2e -run TestPrometheusRuleMatchesRulesFile -update", chartCopy, rulesPath, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s; regenerate it: go test ./e2e -run TestPrometheusRuleMatchesRulesFile -update", path, rulesPath)
	}
	manifest, file := readYAML(t, path), readYAML(t, rulesPath)
	if !reflect.DeepEqual(get(manifest, "spec"), file) {
		t.Errorf("spec of %s is not the rules of %s", path, rulesPath)
	}
	if get(manifest, "kind") != "PrometheusRule" || get(manifest, "apiVersion") != "monitoring.coreos.com/v1" {
		t.Errorf("%s: kind %v, apiVersion %v", path, get(manifest, "kind"), get(manifest, "apiVersion"))
	}
}

// prometheusRule is the PrometheusRule manifest holding rules.
func prometheusRule(rules []byte) []byte {
	var b bytes.Buffer
	b.WriteString(`# Generated from dashboards/rules/teams-exporter.rules.yml; do not edit.
# Regenerate: go test ./e2e -run TestPrometheusRuleMatchesRulesFile -update
# Your Prometheus resource's ruleSelector must match these labels
# (kube-prometheus-stack, for one, selects release: <its release name>).
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: teams-exporter
  labels:
    app.kubernetes.io/name: teams-exporter
spec:
`)
	for _, line := range strings.SplitAfter(string(rules), "\n") {
		if strings.TrimSpace(line) != "" {
			b.WriteString("  ")
		}
		b.WriteString(line)
	}
	return b.Bytes()
}

// TestKubernetesManifests checks what makes the manifests work together and
// keeps the state file safe: one replica replaced with Recreate, the volume
// claim, Secret, ports and labels referring to each other, and every file
// listed in the kustomization.
func TestKubernetesManifests(t *testing.T) {
	kinds := map[string]yamlDoc{}
	kust := readYAML(t, filepath.Join(kubeDir, "kustomization.yaml"))
	var listed []string
	for _, r := range get(kust, "resources").([]any) {
		listed = append(listed, r.(string))
	}
	entries, err := os.ReadDir(kubeDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "kustomization.yaml" {
			continue
		}
		if strings.HasSuffix(e.Name(), ".example.yaml") {
			// Applied by hand only: a placeholder Secret in the
			// kustomization would replace the real one at every apply.
			if slices.Contains(listed, e.Name()) {
				t.Errorf("%s is in kustomization.yaml's resources", e.Name())
			}
		} else if !slices.Contains(listed, e.Name()) {
			t.Errorf("%s is not in kustomization.yaml's resources", e.Name())
		}
		doc := readYAML(t, filepath.Join(kubeDir, e.Name()))
		kinds[fmt.Sprint(get(doc, "kind"))] = doc
	}
	for _, k := range []string{"Deployment", "Service", "ServiceMonitor", "PrometheusRule", "Secret", "PersistentVolumeClaim"} {
		if kinds[k] == nil {
			t.Fatalf("no %s manifest", k)
		}
	}
	dep, svc, sm := kinds["Deployment"], kinds["Service"], kinds["ServiceMonitor"]
	if get(dep, "spec", "replicas") != 1 || get(dep, "spec", "strategy", "type") != "Recreate" {
		t.Errorf("Deployment: replicas %v, strategy %v; want 1 and Recreate (two exporters must never share a state file)",
			get(dep, "spec", "replicas"), get(dep, "spec", "strategy", "type"))
	}
	pod := get(dep, "spec", "template", "spec")
	ctr := get(pod, "containers", 0)
	if claim := get(pod, "volumes", 0, "persistentVolumeClaim", "claimName"); claim != get(kinds["PersistentVolumeClaim"], "metadata", "name") {
		t.Errorf("Deployment claims %v, the PVC is %v", claim, get(kinds["PersistentVolumeClaim"], "metadata", "name"))
	}
	if mount := get(ctr, "volumeMounts", 0, "mountPath"); !hasEnv(ctr, "TEAMS_EXPORTER_STATE_FILE", fmt.Sprint(mount)+"/state.json") {
		t.Errorf("TEAMS_EXPORTER_STATE_FILE is not on the state volume mounted at %v", mount)
	}
	if ref := get(ctr, "envFrom", 0, "secretRef", "name"); ref != get(kinds["Secret"], "metadata", "name") {
		t.Errorf("Deployment reads Secret %v, the Secret is %v", ref, get(kinds["Secret"], "metadata", "name"))
	}
	for _, key := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET"} {
		if get(kinds["Secret"], "stringData", key) == nil {
			t.Errorf("Secret has no %s", key)
		}
	}
	if get(ctr, "ports", 0, "containerPort") != 9868 || get(ctr, "ports", 0, "name") != "metrics" {
		t.Errorf("container port %v", get(ctr, "ports"))
	}
	if get(pod, "automountServiceAccountToken") != false {
		t.Error("the pod mounts a service account token it never uses")
	}
	image := fmt.Sprint(get(ctr, "image"))
	tag := fmt.Sprint(get(kust, "images", 0, "newTag"))
	if _, t1, _ := strings.Cut(image, ":"); t1 == "" || t1 == "latest" || tag == "" || tag == "latest" || tag != t1 {
		t.Errorf("image %s, kustomization tag %s: want one pinned tag, not latest", image, tag)
	}
	if get(svc, "metadata", "name") != scrapeJob {
		t.Errorf("Service %v: its name becomes the job label, the rules expect %q", get(svc, "metadata", "name"), scrapeJob)
	}
	if get(svc, "spec", "ports", 0, "name") != get(sm, "spec", "endpoints", 0, "port") {
		t.Errorf("ServiceMonitor scrapes port %v, the Service's is %v", get(sm, "spec", "endpoints", 0, "port"), get(svc, "spec", "ports", 0, "name"))
	}
	podLabels := get(dep, "spec", "template", "metadata", "labels").(map[any]any)
	if !subset(get(svc, "spec", "selector"), podLabels) || !subset(get(dep, "spec", "selector", "matchLabels"), podLabels) {
		t.Error("the Service's or the Deployment's selector does not match the pod labels")
	}
	if !subset(get(sm, "spec", "selector", "matchLabels"), get(svc, "metadata", "labels").(map[any]any)) {
		t.Error("the ServiceMonitor's selector does not match the Service's labels")
	}
}

func hasEnv(container any, name, value string) bool {
	env, _ := get(container, "env").([]any)
	for i := range env {
		if get(env, i, "name") == name && get(env, i, "value") == value {
			return true
		}
	}
	return false
}

func subset(sel any, labels map[any]any) bool {
	m, ok := sel.(map[any]any)
	if !ok || len(m) == 0 {
		return false
	}
	for k, v := range m {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// TestCompose checks the Compose example: its four services, files mounted
// from the repository that exist, Prometheus loading the project's rules
// (promtool check config), the exporter in demo mode by default, and Grafana
// provisioned with the datasource uid and the dashboards folder the
// dashboards expect.
func TestCompose(t *testing.T) {
	compose := readYAML(t, filepath.Join(composeDir, "compose.yaml"))
	services := get(compose, "services").(map[any]any)
	for _, s := range []string{"exporter", "prometheus", "alertmanager", "grafana"} {
		if services[s] == nil {
			t.Errorf("no %s service", s)
		}
	}
	if demo, err := os.ReadFile(filepath.Join(composeDir, "demo.env")); err != nil || !regexp.MustCompile(`(?m)^TEAMS_EXPORTER_DEMO=true$`).Match(demo) {
		t.Errorf("demo.env does not set TEAMS_EXPORTER_DEMO=true (%v): the example must start in demo mode", err)
	}
	// Mounts: source on the host (relative to compose.yaml) -> target.
	mounts := map[string]string{}
	for name, svc := range services {
		vols, _ := get(svc, "volumes").([]any)
		for _, v := range vols {
			src, dst, _ := strings.Cut(strings.TrimSuffix(v.(string), ":ro"), ":")
			if !strings.HasPrefix(src, ".") {
				continue // a named volume
			}
			if _, err := os.Stat(filepath.Join(composeDir, src)); err != nil {
				t.Errorf("%s mounts %s: %v", name, src, err)
			}
			mounts[dst] = filepath.Clean(filepath.Join(composeDir, src))
		}
	}

	// Prometheus's config, with the container paths it names mapped back
	// to the repository's files.
	cfgPath := mounts["/etc/prometheus/prometheus.yml"]
	cfg := readYAML(t, cfgPath)
	ruleFiles, _ := get(cfg, "rule_files").([]any)
	if len(ruleFiles) != 1 || mounts[fmt.Sprint(ruleFiles[0])] != filepath.Clean(filepath.Join(repoRoot, "dashboards", "rules", rulesFile)) {
		t.Errorf("Prometheus loads %v, which is not the mounted %s", ruleFiles, rulesFile)
	}
	if get(cfg, "scrape_configs", 0, "job_name") != scrapeJob || get(cfg, "scrape_configs", 0, "static_configs", 0, "targets", 0) != "exporter:9868" {
		t.Errorf("first scrape config %v: want job %q scraping exporter:9868", get(cfg, "scrape_configs", 0), scrapeJob)
	}
	if tool, err := exec.LookPath("promtool"); err == nil {
		raw, _ := os.ReadFile(cfgPath)
		abs, _ := filepath.Abs(mounts[fmt.Sprint(ruleFiles[0])])
		local := filepath.Join(t.TempDir(), "prometheus.yml")
		os.WriteFile(local, bytes.ReplaceAll(raw, []byte(fmt.Sprint(ruleFiles[0])), []byte(abs)), 0o644)
		if out, err := exec.Command(tool, "check", "config", local).CombinedOutput(); err != nil {
			t.Errorf("promtool check config %s: %v\n%s", cfgPath, err, out)
		}
	}

	// Grafana: the datasource the dashboards default to, and the folder
	// they are provisioned from.
	provisioning := mounts["/etc/grafana/provisioning"]
	ds := readYAML(t, filepath.Join(provisioning, "datasources", "prometheus.yaml"))
	const wantUID = "prometheus"
	if get(ds, "datasources", 0, "uid") != wantUID || get(ds, "datasources", 0, "type") != "prometheus" || get(ds, "datasources", 0, "url") != "http://prometheus:9090" {
		t.Errorf("Grafana datasource %v: want uid %q of type prometheus at http://prometheus:9090", get(ds, "datasources", 0), wantUID)
	}
	for _, d := range loadDashboards(t) {
		if v := d.variable("datasource"); v == nil || v.Current.Value != wantUID {
			t.Errorf("%s: the datasource variable must default to the provisioned datasource %q", d.file, wantUID)
		}
	}
	prov := readYAML(t, filepath.Join(provisioning, "dashboards", "teams-exporter.yaml"))
	path := fmt.Sprint(get(prov, "providers", 0, "options", "path"))
	if mounts[path] != filepath.Clean(filepath.Join(repoRoot, "dashboards")) {
		t.Errorf("Grafana provisions dashboards from %s, where dashboards/ is not mounted (%v)", path, mounts)
	}
}

// helpVariable is one variable as `exporter -h` documents it.
type helpVariable struct {
	key, def, desc string
	azure          bool // read by azidentity, with no default of ours
}

var (
	helpVarRE   = regexp.MustCompile(`(?m)^  ((?:TEAMS_EXPORTER|AZURE)_[A-Z0-9_]+)(?: \(default: (.*)\))?\n      (.*)$`)
	helpVarsMu  sync.Mutex
	helpVarsOut []helpVariable
)

// helpVariables is every variable `exporter -h` lists: the configuration's
// own (from its struct tags, so new ones appear here by themselves) and
// azidentity's.
func helpVariables(t *testing.T) []helpVariable {
	t.Helper()
	helpVarsMu.Lock()
	defer helpVarsMu.Unlock()
	if helpVarsOut != nil {
		return helpVarsOut
	}
	out, err := exec.Command(exporterBinary(t), "-h").Output()
	if err != nil {
		t.Fatalf("exporter -h: %v", err)
	}
	for _, m := range helpVarRE.FindAllStringSubmatch(string(out), -1) {
		def := m[2]
		if def == "empty" {
			def = ""
		}
		helpVarsOut = append(helpVarsOut, helpVariable{key: m[1], def: def, desc: m[3], azure: strings.HasPrefix(m[1], "AZURE_")})
	}
	if len(helpVarsOut) < 20 {
		t.Fatalf("exporter -h lists only %d variables:\n%s", len(helpVarsOut), out)
	}
	return helpVarsOut
}

// composeEnvExample renders the Compose example's env file: every variable,
// commented out with its default, under its meaning.
func composeEnvExample(vars []helpVariable) []byte {
	var b bytes.Buffer
	b.WriteString(`# Settings of the exporter in the Compose example (also for docker run
# --env-file): copy this file to teams-exporter.env (git ignores that name),
# uncomment and set what you need. To watch your tenant: TEAMS_EXPORTER_DEMO=false
# and the AZURE_* credentials. Every variable of exporter -h is here.
# Generated: go test ./e2e -run TestComposeEnvFile -update
`)
	section := ""
	for _, v := range vars {
		if s := map[bool]string{false: "Exporter", true: "Credentials (Azure Identity)"}[v.azure]; s != section {
			section = s
			fmt.Fprintf(&b, "\n# --- %s ---\n", s)
		}
		fmt.Fprintf(&b, "\n# %s\n# %s=%s\n", v.desc, v.key, v.def)
	}
	return b.Bytes()
}

// TestComposeEnvFile: the env file the Compose example reads lists every
// variable of exporter -h, git ignores the file with your values, and the
// Compose service reads it after the demo defaults.
func TestComposeEnvFile(t *testing.T) {
	path := filepath.Join(composeDir, "teams-exporter.env.example")
	want := composeEnvExample(helpVariables(t))
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s does not list exactly the variables of exporter -h; regenerate it: go test ./e2e -run TestComposeEnvFile -update", path)
	}
	compose := readYAML(t, filepath.Join(composeDir, "compose.yaml"))
	files := get(compose, "services", "exporter", "env_file")
	if get(files, 0, "path") != "demo.env" || get(files, 1, "path") != "teams-exporter.env" || get(files, 1, "required") != false {
		t.Errorf("exporter env_file %v: want demo.env, then the optional teams-exporter.env", files)
	}
	if env := get(compose, "services", "exporter", "environment"); env != nil {
		t.Errorf("exporter environment %v would override the env files", env)
	}
	ignored := exec.Command("git", "check-ignore", "-q", filepath.Join("deploy", "compose", "teams-exporter.env"))
	ignored.Dir = repoRoot
	if err := ignored.Run(); err != nil {
		t.Errorf("git does not ignore deploy/compose/teams-exporter.env: %v", err)
	}
}

// TestDockerfile: the build image is go.mod's Go version, every base image is
// pinned by digest, the version, revision and branch build arguments reach
// the version package, and the health check runs the binary's probe mode.
func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goLine := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if goLine == nil {
		t.Fatal("go.mod has no go line")
	}
	dockerfile := string(raw)
	if !regexp.MustCompile(`(?m)^FROM (--platform=\$BUILDPLATFORM )?golang:` + regexp.QuoteMeta(string(goLine[1])) + `@sha256:[0-9a-f]{64} AS build$`).MatchString(dockerfile) {
		t.Errorf("Dockerfile's build image is not golang:%s pinned by digest (go.mod's Go version)", goLine[1])
	}
	// Every base image by digest: a tag can be rebuilt upstream.
	for _, from := range regexp.MustCompile(`(?m)^FROM .*$`).FindAllString(dockerfile, -1) {
		if !regexp.MustCompile(`@sha256:[0-9a-f]{64}( AS \w+)?$`).MatchString(from) {
			t.Errorf("%q: base image not pinned by digest", from)
		}
	}
	for _, arg := range []string{"VERSION", "REVISION", "BRANCH"} {
		name := strings.ToUpper(arg[:1]) + strings.ToLower(arg[1:])
		if !strings.Contains(dockerfile, "ARG "+arg+"=") || !strings.Contains(dockerfile, "-X github.com/prometheus/common/version."+name+"=${"+arg+"}") {
			t.Errorf("build argument %s does not reach version.%s", arg, name)
		}
	}
	m := regexp.MustCompile(`(?m)^HEALTHCHECK .*\\\n\s+CMD \["([^"]+)", "-probe", "([^"]+)"\]`).FindStringSubmatch(dockerfile)
	if m == nil || !strings.Contains(dockerfile, "COPY --from=build /out/teams-exporter "+m[1]+"\n") || !strings.HasPrefix(m[2], "/") {
		t.Errorf("no HEALTHCHECK running the exporter's probe mode on a path: %v", m)
	}
}

// dockerfileEnv is the ENV lines of the Dockerfile's last stage (the
// runtime image), as KEY=VALUE.
func dockerfileEnv(t *testing.T, dockerfile string) []string {
	t.Helper()
	stages := regexp.MustCompile(`(?m)^FROM `).Split(dockerfile, -1)
	var env []string
	for _, m := range regexp.MustCompile(`(?m)^ENV (\S+=\S+)$`).FindAllStringSubmatch(stages[len(stages)-1], -1) {
		env = append(env, m[1])
	}
	if len(env) == 0 {
		t.Fatal("the runtime stage has no ENV line")
	}
	return env
}

// TestDockerHealthcheckWithBasicAuth runs the image's HEALTHCHECK command
// against the exporter configured as the image configures it, with a web
// configuration that requires basic auth: the probe needs no password, so
// it passes. Without the image's health listener, the same probe gets 401
// and fails, as it did before the image set one.
func TestDockerHealthcheckWithBasicAuth(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	dockerfile := string(raw)
	m := regexp.MustCompile(`(?m)^HEALTHCHECK .*\\\n\s+CMD \[(.*)\]$`).FindStringSubmatch(dockerfile)
	if m == nil {
		t.Fatal("no HEALTHCHECK CMD in exec form")
	}
	var probe []string
	for _, a := range strings.Split(m[1], ",") {
		probe = append(probe, strings.Trim(strings.TrimSpace(a), `"`))
	}
	webConfig := filepath.Join(t.TempDir(), "web-config.yml")
	// The bcrypt hash of a password nobody knows: every request is refused.
	if err := os.WriteFile(webConfig, []byte("basic_auth_users:\n  prometheus: $2a$04$1vgaO9qdyzInbuqXhy4QO.C9N3OIQZ4soThwJYIL89QP7Q148MU2S\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := exporterBinary(t)
	for _, tc := range []struct {
		name        string
		imageHealth bool // the image's TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS
		wantExit    int
	}{
		{"as the image runs it", true, 0},
		{"without the health listener", false, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := testrun.FreeAddr(t)
			env := append(cleanEnv(),
				"TEAMS_EXPORTER_LISTEN_ADDRESS="+addr,
				"TEAMS_EXPORTER_WEB_CONFIG_FILE="+webConfig,
				"TEAMS_EXPORTER_STATE_FILE="+filepath.Join(t.TempDir(), "state.json"),
			)
			for _, kv := range dockerfileEnv(t, dockerfile) {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "TEAMS_EXPORTER_STATE_FILE":
					continue // a path of the image
				case "TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS":
					if !tc.imageHealth {
						continue
					}
					// Its host, on a free port: tests run side by side.
					host, _, err := net.SplitHostPort(v)
					if err != nil || host != "127.0.0.1" {
						t.Fatalf("the image's health listener %q is not on the container's loopback", v)
					}
					_, port, _ := net.SplitHostPort(testrun.FreeAddr(t))
					v = net.JoinHostPort(host, port)
				}
				env = append(env, k+"="+v)
			}
			startProcess(t, "exporter", env, bin, "-demo")
			waitFor(t, 90*time.Second, "the exporter to refuse /metrics without a password", func() error {
				resp, err := http.Get("http://" + addr + "/metrics")
				if err != nil {
					return err
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					return fmt.Errorf("/metrics: %s, want 401", resp.Status)
				}
				return nil
			})
			cmd := exec.Command(bin, probe[1:]...)
			cmd.Env = env
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code != tc.wantExit {
				t.Errorf("HEALTHCHECK %v exited %d, want %d: %s", probe, code, tc.wantExit, out)
			}
		})
	}
}
