package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// repoRoot is the module root, relative to this package's directory (go test
// runs a package's tests in its own directory).
const repoRoot = ".."

// The version and revision the test binary is built with; the build_info
// series must carry them, as the Dockerfile relies on these ldflags.
const (
	testVersion  = "0.0.0-e2e"
	testRevision = "e2e0000"
)

// needTool returns the path of an external program the test needs. Missing,
// it fails the test when CI=true and skips it otherwise. .ci/run installs
// them: promtool from Debian's prometheus package; prometheus (3.x) and
// alertmanager built by .ci/tools, whose directories it puts first on PATH.
func needTool(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	missingTool(t, fmt.Sprintf("%s is not on PATH (.ci/run installs it): %v", name, err))
	return ""
}

// missingTool ends a test whose external program is missing or the wrong
// one: it fails under CI=true, where .ci/run provides them, and is skipped
// otherwise.
func missingTool(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true")
	}
	t.Skip(msg + "; skipped, CI is not true")
}

var build struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// TestMain removes the directory holding the exporter binary built for the
// tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}

// exporterBinary builds ./cmd/exporter once per test run, with the version
// ldflags the Dockerfile uses, and with the race detector when the tests
// have it (it then also watches the exporter under real scrapes, and the
// build reuses the packages compiled for the other tests).
func exporterBinary(t *testing.T) string {
	t.Helper()
	build.once.Do(func() {
		build.dir, build.err = os.MkdirTemp("", "teams-exporter-e2e-")
		if build.err != nil {
			return
		}
		build.bin = filepath.Join(build.dir, "exporter")
		ldflags := fmt.Sprintf("-X github.com/prometheus/common/version.Version=%s -X github.com/prometheus/common/version.Revision=%s", testVersion, testRevision)
		args := []string{"build", "-ldflags", ldflags, "-o", build.bin}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/exporter")...)
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			build.err = fmt.Errorf("go build ./cmd/exporter: %w\n%s", err, out)
		}
	})
	if build.err != nil {
		t.Fatal(build.err)
	}
	return build.bin
}

// startProcess runs a program until the test ends, and shows its output if
// the test failed.
func startProcess(t *testing.T, name string, env []string, path string, args ...string) {
	t.Helper()
	var out testrun.Output
	cmd := exec.Command(path, args...)
	cmd.Env = env
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, out.Tail(100))
		}
	})
}

// cleanEnv is the environment without any exporter or Azure settings of the
// machine running the tests, so only what a test sets applies.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "TEAMS_EXPORTER_") || strings.HasPrefix(kv, "AZURE_") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// startDemoExporter runs the exporter in demo mode on a free loopback port
// and returns its address once /metrics answers.
func startDemoExporter(t *testing.T) string {
	t.Helper()
	addr := testrun.FreeAddr(t)
	startDemoExporterAt(t, addr)
	return addr
}

// startDemoExporterAt runs the exporter in demo mode, polling every two
// seconds, on addr and returns once /metrics answers.
func startDemoExporterAt(t *testing.T, addr string) {
	t.Helper()
	env := append(cleanEnv(),
		"TEAMS_EXPORTER_LISTEN_ADDRESS="+addr,
		"TEAMS_EXPORTER_STATE_FILE="+filepath.Join(t.TempDir(), "state.json"),
		"TEAMS_EXPORTER_POLL_INTERVAL=2s",
		// Native and classic buckets both: Prometheus 3 scrapes the first,
		// 2.x and the dashboards read the second.
		"TEAMS_EXPORTER_NATIVE_HISTOGRAMS=true",
		// Change notifications through the demo's own event hub, so that
		// the notification and event hub series (and the signals of their
		// alerts) have data too.
		"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB="+testrun.FreeAddr(t)+"/teams",
	)
	startProcess(t, "exporter", env, exporterBinary(t), "-demo")
	waitFor(t, 90*time.Second, "the exporter to serve /metrics", func() error {
		_, err := httpGet(t.Context(), "http://"+addr+"/metrics")
		return err
	})
}

// waitFor calls check until it returns nil, or fails the test with check's
// last error once timeout has passed.
func waitFor(t *testing.T, timeout time.Duration, what string, check func() error) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := check()
		if err == nil {
			t.Logf("waited %v of %v for %s", time.Since(start).Round(time.Millisecond), timeout, what)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s: %v", timeout, what, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	return httpGetWithin(ctx, url, 5*time.Second)
}

// httpGetWithin is httpGet with its own timeout, for a full scrape of a
// race-built demo exporter (megabytes of text) on a loaded runner.
func httpGetWithin(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, testrun.LastLines(string(body), 5))
	}
	return body, nil
}
