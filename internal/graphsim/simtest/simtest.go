// Package simtest starts the simulated tenant for a test: served over TLS
// on loopback until the test ends, with an HTTP client that trusts its
// certificate and a real azidentity credential of its application. Every
// package's tests reach the tenant through it, the way the exporter reaches
// Graph and Entra ID, so that the wiring is written once. Only tests import
// it; the demo uses graphsim.NewTLSServer and Server.Credential, which this
// package wraps.
package simtest

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
)

// The application credentials of a tenant Start makes, where its options
// leave them empty.
const (
	TenantID     = "t"
	ClientID     = "c"
	ClientSecret = "s"
)

// Server is a simulated tenant served over TLS, and what a client needs to
// reach it.
type Server struct {
	Tenant *graphsim.Tenant
	// URL is "https://127.0.0.1:port": Graph's base URL and Entra ID's
	// authority host alike.
	URL string
	// Sim is the TLS server: its certificate (CertPEM) and the pool that
	// trusts it (CertPool, which HTTPClient uses: a root added to it is
	// trusted too).
	Sim *graphsim.Server
	// HTTPClient trusts the tenant's certificate and speaks HTTP/2, as
	// Graph does.
	HTTPClient *http.Client
	// Credential is a client-secret credential of the tenant's application
	// that gets its tokens from the tenant.
	Credential *azidentity.ClientSecretCredential
}

// Start makes a tenant of opts and serves it (see Serve). Empty
// credentials in opts are TenantID, ClientID and ClientSecret.
func Start(tb testing.TB, opts graphsim.Options, wrap ...graphsim.Middleware) *Server {
	tb.Helper()
	if opts.TenantID == "" {
		opts.TenantID = TenantID
	}
	if opts.ClientID == "" {
		opts.ClientID = ClientID
	}
	if opts.ClientSecret == "" {
		opts.ClientSecret = ClientSecret
	}
	return Serve(tb, graphsim.New(opts), wrap...)
}

// Serve serves tenant over TLS on 127.0.0.1 until the test ends. wrap, if
// given, wraps the whole handler, the first outermost (a tenant's own
// middleware, Tenant.Use, sees each request of a $batch instead).
func Serve(tb testing.TB, tenant *graphsim.Tenant, wrap ...graphsim.Middleware) *Server {
	tb.Helper()
	h := tenant.Handler()
	for i := len(wrap) - 1; i >= 0; i-- {
		h = wrap[i](h)
	}
	srv, err := graphsim.NewTLSServer(h)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	client := srv.Client()
	tb.Cleanup(client.CloseIdleConnections)
	cred, err := srv.Credential(tenant, client)
	if err != nil {
		tb.Fatal(err)
	}
	return &Server{Tenant: tenant, URL: srv.URL, Sim: srv, HTTPClient: client, Credential: cred}
}

// CertFile writes the tenant's certificate to a PEM file in a temporary
// directory of the test and returns its path: the SSL_CERT_FILE of an
// exporter run as a process, which then trusts nothing else.
func (s *Server) CertFile(tb testing.TB) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "tenant-ca.pem")
	if err := os.WriteFile(path, s.Sim.CertPEM, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
