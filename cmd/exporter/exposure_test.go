package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// The tests in this file look at everything the exporter exposes (logs,
// /metrics in both formats, the landing page, /healthz, /readyz) for what
// must never be there, and at how it serves and stops: TLS and basic auth,
// SIGTERM in the middle of a poll, readiness while Graph fails.

// exposureTokens records the access tokens the tenant's token endpoint hands
// out, read from the answers on the wire, so tests can look for them in the
// exporter's output.
type exposureTokens struct {
	mu   sync.Mutex
	toks []string
}

func (x *exposureTokens) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") {
			next.ServeHTTP(w, r)
			return
		}
		tee := &exposureTee{ResponseWriter: w}
		next.ServeHTTP(tee, r)
		var body struct {
			AccessToken string `json:"access_token"`
		}
		if json.Unmarshal(tee.body.Bytes(), &body) == nil && body.AccessToken != "" {
			x.mu.Lock()
			x.toks = append(x.toks, body.AccessToken)
			x.mu.Unlock()
		}
	})
}

func (x *exposureTokens) issued() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return append([]string(nil), x.toks...)
}

type exposureTee struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (t *exposureTee) Write(p []byte) (int, error) {
	t.body.Write(p)
	return t.ResponseWriter.Write(p)
}

// exposureClientCert is an RSA client certificate and its PKCS#8 key, made
// once: RSA key generation is slow under the race detector.
var exposureClientCert = sync.OnceValues(func() (certPEM, keyPEM []byte) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "teams-exporter e2e client"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
})

// exposureNeedles maps a description to a string that must not appear.
type exposureNeedles map[string]string

// addPEM adds every 40-character window (every 20 characters, so any leaked
// run of 60 or more, such as one 64-character PEM line, contains one) of the
// base64 of each block, and the block's hex.
func (n exposureNeedles) addPEM(what string, data []byte) {
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return
		}
		for enc, s := range map[string]string{
			"base64":    base64.StdEncoding.EncodeToString(b.Bytes),
			"base64url": base64.RawURLEncoding.EncodeToString(b.Bytes),
			"hex":       hex.EncodeToString(b.Bytes),
		} {
			for i := 0; i < len(s); i += 20 {
				j := min(i+40, len(s))
				n[fmt.Sprintf("%s %s [%d:%d]", what, enc, i, j)] = s[max(0, j-40):j]
			}
		}
	}
}

// addRSAKey adds the private exponent and primes as the %v of an
// *rsa.PrivateKey would print them, and in hex.
func (n exposureNeedles) addRSAKey(keyPEM []byte) {
	b, _ := pem.Decode(keyPEM)
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	if err != nil {
		panic(err)
	}
	key := k.(*rsa.PrivateKey)
	for i, v := range append([]*big.Int{key.D}, key.Primes...) {
		n[fmt.Sprintf("private key number %d (decimal)", i)] = v.String()[:40]
		n[fmt.Sprintf("private key number %d (hex)", i)] = v.Text(16)[:40]
	}
}

func (n exposureNeedles) addSecret(what, s string) {
	n[what] = s
	n[what+" (base64)"] = base64.StdEncoding.EncodeToString([]byte(s))
}

// exposureFind returns "<where> contains <what>" for every needle found in
// every output.
func exposureFind(outputs map[string]string, needles exposureNeedles) []string {
	var hits []string
	for where, out := range outputs {
		for what, v := range needles {
			if v != "" && strings.Contains(out, v) {
				hits = append(hits, fmt.Sprintf("%s contains %s", where, what))
			}
		}
	}
	return hits
}

func exposureAssertAbsent(t *testing.T, outputs map[string]string, needles exposureNeedles) {
	t.Helper()
	if len(needles) == 0 {
		t.Fatal("nothing to look for")
	}
	hits := exposureFind(outputs, needles)
	for i, h := range hits {
		if i == 20 {
			t.Errorf("... and %d more", len(hits)-20)
			break
		}
		t.Error(h)
	}
}

const exposureOpenMetrics = "application/openmetrics-text;version=1.0.0"

// exposureGet fetches a path of the exporter over plain HTTP.
func exposureGet(e *exporterProc, path, accept string) (int, string, http.Header, error) {
	req, err := http.NewRequest(http.MethodGet, "http://"+e.addr+path, nil)
	if err != nil {
		return 0, "", nil, err
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), resp.Header, err
}

// exposureOutputs collects everything the exporter serves, stops it with
// SIGTERM and adds its whole log (stderr and stdout).
func exposureOutputs(t *testing.T, e *exporterProc) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range []struct{ name, path, accept string }{
		{"/metrics (text)", "/metrics", ""},
		{"/metrics (OpenMetrics)", "/metrics", exposureOpenMetrics},
		{"landing page", "/", ""},
		{"/healthz", "/healthz", ""},
		{"/readyz", "/readyz", ""},
	} {
		_, body, _, err := exposureGet(e, p.path, p.accept)
		if err != nil {
			t.Fatalf("GET %s: %v", p.path, err)
		}
		out[p.name] = body
	}
	if !strings.Contains(out["/metrics (text)"], "teams_exporter_build_info") {
		t.Fatalf("/metrics does not look like the exporter's:\n%.500s", out["/metrics (text)"])
	}
	e.kill(syscall.SIGTERM)
	out["log"] = e.logs()
	return out
}

// exposureWaitPollErrors waits until a poll has failed, seen on /metrics,
// which every log level allows.
func exposureWaitPollErrors(t *testing.T, e *exporterProc) map[string]*dto.MetricFamily {
	t.Helper()
	return e.waitFor(t, "a failed poll", 60*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_polls_total", "result", "error") >= 1
	})
}

var exposurePollLine = regexp.MustCompile(`msg="poll finished".* ingested=(\d+)`)

// exposurePolls counts the successful polls in a logfmt log and the records
// they ingested. Reading the log is cheap where a scrape is not: with
// generated records /metrics holds tens of thousands of series.
func exposurePolls(log string) (polls, ingested int) {
	for _, m := range exposurePollLine.FindAllStringSubmatch(log, -1) {
		n, _ := strconv.Atoi(m[1])
		polls, ingested = polls+1, ingested+n
	}
	return polls, ingested
}

// exposureWaitLog waits until cond holds for the exporter's log.
func exposureWaitLog(t *testing.T, e *exporterProc, what string, timeout time.Duration, cond func(log string) bool) {
	t.Helper()
	start := time.Now()
	defer func() { t.Logf("waited %v of %v for %s", time.Since(start).Round(time.Millisecond), timeout, what) }()
	deadline := start.Add(timeout)
	for !cond(e.logs()) {
		select {
		case <-e.done:
			t.Fatalf("exporter exited while waiting for %s", what)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestExposureCredentialsNeverLeak(t *testing.T) {
	t.Parallel()
	const wrongSecret = "wr0ng-s3cret-also-never-to-be-shown"
	certPEM, keyPEM := exposureClientCert()
	cases := []struct {
		name       string
		level      string
		format     string
		cert       bool // authenticate with AZURE_CLIENT_CERTIFICATE_PATH
		registered bool // the tenant knows the certificate
		secret     string
		succeeds   bool
		// wantLog must appear (case-insensitively) in the log of a failure.
		wantLog []string
	}{
		{name: "secret/debug", level: "debug", format: "logfmt", secret: testSecret, succeeds: true},
		{name: "secret/info/json", level: "info", format: "json", secret: testSecret, succeeds: true},
		{name: "wrong_secret/debug", level: "debug", format: "logfmt", secret: wrongSecret, wantLog: []string{"AADSTS7000215", "authenticat"}},
		{name: "wrong_secret/info", level: "info", format: "logfmt", secret: wrongSecret, wantLog: []string{"AADSTS7000215", "authenticat"}},
		{name: "wrong_secret/warn/json", level: "warn", format: "json", secret: wrongSecret, wantLog: []string{"AADSTS7000215", "authenticat"}},
		{name: "wrong_secret/error", level: "error", format: "logfmt", secret: wrongSecret, wantLog: []string{"AADSTS7000215", "authenticat"}},
		{name: "certificate/debug", level: "debug", format: "logfmt", cert: true, registered: true, succeeds: true},
		{name: "unregistered_certificate/debug", level: "debug", format: "logfmt", cert: true, wantLog: []string{"AADSTS700027", "authenticat"}},
		{name: "unregistered_certificate/error/json", level: "error", format: "json", cert: true, wantLog: []string{"AADSTS700027", "authenticat"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := graphsim.Options{TenantID: testTenantID, ClientID: testClientID, ClientSecret: testSecret}
			if tc.registered {
				opts.CertificatePEM = certPEM
			}
			var toks exposureTokens
			ts := startTenantWith(t, opts, toks.wrap)
			now := time.Now()
			recs := graphsim.Generate(graphsim.GenOptions{Seed: 11, Count: 5, Start: now.Add(-3 * time.Hour), End: now.Add(-time.Minute)})
			ts.tenant.Add(recs...)

			env := []string{"TEAMS_EXPORTER_LOG_LEVEL=" + tc.level, "TEAMS_EXPORTER_LOG_FORMAT=" + tc.format}
			if tc.cert {
				certFile := filepath.Join(t.TempDir(), "client.pem")
				if err := os.WriteFile(certFile, append(append([]byte(nil), certPEM...), keyPEM...), 0o600); err != nil {
					t.Fatal(err)
				}
				// Empty is unset for azidentity: the certificate is used.
				env = append(env, "AZURE_CLIENT_SECRET=", "AZURE_CLIENT_CERTIFICATE_PATH="+certFile)
			} else {
				env = append(env, "AZURE_CLIENT_SECRET="+tc.secret)
			}
			e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), env...)

			var mfs map[string]*dto.MetricFamily
			if tc.succeeds {
				mfs = e.waitFor(t, "a successful poll", 60*time.Second, successfulPolls(1))
				if counterValue(mfs, "teams_exporter_records_ingested_total") != float64(len(recs)) {
					t.Errorf("ingested %v records, want %d", counterValue(mfs, "teams_exporter_records_ingested_total"), len(recs))
				}
				if len(toks.issued()) == 0 {
					t.Fatal("the tenant issued no token, so the search for tokens proves nothing")
				}
			} else {
				mfs = exposureWaitPollErrors(t, e)
				if n := len(toks.issued()); n != 0 {
					t.Fatalf("the tenant issued %d tokens to a wrong credential", n)
				}
				if counterValue(mfs, "teams_exporter_graph_requests_total", "operation", "token", "code", "401") < 1 {
					t.Errorf("the refused token request is not counted as operation=token code=401")
				}
			}
			out := exposureOutputs(t, e)

			needles := exposureNeedles{}
			needles.addSecret("the client secret", testSecret)
			needles.addSecret("the wrong client secret", wrongSecret)
			for i, tok := range toks.issued() {
				needles[fmt.Sprintf("access token %d", i)] = tok
			}
			needles.addPEM("the client certificate", certPEM)
			needles.addPEM("the private key", keyPEM)
			needles.addRSAKey(keyPEM)
			exposureAssertAbsent(t, out, needles)

			for _, l := range strings.Split(out["log"], "\n") {
				if strings.Contains(l, "AADSTS") {
					t.Logf("the failure as logged: %s", l)
					break
				}
			}
			log := strings.ToLower(out["log"])
			for _, want := range tc.wantLog {
				if !strings.Contains(log, strings.ToLower(want)) {
					t.Errorf("the log of the authentication failure does not say %q:\n%s", want, testrun.LastLines(out["log"], 10))
				}
			}
		})
	}
}

func TestExposureNeedleSearchFindsLeaks(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM := exposureClientCert()
	needles := exposureNeedles{}
	needles.addPEM("the private key", keyPEM)
	needles.addPEM("the client certificate", certPEM)
	needles.addRSAKey(keyPEM)
	b, _ := pem.Decode(keyPEM)
	k, _ := x509.ParsePKCS8PrivateKey(b.Bytes)
	line := strings.Split(string(keyPEM), "\n")[7] // one 64-character line
	for name, out := range map[string]string{
		"a PEM line in logfmt": `level=ERROR msg=x err="` + strings.ReplaceAll(string(keyPEM), "\n", `\n`) + `"`,
		"one PEM line":         "key=" + line,
		"the key's %v":         fmt.Sprintf("%v", k),
	} {
		if len(exposureFind(map[string]string{name: out}, needles)) == 0 {
			t.Errorf("%s is not found", name)
		}
	}
}

func TestExposureTLSAndBasicAuth(t *testing.T) {
	t.Parallel()
	const (
		user     = "prometheus"
		password = "scrape-pa55word-for-e2e"
		// bcrypt (cost 4, fast under the race detector) of password.
		hash = "$2a$04$1vgaO9qdyzInbuqXhy4QO.C9N3OIQZ4soThwJYIL89QP7Q148MU2S"
	)
	dir := t.TempDir()
	certFile, keyFile, pool := exposureServerCert(t, dir)
	webConfig := filepath.Join(dir, "web-config.yml")
	cfg := fmt.Sprintf("tls_server_config:\n  cert_file: %s\n  key_file: %s\nbasic_auth_users:\n  %s: %s\n", certFile, keyFile, user, hash)
	if err := os.WriteFile(webConfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startTenant(t, nil)
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 12, Count: 5, Start: now.Add(-time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	e := startExporter(t, ts, filepath.Join(dir, "state.json"), "TEAMS_EXPORTER_WEB_CONFIG_FILE="+webConfig)

	trusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(c *http.Client, url string, auth ...string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if len(auth) == 2 {
			req.SetBasicAuth(auth[0], auth[1])
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body), err
	}
	url := "https://" + e.addr + "/metrics"

	// Wait for a successful poll, seen through TLS with the password.
	var body string
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, b, err := get(trusting, url, user, password)
		if err == nil && code == 200 {
			parser := expfmt.NewTextParser(model.UTF8Validation)
			mfs, perr := parser.TextToMetricFamilies(strings.NewReader(b))
			// The records are counted as they are observed; their series
			// are served once the state holding them is saved.
			if perr == nil && counterValue(mfs, "teams_exporter_records_ingested_total") == float64(len(recs)) && mfs["teams_call_records_total"] != nil {
				body = b
				break
			}
		}
		select {
		case <-e.done:
			t.Fatalf("exporter exited:\n%s", testrun.LastLines(e.logs(), 20))
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("records not ingested, seen over TLS with basic auth: %d %v", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, want := range []string{"teams_exporter_build_info", "teams_call_records_total", "teams_stream_jitter_seconds_bucket"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics over TLS lacks %s", want)
		}
	}

	for _, c := range []struct {
		name string
		auth []string
	}{
		{"no credentials", nil},
		{"wrong password", []string{user, password + "x"}},
		// (An unknown user is checked against exporter-toolkit's own
		// cost-10 hash: seconds under the race detector, so not here.)
	} {
		code, b, err := get(trusting, url, c.auth...)
		if err != nil || code != http.StatusUnauthorized {
			t.Errorf("%s: got %d, %v; want 401", c.name, code, err)
		}
		if strings.Contains(b, "teams_") {
			t.Errorf("%s: metrics served without authentication", c.name)
		}
	}
	if code, b, err := get(trusting, "https://"+e.addr+"/", user, password+"x"); err != nil || code != http.StatusUnauthorized || strings.Contains(b, "/metrics") {
		t.Errorf("landing page with a wrong password: %d, %v", code, err)
	}

	// Plain HTTP to the TLS port: Go's TLS server answers 400, never metrics.
	plain := &http.Client{Timeout: 10 * time.Second}
	if code, b, err := get(plain, "http://"+e.addr+"/metrics", user, password); err == nil && (code == 200 || strings.Contains(b, "teams_")) {
		t.Errorf("plain HTTP to the TLS port got %d with metrics", code)
	}
	// A client that does not trust the certificate refuses the connection.
	untrusting := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}}
	_, _, err := get(untrusting, url, user, password)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("a client not trusting the certificate got %v; want an unknown authority error", err)
	}
	if strings.Contains(e.logs(), password) {
		t.Error("the scrape password appears in the log")
	}
}

// exposureServerCert writes a self-signed certificate for 127.0.0.1 and its
// key, and returns a pool trusting it.
func exposureServerCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: "teams-exporter e2e"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	certFile, keyFile = filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	return certFile, keyFile, pool
}

var (
	exposureIPv4 = regexp.MustCompile(`^\d{1,3}(\.\d{1,3}){3}$`)
	exposureGUID = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	exposureName = regexp.MustCompile(`^[A-Z][a-z]+ [A-Z][a-z]+`)
	exposureMAC  = regexp.MustCompile(`^[0-9A-Fa-f]{2}([-:][0-9A-Fa-f]{2}){5}$`)
)

func TestExposureNoPersonalData(t *testing.T) {
	t.Parallel()
	ts := startTenant(t, nil)
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 13, Count: 30, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	// The call logs carry phone numbers, user names and ids, correlation
	// ids; a row with a phone number where a boolean goes is unreadable
	// and logged.
	dr, pstn := graphsim.GenerateCallLogs(graphsim.CallLogOptions{Seed: 14, DirectRouting: 40, PSTN: 40, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.AddDirectRoutingRows(dr...)
	ts.tenant.AddPSTNRows(pstn...)
	badStart := now.Add(-time.Hour)
	if err := ts.tenant.AddRawCallLogRow(graphsim.OpDirectRoutingCalls, "bad-1", badStart, json.RawMessage(
		`{"id":"bad-1","startDateTime":"`+badStart.Format(time.RFC3339)+`","successfulCall":"`+dr[0].CalleeNumber+`","callType":{"x":"`+dr[1].CallerNumber+`"}}`)); err != nil {
		t.Fatal(err)
	}
	values := append(graphsim.PersonalValues(recs), graphsim.CallLogPersonalValues(dr, pstn)...)
	kinds := map[string]*regexp.Regexp{"an IPv4 address": exposureIPv4, "a GUID": exposureGUID, "a display name": exposureName, "a MAC address": exposureMAC,
		"a phone number": regexp.MustCompile(`^\+[0-9]{10,}$`)}
	for kind, re := range kinds {
		found := false
		for _, v := range values {
			found = found || re.MatchString(v)
		}
		if !found {
			t.Errorf("the personal values hold no %s; the search would prove little (%d values)", kind, len(values))
		}
	}
	needles := exposureNeedles{}
	for _, v := range values {
		needles[strconv.Quote(v)] = v
	}
	// The search itself must find a value where there is one.
	if len(exposureFind(map[string]string{"probe": `level=INFO msg=x user="` + values[len(values)/2] + `"`}, needles)) != 1 {
		t.Fatal("the search does not find a planted personal value")
	}

	// With the call logs and a building file: clients' subnets and
	// addresses are looked up.
	e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), "TEAMS_EXPORTER_DIRECT_ROUTING_CALLS=true", "TEAMS_EXPORTER_PSTN_CALLS=true",
		"TEAMS_EXPORTER_BUILDING_FILE="+writeDemoBuildings(t))
	exposureWaitLog(t, e, "all records ingested", 60*time.Second, func(log string) bool {
		_, n := exposurePolls(log)
		return n == len(recs)
	})
	e.waitFor(t, "all call-log rows ingested", 60*time.Second, rowsIngested(len(dr), len(pstn)))
	out := exposureOutputs(t, e)
	for _, want := range []string{"teams_direct_routing_calls_total", "teams_pstn_charge_total"} {
		if !strings.Contains(out["/metrics (text)"], want) {
			t.Errorf("no %s in /metrics; the search did not see the call logs", want)
		}
	}
	if !strings.Contains(out["log"], "unreadable direct-routing call log rows") {
		t.Error("the unreadable row was not logged; the search did not see its line")
	}
	if !strings.Contains(out["/metrics (text)"], "teams_call_records_total") {
		t.Error("no call records in /metrics; the search did not see them")
	}
	if !strings.Contains(out["/metrics (text)"], `teams_site_streams_total{`) || !strings.Contains(out["/metrics (text)"], `site="unmapped"`) {
		t.Error("no site families in /metrics; the building lookup did not run")
	}
	if !strings.Contains(out["/metrics (OpenMetrics)"], `# {call_id="`) {
		t.Error("no exemplars in the OpenMetrics exposition; the search did not see them")
	}
	if !strings.Contains(out["log"], `msg="poll finished"`) {
		t.Error("no poll in the log; the search did not see it")
	}
	exposureAssertAbsent(t, out, needles)
}

// exposureSwitch is a middleware for Graph requests (not Entra ones) that
// can be switched on and off while the tenant serves.
type exposureSwitch struct {
	fail atomic.Bool // answer every Graph request 503
}

func (s *exposureSwitch) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/v1.0/") {
			next.ServeHTTP(w, r)
			return
		}
		if s.fail.Load() {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"code":"serviceNotAvailable","message":"The service is temporarily unavailable."}}`)
			return
		}
		next.ServeHTTP(w, r)
	})
}

var exposureRestoredIDs = regexp.MustCompile(`msg="state restored".* ids=(\d+)`)

func TestExposureSIGTERMMidPollSavesConsistentState(t *testing.T) {
	t.Parallel()
	// The first $batch is answered, the second held: SIGTERM comes in the
	// middle of a poll, with a Graph request in flight.
	hold := newBatchHold(t)
	hold.allow(1)
	ts := startTenant(t, hold.wrap)
	now := time.Now()
	recs, truth := simtruth.Generate(graphsim.GenOptions{Seed: 14, Count: 40, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	state := filepath.Join(t.TempDir(), "state.json")
	env := []string{"TEAMS_EXPORTER_CONCURRENCY=1"}

	e := startExporter(t, ts, state, env...)
	e.waitFor(t, "ingestion under way", 60*time.Second, func(mfs map[string]*dto.MetricFamily) bool {
		n := counterValue(mfs, "teams_exporter_records_ingested_total")
		return n >= 20 && n < float64(len(recs))
	})
	sent := time.Now()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.done:
	case <-time.After(30 * time.Second): // about 1s on an idle machine; the held request would wait 60s, its timeout
		t.Fatalf("still running 30s after SIGTERM:\n%s", testrun.LastLines(e.logs(), 20))
	}
	took := time.Since(sent)
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if !strings.Contains(e.logs(), "shutting down") {
		t.Errorf("no shutdown line in the log")
	}
	t.Logf("exited %v after SIGTERM", took.Round(time.Millisecond))

	hold.release()
	e2 := startExporter(t, ts, state, env...)
	exposureWaitLog(t, e2, "two successful polls after the restart", 3*time.Minute, func(log string) bool {
		polls, _ := exposurePolls(log)
		return polls >= 2
	})
	e2.assertTruth(t, truth.CallQuality())
	m := exposureRestoredIDs.FindStringSubmatch(e2.logs())
	if m == nil {
		t.Fatalf("no \"state restored\" line after the restart:\n%s", testrun.LastLines(e2.logs(), 20))
	}
	restored, _ := strconv.Atoi(m[1])
	_, ingested := exposurePolls(e2.logs())
	if restored == 0 || restored+ingested != len(recs) {
		t.Errorf("restored %d ids and ingested %d records after the restart; want a non-zero sum of exactly %d", restored, ingested, len(recs))
	}
}

func TestExposureReadiness(t *testing.T) {
	t.Parallel()
	const interval = time.Second
	var sw exposureSwitch
	ts := startTenant(t, sw.wrap)
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 15, Count: 3, Start: now.Add(-time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), "TEAMS_EXPORTER_POLL_INTERVAL="+interval.String())

	status := func(path string) int {
		code, _, _, err := exposureGet(e, path, "")
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return code
	}
	e.waitFor(t, "a successful poll", 60*time.Second, successfulPolls(1))
	if got := status("/readyz"); got != 200 {
		t.Fatalf("/readyz = %d after a successful poll", got)
	}

	sw.fail.Store(true)
	failedFrom := time.Now()
	var turned time.Duration
	for turned == 0 {
		if got := status("/healthz"); got != 200 {
			t.Fatalf("/healthz = %d while Graph fails", got)
		}
		if status("/readyz") == http.StatusServiceUnavailable {
			turned = time.Since(failedFrom) // at least how long Graph had failed
			break
		}
		// Failing from the next request, about one interval away: more
		// than 3 intervals after that, plus slack for a loaded machine.
		// (A readiness that waits for the poll to give up comes after
		// Graph's retries: more than 10s here.)
		if time.Since(failedFrom) > 4*interval+4*time.Second {
			t.Fatalf("/readyz still 200 %v after Graph began to fail", time.Since(failedFrom).Round(time.Millisecond))
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("/readyz turned 503 %v after Graph began to fail", turned.Round(time.Millisecond))
	// A request in flight when the switch flipped counts as failing from when
	// it was sent, which a loaded machine can delay by a second. A
	// readiness that turns at the first failure turns within one interval.
	// (The limit itself, to the second, is checked on an injected clock in
	// the poller's health tests; here it is the wiring.)
	if turned <= 2*interval {
		t.Errorf("/readyz turned 503 after %v of failure; want 200 for more than 2 intervals (3 less a delayed request)", turned)
	}
	if !strings.Contains(e.logs(), "status=503") {
		t.Fatal("the exporter logged no failing Graph request")
	}

	before, _ := exposurePolls(e.logs())
	sw.fail.Store(false)
	exposureWaitLog(t, e, "a successful poll after recovery", 30*time.Second, func(log string) bool {
		polls, _ := exposurePolls(log)
		return polls > before
	})
	if got := status("/readyz"); got != 200 {
		t.Errorf("/readyz = %d after a successful poll following the failures", got)
	}
	if got := status("/healthz"); got != 200 {
		t.Errorf("/healthz = %d", got)
	}
}

// A credential setting the exporter cannot use stops it at start; the error
// says what is wrong (azidentity's words: it names the file, not the
// variable) and shows none of the secret material.
func TestExposureStartupCredentialErrors(t *testing.T) {
	t.Parallel()
	certPEM, keyPEM := exposureClientCert()
	dir := t.TempDir()
	damaged := filepath.Join(dir, "damaged.pem")
	// The certificate and the first half of the key: a parser that echoes
	// what it could not read would show key material.
	if err := os.WriteFile(damaged, append(append([]byte(nil), certPEM...), keyPEM[:len(keyPEM)/2]...), 0o600); err != nil {
		t.Fatal(err)
	}
	keyOnly := filepath.Join(dir, "key-only.pem")
	if err := os.WriteFile(keyOnly, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	ts := startTenant(t, nil)
	for _, tc := range []struct {
		name string
		env  []string
		want string // in the output, case-insensitively
	}{
		{"invalid tenant id", []string{"AZURE_TENANT_ID=not a tenant/" + testSecret[:8]}, "invalid tenantID"},
		{"damaged key", []string{"AZURE_CLIENT_SECRET=", "AZURE_CLIENT_CERTIFICATE_PATH=" + damaged}, "found no private key"},
		{"key without certificate", []string{"AZURE_CLIENT_SECRET=", "AZURE_CLIENT_CERTIFICATE_PATH=" + keyOnly}, "found no certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), tc.env...)
			select {
			case <-e.done:
			case <-time.After(30 * time.Second):
				t.Fatalf("still running with an unusable credential:\n%s", testrun.LastLines(e.logs(), 10))
			}
			if code := e.cmd.ProcessState.ExitCode(); code != 2 {
				t.Errorf("exit code %d with an unusable credential, want 2 (configuration error)", code)
			}
			out := e.logs()
			if !strings.Contains(out, "configuration error: AZURE_TENANT_ID, AZURE_CLIENT_ID, ") {
				t.Errorf("the output does not say which variables are wrong:\n%s", out)
			}
			if !strings.Contains(strings.ToLower(out), strings.ToLower(tc.want)) {
				t.Errorf("the output does not name %s:\n%s", tc.want, out)
			}
			needles := exposureNeedles{}
			needles.addSecret("the client secret", testSecret)
			needles.addPEM("the private key", keyPEM)
			needles.addRSAKey(keyPEM)
			exposureAssertAbsent(t, map[string]string{"output": out}, needles)
		})
	}
}
