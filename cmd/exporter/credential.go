package main

import (
	"context"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"

	"github.com/teams-exporter/teams-exporter/poller"
)

// nothingConfigured is the credential when no AZURE_* credential is set:
// the Azure instance metadata service's managed identity only. Run anywhere
// else (a laptop, a container, a VM without an identity), its failure is
// azidentity's dump of what it tried, lines that do not say what to do.
// This one says it in one line, with the Graph permissions to grant, and
// keeps the original error for errors.As.
type nothingConfigured struct {
	azcore.TokenCredential
	permissions []string
}

func (c nothingConfigured) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	tok, err := c.TokenCredential.GetToken(ctx, opts)
	if err != nil {
		return tok, noCredentialError{err, c.permissions}
	}
	return tok, nil
}

type noCredentialError struct {
	err         error
	permissions []string
}

func (e noCredentialError) Error() string {
	return "no Azure credential: set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or AZURE_CLIENT_CERTIFICATE_PATH) " +
		"of an app registration with the application permission " + strings.Join(e.permissions, " and ") + " (admin consent granted), " +
		"or AZURE_FEDERATED_TOKEN_FILE for workload identity, or run where a managed identity is available; " +
		"or start with -demo to try the exporter without Azure (managed identity said: " + firstLine(e.err.Error()) + ")"
}

func (e noCredentialError) Unwrap() error { return e.err }

// Graph's application permissions the exporter needs.
const (
	permissionCallRecords = "CallRecords.Read.All"
)

// permissions are the Graph application permissions this configuration
// needs: call records, and the call logs' own when they are read.
func (c *config) permissions() []string {
	p := []string{permissionCallRecords}
	if c.PSTNCalls || c.DirectRoutingCalls {
		p = append(p, poller.PermissionCallLogs)
	}
	return p
}

// firstLine is s up to its first line break, without the trailing space of
// azidentity's "ManagedIdentityCredential: ...:\n" headers, and without the
// quoted line break ending a response body azidentity quotes (Docker
// Desktop's "network is unreachable\n").
func firstLine(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	line = strings.ReplaceAll(line, `\n"`, `"`)
	return strings.TrimSuffix(strings.TrimSpace(line), ":")
}
