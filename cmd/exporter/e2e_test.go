package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtest"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// exporterBin is the exporter built once for the end-to-end tests, which run
// the real binary against a simulated tenant over TLS.
var exporterBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "teams-exporter-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	exporterBin = filepath.Join(dir, "exporter")
	ldflags := fmt.Sprintf("-X %[1]s.Version=%[2]s -X %[1]s.Revision=%[3]s -X %[1]s.Branch=%[4]s", "github.com/prometheus/common/version", testVersion, testRevision, testBranch)
	build := exec.Command("go", "build", "-race", "-ldflags", ldflags, "-o", exporterBin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build exporter:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// What the test binary's ldflags set, as the Dockerfile's build arguments
// do; teams_exporter_build_info must carry them.
const (
	testVersion  = "0.0.0-test"
	testRevision = "0123abc"
	testBranch   = "test-branch"
)

const (
	testTenantID = "11111111-2222-4333-8444-555555555555"
	testClientID = "66666666-7777-4888-9999-000000000000"
	testSecret   = "e2e-s3cret-value-that-must-never-leak"
)

type tenantServer struct {
	tenant   *graphsim.Tenant
	srv      *simtest.Server
	certFile string
}

func startTenant(t *testing.T, wrap func(http.Handler) http.Handler) *tenantServer {
	t.Helper()
	return startTenantWith(t, graphsim.Options{TenantID: testTenantID, ClientID: testClientID, ClientSecret: testSecret}, wrap)
}

// startTenantWith is startTenant with the tenant's options given (for
// certificate credentials, say).
func startTenantWith(t *testing.T, opts graphsim.Options, wrap func(http.Handler) http.Handler) *tenantServer {
	t.Helper()
	var mw []graphsim.Middleware
	if wrap != nil {
		mw = append(mw, wrap)
	}
	srv := simtest.Start(t, opts, mw...)
	return &tenantServer{tenant: srv.Tenant, srv: srv, certFile: srv.CertFile(t)}
}

type exporterProc struct {
	cmd  *exec.Cmd
	addr string
	out  testrun.Output // stdout and stderr
	done chan struct{}
}

func (e *exporterProc) logs() string { return e.out.String() }

// startExporter runs the binary with the standard azidentity environment
// pointing at the tenant; SSL_CERT_FILE makes the tenant's certificate the
// only trusted root, so nothing else is reachable over TLS.
func startExporter(t *testing.T, ts *tenantServer, stateFile string, extraEnv ...string) *exporterProc {
	t.Helper()
	return startBinary(t, exporterBin, ts, stateFile, extraEnv...)
}

// startBinary is startExporter with another build of the exporter (the
// sizing test's, without the race detector). extraEnv comes last: a
// variable set there replaces the one set here.
func startBinary(t *testing.T, bin string, ts *tenantServer, stateFile string, extraEnv ...string) *exporterProc {
	t.Helper()
	addr := testrun.FreeAddr(t)
	cmd := exec.Command(bin)
	cmd.Env = append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"SSL_CERT_FILE=" + ts.certFile,
		"AZURE_TENANT_ID=" + testTenantID,
		"AZURE_CLIENT_ID=" + testClientID,
		"AZURE_CLIENT_SECRET=" + testSecret,
		"AZURE_AUTHORITY_HOST=" + ts.srv.URL,
		"TEAMS_EXPORTER_GRAPH_URL=" + ts.srv.URL,
		"TEAMS_EXPORTER_DISABLE_INSTANCE_DISCOVERY=true",
		"TEAMS_EXPORTER_LISTEN_ADDRESS=" + addr,
		"TEAMS_EXPORTER_STATE_FILE=" + stateFile,
		"TEAMS_EXPORTER_POLL_INTERVAL=1s",
		"TEAMS_EXPORTER_LOG_LEVEL=debug",
		// Generated records carry a lastModifiedDateTime up to hours after
		// their call, some after now; the tests that exercise settling set
		// their own delay.
		"TEAMS_EXPORTER_SETTLE_DELAY=0",
	}, extraEnv...)
	return runExporter(t, cmd, addr)
}

// runExporter starts cmd, an exporter listening on addr, and kills it when
// the test ends, showing the end of its log if the test failed.
func runExporter(t *testing.T, cmd *exec.Cmd, addr string) *exporterProc {
	t.Helper()
	e := &exporterProc{cmd: cmd, addr: addr, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &e.out, &e.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(e.done) }()
	t.Cleanup(func() {
		e.kill(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("exporter log:\n%s", e.out.Tail(60))
		}
	})
	return e
}

func (e *exporterProc) kill(sig syscall.Signal) {
	select {
	case <-e.done:
		return
	default:
	}
	_ = e.cmd.Process.Signal(sig)
	select {
	case <-e.done:
	case <-time.After(15 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// scrape fetches /metrics in the text format and parses it.
func (e *exporterProc) scrape() (map[string]*dto.MetricFamily, error) {
	raw, err := e.scrapeText()
	if err != nil {
		return nil, err
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(bytes.NewReader(raw))
}

func (e *exporterProc) scrapeText() ([]byte, error) {
	resp, err := http.Get("http://" + e.addr + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("scrape: HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(resp.Body)
}

// waitFor scrapes until cond holds. It pauses between scrapes at least as
// long as the last one took: with hundreds of records, a scrape of the
// race-built exporter and its parsing take seconds of CPU on a loaded
// runner, and scraping back to back would starve the exporter awaited.
func (e *exporterProc) waitFor(t *testing.T, what string, timeout time.Duration, cond func(map[string]*dto.MetricFamily) bool) map[string]*dto.MetricFamily {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			t.Fatalf("exporter exited while waiting for %s", what)
		default:
		}
		began := time.Now()
		if mfs, err := e.scrape(); err == nil && cond(mfs) {
			t.Logf("waited %v of %v for %s", time.Since(start).Round(time.Millisecond), timeout, what)
			return mfs
		}
		time.Sleep(max(100*time.Millisecond, time.Since(began)))
	}
	t.Fatalf("timed out after %v waiting for %s", timeout, what)
	return nil
}

func counterValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	mf := mfs[name]
	if mf == nil {
		return 0
	}
	var sum float64
	for _, m := range mf.GetMetric() {
		if hasLabels(m, labels...) {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

func hasLabels(m *dto.Metric, kv ...string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		found := false
		for _, lp := range m.GetLabel() {
			if lp.GetName() == kv[i] && lp.GetValue() == kv[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func successfulPolls(n int) func(map[string]*dto.MetricFamily) bool {
	return func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_polls_total", "result", "success") >= float64(n)
	}
}

// assertTruth compares a fresh scrape with what the simulator says the
// records must produce, both ways: every series of the truth with its
// value, and no call-quality series beyond it.
func (e *exporterProc) assertTruth(t *testing.T, truth simtruth.Truth) {
	t.Helper()
	raw, err := e.scrapeText()
	if err != nil {
		t.Fatal(err)
	}
	if truth.Report(t, raw) == 0 && len(truth) < 100 {
		t.Errorf("truth has only %d series; the generator is not exercising the collector", len(truth))
	}
}

func TestEndToEndAgainstSimulatedTenant(t *testing.T) {
	ts := startTenant(t, nil)
	now := time.Now()
	recs, truth := simtruth.Generate(graphsim.GenOptions{Seed: 1, Count: 400, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	state := filepath.Join(t.TempDir(), "state.json")
	e := startExporter(t, ts, state)

	mfs := e.waitFor(t, "two successful polls", 3*time.Minute, successfulPolls(2))
	e.assertTruth(t, truth)
	if got := counterValue(mfs, "teams_exporter_records_ingested_total"); got != float64(len(recs)) {
		t.Errorf("records ingested = %v, want %d", got, len(recs))
	}
	if got := counterValue(mfs, "teams_exporter_graph_requests_total", "operation", "token"); got < 1 {
		t.Errorf("no token request counted; azidentity did not go through the simulated Entra endpoint")
	}
	if counterValue(mfs, "teams_exporter_graph_requests_total", "operation", "batch", "code", "200") < 1 {
		t.Errorf("records were not fetched with $batch")
	}
	for _, path := range []string{"/healthz", "/readyz", "/"} {
		resp, err := http.Get("http://" + e.addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
		if strings.Contains(string(body), testSecret) {
			t.Errorf("GET %s shows the client secret", path)
		}
	}
	if strings.Contains(e.logs(), testSecret) {
		t.Errorf("the client secret appears in the log")
	}

	// A record updated to a new version after ingestion is counted as
	// skipped, not observed again.
	latest := recs[0]
	for _, r := range recs {
		if r.StartDateTime.After(latest.StartDateTime) {
			latest = r
		}
	}
	ts.tenant.Bump(latest.ID) // inside the recent window, so the next poll lists it
	before := counterValue(mfs, "teams_exporter_polls_total", "result", "success")
	e.waitFor(t, "the update to be seen", 90*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_skipped_total", "reason", "updated") >= 1 &&
			counterValue(mfs, "teams_exporter_polls_total", "result", "success") >= before+1
	})
	e.assertTruth(t, truth)

	e.kill(syscall.SIGTERM)
	if _, err := os.Stat(state); err != nil {
		t.Errorf("no state file after SIGTERM: %v", err)
	}
}

// batchHold answers the $batch requests it allows and holds every later
// one until its client gives up or the hold is released: an ingest the
// test stops is then under way, and stays so however slow the machine,
// instead of the test having to catch a moment of it in a scrape.
type batchHold struct {
	allowed, seen atomic.Int64
	answered      atomic.Int64 // $batch requests answered in full
	released      chan struct{}
	once          sync.Once
}

// newBatchHold returns a hold that allows every $batch until allow is
// called, and releases what it holds when the test ends.
func newBatchHold(t *testing.T) *batchHold {
	h := &batchHold{released: make(chan struct{})}
	h.allowed.Store(math.MaxInt64)
	t.Cleanup(h.release)
	return h
}

// allow lets n more $batch requests through, then holds the others.
func (h *batchHold) allow(n int64) { h.allowed.Store(h.seen.Load() + n) }

// release answers the held requests and every later one.
func (h *batchHold) release() { h.once.Do(func() { close(h.released) }) }

// allowOne lets one more $batch request through and waits until it has
// been answered in full: its records are then on their way into the
// exporter, ahead of the save that follows them.
func (h *batchHold) allowOne(t *testing.T) {
	t.Helper()
	answered := h.answered.Load()
	h.allow(1)
	for deadline := time.Now().Add(3 * time.Minute); h.answered.Load() == answered; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the $batch request let through was not answered within 3m")
		}
	}
}

func (h *batchHold) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/$batch") && h.seen.Add(1) > h.allowed.Load() {
			select {
			case <-h.released:
			case <-r.Context().Done():
				return
			}
		}
		next.ServeHTTP(w, r)
		if strings.HasSuffix(r.URL.Path, "/$batch") {
			h.answered.Add(1)
		}
	})
}

// writeDemoBuildings writes the demo tenant's building file for a test.
func writeDemoBuildings(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "buildings.csv")
	if err := os.WriteFile(path, graphsim.DemoBuildingFile, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestEndToEndWithBuildingFile: with a building file, the site families
// and teams_site_info equal the simulator's truth (computed with its own
// reading of the file and a scan of its networks), beside all the others.
func TestEndToEndWithBuildingFile(t *testing.T) {
	ts := startTenant(t, nil)
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 21, Count: 300, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	buildings, err := simtruth.ParseBuildings(graphsim.DemoBuildingFile)
	if err != nil {
		t.Fatal(err)
	}
	truth := simtruth.With(buildings, recs...)
	file := writeDemoBuildings(t)
	e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), "TEAMS_EXPORTER_BUILDING_FILE="+file)
	mfs := e.waitFor(t, "two successful polls", 3*time.Minute, successfulPolls(2))
	e.assertTruth(t, truth)
	if got := counterValue(mfs, "teams_exporter_building_file_networks"); got != 7 {
		t.Errorf("teams_exporter_building_file_networks = %v, want 7", got)
	}
	if got := counterValue(mfs, "teams_exporter_building_file_last_reload_success"); got != 1 {
		t.Errorf("teams_exporter_building_file_last_reload_success = %v, want 1", got)
	}

	// SIGHUP with a broken file: the previous map stays, the log names the
	// line and the reason, the gauge says so.
	broken := string(graphsim.DemoBuildingFile) + "10.50.0.0,Paris,33,Paris Office,,,,Paris,,FR,,EMEA,1,0,0\n"
	if err := os.WriteFile(file, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	e.waitFor(t, "the failed reload", 90*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return mfs["teams_exporter_building_file_last_reload_success"] != nil &&
			counterValue(mfs, "teams_exporter_building_file_last_reload_success") == 0
	})
	if !strings.Contains(e.logs(), `line 8: NetworkRange \"33\" is not a prefix length from 0 to 32`) {
		t.Errorf("the log does not name the bad line and its reason:\n%s", testrun.LastLines(e.logs(), 10))
	}
	e.assertTruth(t, truth)

	// SIGHUP with a good file: a new building is in force.
	fixed := strings.Replace(broken, ",33,", ",16,", 1)
	if err := os.WriteFile(file, []byte(fixed), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	mfs = e.waitFor(t, "the reload", 90*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_building_file_last_reload_success") == 1 &&
			counterValue(mfs, "teams_exporter_building_file_networks") == 8
	})
	if got := counterValue(mfs, "teams_site_info", "site", "Paris Office", "country", "FR"); got != 1 {
		t.Errorf("teams_site_info of the new building = %v, want 1", got)
	}
}

func TestRestartMidIngestLosesNothingAndCountsNothingTwice(t *testing.T) {
	hold := newBatchHold(t)
	ts := startTenant(t, hold.wrap)
	now := time.Now()
	first, truth := simtruth.Generate(graphsim.GenOptions{Seed: 2, Count: 200, Start: now.Add(-10 * time.Hour), End: now.Add(-5 * time.Hour)})
	ts.tenant.Add(first...)
	state := filepath.Join(t.TempDir(), "state.json")
	env := []string{"TEAMS_EXPORTER_CONCURRENCY=1", "TEAMS_EXPORTER_RECENT_WINDOW=12h"}

	e := startExporter(t, ts, state, env...)
	// Polls are counted in the log: a scrape of hundreds of records costs
	// the race-built exporter more than the polls awaited.
	exposureWaitLog(t, e, "the first records", 3*time.Minute, func(log string) bool {
		polls, _ := exposurePolls(log)
		return polls >= 1
	})

	second, truth2 := simtruth.Generate(graphsim.GenOptions{Seed: 3, Count: 400, Start: now.Add(-4 * time.Hour), End: now.Add(-time.Minute)})
	truth.Merge(truth2)
	// Two batches of the second set are answered, the third is held:
	// the ingestion is under way, its first records saved and published.
	hold.allow(2)
	ts.tenant.Add(second...)
	e.waitFor(t, "ingestion of the second set to be under way", 3*time.Minute, func(mfs map[string]*dto.MetricFamily) bool {
		n := counterValue(mfs, "teams_exporter_records_ingested_total")
		return n > float64(len(first)) && n < float64(len(first)+len(second))
	})
	// One batch more, and the kill as soon as it is answered: its records
	// are being ingested, or ingested and not yet saved (saves come about
	// a second apart), and the position of the poll is not saved either.
	hold.allowOne(t)
	e.kill(syscall.SIGKILL)
	hold.release()

	e2 := startExporter(t, ts, state, env...)
	exposureWaitLog(t, e2, "two successful polls after the restart", 3*time.Minute, func(log string) bool {
		polls, _ := exposurePolls(log)
		return polls >= 2
	})
	e2.assertTruth(t, truth.CallQuality())
}
