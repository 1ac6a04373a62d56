package check

import (
	"fmt"
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
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

const chartDir = repoRoot + "/deploy/helm/teams-exporter"

// chartCases are the values the chart is linted and rendered with: its
// defaults, each way of giving credentials, and each option with its
// toggles on. check, when set, looks at what the case turns on.
var chartCases = []struct {
	name   string
	values string
	check  func(t *testing.T, r rendered)
}{
	{"defaults", ``, func(t *testing.T, r rendered) {
		if r.dep.Name != "teams-exporter" || !strings.HasPrefix(r.ctr.Image, "ghcr.io/teams-exporter/teams-exporter:") {
			t.Errorf("release teams-exporter: Deployment %s, image %s", r.dep.Name, r.ctr.Image)
		}
		checkNoNotifications(t, r)
		if len(r.ctr.EnvFrom) != 0 {
			t.Errorf("envFrom %v without a Secret", r.ctr.EnvFrom)
		}
	}},
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
`, func(t *testing.T, r rendered) {
		if _, ok := r.env["AZURE_CLIENT_ID"]; ok {
			t.Error("AZURE_CLIENT_ID is a plain variable besides the chart's Secret")
		}
		mountedFile(t, r, r.env["TEAMS_EXPORTER_WEB_CONFIG_FILE"], "Secret", "teams-exporter-web-config", "web-config.yml")
	}},
	{"existing secret and claim, workload identity", `
azure: {existingSecret: my-azure-credentials}
persistence: {existingClaim: my-claim}
serviceAccount: {create: true, annotations: {azure.workload.identity/client-id: 00000000-0000-0000-0000-000000000002}}
podLabels: {azure.workload.identity/use: "true"}
image: {repository: registry.example.com/teams-exporter, tag: 1.2.3}
`, nil},
	{"workload identity without a Secret", `
serviceAccount: {create: true, annotations: {azure.workload.identity/client-id: 00000000-0000-0000-0000-000000000002}}
podLabels: {azure.workload.identity/use: "true"}
`, checkWorkloadIdentity},
	{"no persistence", `persistence: {enabled: false}`, nil},
	{"notifications with an Ingress", `
config: {TEAMS_EXPORTER_NOTIFICATION_URL: "https://teams-exporter.example.com/notifications"}
azure: {existingSecret: my-azure-credentials}
notifications:
  ingress:
    enabled: true
    className: nginx
    annotations: {cert-manager.io/cluster-issuer: letsencrypt}
    tls: [{hosts: [teams-exporter.example.com], secretName: teams-exporter-tls}]
`, func(t *testing.T, r rendered) {
		checkNotifications(t, r, 9869, "teams-exporter.example.com")
		ing := r.byKind["Ingress"][0].value.(*networkingv1.Ingress)
		if ing.Spec.IngressClassName == nil || *ing.Spec.IngressClassName != "nginx" || ing.Annotations["cert-manager.io/cluster-issuer"] != "letsencrypt" {
			t.Errorf("Ingress class %v, annotations %v", ing.Spec.IngressClassName, ing.Annotations)
		}
		if len(ing.Spec.TLS) != 1 || ing.Spec.TLS[0].SecretName != "teams-exporter-tls" || !slices.Equal(ing.Spec.TLS[0].Hosts, []string{"teams-exporter.example.com"}) {
			t.Errorf("Ingress TLS %v", ing.Spec.TLS)
		}
	}},
	{"notifications on another port, host set, no Ingress", `
config: {TEAMS_EXPORTER_NOTIFICATION_URL: "https://calls.example.org:8443/notifications"}
ports: {notifications: 9999}
`, func(t *testing.T, r rendered) { checkNotifications(t, r, 9999, "") }},
	{"notifications through Event Hubs", `
config:
  TEAMS_EXPORTER_NOTIFICATION_URL: "EventHub:https://teams.vault.azure.net/secrets/hub?tenantId=00000000-0000-0000-0000-000000000001"
  TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB: teams.servicebus.windows.net/callrecords
`, checkNoNotifications},
	{"Event Hubs, role-based URL, connection string in the chart's Secret", `
config: {TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB: teams.servicebus.windows.net/callrecords}
azure: {create: true, tenantId: 00000000-0000-0000-0000-000000000001, clientId: 00000000-0000-0000-0000-000000000002, clientSecret: s, notificationClientState: cs, eventHubConnectionString: "Endpoint=sb://teams.servicebus.windows.net/;SharedAccessKeyName=listen;SharedAccessKey=k;EntityPath=callrecords"}
`, func(t *testing.T, r rendered) {
		checkNoNotifications(t, r)
		if r.env["TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB"] != "teams.servicebus.windows.net/callrecords" || r.env["TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONSUMER_GROUP"] != "$Default" {
			t.Errorf("event hub %q, consumer group %q", r.env["TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB"], r.env["TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONSUMER_GROUP"])
		}
		for _, o := range r.byKind["Secret"] {
			if s := o.value.(*corev1.Secret); !strings.HasPrefix(s.StringData["TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING"], "Endpoint=sb://") {
				t.Errorf("Secret %s lacks the connection string", s.Name)
			}
		}
	}},
	{"files: extra volumes, building ConfigMap, certificate", `
azure: {tenantId: 00000000-0000-0000-0000-000000000001, clientId: 00000000-0000-0000-0000-000000000002, clientCertificate: {existingSecret: teams-exporter-certificate}}
buildingFile: {existingConfigMap: teams-exporter-buildings, key: sites.tsv}
extraEnvFrom: [{secretRef: {name: teams-exporter-proxy}}, {configMapRef: {name: teams-exporter-settings, optional: true}}]
extraVolumes: [{name: ca, configMap: {name: corporate-ca}}]
extraVolumeMounts: [{name: ca, mountPath: /etc/ssl/corporate, readOnly: true}]
extraEnv: {SSL_CERT_DIR: /etc/ssl/corporate}
`, func(t *testing.T, r rendered) {
		mountedFile(t, r, r.env["TEAMS_EXPORTER_BUILDING_FILE"], "ConfigMap", "teams-exporter-buildings", "sites.tsv")
		mountedFile(t, r, r.env["AZURE_CLIENT_CERTIFICATE_PATH"], "Secret", "teams-exporter-certificate", "certificate.pem")
		if r.env["AZURE_TENANT_ID"] != "00000000-0000-0000-0000-000000000001" || r.env["AZURE_CLIENT_ID"] != "00000000-0000-0000-0000-000000000002" {
			t.Errorf("tenant %q and client %q are not passed", r.env["AZURE_TENANT_ID"], r.env["AZURE_CLIENT_ID"])
		}
		if _, ok := r.env["AZURE_CLIENT_SECRET"]; ok || len(r.byKind["Secret"]) != 0 {
			t.Error("a client secret besides the certificate")
		}
		if len(r.ctr.EnvFrom) != 2 || r.ctr.EnvFrom[0].SecretRef == nil || r.ctr.EnvFrom[0].SecretRef.Name != "teams-exporter-proxy" ||
			r.ctr.EnvFrom[1].ConfigMapRef == nil || r.ctr.EnvFrom[1].ConfigMapRef.Optional == nil || !*r.ctr.EnvFrom[1].ConfigMapRef.Optional {
			t.Errorf("extraEnvFrom is not the container's envFrom: %v", r.ctr.EnvFrom)
		}
		mountedFile(t, r, "/etc/ssl/corporate/ca.pem", "ConfigMap", "corporate-ca", "")
	}},
	{"certificate in the chart's Secret", `
azure: {create: true, tenantId: 00000000-0000-0000-0000-000000000001, clientId: 00000000-0000-0000-0000-000000000002, clientCertificate: {existingSecret: cert, key: tls.pfx}}
`, func(t *testing.T, r rendered) {
		mountedFile(t, r, r.env["AZURE_CLIENT_CERTIFICATE_PATH"], "Secret", "cert", "tls.pfx")
	}},
	{"nameOverride", `nameOverride: calls`, func(t *testing.T, r rendered) {
		if r.dep.Name != "teams-exporter-calls" || r.svc.Name != "teams-exporter-calls" {
			t.Errorf("Deployment %s, Service %s, want teams-exporter-calls", r.dep.Name, r.svc.Name)
		}
	}},
	{"fullnameOverride", `fullnameOverride: calls`, func(t *testing.T, r rendered) {
		if r.dep.Name != "calls" || r.svc.Name != "calls" || r.dep.Spec.Template.Spec.Volumes[0].PersistentVolumeClaim.ClaimName != "calls-state" {
			t.Errorf("Deployment %s, Service %s, want calls", r.dep.Name, r.svc.Name)
		}
	}},
}

// rendered is the chart rendered with one case's values.
type rendered struct {
	byKind map[string][]object
	dep    *appsv1.Deployment
	svc    *corev1.Service
	ctr    corev1.Container
	env    map[string]string
}

// helmRelease is the release name of the rendered cases: the one the
// README's install command uses.
const helmRelease = "teams-exporter"

// helmRun renders the chart with values as release and lints it; it
// returns the rendered stream and what helm template and helm lint
// --strict said when they failed ("" when they passed).
func helmRun(t *testing.T, release, values string) (out []byte, templateErr, lintErr string) {
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
	out, err = exec.Command(helm, "template", release, chartDir, "--namespace", "monitoring", "-f", file).Output()
	if err != nil {
		templateErr = fmt.Sprintf("%v: %s", err, stderrOf(err))
	}
	if lint, err := exec.Command(helm, "lint", "--strict", chartDir, "-f", file).CombinedOutput(); err != nil {
		lintErr = fmt.Sprintf("%v: %s", err, lint)
	}
	return out, templateErr, lintErr
}

// helmTemplate renders the chart with values; helm template and helm lint
// --strict must pass.
func helmTemplate(t *testing.T, values string) []byte {
	t.Helper()
	out, templateErr, lintErr := helmRun(t, helmRelease, values)
	if templateErr != "" {
		t.Fatalf("helm template: %s", templateErr)
	}
	if lintErr != "" {
		t.Errorf("helm lint --strict: %s", lintErr)
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
			for _, o := range objs {
				checkObject(t, o)
			}
			r := renderedOf(t, objs)
			byKind, dep, svc, ctr, env := r.byKind, r.dep, r.svc, r.ctr, r.env
			pod := dep.Spec.Template.Spec
			if !subset(svc.Spec.Selector, dep.Spec.Template.Labels) || !subset(dep.Spec.Selector.MatchLabels, dep.Spec.Template.Labels) {
				t.Error("the Service's or the Deployment's selector does not match the pod labels")
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
				for _, k := range []string{"AZURE_TENANT_ID", "AZURE_CLIENT_ID"} {
					if s.StringData[k] == "" {
						t.Errorf("Secret lacks %s", k)
					}
				}
				if (s.StringData["AZURE_CLIENT_SECRET"] == "") == (env["AZURE_CLIENT_CERTIFICATE_PATH"] == "") {
					t.Errorf("want a client secret or a certificate, one of them: secret %v, certificate %q", s.StringData["AZURE_CLIENT_SECRET"] != "", env["AZURE_CLIENT_CERTIFICATE_PATH"])
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
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestHelmRefusesMistakes: values.schema.json and the templates turn a
// misspelt key, a wrong type or a contradiction into a failure of helm
// template and of helm lint --strict, not a chart rendered without it.
func TestHelmRefusesMistakes(t *testing.T) {
	for _, tc := range []struct{ name, values, want string }{
		{"unknown top-level key", `serviceMonitr: {enabled: true}`, "serviceMonitr"},
		{"unknown nested key", `serviceMonitor: {enabeld: true}`, "enabeld"},
		{"misspelt variable", `config: {TEAMS_EXPORTER_POLL_INTERVALL: 1m}`, "TEAMS_EXPORTER_POLL_INTERVALL"},
		{"variable the chart sets", `config: {TEAMS_EXPORTER_LISTEN_ADDRESS: ":1"}`, "TEAMS_EXPORTER_LISTEN_ADDRESS"},
		{"port as a string", `ports: {notifications: "9869"}`, "notifications"},
		{"boolean as a string", `persistence: {enabled: "yes"}`, "enabled"},
		{"Ingress without a webhook URL", `notifications: {ingress: {enabled: true, host: teams-exporter.example.com}}`, "TEAMS_EXPORTER_NOTIFICATION_URL"},
		{"Ingress for an Event Hubs URL", `
config: {TEAMS_EXPORTER_NOTIFICATION_URL: "EventHub:https://teams.vault.azure.net/secrets/hub?tenantId=x"}
notifications: {ingress: {enabled: true}}`, "TEAMS_EXPORTER_NOTIFICATION_URL"},
		{"Ingress for another path", `
config: {TEAMS_EXPORTER_NOTIFICATION_URL: "https://teams-exporter.example.com/graph"}
notifications: {ingress: {enabled: true}}`, "/notifications"},
		{"building file twice", `
config: {TEAMS_EXPORTER_BUILDING_FILE: /data/b.csv}
buildingFile: {existingConfigMap: buildings}`, "TEAMS_EXPORTER_BUILDING_FILE"},
		{"secret and certificate", `
azure: {create: true, tenantId: t, clientId: c, clientSecret: s, clientCertificate: {existingSecret: cert}}`, "/azure/clientSecret"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, templateErr, lintErr := helmRun(t, helmRelease, tc.values)
			for what, err := range map[string]string{"helm template": templateErr, "helm lint --strict": lintErr} {
				if err == "" {
					t.Errorf("%s passed", what)
				} else if !strings.Contains(err, tc.want) {
					t.Errorf("%s failed without naming %q: %s", what, tc.want, err)
				}
			}
		})
	}
}

// TestHelmObjectNames: objects are named after the release, with the
// chart's name unless the release name holds it.
func TestHelmObjectNames(t *testing.T) {
	for release, want := range map[string]string{"teams-exporter": "teams-exporter", "teams": "teams-teams-exporter", "prod-teams-exporter": "prod-teams-exporter"} {
		out, templateErr, _ := helmRun(t, release, "")
		if templateErr != "" {
			t.Fatal(templateErr)
		}
		for _, o := range decodeStrictly(t, release, out) {
			if d, ok := o.value.(*appsv1.Deployment); ok && d.Name != want {
				t.Errorf("release %s: Deployment %s, want %s", release, d.Name, want)
			}
		}
	}
}

// checkNotifications: the container declares the notification port and
// the listener listens on it, the Service exposes it, and an Ingress (when
// host is set) routes the two notification paths, and nothing else, to
// it.
func checkNotifications(t *testing.T, r rendered, port int32, host string) {
	t.Helper()
	if containerPort(r.ctr, "notifications") != port || r.env["TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS"] != fmt.Sprintf(":%d", port) {
		t.Errorf("container ports %v, listener %q, want notifications on %d", r.ctr.Ports, r.env["TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS"], port)
	}
	sp := servicePort(r.svc, "notifications")
	if sp == nil || sp.TargetPort.String() != "notifications" {
		t.Fatalf("the Service does not expose the notification port: %v", r.svc.Spec.Ports)
	}
	ings := r.byKind["Ingress"]
	if host == "" {
		if len(ings) != 0 {
			t.Errorf("%d Ingresses, none asked for", len(ings))
		}
		return
	}
	if len(ings) != 1 {
		t.Fatalf("%d Ingresses, want 1", len(ings))
	}
	ing := ings[0].value.(*networkingv1.Ingress)
	if ing.Spec.DefaultBackend != nil || len(ing.Spec.Rules) != 1 || ing.Spec.Rules[0].Host != host || ing.Spec.Rules[0].HTTP == nil {
		t.Fatalf("Ingress rules %s, want one for host %s and no default backend", toYAML(ing.Spec.Rules), host)
	}
	var paths []string
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		paths = append(paths, p.Path)
		b := p.Backend.Service
		if p.PathType == nil || *p.PathType != networkingv1.PathTypeExact || b == nil || b.Name != r.svc.Name || servicePort(r.svc, b.Port.Name) != sp {
			t.Errorf("path %s: type %v, backend %s, want Exact to %s:notifications", p.Path, p.PathType, toYAML(p.Backend), r.svc.Name)
		}
	}
	if !slices.Equal(paths, []string{"/notifications", "/notifications/lifecycle"}) {
		t.Errorf("Ingress paths %v, want only the notification endpoints", paths)
	}
}

// checkNoNotifications: without an https notification URL (polling, or
// Event Hubs delivery) no notification port is declared or exposed.
func checkNoNotifications(t *testing.T, r rendered) {
	t.Helper()
	if containerPort(r.ctr, "notifications") != 0 || servicePort(r.svc, "notifications") != nil || len(r.byKind["Ingress"]) != 0 {
		t.Errorf("a notification port or Ingress without a webhook: %v, %v, %d Ingresses", r.ctr.Ports, r.svc.Spec.Ports, len(r.byKind["Ingress"]))
	}
}

// checkWorkloadIdentity: the pod runs as the annotated service account,
// with the webhook's label, and reads no Secret.
func checkWorkloadIdentity(t *testing.T, r rendered) {
	t.Helper()
	pod := r.dep.Spec.Template
	for _, from := range r.ctr.EnvFrom {
		if from.SecretRef != nil && (from.SecretRef.Optional == nil || !*from.SecretRef.Optional) {
			t.Errorf("workload identity needs the Secret %s", from.SecretRef.Name)
		}
	}
	if len(r.byKind["Secret"]) != 0 {
		t.Errorf("%d Secrets with workload identity", len(r.byKind["Secret"]))
	}
	if pod.Labels["azure.workload.identity/use"] != "true" {
		t.Errorf("pod labels %v lack azure.workload.identity/use", pod.Labels)
	}
	sas := r.byKind["ServiceAccount"]
	if len(sas) != 1 {
		t.Fatalf("%d ServiceAccounts, want 1", len(sas))
	}
	sa := sas[0].value.(*corev1.ServiceAccount)
	if pod.Spec.ServiceAccountName != sa.Name || sa.Annotations["azure.workload.identity/client-id"] == "" {
		t.Errorf("pod runs as %q, the annotated account is %s (%v)", pod.Spec.ServiceAccountName, sa.Name, sa.Annotations)
	}
}

// servicePort is the Service's port named name, or nil.
func servicePort(svc *corev1.Service, name string) *corev1.ServicePort {
	for i, p := range svc.Spec.Ports {
		if p.Name == name {
			return &svc.Spec.Ports[i]
		}
	}
	return nil
}

// mountedFile: path is a file of the container's mount of a volume of kind
// (ConfigMap or Secret) named source, at key (any key when ""), mounted as
// a directory (not a subPath, which a ConfigMap or Secret update never
// reaches) and read-only.
func mountedFile(t *testing.T, r rendered, path, kind, source, key string) {
	t.Helper()
	if path == "" {
		t.Errorf("no path for %s %s", kind, source)
		return
	}
	for _, m := range r.ctr.VolumeMounts {
		dir := strings.TrimSuffix(m.MountPath, "/") + "/"
		if !strings.HasPrefix(path, dir) {
			continue
		}
		if m.SubPath != "" || m.SubPathExpr != "" || !m.ReadOnly {
			t.Errorf("%s: mount %s is a subPath or writable", path, m.Name)
		}
		for _, v := range r.dep.Spec.Template.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			var name string
			var items []corev1.KeyToPath
			switch {
			case kind == "ConfigMap" && v.ConfigMap != nil:
				name, items = v.ConfigMap.Name, v.ConfigMap.Items
			case kind == "Secret" && v.Secret != nil:
				name, items = v.Secret.SecretName, v.Secret.Items
			}
			file := strings.TrimPrefix(path, dir)
			if name != source {
				t.Errorf("%s: volume %s is not %s %s", path, v.Name, kind, source)
			}
			if key != "" && !slices.Contains(items, corev1.KeyToPath{Key: key, Path: file}) && (len(items) != 0 || file != key) {
				t.Errorf("%s: volume %s does not hold key %s there (items %v)", path, v.Name, key, items)
			}
			return
		}
		t.Errorf("%s: mount %s has no volume", path, m.Name)
		return
	}
	t.Errorf("%s is in no mount of the container (%v)", path, r.ctr.VolumeMounts)
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
	"TEAMS_EXPORTER_LISTEN_ADDRESS", "TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS", "TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS",
	"TEAMS_EXPORTER_STATE_FILE", "TEAMS_EXPORTER_WEB_CONFIG_FILE",
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
	for _, w := range []string{"SECRET", "PASSWORD", "TOKEN", "CLIENT_STATE", "CONNECTION_STRING"} {
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
