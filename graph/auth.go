package graph

import (
	"context"
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
	// Now is the clock of token requests' durations; time.Now if nil.
	Now func() time.Time
}

// NewCredential returns the credential chain an unattended exporter wants:
// the AZURE_* environment (client secret or certificate), then workload
// identity, then managed identity, the "production" part of
// DefaultAzureCredential without the developer tools that spawn processes.
// AZURE_AUTHORITY_HOST selects a national cloud's Entra authority.
//
// With nothing configured (CredentialKind is CredentialNone) it still asks
// the Azure instance metadata service for the system-assigned managed
// identity, which needs no setting on an Azure VM or node. Off Azure that
// endpoint does not exist (or a proxy such as Docker Desktop's answers for
// it), so those requests are counted as token requests only when an
// identity endpoint answered them: a token, or its refusal.
func NewCredential(opts CredentialOptions) (azcore.TokenCredential, error) {
	client := azcore.ClientOptions{Transport: ObserveTokenRequests(opts.Transport, opts.Observer, opts.Now)}
	var creds []azcore.TokenCredential
	var errs []error
	kind := CredentialKind()
	if kind == CredentialClientSecret || kind == CredentialClientCertificate {
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
	if kind == CredentialWorkloadIdentity {
		wi, err := azidentity.NewWorkloadIdentityCredential(&azidentity.WorkloadIdentityCredentialOptions{
			ClientOptions: client, DisableInstanceDiscovery: opts.DisableInstanceDiscovery,
		})
		if err != nil {
			return nil, fmt.Errorf("workload identity (AZURE_FEDERATED_TOKEN_FILE): %w", err)
		}
		creds = append(creds, wi)
	}
	miOpts := &azidentity.ManagedIdentityCredentialOptions{ClientOptions: client}
	switch kind {
	case CredentialManagedIdentity:
		// A user-assigned identity is chosen by its client id.
		if id := os.Getenv("AZURE_CLIENT_ID"); id != "" {
			miOpts.ID = azidentity.ClientID(id)
		}
	case CredentialNone:
		miOpts.ClientOptions.Transport = ObserveTokenRequests(opts.Transport, nil, nil)
	}
	mi, err := azidentity.NewManagedIdentityCredential(miOpts)
	if err != nil {
		errs = append(errs, err)
	} else if kind == CredentialNone && opts.Observer != nil {
		creds = append(creds, answeredTokenRequests{mi, opts.Observer, orNow(opts.Now)})
	} else {
		creds = append(creds, mi)
	}
	if len(creds) == 0 {
		return nil, fmt.Errorf("no usable Azure credential: %w", errors.Join(errs...))
	}
	if len(creds) == 1 {
		return creds[0], nil
	}
	return azidentity.NewChainedTokenCredential(creds, nil)
}

// answeredTokenRequests counts a credential's token requests by their
// outcome, not by the HTTP exchanges under them: one that got a token, or
// an identity endpoint's refusal (azidentity.AuthenticationFailedError with
// the response), is counted with its status code; one azidentity calls
// unavailable (no endpoint, or a proxy answering for it) reached no
// identity provider and is not counted.
type answeredTokenRequests struct {
	azcore.TokenCredential
	obs Observer
	now func() time.Time
}

func (c answeredTokenRequests) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	start := c.now()
	tok, err := c.TokenCredential.GetToken(ctx, opts)
	var failed *azidentity.AuthenticationFailedError
	switch {
	case err == nil:
		c.obs.ObserveRequest(OpToken, statusCode(http.StatusOK), c.now().Sub(start))
	case errors.As(err, &failed) && failed.RawResponse != nil:
		c.obs.ObserveRequest(OpToken, statusCode(failed.RawResponse.StatusCode), c.now().Sub(start))
	}
	return tok, err
}

// Credential kinds, as CredentialKind names them.
const (
	CredentialClientSecret      = "client secret"
	CredentialClientCertificate = "client certificate"
	CredentialWorkloadIdentity  = "workload identity"
	CredentialManagedIdentity   = "managed identity"
	// CredentialNone: no AZURE_* credential and no managed identity
	// endpoint in the environment; only an Azure VM's or node's
	// system-assigned identity can still answer.
	CredentialNone = "none"
)

// managedIdentityVariables are set where a managed identity endpoint other
// than the instance metadata service serves (App Service, Functions, Arc,
// Service Fabric, Cloud Shell), or to pick a user-assigned identity.
var managedIdentityVariables = []string{"IDENTITY_ENDPOINT", "MSI_ENDPOINT", "IMDS_ENDPOINT", "AZURE_CLIENT_ID"}

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
	for _, v := range managedIdentityVariables {
		if os.Getenv(v) != "" {
			return CredentialManagedIdentity
		}
	}
	return CredentialNone
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
// requests to the identity provider are counted as operation "token", timed
// by now (time.Now if nil).
func ObserveTokenRequests(base policy.Transporter, obs Observer, now func() time.Time) policy.Transporter {
	if base == nil {
		base = http.DefaultClient
	}
	if obs == nil {
		return base
	}
	return tokenTransport{base: base, obs: obs, now: orNow(now)}
}

func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

type tokenTransport struct {
	base policy.Transporter
	obs  Observer
	now  func() time.Time
}

func (t tokenTransport) Do(req *http.Request) (*http.Response, error) {
	start := t.now()
	resp, err := t.base.Do(req)
	if err != nil {
		t.obs.ObserveRequest(OpToken, "error", t.now().Sub(start))
		return nil, err
	}
	t.obs.ObserveRequest(OpToken, statusCode(resp.StatusCode), t.now().Sub(start))
	return resp, nil
}
