package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// TestComposeExporter: the Compose example publishes the notification
// listener's port and mounts the directories of the building file and the
// client certificate at the paths the Helm chart uses, from directories
// that exist and whose content git ignores (a certificate must never be
// committed).
func TestComposeExporter(t *testing.T) {
	dir := filepath.Join(repoRoot, "deploy", "compose")
	raw, err := os.ReadFile(filepath.Join(dir, "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Ports   []string `json:"ports"`
			Volumes []string `json:"volumes"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal(raw, &compose); err != nil {
		t.Fatal(err)
	}
	exporter := compose.Services["exporter"]
	for _, port := range []string{"9868", "9869"} {
		if !slices.Contains(exporter.Ports, "127.0.0.1:"+port+":"+port) {
			t.Errorf("port %s is not published on loopback: %v", port, exporter.Ports)
		}
	}
	for target, file := range map[string]string{
		"/etc/teams-exporter/buildings":         "buildings.csv",
		"/etc/teams-exporter/azure-certificate": "certificate.pem",
	} {
		i := slices.IndexFunc(exporter.Volumes, func(v string) bool { return strings.Contains(v, ":"+target+":ro") })
		if i < 0 {
			t.Errorf("nothing mounted read-only at %s: %v", target, exporter.Volumes)
			continue
		}
		src, _, _ := strings.Cut(exporter.Volumes[i], ":")
		if fi, err := os.Stat(filepath.Join(dir, src)); err != nil || !fi.IsDir() {
			t.Errorf("%s: mount source %s is not a directory (%v): Docker would create it as root", target, src, err)
		}
		ignored := exec.Command("git", "check-ignore", "-q", filepath.Join("deploy", "compose", src, file))
		ignored.Dir = repoRoot
		if err := ignored.Run(); err != nil {
			t.Errorf("git does not ignore %s/%s: %v", src, file, err)
		}
	}
}
