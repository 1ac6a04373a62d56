package check

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"sigs.k8s.io/yaml"
)

// object is one decoded manifest.
type object struct {
	source string // file, or file of the chart with its values
	kind   string
	value  any // pointer to the typed object
}

// newObject is an empty typed object for apiVersion and kind, or nil for a
// kind the deployment files must not hold.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 Secret":
		return &corev1.Secret{}
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "networking.k8s.io/v1 Ingress":
		return &networkingv1.Ingress{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &monitoringv1.ServiceMonitor{}
	case "monitoring.coreos.com/v1 PrometheusRule":
		return &monitoringv1.PrometheusRule{}
	}
	return nil
}

var docSeparator = regexp.MustCompile(`(?m)^---\s*$`)

// decodeStrictly splits a YAML stream into documents and decodes each into
// its Kubernetes or Prometheus Operator type, refusing unknown and
// duplicate fields.
func decodeStrictly(t *testing.T, source string, stream []byte) []object {
	t.Helper()
	var out []object
	for _, doc := range docSeparator.Split(string(stream), -1) {
		if strings.TrimSpace(stripComments(doc)) == "" {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Errorf("%s: %v", source, err)
			continue
		}
		v := newObject(meta.APIVersion, meta.Kind)
		if v == nil {
			t.Errorf("%s: unexpected %s %s", source, meta.APIVersion, meta.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), v); err != nil {
			t.Errorf("%s: %s: %v", source, meta.Kind, err)
			continue
		}
		out = append(out, object{source: source, kind: meta.Kind, value: v})
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for line := range strings.Lines(doc) {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line)
		}
	}
	return b.String()
}

// TestKubernetesManifestsDecodeStrictly decodes every manifest of
// deploy/kubernetes (the Secret example too) into its Go type.
func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	kinds := map[string]int{}
	for _, f := range repoFiles(t, "deploy/kubernetes", "*.yaml") {
		if strings.HasSuffix(f, "/kustomization.yaml") {
			continue
		}
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range decodeStrictly(t, f, raw) {
			kinds[o.kind]++
			checkObject(t, o)
		}
	}
	for _, k := range []string{"Deployment", "Service", "Secret", "PersistentVolumeClaim", "ServiceMonitor", "PrometheusRule"} {
		if kinds[k] != 1 {
			t.Errorf("%d %s manifests, want 1", kinds[k], k)
		}
	}
}

// The pod and container security settings every way of deploying keeps.
var (
	wantPodSecurity = corev1.PodSecurityContext{
		RunAsNonRoot: ptr(true), RunAsUser: ptr[int64](65532), RunAsGroup: ptr[int64](65532), FSGroup: ptr[int64](65532),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	wantContainerSecurity = corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr(false), ReadOnlyRootFilesystem: ptr(true),
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
	}
)

func ptr[T any](v T) *T { return &v }

// checkObject checks what every Deployment must have, wherever it comes
// from: the security settings, one replica replaced with Recreate, no
// service account token, a pinned image, probes on a port of the container.
func checkObject(t *testing.T, o object) {
	t.Helper()
	d, ok := o.value.(*appsv1.Deployment)
	if !ok {
		return
	}
	pod := d.Spec.Template.Spec
	where := o.source
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("%s: want one replica replaced with Recreate", where)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("%s: automountServiceAccountToken is not false", where)
	}
	if pod.SecurityContext == nil || !equalYAML(*pod.SecurityContext, wantPodSecurity) {
		t.Errorf("%s: pod securityContext %s, want %s", where, toYAML(pod.SecurityContext), toYAML(wantPodSecurity))
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%s: %d containers", where, len(pod.Containers))
	}
	c := pod.Containers[0]
	if c.SecurityContext == nil || !equalYAML(*c.SecurityContext, wantContainerSecurity) {
		t.Errorf("%s: container securityContext %s, want %s", where, toYAML(c.SecurityContext), toYAML(wantContainerSecurity))
	}
	if _, tag, _ := strings.Cut(c.Image, ":"); tag == "" || tag == "latest" {
		t.Errorf("%s: image %q has no version tag", where, c.Image)
	}
	for _, p := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil {
			t.Errorf("%s: a probe is missing or not httpGet", where)
			continue
		}
		if containerPort(c, p.HTTPGet.Port.String()) == 0 {
			t.Errorf("%s: probe port %s is not a port of the container", where, p.HTTPGet.Port.String())
		}
	}
}

// containerPort resolves a probe's port (a name or a number).
func containerPort(c corev1.Container, port string) int32 {
	for _, p := range c.Ports {
		if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
			return p.ContainerPort
		}
	}
	return 0
}

func toYAML(v any) string {
	b, _ := yaml.Marshal(v)
	return strings.TrimSpace(string(b))
}

func equalYAML(a, b any) bool {
	x, _ := yaml.Marshal(a)
	y, _ := yaml.Marshal(b)
	return bytes.Equal(x, y)
}
