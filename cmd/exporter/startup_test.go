package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// runBinary runs the exporter with args and env (nothing else of the test's
// environment) to its end, and returns its exit code, stdout and stderr.
func runBinary(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(exporterBin, args...)
	cmd.Env = append([]string{"HOME=" + t.TempDir()}, env...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errOut.String()
}

// TestHelpListsEveryVariable: -h and --help exit 0 and print, on standard
// output, every TEAMS_EXPORTER_* variable with its default and meaning, and
// the AZURE_* ones; the list comes from the config struct, so this holds for
// variables added later too, as long as they carry a desc tag.
func TestHelpListsEveryVariable(t *testing.T) {
	vars := variables()
	if len(vars) != reflect.TypeFor[config]().NumField() {
		t.Fatalf("%d variables for %d config fields", len(vars), reflect.TypeFor[config]().NumField())
	}
	for _, flag := range []string{"-h", "--help", "-help"} {
		code, stdout, stderr := runBinary(t, nil, flag)
		if code != 0 || stderr != "" {
			t.Errorf("%s: exit %d, stderr %q; want 0 and nothing", flag, code, stderr)
		}
		for _, v := range vars {
			if v.Desc == "" {
				t.Errorf("field %s (%s) has no desc tag: -h cannot say what it means", v.Field, v.Key)
			}
			def := v.Default
			if def == "" {
				def = "empty"
			}
			if want := fmt.Sprintf("  %s (default: %s)\n      %s\n", v.Key, def, v.Desc); !strings.Contains(stdout, want) {
				t.Errorf("%s: no %q", flag, want)
			}
		}
		for _, v := range azureVariables {
			if !strings.Contains(stdout, "\n  "+v.name+"\n") {
				t.Errorf("%s: %s is not listed", flag, v.name)
			}
		}
		for _, f := range []string{"-demo", "-probe URL", "-version"} {
			if !strings.Contains(stdout, "  "+f+"\n") {
				t.Errorf("%s: flag %s is not listed", flag, f)
			}
		}
	}
}

func TestVersionGoesToStdout(t *testing.T) {
	code, stdout, stderr := runBinary(t, nil, "--version")
	if code != 0 || stderr != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, stderr)
	}
	if want := "teams_exporter, version " + testVersion; !strings.HasPrefix(stdout, want) {
		t.Errorf("stdout %q does not start with %q", stdout, want)
	}
}

func TestBadFlagsAndArguments(t *testing.T) {
	for _, args := range [][]string{{"-listen", ":1"}, {"serve"}} {
		code, stdout, stderr := runBinary(t, nil, args...)
		if code != 2 || stdout != "" || strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.Contains(stderr, "exporter -h") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want 2 and one line pointing to -h", args, code, stdout, stderr)
		}
	}
}

// TestDurationsInBothForms reads every duration variable in Go's and in
// Prometheus's form; an unreadable one names the variable and both forms.
func TestDurationsInBothForms(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
	}{
		{"90m", 90 * time.Minute},
		{"1.5h", 90 * time.Minute},
		{"1h30m", 90 * time.Minute},
		{"30d", 30 * 24 * time.Hour},
		{"1w", 7 * 24 * time.Hour},
		{"2w1d", 15 * 24 * time.Hour},
		{"1d12h", 36 * time.Hour},
	} {
		t.Run(tc.in, func(t *testing.T) {
			for _, v := range variables() {
				if reflect.ValueOf(config{}).FieldByName(v.Field).Type() != durationType {
					continue
				}
				t.Setenv(v.Key, tc.in)
				var c config
				if err := processEnv(&c); err != nil {
					t.Fatalf("%s=%s: %v", v.Key, tc.in, err)
				}
				if got := reflect.ValueOf(c).FieldByName(v.Field).Interface(); got != tc.want {
					t.Errorf("%s=%s read as %v, want %v", v.Key, tc.in, got, tc.want)
				}
			}
		})
	}
	t.Setenv("TEAMS_EXPORTER_LOOKBACK", "3 days")
	_, err := loadConfig()
	if err == nil {
		t.Fatal("3 days accepted")
	}
	for _, want := range []string{"TEAMS_EXPORTER_LOOKBACK: ", `"3 days"`, "90m", "30d"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

// logfmtValue is the value of key in a logfmt line, unquoted.
func logfmtValue(line, key string) (string, bool) {
	m := regexp.MustCompile(`(?:^| )` + regexp.QuoteMeta(key) + `=("(?:[^"\\]|\\.)*"|\S*)`).FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return strings.Trim(m[1], `"`), true
}

// logLine is the first line of log holding msg, or "".
func logLine(log, msg string) string {
	for line := range strings.Lines(log) {
		if strings.Contains(line, `msg="`+msg+`"`) {
			return line
		}
	}
	return ""
}

// TestSecretsAreNotShown: a variable that is a secret, by its tag or by its
// name, shows only whether it is set.
func TestSecretsAreNotShown(t *testing.T) {
	for _, v := range variables() {
		if v.Secret && !strings.Contains(fmt.Sprint((&config{}).logAttrs()), strings.ToLower(strings.TrimPrefix(v.Key, envPrefix+"_"))+" <empty>") {
			t.Errorf("%s is a secret shown with its value", v.Key)
		}
	}
	for _, key := range []string{"TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE", "TEAMS_EXPORTER_PROXY_PASSWORD", "TEAMS_EXPORTER_CLIENT_SECRET"} {
		if !containsAny(key, secretKeyWords) {
			t.Errorf("%s would be shown", key)
		}
	}
}

// imdsProxy stands for what answers the instance metadata service's
// address off Azure: Docker Desktop's proxy answers 403 "network is
// unreachable", elsewhere nothing listens. The exporter reaches it through
// HTTP_PROXY (Go's transport proxies every non-loopback host), so no
// request leaves the machine.
type imdsProxy struct {
	addr     string
	requests atomic.Int64
}

func startIMDSProxy(t *testing.T, answer bool) *imdsProxy {
	t.Helper()
	p := &imdsProxy{addr: testrun.FreeAddr(t)}
	if !answer {
		return p // nothing listens: connection refused
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Hostname() == "169.254.169.254" {
			p.requests.Add(1)
		}
		http.Error(w, "connecting to 169.254.169.254:80: connecting to 169.254.169.254:80: dial tcp 169.254.169.254:80: connect: network is unreachable", http.StatusForbidden)
	}))
	l, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	t.Cleanup(srv.Close)
	return p
}

// TestNoCredentialSaysWhatToSet runs the exporter with no AZURE_*
// credential and no managed identity endpoint, where the instance metadata
// service is not there: the start-up line says credential=none, no token
// request is counted (no identity provider was reached), and the poll
// failure says in one line what to set and which Graph permissions to
// grant.
func TestNoCredentialSaysWhatToSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		proxy       bool // a proxy answers 403 for the metadata service
		env         []string
		permissions []string
		absent      []string
	}{
		{"Docker Desktop's proxy", true, nil, []string{"CallRecords.Read.All"}, []string{"PstnCalls"}},
		{"no endpoint, call logs on", false, []string{"TEAMS_EXPORTER_PSTN_CALLS=true"}, []string{"CallRecords.Read.All", "CallRecord-PstnCalls.Read.All"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startTenant(t, nil)
			proxy := startIMDSProxy(t, tc.proxy)
			e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), append([]string{
				"AZURE_CLIENT_SECRET=", "AZURE_TENANT_ID=", "AZURE_CLIENT_ID=",
				"HTTP_PROXY=http://" + proxy.addr, "TEAMS_EXPORTER_POLL_INTERVAL=1h",
			}, tc.env...)...)
			// Without a proxy answering, azidentity retries the metadata
			// service until the request times out (60s): the poll fails
			// then, plus however long a loaded runner takes to start.
			exposureWaitLog(t, e, "the poll failure", 3*time.Minute, func(log string) bool { return logLine(log, "poll failed") != "" })
			if kind, _ := logfmtValue(logLine(e.logs(), "starting teams exporter"), "credential"); kind != graph.CredentialNone {
				t.Errorf("credential kind %q, want %q", kind, graph.CredentialNone)
			}
			if tc.proxy && proxy.requests.Load() == 0 {
				t.Error("the metadata service was never asked: the test proves nothing")
			}
			msg, _ := logfmtValue(logLine(e.logs(), "poll failed"), "err")
			for _, want := range append([]string{"no Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET", "-demo"}, tc.permissions...) {
				if !strings.Contains(msg, want) {
					t.Errorf("poll failure %q lacks %q", msg, want)
				}
			}
			for _, absent := range tc.absent {
				if strings.Contains(msg, absent) {
					t.Errorf("poll failure %q names %q", msg, absent)
				}
			}
			if strings.Contains(msg, `\n`) {
				t.Errorf("poll failure spans lines: %q", msg)
			}
			mfs, err := e.scrape()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range mfs["teams_exporter_graph_requests_total"].GetMetric() {
				if hasLabels(m, "operation", "token") {
					t.Errorf("a token request counted, none reached an identity provider: %v", m.GetLabel())
				}
			}
		})
	}
}

// TestStartedExporter runs one exporter against the simulated tenant and
// checks what an operator sees of it at start.
func TestStartedExporter(t *testing.T) {
	t.Parallel()
	ts := startTenant(t, nil)
	e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), "TEAMS_EXPORTER_LOOKBACK=2d", "TEAMS_EXPORTER_CONCURRENCY=3",
		"TEAMS_EXPORTER_POLL_INTERVALL=1m", "TEAMS_EXPORTER_NOTIFICATION_CLIENTSTATE="+misspeltSecret)
	mfs := e.waitFor(t, "the build info", 60*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return mfs["teams_exporter_build_info"] != nil
	})
	t.Run("start-up line", func(t *testing.T) { checkStartupLine(t, e, ts) })
	t.Run("landing page links", func(t *testing.T) { checkLandingPageLinks(t, e) })
	t.Run("build info", func(t *testing.T) { checkBuildInfo(t, mfs) })
	t.Run("misspelt variables", func(t *testing.T) { checkMisspeltVariables(t, e) })
}

// misspeltSecret is the value of a misspelt secret variable: it must not
// be logged either.
const misspeltSecret = "misspelt-s3cret-never-logged"

// checkMisspeltVariables: every TEAMS_EXPORTER_* variable the exporter
// does not know gets one warning naming the closest known one, before the
// start-up line, and its value is not logged.
func checkMisspeltVariables(t *testing.T, e *exporterProc) {
	log := e.logs()
	for typo, want := range map[string]string{
		"TEAMS_EXPORTER_POLL_INTERVALL":           "TEAMS_EXPORTER_POLL_INTERVAL",
		"TEAMS_EXPORTER_NOTIFICATION_CLIENTSTATE": "TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE",
	} {
		var lines []string
		for line := range strings.Lines(log) {
			if v, _ := logfmtValue(line, "variable"); v == typo && strings.Contains(line, "level=WARN") {
				lines = append(lines, line)
			}
		}
		if len(lines) != 1 {
			t.Errorf("%d warnings for %s, want 1", len(lines), typo)
			continue
		}
		if got, _ := logfmtValue(lines[0], "did_you_mean"); got != want {
			t.Errorf("%s: did_you_mean=%q, want %q", typo, got, want)
		}
		if strings.Index(log, lines[0]) > strings.Index(log, "starting teams exporter") {
			t.Errorf("the warning for %s comes after the start-up line", typo)
		}
	}
	if strings.Contains(log, misspeltSecret) {
		t.Error("the value of a misspelt variable is logged")
	}
	for line := range strings.Lines(log) {
		if v, _ := logfmtValue(line, "variable"); strings.HasPrefix(v, envPrefix) && !strings.Contains(v, "INTERVALL") && !strings.Contains(v, "CLIENTSTATE") {
			t.Errorf("a known variable is called unknown: %s", line)
		}
	}
}

// TestClosestVariable: a misspelling is matched to the variable it was
// meant to be.
func TestClosestVariable(t *testing.T) {
	var names []string
	for _, v := range variables() {
		names = append(names, v.Key)
	}
	for typo, want := range map[string]string{
		"TEAMS_EXPORTER_POLL_INTERVALL":     "TEAMS_EXPORTER_POLL_INTERVAL",
		"TEAMS_EXPORTER_LISTEN_ADRESS":      "TEAMS_EXPORTER_LISTEN_ADDRESS",
		"TEAMS_EXPORTER_LOGLEVEL":           "TEAMS_EXPORTER_LOG_LEVEL",
		"TEAMS_EXPORTER_NOTIFICATIONS_URL":  "TEAMS_EXPORTER_NOTIFICATION_URL",
		"TEAMS_EXPORTER_FULLSCAN_INTERVAL":  "TEAMS_EXPORTER_FULL_SCAN_INTERVAL",
		"TEAMS_EXPORTER_BUILDINGS_FILE":     "TEAMS_EXPORTER_BUILDING_FILE",
		"TEAMS_EXPORTER_HEALTH_LISTEN_ADDR": "TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS",
	} {
		if got := closest(typo, names); got != want {
			t.Errorf("closest(%s) = %s, want %s", typo, got, want)
		}
	}
	for _, tc := range []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "", 3}, {"kitten", "sitting", 3}, {"INTERVAL", "INTERVALL", 1}, {"ab", "ba", 2}} {
		if got := editDistance(tc.a, tc.b); got != tc.want || editDistance(tc.b, tc.a) != tc.want {
			t.Errorf("editDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}

// checkStartupLine: one line gives the effective configuration, every
// variable, with values as read (a Prometheus duration as the duration it
// means), the credential kind, and no secret.
func checkStartupLine(t *testing.T, e *exporterProc, ts *tenantServer) {
	line := logLine(e.logs(), "starting teams exporter")
	want := map[string]string{
		"credential":  "client secret",
		"lookback":    "48h0m0s",
		"concurrency": "3",
		"graph_url":   ts.srv.URL,
	}
	for _, v := range variables() {
		key := strings.ToLower(strings.TrimPrefix(v.Key, envPrefix+"_"))
		if _, ok := logfmtValue(line, key); !ok {
			t.Errorf("the start-up line lacks %s", key)
		}
	}
	for k, v := range want {
		if got, _ := logfmtValue(line, k); got != v {
			t.Errorf("start-up line: %s=%q, want %q", k, got, v)
		}
	}
	if strings.Contains(e.logs(), testSecret) {
		t.Error("the client secret is in the log")
	}
	if n := strings.Count(e.logs(), "starting teams exporter"); n != 1 {
		t.Errorf("%d start-up lines", n)
	}
}

// checkLandingPageLinks follows every link of the landing page: none may
// be missing (404).
func checkLandingPageLinks(t *testing.T, e *exporterProc) {
	resp, err := http.Get("http://" + e.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	links := regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(string(page), -1)
	if len(links) < 3 {
		t.Fatalf("landing page has %d links:\n%s", len(links), page)
	}
	for _, l := range links {
		if strings.Contains(l[1], "://") {
			continue // not ours to check
		}
		resp, err := http.Get("http://" + e.addr + "/" + strings.TrimPrefix(l[1], "/"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("landing page link %s: 404", l[1])
		}
	}
	if bytes.Contains(page, []byte("debug/pprof")) {
		t.Error("the landing page offers profiles, which are not served")
	}
}

// checkBuildInfo: teams_exporter_build_info carries what the build's
// ldflags set, and Go's own facts, with prometheus/common/version's labels.
func checkBuildInfo(t *testing.T, mfs map[string]*dto.MetricFamily) {
	got := map[string]string{}
	for _, lp := range mfs["teams_exporter_build_info"].GetMetric()[0].GetLabel() {
		got[lp.GetName()] = lp.GetValue()
	}
	for k, want := range map[string]string{"version": testVersion, "revision": testRevision, "branch": testBranch, "goos": runtime.GOOS, "goarch": runtime.GOARCH} {
		if got[k] != want {
			t.Errorf("build_info %s=%q, want %q", k, got[k], want)
		}
	}
	for _, k := range []string{"goversion", "tags"} {
		if got[k] == "" {
			t.Errorf("build_info has no %s", k)
		}
	}
	if len(got) != 7 {
		t.Errorf("build_info labels %v, want version, revision, branch, goversion, goos, goarch, tags", got)
	}
}

// TestTwoDemosDoNotShareAStateFile starts two demos with the default state
// file: each gets a directory of its own, and removes it when it stops.
func TestTwoDemosDoNotShareAStateFile(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	var demos []*exporterProc
	for range 2 {
		addr := testrun.FreeAddr(t)
		cmd := exec.Command(exporterBin, "-demo")
		cmd.Env = []string{"HOME=" + t.TempDir(), "TMPDIR=" + tmp, "TEAMS_EXPORTER_LISTEN_ADDRESS=" + addr}
		demos = append(demos, runExporter(t, cmd, addr))
	}
	var dirs []string
	for _, e := range demos {
		exposureWaitLog(t, e, "the start-up line", 2*time.Minute, func(log string) bool { return logLine(log, "starting teams exporter") != "" })
		file, _ := logfmtValue(logLine(e.logs(), "starting teams exporter"), "state_file")
		dir := filepath.Dir(file)
		if _, err := os.Stat(dir); err != nil || filepath.Dir(dir) != tmp {
			t.Fatalf("demo state file %q: %v; want a directory of its own in TMPDIR %s", file, err, tmp)
		}
		dirs = append(dirs, dir)
	}
	if dirs[0] == dirs[1] {
		t.Errorf("two demos share the state directory %s", dirs[0])
	}
	for i, e := range demos {
		e.kill(syscall.SIGTERM)
		if _, err := os.Stat(dirs[i]); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the demo's state directory is left behind: %v", err)
		}
	}
}

// Basic auth for the probe tests: bcrypt at cost 4 (fast under the race
// detector) of basicAuthPassword.
const (
	basicAuthUser     = "prometheus"
	basicAuthPassword = "scrape-pa55word-for-e2e"
	basicAuthHash     = "$2a$04$1vgaO9qdyzInbuqXhy4QO.C9N3OIQZ4soThwJYIL89QP7Q148MU2S"
)

// TestProbeMode runs the binary's probe mode, what a container health check
// does, against an exporter whose web configuration requires basic auth:
// the main listener refuses the probe (401), the health listener answers it
// without credentials, and serves nothing else.
func TestProbeMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	webConfig := filepath.Join(dir, "web-config.yml")
	if err := os.WriteFile(webConfig, []byte(fmt.Sprintf("basic_auth_users:\n  %s: %s\n", basicAuthUser, basicAuthHash)), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startTenant(t, nil)
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 15, Count: 5, Start: time.Now().Add(-time.Hour), End: time.Now().Add(-time.Minute)})
	ts.tenant.Add(recs...)
	health := testrun.FreeAddr(t)
	e := startExporter(t, ts, filepath.Join(dir, "state.json"),
		"TEAMS_EXPORTER_WEB_CONFIG_FILE="+webConfig, "TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS="+health)
	exposureWaitLog(t, e, "a successful poll", 60*time.Second, func(log string) bool { return logLine(log, "poll finished") != "" })

	for _, tc := range []struct {
		url  string
		code int
	}{
		{"http://" + health + "/healthz", 0},
		{"http://" + health + "/readyz", 0},
		{"http://" + health + "/metrics", 1},
		{"http://" + health + "/", 1},
		{"http://" + e.addr + "/healthz", 1}, // 401
		{"http://" + testrun.FreeAddr(t) + "/healthz", 1},
	} {
		code, stdout, stderr := runBinary(t, nil, "-probe", tc.url)
		if code != tc.code || stdout != "" {
			t.Errorf("probe %s: exit %d, stdout %q; want %d", tc.url, code, stdout, tc.code)
		}
		if code != 0 && strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("probe %s: want one line, got %q", tc.url, stderr)
		}
	}
	// A path alone: the listener the same environment configures, as the
	// image's HEALTHCHECK runs it.
	for _, tc := range []struct {
		env  []string
		code int
	}{
		{[]string{"TEAMS_EXPORTER_LISTEN_ADDRESS=" + e.addr, "TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS=" + health}, 0},
		{[]string{"TEAMS_EXPORTER_LISTEN_ADDRESS=" + e.addr}, 1}, // 401
		{[]string{"TEAMS_EXPORTER_LISTEN_ADDRESS=" + e.addr, "TEAMS_EXPORTER_CONCURRENCY=0"}, 2},
	} {
		if code, _, stderr := runBinary(t, tc.env, "-probe", "/healthz"); code != tc.code {
			t.Errorf("probe /healthz with %v: exit %d (%s), want %d", tc.env, code, stderr, tc.code)
		}
	}

	resp, err := http.Get("http://" + e.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d, want 401", resp.StatusCode)
	}
}

func TestProbeURL(t *testing.T) {
	for _, tc := range []struct {
		listen, health, want string
	}{
		{":9868", "", "http://127.0.0.1:9868/healthz"},
		{"0.0.0.0:9868", "", "http://127.0.0.1:9868/healthz"},
		{"[::]:9868", "", "http://127.0.0.1:9868/healthz"},
		{"10.1.2.3:9868", "", "http://10.1.2.3:9868/healthz"},
		{"[::1]:9868", "", "http://[::1]:9868/healthz"},
		{":9868", ":9870", "http://127.0.0.1:9870/healthz"},
		{":9868", "127.0.0.2:9870", "http://127.0.0.2:9870/healthz"},
	} {
		c := config{ListenAddress: tc.listen, HealthListenAddress: tc.health}
		if got := c.probeURL("/healthz"); got != tc.want {
			t.Errorf("listen %q, health %q: %s, want %s", tc.listen, tc.health, got, tc.want)
		}
	}
}
