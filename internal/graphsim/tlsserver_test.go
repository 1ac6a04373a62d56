package graphsim

import (
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestNewTLSServer(t *testing.T) {
	srv, err := NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Proto)
	}))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL, "https://127.0.0.1:") || strings.HasSuffix(srv.URL, "/") {
		t.Errorf("URL = %q", srv.URL)
	}
	block, _ := pem.Decode(srv.CertPEM)
	if block == nil {
		t.Fatal("CertPEM holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost"} {
		if err := cert.VerifyHostname(host); err != nil {
			t.Errorf("certificate not valid for %s: %v", host, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: srv.CertPool, DNSName: "localhost"}); err != nil {
		t.Errorf("certificate does not verify against CertPool: %v", err)
	}

	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "HTTP/2.0" {
		t.Errorf("served over %s, want HTTP/2.0 as Graph does", body)
	}
	// A client that does not trust the certificate is refused.
	if _, err := http.Get(srv.URL + "/"); err == nil {
		t.Error("an untrusting client connected")
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := srv.Client().Get(srv.URL + "/"); err == nil {
		t.Error("server still answers after Close")
	}
}
