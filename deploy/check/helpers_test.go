package check

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// repoRoot is the exporter's repository, two directories up.
const repoRoot = "../.."

// needTool returns the path of an external program the test needs. Missing,
// it fails the test when CI=true and skips it otherwise.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not on PATH, and CI=true: .ci/tools installs it (%v)", name, err)
	}
	t.Skipf("%s is not on PATH (.ci/tools installs it); skipped, CI is not true", name)
	return ""
}

// repoFiles is every file under dir of the repository matching pattern.
func repoFiles(t *testing.T, dir, pattern string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ok, _ := filepath.Match(pattern, d.Name()); ok && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}
