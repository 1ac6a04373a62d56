package main

import (
	"runtime/debug"
	"strings"

	"github.com/prometheus/common/version"
)

func init() {
	if bi, ok := debug.ReadBuildInfo(); ok {
		versionFromBuildInfo(bi)
	}
}

// versionFromBuildInfo fills what the build's -ldflags left empty in
// prometheus/common's version package (--version, the landing page,
// teams_exporter_build_info) from the binary's own build information:
// "go install ...@v1.2.0" records the module version, and "go build" in a
// git clone records a pseudo-version and the VCS revision and time. A
// release build's -ldflags (the Dockerfile's, the release workflow's) win.
func versionFromBuildInfo(bi *debug.BuildInfo) {
	settings := map[string]string{}
	for _, s := range bi.Settings {
		settings[s.Key] = s.Value
	}
	if version.Version == "" {
		// Prometheus versions carry no "v"; "(devel)" is a build outside
		// a module version or VCS checkout.
		if v := strings.TrimPrefix(bi.Main.Version, "v"); v != "" && v != "(devel)" {
			version.Version = v
		}
	}
	if version.Revision == "" {
		rev := settings["vcs.revision"]
		if rev == "" {
			rev = pseudoVersionRevision(bi.Main.Version)
		}
		if rev != "" && settings["vcs.modified"] == "true" {
			rev += "-modified"
		}
		version.Revision = rev // "" leaves GetRevision's "unknown"
	}
	if version.BuildDate == "" {
		version.BuildDate = settings["vcs.time"]
	}
}

// pseudoVersionRevision is the commit of a Go pseudo-version
// (v0.0.0-20261207061500-0123456789ab, possibly with +dirty or
// +incompatible), "" for any other version.
func pseudoVersionRevision(v string) string {
	v, _, _ = strings.Cut(v, "+")
	i := strings.LastIndexByte(v, '-')
	if i < 0 {
		return ""
	}
	rev, rest := v[i+1:], v[:i]
	j := strings.LastIndexAny(rest, "-.")
	if len(rev) != 12 || j < 0 || len(rest)-j-1 != 14 || strings.Trim(rev, "0123456789abcdef") != "" || strings.Trim(rest[j+1:], "0123456789") != "" {
		return ""
	}
	return rev
}
