package graph

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// CredentialOptions configures NewCredential.
type CredentialOptions struct {
	// DisableInstanceDiscovery skips Entra's instance discovery, for private
	// or test authorities.
	DisableInstanceDiscovery bool
	// Transport carries token requests; default http.DefaultClient.
	Transport policy.Transporter
	// Observer counts token requests as operation "token".
	Observer Observer
}

// NewCredential returns the credential chain an unattended exporter wants:
// the AZURE_* environment (client secret or certificate), then workload
// identity, then managed identity, the "production" part of
// DefaultAzureCredential without the developer tools that spawn processes.
// AZURE_AUTHORITY_HOST selects a national cloud's Entra authority.
func NewCredential(opts CredentialOptions) (azcore.TokenCredential, error) {
	client := azcore.ClientOptions{Transport: ObserveTokenRequests(opts.Transport, opts.Observer)}
	var creds []azcore.TokenCredential
	var errs []error
	if os.Getenv("AZURE_CLIENT_SECRET") != "" || os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "" {
		// Configured on purpose: a mistake here must stop the start, not
		// fall through silently to managed identity.
		env, err := azidentity.NewEnvironmentCredential(&azidentity.EnvironmentCredentialOptions{
			ClientOptions: client, DisableInstanceDiscovery: opts.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, fmt.Errorf("AZURE_TENANT_ID, AZURE_CLIENT_ID, %s: %w", envCredentialSource(), err)
		}
		return env, nil
	}
	if os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "" {
		wi, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: client, DisableInstanceDiscovery: opts.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, fmt.Errorf("workload identity (AZURE_FEDERATED_TOKEN_FILE): %w", err)
		}
		creds = append(creds, wi)
	}
	mi, err := azidentity.NewManagedIdentityCredential(&azidentity.ManagedIdentityCredentialOptions{ClientOptions: client})
	if err != nil {
		errs = append(errs, err)
	} else {
		creds = append(creds, mi)
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("no usable Azure credential: %w", errors.Join(errs...))
	}
	return azidentity.NewChainedTokenCredential(creds, nil)
}

// Credential kinds, as CredentialKind names them.
const (
	CredentialClientSecret      = "client secret"
	CredentialClientCertificate = "client certificate"
	CredentialWorkloadIdentity  = "workload identity, then managed identity"
	CredentialManagedIdentity   = "managed identity"
)

// CredentialKind names the credential NewCredential builds from the
// environment, for the start-up line: the same choice, in the same order.
func CredentialKind() string {
	switch {
	case os.Getenv("AZURE_CLIENT_SECRET") != "":
		return CredentialClientSecret
	case os.Getenv("AZURE_CLIENT_CERTIFICATE_PATH") != "":
		return CredentialClientCertificate
	case os.Getenv("AZURE_FEDERATED_TOKEN_FILE") != "":
		return CredentialWorkloadIdentity
	}
	return CredentialManagedIdentity
}

// envCredentialSource names the variable the environment credential takes
// its secret from, as azidentity picks it: the secret wins.
func envCredentialSource() string {
	if os.Getenv("AZURE_CLIENT_SECRET") != "" {
		return "AZURE_CLIENT_SECRET"
	}
	return "AZURE_CLIENT_CERTIFICATE_PATH"
}

// ObserveTokenRequests wraps the transport of an azidentity credential so its
// requests to the identity provider are counted as operation "token".
func ObserveTokenRequests(base policy.Transporter, obs Observer) policy.Transporter {
	if base == nil {
		base = http.DefaultClient
	}
	if obs == nil {
		return base
	}
	return tokenTransport{base: base, obs: obs}
}

type tokenTransport struct {
	base policy.Transporter
	obs  Observer
}

func (t tokenTransport) Do(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.base.Do(req)
	if err != nil {
		t.obs.ObserveRequest(OpToken, "error", time.Since(start))
		return nil, err
	}
	t.obs.ObserveRequest(OpToken, statusCode(resp.StatusCode), time.Since(start))
	return resp, nil
}
