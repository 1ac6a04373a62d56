package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/gendoc"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// TestDemoSaysItIsSimulated runs the quick start's command, exporter -demo,
// as a new user would, and checks what that user sees: the start-up line
// and the landing page say the data is simulated and what the simulated
// tenant plays; the start-up line shows the simulator's URL, not Graph's;
// no simulated 429 is logged as a warning; and every family on /metrics is
// documented in docs/metrics.md.
func TestDemoSaysItIsSimulated(t *testing.T) {
	t.Parallel()
	addr := testrun.FreeAddr(t)
	cmd := exec.Command(exporterBin, "-demo")
	cmd.Env = []string{"HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(), "TEAMS_EXPORTER_LISTEN_ADDRESS=" + addr}
	e := runExporter(t, cmd, addr)
	// The first poll lists and fetches the whole simulated day; records
	// count as they are ingested, before it ends. A loaded runner with the
	// race detector takes minutes for what takes seconds on a laptop.
	mfs := e.waitFor(t, "ingested records", 3*time.Minute, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_records_ingested_total") > 0
	})

	t.Run("start-up line", func(t *testing.T) {
		line := logLine(e.logs(), "starting teams exporter")
		if got, _ := logfmtValue(line, "data_source"); got != demoSource.name {
			t.Errorf("start-up line: data_source=%q, want %q", got, demoSource.name)
		}
		simulates, _ := logfmtValue(line, "simulates")
		for _, want := range []string{"throttling", "late records", "call logs"} {
			if !strings.Contains(simulates, want) {
				t.Errorf("start-up line: simulates=%q does not mention %s", simulates, want)
			}
		}
		if url, _ := logfmtValue(line, "graph_url"); !strings.HasPrefix(url, "https://127.0.0.1:") {
			t.Errorf("start-up line: graph_url=%q, want the simulated tenant's loopback URL", url)
		}
	})
	t.Run("landing page", func(t *testing.T) {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			t.Fatal(err)
		}
		page, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, want := range []string{"Demo mode", "simulated tenant", "not from Microsoft Graph", "throttling", "late records", "call logs"} {
			if !bytes.Contains(page, []byte(want)) {
				t.Errorf("the landing page does not say %q:\n%s", want, page)
			}
		}
	})
	t.Run("simulated throttling", func(t *testing.T) {
		for line := range strings.Lines(e.logs()) {
			if strings.Contains(line, "level=WARN") && strings.Contains(line, "status=429") {
				t.Errorf("a simulated 429 logged as a warning: %s", line)
			}
		}
		if counterValue(mfs, "teams_exporter_graph_throttled_total") > 0 && !strings.Contains(e.logs(), "simulated=true") {
			t.Error("the demo tenant throttled, but no log line says it was simulated")
		}
	})
	t.Run("families documented", func(t *testing.T) { checkFamiliesDocumented(t, mfs) })
}

// checkFamiliesDocumented: every family served (but the standard go_* and
// process_* ones, documented by prefix) is named in docs/metrics.md.
func checkFamiliesDocumented(t *testing.T, mfs map[string]*dto.MetricFamily) {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join(gendoc.RepoRoot(t), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for name := range mfs {
		if !standardFamily(name) && !bytes.Contains(doc, []byte("`"+name+"`")) {
			missing = append(missing, name)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("served but not in docs/metrics.md: %v; register them in documentedRegistry (docs_test.go) or the collector's family table, then run %s", missing, gendoc.Regenerate)
	}
	for _, p := range standardPrefixes {
		if !bytes.Contains(doc, []byte("`"+p+"*`")) {
			t.Errorf("docs/metrics.md does not mention the standard families `%s*`", p)
		}
	}
}

// TestSimulatedThrottlingLogLevel: the demo's Graph log handler turns the
// client's warnings about 429 answers into info lines marked simulated,
// and leaves every other line as it is.
func TestSimulatedThrottlingLogLevel(t *testing.T) {
	for _, tc := range []struct {
		name      string
		level     slog.Level
		msg       string
		attrs     []any
		wantLevel string
		simulated bool
	}{
		{"429", slog.LevelWarn, "Graph asked to wait", []any{"op", "list", "status", 429, "retry_after", time.Second}, "INFO", true},
		{"503", slog.LevelWarn, "Graph asked to wait", []any{"op", "list", "status", 503}, "WARN", false},
		{"other warning", slog.LevelWarn, "Graph listed call records outside the requested start-time window; ignored", []any{"records", 2}, "WARN", false},
		{"error with 429", slog.LevelError, "poll failed", []any{"status", 429}, "ERROR", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			base := slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})
			slog.New(simulatedThrottling{base}).With("component", "graph").Log(context.Background(), tc.level, tc.msg, tc.attrs...)
			line := out.String()
			if got, _ := logfmtValue(line, "level"); got != tc.wantLevel {
				t.Errorf("level %q, want %q: %s", got, tc.wantLevel, line)
			}
			if got := strings.Contains(line, "simulated=true"); got != tc.simulated {
				t.Errorf("simulated=true: %v, want %v: %s", got, tc.simulated, line)
			}
			if !strings.Contains(line, "component=graph") {
				t.Errorf("the logger's attributes are lost: %s", line)
			}
		})
	}
}
