package main

import (
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"

	"github.com/prometheus/common/version"
)

// TestVersionFromBuildInfo: without -ldflags the version, revision and
// date come from the build information; -ldflags win.
func TestVersionFromBuildInfo(t *testing.T) {
	const rev = "f08a78e59714972f8f0d42d9d0c1236912b62085"
	vcs := []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.time", Value: "2026-12-07T06:28:20Z"}, {Key: "vcs.modified", Value: "false"}}
	for _, tc := range []struct {
		name                  string
		ldflags               [3]string // version, revision, date set by -ldflags
		main                  string
		settings              []debug.BuildSetting
		version, revision, at string
	}{
		{"go build in a clone", [3]string{}, "v0.0.0-20261207062820-f08a78e59714", vcs, "0.0.0-20261207062820-f08a78e59714", rev, "2026-12-07T06:28:20Z"},
		{"go build with changes", [3]string{}, "v0.0.0-20261207062820-f08a78e59714+dirty", []debug.BuildSetting{{Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: "true"}}, "0.0.0-20261207062820-f08a78e59714+dirty", rev + "-modified", ""},
		{"go install of a release", [3]string{}, "v1.2.0", nil, "1.2.0", "", ""},
		{"go install of a commit", [3]string{}, "v1.2.1-0.20261207062820-f08a78e59714", nil, "1.2.1-0.20261207062820-f08a78e59714", "f08a78e59714", ""},
		{"no VCS", [3]string{}, "(devel)", nil, "", "", ""},
		{"release build's ldflags", [3]string{"1.3.0", "abc", "20261207-06:30:00"}, "v0.0.0-20261207062820-f08a78e59714", vcs, "1.3.0", "abc", "20261207-06:30:00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := [3]string{version.Version, version.Revision, version.BuildDate}
			t.Cleanup(func() { version.Version, version.Revision, version.BuildDate = saved[0], saved[1], saved[2] })
			version.Version, version.Revision, version.BuildDate = tc.ldflags[0], tc.ldflags[1], tc.ldflags[2]
			versionFromBuildInfo(&debug.BuildInfo{Main: debug.Module{Path: "github.com/teams-exporter/teams-exporter", Version: tc.main}, Settings: tc.settings})
			if version.Version != tc.version || version.Revision != tc.revision || version.BuildDate != tc.at {
				t.Errorf("version %q, revision %q, date %q; want %q, %q, %q", version.Version, version.Revision, version.BuildDate, tc.version, tc.revision, tc.at)
			}
		})
	}
}

// TestVersionOfAPlainBuild: "go build ./cmd/exporter" in a git clone,
// without -ldflags, gives a binary whose --version shows the commit. The
// clone is made of this repository's HEAD (a worktree would not do: Go
// stamps only a checkout with a .git directory), and -buildvcs=true stands
// for the toolchain's default, which a GOFLAGS setting may have changed.
func TestVersionOfAPlainBuild(t *testing.T) {
	t.Parallel()
	git := func(dir string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	head := git(".", "rev-parse", "HEAD")
	common, err := filepath.Abs(git(".", "rev-parse", "--git-common-dir"))
	if err != nil {
		t.Fatal(err)
	}
	clone := filepath.Join(t.TempDir(), "teams-exporter")
	git(".", "clone", "--quiet", "--shared", "--no-checkout", common, clone)
	git(clone, "-c", "advice.detachedHead=false", "checkout", "--quiet", head)
	build := exec.Command("go", "build", "-buildvcs=true", "./cmd/exporter")
	build.Dir = clone
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(clone, "exporter"), "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(out), "\n")
	if !strings.Contains(first, "revision: "+head+")") {
		t.Errorf("--version %q does not show the commit %s", first, head)
	}
	if v, _, _ := strings.Cut(strings.TrimPrefix(first, "teams_exporter, version "), " "); !strings.HasSuffix(v, "-"+head[:12]) {
		t.Errorf("--version %q: version %q is not the pseudo-version of %s", first, v, head[:12])
	}
}
