package main

import (
	"bytes"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// TestBadConfigurationStopsTheStart runs the real binary with one wrong
// variable at a time: it must exit 2 with one line naming that variable.
func TestBadConfigurationStopsTheStart(t *testing.T) {
	tests := []struct {
		env  string
		want string
		also string // other variables set, if any, separated by |
	}{
		{"TEAMS_EXPORTER_POLL_INTERVAL=soon", "TEAMS_EXPORTER_POLL_INTERVAL", ""},
		{"TEAMS_EXPORTER_POLL_INTERVAL=-5m", "TEAMS_EXPORTER_POLL_INTERVAL", ""},
		{"TEAMS_EXPORTER_POLL_INTERVAL=10ms", "TEAMS_EXPORTER_POLL_INTERVAL", ""},
		{"TEAMS_EXPORTER_LOOKBACK=0s", "TEAMS_EXPORTER_LOOKBACK", ""},
		{"TEAMS_EXPORTER_LOOKBACK=800h", "TEAMS_EXPORTER_LOOKBACK", ""},
		{"TEAMS_EXPORTER_RECENT_WINDOW=48h", "TEAMS_EXPORTER_RECENT_WINDOW", ""},
		{"TEAMS_EXPORTER_FULL_SCAN_INTERVAL=hourly", "TEAMS_EXPORTER_FULL_SCAN_INTERVAL", ""},
		{"TEAMS_EXPORTER_SETTLE_DELAY=-1m", "TEAMS_EXPORTER_SETTLE_DELAY", ""},
		{"TEAMS_EXPORTER_SETTLE_DELAY=1d", "TEAMS_EXPORTER_SETTLE_DELAY", ""},
		{"TEAMS_EXPORTER_SETTLE_DELAY=3h", "TEAMS_EXPORTER_SETTLE_DELAY", "TEAMS_EXPORTER_LOOKBACK=2h|TEAMS_EXPORTER_RECENT_WINDOW=1h"},
		{"TEAMS_EXPORTER_SETTLE_DELAY=later", "TEAMS_EXPORTER_SETTLE_DELAY", ""},
		{"TEAMS_EXPORTER_CONCURRENCY=0", "TEAMS_EXPORTER_CONCURRENCY", ""},
		{"TEAMS_EXPORTER_CONCURRENCY=many", "TEAMS_EXPORTER_CONCURRENCY", ""},
		{"TEAMS_EXPORTER_NATIVE_HISTOGRAMS=perhaps", "TEAMS_EXPORTER_NATIVE_HISTOGRAMS", ""},
		{"TEAMS_EXPORTER_DEMO=yes please", "TEAMS_EXPORTER_DEMO", ""},
		{"TEAMS_EXPORTER_LOG_LEVEL=loud", "TEAMS_EXPORTER_LOG_LEVEL", ""},
		{"TEAMS_EXPORTER_LOG_FORMAT=xml", "TEAMS_EXPORTER_LOG_FORMAT", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=metrics", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/healthz", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/readyz", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/metrics/{x}", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/metrics/{x", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/metrics/", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/a/../healthz", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_TELEMETRY_PATH=/metrics data", "TEAMS_EXPORTER_TELEMETRY_PATH", ""},
		{"TEAMS_EXPORTER_LISTEN_ADDRESS=9868", "TEAMS_EXPORTER_LISTEN_ADDRESS", ""},
		{"TEAMS_EXPORTER_GRAPH_URL=http://graph.microsoft.com", "TEAMS_EXPORTER_GRAPH_URL", ""},
		{"TEAMS_EXPORTER_GRAPH_URL=https://graph.microsoft.com/v1.0", "TEAMS_EXPORTER_GRAPH_URL", ""},
		{"TEAMS_EXPORTER_STATE_FILE=", "TEAMS_EXPORTER_STATE_FILE", ""},
		{"TEAMS_EXPORTER_DISABLE_INSTANCE_DISCOVERY=2", "TEAMS_EXPORTER_DISABLE_INSTANCE_DISCOVERY", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_URL=http://exporter.example.com/notifications", "TEAMS_EXPORTER_NOTIFICATION_URL", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_URL=/notifications", "TEAMS_EXPORTER_NOTIFICATION_URL", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_URL=https://exporter.example.com/notifications", "TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE=hunter2-never-shown", "TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE=hunter2-never-shown" + strings.Repeat("x", 120), "TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE",
			"TEAMS_EXPORTER_NOTIFICATION_URL=https://exporter.example.com/notifications"},
		// Event Hubs delivery: a hub that can be read, at most one delivery,
		// an EventHub: URL of the hub read.
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/-teams", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net:99999/teams", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB",
			"TEAMS_EXPORTER_NOTIFICATION_URL=https://exporter.example.com/notifications|TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE=hunter2-never-shown"},
		{"TEAMS_EXPORTER_NOTIFICATION_URL=EventHub:https://contoso.servicebus.windows.net/eventhubname/teams?tenantId=contoso.com", "TEAMS_EXPORTER_NOTIFICATION_URL", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_URL=EventHub:https://other.servicebus.windows.net/eventhubname/teams?tenantId=contoso.com", "TEAMS_EXPORTER_NOTIFICATION_URL",
			"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams"},
		{"TEAMS_EXPORTER_NOTIFICATION_URL=EventHub:https://contoso.servicebus.windows.net/eventhubname/teams", "TEAMS_EXPORTER_NOTIFICATION_URL",
			"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams"},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams", "TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE", ""},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONSUMER_GROUP=", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONSUMER_GROUP",
			"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams"},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING=Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKey=hunter2", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING", ""},
		// A connection string's key goes to the hub's host: it must be that
		// namespace's, and for that hub.
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING=Endpoint=sb://attacker.example.net/;SharedAccessKey=hunter2", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING",
			"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams|TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE=cs"},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING=Endpoint=sb://contoso.servicebus.windows.net/;SharedAccessKey=hunter2;EntityPath=other", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING",
			"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams|TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE=cs"},
		{"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING=SharedAccessKey=hunter2", "TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING",
			"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=contoso.servicebus.windows.net/teams|TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE=cs"},
		{"TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS=9869", "TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS",
			"TEAMS_EXPORTER_NOTIFICATION_URL=https://exporter.example.com/notifications"},
		{"TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS=:9868", "TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS",
			"TEAMS_EXPORTER_NOTIFICATION_URL=https://exporter.example.com/notifications"},
		{"TEAMS_EXPORTER_PSTN_CALLS=maybe", "TEAMS_EXPORTER_PSTN_CALLS", ""},
		// The call logs exist in the global cloud only (the national
		// cloud's authority set, so that only the call logs are wrong).
		{"TEAMS_EXPORTER_PSTN_CALLS=true", "TEAMS_EXPORTER_PSTN_CALLS",
			"TEAMS_EXPORTER_GRAPH_URL=https://graph.microsoft.us|AZURE_AUTHORITY_HOST=https://login.microsoftonline.us"},
		{"TEAMS_EXPORTER_DIRECT_ROUTING_CALLS=true", "TEAMS_EXPORTER_DIRECT_ROUTING_CALLS",
			"TEAMS_EXPORTER_GRAPH_URL=https://dod-graph.microsoft.us|AZURE_AUTHORITY_HOST=https://login.microsoftonline.us"},
	}
	for _, tt := range tests {
		t.Run(tt.env, func(t *testing.T) {
			cmd := exec.Command(exporterBin)
			cmd.Env = []string{"HOME=" + t.TempDir(), "AZURE_CLIENT_SECRET=hunter2-never-shown", tt.env}
			if tt.also != "" {
				cmd.Env = append(cmd.Env, strings.Split(tt.also, "|")...)
			}
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit = %v, want status 2; stderr:\n%s", err, stderr.String())
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Count(out, "\n") != 0 {
				t.Errorf("want one line, got:\n%s", out)
			}
			if !strings.HasPrefix(out, "configuration error: "+tt.want+":") {
				t.Errorf("line does not name %s first: %q", tt.want, out)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("the secret appears in the error: %q", out)
			}
		})
	}
}

// TestCloudMismatchStopsTheStart: a national cloud's Graph without its
// Entra authority, or the China cloud (no call records), stops the start
// with one line saying what to set.
func TestCloudMismatchStopsTheStart(t *testing.T) {
	tests := []struct {
		env  []string
		want string
	}{
		{[]string{"TEAMS_EXPORTER_GRAPH_URL=https://graph.microsoft.us"}, "set AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/"},
		{[]string{"TEAMS_EXPORTER_GRAPH_URL=https://dod-graph.microsoft.us", "AZURE_AUTHORITY_HOST=https://login.microsoftonline.com/"}, "set AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/"},
		{[]string{"AZURE_AUTHORITY_HOST=https://login.microsoftonline.us/"}, "set AZURE_AUTHORITY_HOST=https://login.microsoftonline.com/"},
		{[]string{"TEAMS_EXPORTER_GRAPH_URL=https://microsoftgraph.chinacloudapi.cn", "AZURE_AUTHORITY_HOST=https://login.chinacloudapi.cn/"}, "call records are not available in the China (21Vianet) cloud"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.env, " "), func(t *testing.T) {
			cmd := exec.Command(exporterBin)
			cmd.Env = append([]string{"HOME=" + t.TempDir(), "AZURE_CLIENT_SECRET=hunter2-never-shown"}, tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			if !errors.As(err, &exit) || exit.ExitCode() != 2 {
				t.Fatalf("exit = %v, want status 2; stderr:\n%s", err, stderr.String())
			}
			out := strings.TrimSpace(stderr.String())
			if strings.Count(out, "\n") != 0 || !strings.HasPrefix(out, "configuration error: TEAMS_EXPORTER_GRAPH_URL: ") || !strings.Contains(out, tt.want) {
				t.Errorf("want one line naming TEAMS_EXPORTER_GRAPH_URL and saying %q, got:\n%s", tt.want, out)
			}
		})
	}
}
