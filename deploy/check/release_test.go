package check

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// releaseTargets are the platforms of the release binaries.
var releaseTargets = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"}

var targetLoop = regexp.MustCompile(`(?m)for target in ([^;]+); do`)

// TestReleaseWorkflow: a v* tag builds the six binaries (the ones .ci/run
// cross-compiles) with checksums, and pushes the linux/amd64 and
// linux/arm64 images to the GitHub container registry under the name the
// chart's image.repository gives, for the module's owner.
func TestReleaseWorkflow(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, ".github/workflows/release.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var wf struct {
		// "on", which YAML 1.1 (this decoder, not GitHub's) reads as true.
		On struct {
			Push struct {
				Tags []string `json:"tags"`
			} `json:"push"`
		} `json:"true"`
		Jobs map[string]struct {
			Steps []struct {
				Uses string            `json:"uses"`
				Run  string            `json:"run"`
				With map[string]string `json:"with"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	if err := yaml.Unmarshal(raw, &wf); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(wf.On.Push.Tags, []string{"v*"}) {
		t.Errorf("runs on tags %v, want v*", wf.On.Push.Tags)
	}
	var run strings.Builder
	with := map[string]string{}
	for _, job := range wf.Jobs {
		for _, s := range job.Steps {
			run.WriteString(s.Run)
			for k, v := range s.With {
				with[k] = v
			}
		}
	}
	ci, err := os.ReadFile(filepath.Join(repoRoot, ".ci/run"))
	if err != nil {
		t.Fatal(err)
	}
	for what, text := range map[string]string{"release.yml": run.String(), ".ci/run": string(ci)} {
		m := targetLoop.FindStringSubmatch(text)
		if m == nil || !slices.Equal(strings.Fields(m[1]), releaseTargets) {
			t.Errorf("%s builds %v, want %v", what, m, releaseTargets)
		}
	}
	if !strings.Contains(run.String(), "sha256sum") || !strings.Contains(run.String(), "CGO_ENABLED=0") {
		t.Error("the binaries are not static, or have no checksums")
	}
	if with["platforms"] != "linux/amd64,linux/arm64" || with["push"] != "true" {
		t.Errorf("images for %q, push %q", with["platforms"], with["push"])
	}
	image := strings.Replace(with["images"], "${{ github.repository_owner }}", moduleOwner(t), 1)
	var values struct {
		Image struct {
			Repository string `json:"repository"`
		} `json:"image"`
	}
	rawValues, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(rawValues, &values); err != nil {
		t.Fatal(err)
	}
	if image != values.Image.Repository || !strings.HasPrefix(image, "ghcr.io/") {
		t.Errorf("the release pushes %q, the chart pulls %q", image, values.Image.Repository)
	}
}

// moduleOwner is the GitHub owner of the exporter's module path.
func moduleOwner(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^module github\.com/([^/]+)/`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod's module is not on github.com")
	}
	return string(m[1])
}
