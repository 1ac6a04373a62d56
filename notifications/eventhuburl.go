package notifications

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// EventHubScheme prefixes a notification URL that asks Graph to deliver to
// an Azure Event Hub instead of calling a webhook. Graph documents two
// forms:
//
//	EventHub:https://<namespace>.servicebus.windows.net/eventhubname/<hub>?tenantId=<tenant>
//	EventHub:https://<vault>.vault.azure.net/secrets/<secret>?tenantId=<tenant>
//
// The first relies on the "Microsoft Graph Change Tracking" service
// principal holding "Azure Event Hubs Data Sender" on the hub; with the
// second, Graph reads the hub's send connection string from Key Vault.
const EventHubScheme = "EventHub:"

// DefaultEventHubPort is the port of Event Hubs' Kafka endpoint.
const DefaultEventHubPort = 9093

// IsEventHubURL reports whether a notification URL asks for Event Hubs
// delivery.
func IsEventHubURL(u string) bool {
	return len(u) >= len(EventHubScheme) && strings.EqualFold(u[:len(EventHubScheme)], EventHubScheme)
}

// EventHub names a hub: the host of its namespace (with the port of its
// Kafka endpoint) and the hub's name, which is the Kafka topic.
type EventHub struct {
	Host string // the namespace's host, <namespace>.servicebus.windows.net
	Port int    // the Kafka endpoint's port; DefaultEventHubPort unless set
	Name string // the hub
}

// Addr is host:port of the Kafka endpoint.
func (h EventHub) Addr() string { return net.JoinHostPort(h.Host, strconv.Itoa(h.Port)) }

// String is the form ParseEventHub reads.
func (h EventHub) String() string { return h.Addr() + "/" + h.Name }

// NotificationURL is the role-based EventHub: URL of the hub for Graph.
func (h EventHub) NotificationURL(tenant string) string {
	u := url.URL{Scheme: "https", Host: h.Host, Path: "/eventhubname/" + h.Name, RawQuery: url.Values{"tenantId": {tenant}}.Encode()}
	return EventHubScheme + u.String()
}

// maxHubName is Event Hubs' limit on a hub's name.
const maxHubName = 256

// ParseEventHub reads "<namespace host>[:port]/<hub>". The port is for a
// broker other than Azure's (a local one in tests); Azure's Kafka endpoint
// listens on 9093.
func ParseEventHub(s string) (EventHub, error) {
	hostport, name, ok := strings.Cut(s, "/")
	if !ok || hostport == "" || name == "" {
		return EventHub{}, fmt.Errorf("want <namespace>.servicebus.windows.net/<hub>, got %q", s)
	}
	h := EventHub{Host: hostport, Port: DefaultEventHubPort, Name: name}
	if host, port, err := net.SplitHostPort(hostport); err == nil {
		p, err := strconv.Atoi(port)
		if err != nil || p < 1 || p > 65535 {
			return EventHub{}, fmt.Errorf("port %q is not a port number", port)
		}
		h.Host, h.Port = host, p
	}
	if h.Host == "" || strings.ContainsAny(h.Host, "/@?#[] ") {
		return EventHub{}, fmt.Errorf("%q is not a host name", h.Host)
	}
	if err := validHubName(name); err != nil {
		return EventHub{}, err
	}
	return h, nil
}

// validHubName accepts what Event Hubs accepts: letters, digits, '.', '-'
// and '_', starting and ending with a letter or digit, up to 256.
func validHubName(name string) error {
	if len(name) > maxHubName {
		return fmt.Errorf("hub name longer than %d characters", maxHubName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || i == len(name)-1 || !strings.ContainsRune(".-_", rune(c))) {
			return fmt.Errorf("hub name %q: letters, digits, '.', '-' and '_' only, starting and ending with a letter or digit", name)
		}
	}
	return nil
}

// EventHubTarget is what an EventHub: URL points at: a hub (role-based
// access), or a Key Vault secret holding the hub's connection string.
type EventHubTarget struct {
	// Namespace and Hub are set for the role-based form.
	Namespace, Hub string
	// Secret is the Key Vault secret's URL (https://<vault>/secrets/<name>)
	// for the Key Vault form.
	Secret string
	Tenant string // tenantId
}

// ParseEventHubURL reads either documented EventHub: form.
func ParseEventHubURL(s string) (EventHubTarget, error) {
	if !IsEventHubURL(s) {
		return EventHubTarget{}, fmt.Errorf("%q does not start with %s", clipURL(s), EventHubScheme)
	}
	u, err := url.Parse(s[len(EventHubScheme):])
	if err != nil || u.Scheme != "https" || u.Host == "" || u.User != nil || u.Fragment != "" {
		return EventHubTarget{}, fmt.Errorf("%q: want EventHub:https://<namespace>.servicebus.windows.net/eventhubname/<hub>?tenantId=<tenant> or EventHub:https://<vault>.vault.azure.net/secrets/<secret>?tenantId=<tenant>", clipURL(s))
	}
	t := EventHubTarget{Tenant: u.Query().Get("tenantId")}
	if t.Tenant == "" {
		return EventHubTarget{}, fmt.Errorf("%q: no tenantId", clipURL(s))
	}
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	switch {
	case len(parts) == 2 && parts[0] == "eventhubname":
		if err := validHubName(parts[1]); err != nil {
			return EventHubTarget{}, err
		}
		t.Namespace, t.Hub = u.Hostname(), parts[1]
	case len(parts) == 2 && parts[0] == "secrets" && parts[1] != "":
		t.Secret = (&url.URL{Scheme: "https", Host: u.Host, Path: "/secrets/" + parts[1]}).String()
	default:
		return EventHubTarget{}, fmt.Errorf("%q: the path is neither /eventhubname/<hub> nor /secrets/<secret>", clipURL(s))
	}
	return t, nil
}

// clipURL bounds a URL quoted in an error; its query and user info are
// left out, since the user may have put a secret there.
func clipURL(s string) string {
	s, _, _ = strings.Cut(s, "?")
	if scheme, rest, ok := strings.Cut(s, "://"); ok {
		host, path, _ := strings.Cut(rest, "/")
		if i := strings.LastIndexByte(host, '@'); i >= 0 {
			host = host[i+1:]
		}
		s = scheme + "://" + host
		if path != "" {
			s += "/" + path
		}
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
