package main

import (
	"context"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// nothingConfigured is the credential when no AZURE_* credential is set:
// managed identity only. Run anywhere else (a laptop, a VM without an
// identity), its failure is azidentity's dump of every source it tried,
// many lines that do not say what to do. This one says it in one line and
// keeps the original error for errors.As.
type nothingConfigured struct {
	azcore.TokenCredential
}

func (c nothingConfigured) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, opts)
	if err != nil {
		return tok, noCredentialError{err}
	}
	return tok, nil
}

type noCredentialError struct{ err error }

func (e noCredentialError) Error() string {
	return "no Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH), " +
		"or AZURE_FEDERATED_TOKEN_FILE for workload identity, or run where a managed identity is available; " +
		"or start with -demo to try the exporter without Azure (managed identity said: " + firstLine(e.err.Error()) + ")"
}

func (e noCredentialError) Unwrap() error { return e.err }

// firstLine is s up to its first line break, without the trailing space of
// azidentity's "ManagedIdentityCredential: ...:\n" headers.
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSuffix(strings.TrimSpace(line), ":")
}
