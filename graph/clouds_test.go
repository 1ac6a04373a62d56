package graph

import (
	"strings"
	"testing"
)

func TestCheckCloud(t *testing.T) {
	tests := []struct {
		graph, authority string
		wantErr          string // "" for none
	}{
		{"https://graph.microsoft.com", "", ""},
		{"https://graph.microsoft.com", "https://login.microsoftonline.com/", ""},
		{"https://graph.microsoft.com", "https://login.microsoftonline.com", ""},
		{"https://graph.microsoft.com", "https://login.microsoftonline.us/", "set AZURE_AUTHORITY_HOST=https://login.microsoftonline.com/"},
		{"https://graph.microsoft.us", "", "set AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/"},
		{"https://graph.microsoft.us/", "https://login.microsoftonline.us/", ""},
		{"https://GRAPH.microsoft.us", "HTTPS://login.microsoftonline.us", ""},
		{"https://graph.microsoft.us", "https://login.microsoftonline.com/", "set AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/"},
		{"https://dod-graph.microsoft.us", "", "set AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/"},
		{"https://dod-graph.microsoft.us", "https://login.microsoftonline.us/", ""},
		{"https://microsoftgraph.chinacloudapi.cn", "https://login.chinacloudapi.cn/", "not available in the China (21Vianet) cloud"},
		{"https://microsoftgraph.chinacloudapi.cn", "", "not available in the China (21Vianet) cloud"},
		{"https://graph-proxy.example.org", "https://login.microsoftonline.us/", ""},
	}
	for _, tt := range tests {
		err := CheckCloud(tt.graph, tt.authority)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("CheckCloud(%q, %q) = %v, want nil", tt.graph, tt.authority, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("CheckCloud(%q, %q) = %v, want an error saying %q", tt.graph, tt.authority, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("CheckCloud(%q, %q): error of more than one line: %q", tt.graph, tt.authority, err)
		}
	}
}
