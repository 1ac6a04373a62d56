package graph

import (
	"fmt"
	"net/url"
	"strings"
)

// A cloud is one of Microsoft's Graph deployments with its own Entra
// authority. Call records exist in the global cloud and in US Government
// L4 and L5 (DoD), not in the China cloud operated by 21Vianet.
type cloud struct {
	name      string
	graphHost string
	authority string // AZURE_AUTHORITY_HOST to use; "" when call records are not there
}

var clouds = []cloud{
	{"global", "graph.microsoft.com", "https://login.microsoftonline.com/"},
	{"US Government L4", "graph.microsoft.us", "https://login.microsoftonline.us/"},
	{"US Government L5 (DoD)", "dod-graph.microsoft.us", "https://login.microsoftonline.us/"},
	{"China (21Vianet)", "microsoftgraph.chinacloudapi.cn", ""},
}

// CheckCloud checks that the Graph root and the Entra authority host
// (AZURE_AUTHORITY_HOST, empty for the global cloud's) belong to the same
// cloud, and that call records exist there. A Graph root that is not one of
// Microsoft's (a proxy, the simulated tenant) is not checked. The error
// says what to set.
func CheckCloud(graphURL, authorityHost string) error {
	u, err := url.Parse(graphURL)
	if err != nil {
		return fmt.Errorf("graph URL %q: %w", graphURL, err)
	}
	host := strings.ToLower(u.Hostname())
	auth := normalizeAuthority(authorityHost)
	for _, c := range clouds {
		if host != c.graphHost {
			continue
		}
		switch {
		case c.authority == "":
			return fmt.Errorf("%s: call records are not available in the %s cloud; there is nothing to export there", graphURL, c.name)
		case auth == "" && c.name == "global":
			return nil
		case auth == "":
			return fmt.Errorf("%s is the %s cloud: set AZURE_AUTHORITY_HOST=%s (it is not set, so tokens would come from the global cloud)", graphURL, c.name, c.authority)
		case auth != c.authority:
			return fmt.Errorf("%s is the %s cloud but AZURE_AUTHORITY_HOST is %s: set AZURE_AUTHORITY_HOST=%s", graphURL, c.name, authorityHost, c.authority)
		}
		return nil
	}
	return nil
}

// normalizeAuthority compares authority hosts as azidentity uses them:
// scheme and host, lower case, one trailing slash.
func normalizeAuthority(s string) string {
	s = strings.TrimSpace(strings.ToLower(s))
	if s == "" {
		return ""
	}
	return strings.TrimRight(s, "/") + "/"
}
