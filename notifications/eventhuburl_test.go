package notifications

import (
	"strings"
	"testing"
)

func TestParseEventHub(t *testing.T) {
	tests := []struct {
		in      string
		want    EventHub
		wantErr string
	}{
		{"contoso.servicebus.windows.net/teams", EventHub{Host: "contoso.servicebus.windows.net", Port: 9093, Name: "teams"}, ""},
		{"127.0.0.1:19093/teams", EventHub{Host: "127.0.0.1", Port: 19093, Name: "teams"}, ""},
		{"[::1]:19093/call-records_1.x", EventHub{Host: "::1", Port: 19093, Name: "call-records_1.x"}, ""},
		{"contoso.servicebus.windows.net", EventHub{}, "want <namespace>"},
		{"/teams", EventHub{}, "want <namespace>"},
		{"contoso.servicebus.windows.net/", EventHub{}, "want <namespace>"},
		{"contoso.servicebus.windows.net:0/teams", EventHub{}, "not a port"},
		{"contoso.servicebus.windows.net:http/teams", EventHub{}, "not a port"},
		{"user@contoso.servicebus.windows.net/teams", EventHub{}, "not a host"},
		{"contoso.servicebus.windows.net/teams/more", EventHub{}, "hub name"},
		{"contoso.servicebus.windows.net/-teams", EventHub{}, "hub name"},
		{"contoso.servicebus.windows.net/" + strings.Repeat("a", 257), EventHub{}, "longer than 256"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEventHub(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseEventHub(%q) = %v, %v; want an error with %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseEventHub(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			}
			if again, err := ParseEventHub(got.String()); err != nil || again != got {
				t.Errorf("String() %q does not parse back: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseEventHubURL(t *testing.T) {
	tests := []struct {
		in      string
		want    EventHubTarget
		wantErr bool
	}{
		{"EventHub:https://contoso.servicebus.windows.net/eventhubname/teams?tenantId=contoso.com",
			EventHubTarget{Namespace: "contoso.servicebus.windows.net", Hub: "teams", Tenant: "contoso.com"}, false},
		{"eventhub:https://contoso.servicebus.windows.net/eventhubname/teams?tenantId=x", EventHubTarget{Namespace: "contoso.servicebus.windows.net", Hub: "teams", Tenant: "x"}, false},
		{"EventHub:https://kv.vault.azure.net/secrets/hub?tenantId=contoso.com",
			EventHubTarget{Secret: "https://kv.vault.azure.net/secrets/hub", Tenant: "contoso.com"}, false},
		{"EventHub:https://contoso.servicebus.windows.net/eventhubname/teams", EventHubTarget{}, true},           // no tenant
		{"EventHub:http://contoso.servicebus.windows.net/eventhubname/teams?tenantId=x", EventHubTarget{}, true}, // not https
		{"EventHub:https://contoso.servicebus.windows.net/teams?tenantId=x", EventHubTarget{}, true},
		{"EventHub:https://kv.vault.azure.net/secrets/?tenantId=x", EventHubTarget{}, true},
		{"EventHub:https://u:p@contoso.servicebus.windows.net/eventhubname/teams?tenantId=x", EventHubTarget{}, true},
		{"https://contoso.servicebus.windows.net/eventhubname/teams?tenantId=x", EventHubTarget{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseEventHubURL(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("ParseEventHubURL = %+v, %v; want %+v (error: %v)", got, err, tt.want, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "p@") {
				t.Errorf("the error shows the user info: %v", err)
			}
		})
	}
	h := EventHub{Host: "contoso.servicebus.windows.net", Port: 9093, Name: "teams"}
	u := h.NotificationURL("contoso.com")
	if got, err := ParseEventHubURL(u); err != nil || got.Namespace != h.Host || got.Hub != h.Name || got.Tenant != "contoso.com" {
		t.Errorf("NotificationURL %q reads back as %+v, %v", u, got, err)
	}
	if l, err := LifecycleURL(u); err != nil || l != u {
		t.Errorf("LifecycleURL(%q) = %q, %v; want the same URL", u, l, err)
	}
}
