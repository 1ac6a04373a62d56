package graphsim

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

const (
	testTenant = "3f2504e0-4f89-11d3-9a0c-0305e82c3301"
	testClient = "6e4c1f0a-5b7e-4a0e-9a53-2d1e9b1f7c11"
	testSecret = "s3cr3t~value"
)

func startTenant(t *testing.T, opts Options) (*Tenant, *Server) {
	t.Helper()
	if opts.TenantID == "" {
		opts.TenantID, opts.ClientID, opts.ClientSecret = testTenant, testClient, testSecret
	}
	tenant := New(opts)
	srv, err := NewTLSServer(tenant.Handler())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Close(); err != nil {
			t.Error(err)
		}
	})
	return tenant, srv
}

// azClientOptions points azidentity at the server. With instance discovery
// on, MSAL sends discovery to login.microsoftonline.com whatever the
// authority, so every connection is dialled to the server (which serves
// discovery too) and verified as "localhost", a name its certificate holds.
func azClientOptions(srv *Server, routeAll bool) azcore.ClientOptions {
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: srv.CertPool}}
	if routeAll {
		tr.TLSClientConfig.ServerName = "localhost"
		d := &net.Dialer{Timeout: 5 * time.Second}
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			return d.DialContext(ctx, network, srv.Addr)
		}
	}
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: srv.URL + "/"},
		Transport: &http.Client{Transport: tr},
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func TestAzidentityClientSecret(t *testing.T) {
	for _, disable := range []bool{true, false} {
		t.Run(map[bool]string{true: "DisableInstanceDiscovery", false: "InstanceDiscovery"}[disable], func(t *testing.T) {
			tenant, srv := startTenant(t, Options{})
			seen := recordEntra(tenant)
			cred, err := azidentity.NewClientSecretCredential(testTenant, testClient, testSecret,
				&azidentity.ClientSecretCredentialOptions{
					ClientOptions:            azClientOptions(srv, !disable),
					DisableInstanceDiscovery: disable,
				})
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{srv.URL + "/.default"}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			if tok.Token == "" || time.Until(tok.ExpiresOn) < 50*time.Minute {
				t.Errorf("token %q expires %v", tok.Token, tok.ExpiresOn)
			}
			// MSAL asks for instance discovery both in its silent cache lookup
			// and when acquiring, so at least once; never when disabled.
			st := tenant.Requests()
			if st.Token != 1 || st.OpenID != 1 || disable != (st.Discovery == 0) {
				t.Errorf("requests = %+v, want 1 token, 1 openid, discovery only when enabled", st)
			}
			// What MSAL sent, as documented in entra.go.
			seen.check(t, srv, !disable)
			// The token opens Graph.
			status, _ := graphGet(t, srv, tok.Token, "/v1.0/communications/callRecords", nil)
			if status != http.StatusOK {
				t.Errorf("list with the token: status %d", status)
			}
		})
	}
}

func TestAzidentityWrongSecret(t *testing.T) {
	_, srv := startTenant(t, Options{})
	cred, err := azidentity.NewClientSecretCredential(testTenant, testClient, "wrong",
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azClientOptions(srv, false), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	_, err = cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{srv.URL + "/.default"}})
	var authErr *azidentity.AuthenticationFailedError
	if !errors.As(err, &authErr) || authErr.RawResponse == nil || authErr.RawResponse.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GetToken with a wrong secret: %v, want a 401 AuthenticationFailedError", err)
	}
	if !strings.Contains(err.Error(), "invalid_client") || strings.Contains(err.Error(), "wrong") {
		t.Errorf("error should name invalid_client and not echo the secret: %v", err)
	}
}

func TestAzidentityClientCertificate(t *testing.T) {
	certs, key, certPEM := testClientCert(t)
	_, srv := startTenant(t, Options{TenantID: testTenant, ClientID: testClient, CertificatePEM: certPEM})
	cred, err := azidentity.NewClientCertificateCredential(testTenant, testClient, certs, key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: azClientOptions(srv, false), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{srv.URL + "/.default"}}); err != nil {
		t.Fatalf("GetToken with a certificate: %v", err)
	}

	// Another certificate is refused.
	otherCerts, otherKey, _ := testClientCert(t)
	cred, err = azidentity.NewClientCertificateCredential(testTenant, testClient, otherCerts, otherKey,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: azClientOptions(srv, false), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{srv.URL + "/.default"}}); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("GetToken with an unknown certificate: %v, want invalid_client", err)
	}
}

func testClientCert(t *testing.T) ([]*x509.Certificate, *rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "teams-exporter-test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c}, key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// TestDefaultAzureCredentialFromEnvironment is the exporter's path: azidentity
// reads AZURE_* and AZURE_AUTHORITY_HOST from the environment.
func TestDefaultAzureCredentialFromEnvironment(t *testing.T) {
	_, srv := startTenant(t, Options{})
	t.Setenv("AZURE_TENANT_ID", testTenant)
	t.Setenv("AZURE_CLIENT_ID", testClient)
	t.Setenv("AZURE_CLIENT_SECRET", testSecret)
	t.Setenv("AZURE_AUTHORITY_HOST", srv.URL)
	opts := azClientOptions(srv, false)
	opts.Cloud = cloud.Configuration{}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: opts, DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{srv.URL + "/.default"}}); err != nil {
		t.Fatalf("GetToken: %v", err)
	}
}

// TestTokenEndpointErrors checks the Entra error answers the exporter must
// cope with, on the raw protocol.
func TestTokenEndpointErrors(t *testing.T) {
	_, srv := startTenant(t, Options{})
	good := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {testClient}, "client_secret": {testSecret},
		"scope": {srv.URL + "/.default openid offline_access profile"},
	}
	with := func(k, v string) url.Values {
		u := url.Values{}
		for kk, vv := range good {
			u[kk] = vv
		}
		if v == "" {
			u.Del(k)
		} else {
			u.Set(k, v)
		}
		return u
	}
	badAssertion := with("client_secret", "")
	badAssertion.Set("client_assertion", "a.b.c")
	badAssertion.Set("client_assertion_type", clientAssertionType)
	tests := []struct {
		name   string
		tenant string
		form   url.Values
		status int
		code   string
	}{
		{"ok", testTenant, good, 200, ""},
		{"tenant case-insensitive", strings.ToUpper(testTenant), good, 200, ""},
		{"localhost scope", testTenant, with("scope", strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/.default"), 200, ""},
		{"wrong secret", testTenant, with("client_secret", "nope"), 401, "invalid_client"},
		{"no secret", testTenant, with("client_secret", ""), 401, "invalid_client"},
		{"unknown client", testTenant, with("client_id", "someone-else"), 400, "unauthorized_client"},
		{"unknown tenant", "other-tenant", good, 400, "invalid_request"},
		{"grant type", testTenant, with("grant_type", "password"), 400, "unsupported_grant_type"},
		{"scope without .default", testTenant, with("scope", srv.URL+"/CallRecords.Read.All"), 400, "invalid_scope"},
		{"scope of real graph", testTenant, with("scope", "https://graph.microsoft.com/.default"), 400, "invalid_resource"},
		{"two resources", testTenant, with("scope", srv.URL+"/.default https://x/.default"), 400, "invalid_scope"},
		{"bad assertion", testTenant, badAssertion, 401, "invalid_client"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := srv.Client().PostForm(srv.URL+"/"+tt.tenant+"/oauth2/v2.0/token", tt.form)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || tt.code != "" && body["error"] != tt.code {
				t.Errorf("status %d error %v, want %d %q (%v)", resp.StatusCode, body["error"], tt.status, tt.code, body["error_description"])
			}
			if tt.status == 200 && (body["access_token"] == "" || body["token_type"] != "Bearer" || body["expires_in"] != 3600.0) {
				t.Errorf("token response %v", body)
			}
		})
	}
}

// entraRequests records what MSAL sends to the Entra endpoints.
type entraRequests struct {
	mu        sync.Mutex
	discovery []url.Values
	openID    []string
	token     []url.Values
}

func recordEntra(tenant *Tenant) *entraRequests {
	rec := &entraRequests{}
	tenant.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec.mu.Lock()
			switch Operation(r) {
			case OpDiscovery:
				rec.discovery = append(rec.discovery, r.URL.Query())
			case OpOpenID:
				rec.openID = append(rec.openID, r.Host+r.URL.Path)
			case OpToken:
				body, _ := io.ReadAll(r.Body)
				r.Body = io.NopCloser(bytes.NewReader(body))
				form, _ := url.ParseQuery(string(body))
				rec.token = append(rec.token, form)
			}
			rec.mu.Unlock()
			next.ServeHTTP(w, r)
		})
	})
	return rec
}

func (rec *entraRequests) check(t *testing.T, srv *Server, discovery bool) {
	t.Helper()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	host := strings.TrimPrefix(srv.URL, "https://")
	if discovery {
		for _, q := range rec.discovery {
			if q.Get("api-version") != "1.1" || q.Get("authorization_endpoint") != srv.URL+"/"+testTenant+"/oauth2/v2.0/authorize" {
				t.Errorf("instance discovery query %v", q)
			}
		}
	}
	if len(rec.openID) != 1 || rec.openID[0] != host+"/"+testTenant+"/v2.0/.well-known/openid-configuration" {
		t.Errorf("OpenID configuration requests %v", rec.openID)
	}
	want := url.Values{
		"grant_type": {"client_credentials"}, "client_id": {testClient}, "client_secret": {testSecret},
		"scope": {srv.URL + "/.default openid offline_access profile"},
	}
	if len(rec.token) != 1 {
		t.Fatalf("token requests %v", rec.token)
	}
	for k, v := range want {
		if got := rec.token[0][k]; len(got) != 1 || got[0] != v[0] {
			t.Errorf("token request %s = %q, want %q", k, got, v[0])
		}
	}
}
