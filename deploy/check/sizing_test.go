package check

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestResourcesFromSizingTable: the chart's default requests and limits
// and the kustomization's are the same, and values.yaml names a row that
// the sizing table of docs/operations.md has.
func TestResourcesFromSizingTable(t *testing.T) {
	values, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ops, err := os.ReadFile(filepath.Join(repoRoot, "docs/operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`From row (\w+) of the sizing table in docs/operations\.md`).FindSubmatch(values)
	if m == nil {
		t.Fatal("values.yaml does not name the row of the sizing table its resources come from")
	}
	if !regexp.MustCompile(`(?m)^## Sizing$`).Match(ops) || !regexp.MustCompile(`(?m)^\| `+string(m[1])+` \|`).Match(ops) {
		t.Errorf("docs/operations.md has no row %s in its Sizing section", m[1])
	}
	var chart, kustomize *appsv1.Deployment
	for _, o := range decodeStrictly(t, "chart", helmTemplate(t, "")) {
		if d, ok := o.value.(*appsv1.Deployment); ok {
			chart = d
		}
	}
	raw, err := os.ReadFile(filepath.Join(repoRoot, "deploy/kubernetes/deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range decodeStrictly(t, "deployment.yaml", raw) {
		kustomize = o.value.(*appsv1.Deployment)
	}
	got, want := chart.Spec.Template.Spec.Containers[0].Resources, kustomize.Spec.Template.Spec.Containers[0].Resources
	if !equalYAML(got, want) || got.Limits.Memory().IsZero() || got.Requests.Memory().IsZero() {
		t.Errorf("chart resources %s, kustomization's %s: want the same, with memory requested and limited", toYAML(got), toYAML(want))
	}
}
