package graphsim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Server is an HTTPS server on a loopback port with a self-signed
// certificate, made for the simulated tenant.
type Server struct {
	// URL is "https://127.0.0.1:port", without a trailing slash.
	URL string
	// CertPEM is the server's certificate; CertPool holds it, for clients'
	// tls.Config RootCAs.
	CertPEM  []byte
	CertPool *x509.CertPool
	// Addr is the listening address, "127.0.0.1:port".
	Addr string
	// ServerTLS is the server's TLS configuration (its certificate), for
	// another simulated service on loopback that clients trust alike.
	ServerTLS *tls.Config

	srv  *http.Server
	done chan struct{}
}

// NewTLSServer serves h on 127.0.0.1 on a free port with a freshly generated
// self-signed certificate valid for 127.0.0.1, ::1 and localhost. It does
// not use net/http/httptest, so the production binary's demo mode can use
// it. HTTP/2 is offered, as Graph does.
func NewTLSServer(h http.Handler) (*Server, error) {
	cert, certPEM, err := selfSignedCert()
	if err != nil {
		return nil, fmt.Errorf("simulated tenant certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simulated tenant listen: %w", err)
	}
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	s := &Server{
		ServerTLS: serverTLS.Clone(),
		URL:       "https://" + ln.Addr().String(),
		Addr:      ln.Addr().String(),
		CertPEM:   certPEM,
		CertPool:  pool,
		done:      make(chan struct{}),
		srv: &http.Server{
			Handler:           h,
			TLSConfig:         serverTLS,
			ReadHeaderTimeout: 10 * time.Second,
			// Clients that do not trust the certificate would fill logs
			// with handshake errors; they see their own error anyway.
			ErrorLog: log.New(io.Discard, "", 0),
		},
	}
	go func() {
		defer close(s.done)
		_ = s.srv.ServeTLS(ln, "", "") // returns ErrServerClosed on Close
	}()
	return s, nil
}

// Client returns an HTTP client that trusts the server's certificate.
func (s *Server) Client() *http.Client {
	return &http.Client{Transport: &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: s.CertPool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2: true,
	}}
}

// Credential returns a real azidentity client-secret credential of
// tenant's application (Options.TenantID, ClientID, ClientSecret) that asks
// s for its tokens, as the exporter's credential asks Entra ID, through
// transport (s.Client() if nil). tenant is the one s serves.
func (s *Server) Credential(tenant *Tenant, transport policy.Transporter) (*azidentity.ClientSecretCredential, error) {
	if transport == nil {
		transport = s.Client()
	}
	o := tenant.opts
	cred, err := azidentity.NewClientSecretCredential(o.TenantID, o.ClientID, o.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.URL + "/"}, Transport: transport},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		return nil, fmt.Errorf("simulated tenant credential: %w", err)
	}
	return cred, nil
}

// Close stops the server and closes open connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	<-s.done
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

func selfSignedCert() (tls.Certificate, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "graphsim", Organization: []string{"teams-exporter simulated tenant"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, certPEM, nil
}
