package e2e

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// promtool runs promtool with args (and stdin, if not nil) and fails the test
// unless it succeeds.
func promtool(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), needTool(t, "promtool"), args...)
	cmd.Dir = filepath.Join(repoRoot, "dashboards", "rules")
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestPromtool runs promtool's checks: the rules files are valid, the rules'
// unit tests (each alert fires when it should and stays quiet when it
// should) pass, and the demo exporter's exposition passes the metrics lint.
func TestPromtool(t *testing.T) {
	t.Parallel()
	t.Run("check rules", func(t *testing.T) {
		promtool(t, nil, "check", "rules", rulesFile)
	})
	t.Run("test rules", func(t *testing.T) {
		promtool(t, nil, "test", "rules", "teams-exporter.rules.test.yml", "teams-exporter.rules.3d.test.yml")
	})
	t.Run("check metrics", func(t *testing.T) {
		needTool(t, "promtool")
		addr := startDemoExporter(t)
		// Wait for the first poll, so that every family has series. The
		// scrape is the demo's whole exposition, from a race-built
		// exporter: on a loaded runner it takes more than httpGet's 5s,
		// and the first poll minutes (as in cmd/exporter's demo tests).
		var body []byte
		waitFor(t, 3*time.Minute, "a successful poll", func() error {
			var err error
			body, err = httpGetWithin(t.Context(), "http://"+addr+"/metrics", 30*time.Second)
			if err == nil && !bytes.Contains(body, []byte("teams_streams_total{")) {
				err = errNoStreams
			}
			return err
		})
		promtool(t, body, "check", "metrics")
	})
}

var errNoStreams = errors.New("no teams_streams_total series yet")
