package graph

import "testing"

// TestCredentialKind names the credential from the environment as
// NewCredential chooses it; nothing set is "none", not a managed identity
// that was never configured.
func TestCredentialKind(t *testing.T) {
	vars := []string{"AZURE_CLIENT_SECRET", "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT", "AZURE_CLIENT_ID"}
	for _, tc := range []struct {
		set  map[string]string
		want string
	}{
		{nil, CredentialNone},
		{map[string]string{"AZURE_CLIENT_SECRET": "s", "AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem"}, CredentialClientSecret},
		{map[string]string{"AZURE_CLIENT_CERTIFICATE_PATH": "/c.pem", "AZURE_CLIENT_ID": "c"}, CredentialClientCertificate},
		{map[string]string{"AZURE_FEDERATED_TOKEN_FILE": "/t", "AZURE_CLIENT_ID": "c"}, CredentialWorkloadIdentity},
		{map[string]string{"IDENTITY_ENDPOINT": "http://127.0.0.1:1/msi"}, CredentialManagedIdentity},
		{map[string]string{"AZURE_CLIENT_ID": "c"}, CredentialManagedIdentity},
	} {
		for _, v := range vars {
			t.Setenv(v, tc.set[v])
		}
		if got := CredentialKind(); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.set, got, tc.want)
		}
	}
}
