package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"reflect"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/prometheus/common/model"
	"github.com/prometheus/common/promslog"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/notifications"
)

const envPrefix = "TEAMS_EXPORTER"

// The variables are documented in docs/configuration.md, and the exporter's
// own metric families in docs/metrics.md; TestDocs checks and rewrites both:
//go:generate go test -run ^TestDocs$ -update .

// config is the configuration table of docs/configuration.md; every field is read from
// TEAMS_EXPORTER_<split_words>. The tags are the whole documentation: `-h`
// prints each variable with its `default` and `desc`, and the start-up line
// shows each value, except those of fields tagged `secret:"true"`, which
// every secret must carry. A time.Duration field accepts Go's and
// Prometheus's forms (see parseDuration) without more ado.
type config struct {
	ListenAddress            string        `split_words:"true" default:":9868" desc:"host:port where the metrics, /healthz, /readyz and the landing page are served"`
	TelemetryPath            string        `split_words:"true" default:"/metrics" desc:"path of the metrics"`
	WebConfigFile            string        `split_words:"true" desc:"exporter-toolkit web configuration file: TLS, basic auth"`
	HealthListenAddress      string        `split_words:"true" desc:"optional second host:port serving only /healthz and /readyz, in plain HTTP without authentication, for orchestrator probes when the web configuration requires basic auth or client certificates"`
	PollInterval             time.Duration `split_words:"true" default:"5m" desc:"time between polls of Microsoft Graph"`
	Lookback                 time.Duration `default:"24h" desc:"how far back (by start time) records not yet ingested are looked for; at most 30d"`
	RecentWindow             time.Duration `split_words:"true" default:"2h" desc:"start-time window re-read on every poll"`
	FullScanInterval         time.Duration `split_words:"true" default:"1h" desc:"how often the whole look-back window is re-read (also at start)"`
	SettleDelay              time.Duration `split_words:"true" default:"30m" desc:"ingest a record once it has not changed (lastModifiedDateTime) for this long, so that telemetry Graph adds in later versions is counted; 0: at the first version seen; shorter than the look-back"`
	GraphURL                 string        `envconfig:"GRAPH_URL" default:"https://graph.microsoft.com" desc:"Microsoft Graph root (national clouds)"`
	StateFile                string        `split_words:"true" default:"teams-exporter-state.json" desc:"file where ingested record ids, the poll position and the counters survive restarts: a checkpoint rewritten about once an hour, and a log of what changed since beside it (the same name with .log added)"`
	Concurrency              int           `default:"4" desc:"record fetches in flight (1 to 64)"`
	NativeHistograms         bool          `split_words:"true" default:"false" desc:"add native (sparse) buckets to the histograms"`
	LogLevel                 string        `split_words:"true" default:"info" desc:"debug, info, warn or error"`
	LogFormat                string        `split_words:"true" default:"logfmt" desc:"logfmt or json"`
	Demo                     bool          `default:"false" desc:"serve a built-in simulated Graph tenant instead of Microsoft Graph (also the -demo flag)"`
	DisableInstanceDiscovery bool          `split_words:"true" default:"false" desc:"skip Entra ID instance discovery, for private or test authorities"`
	DirectRoutingCalls       bool          `envconfig:"DIRECT_ROUTING_CALLS" default:"false" desc:"also ingest direct-routing call logs (global cloud only)"`
	PSTNCalls                bool          `envconfig:"PSTN_CALLS" default:"false" desc:"also ingest PSTN call logs (global cloud only)"`

	NotificationURL           string `split_words:"true" desc:"public HTTPS URL at which Graph reaches /notifications (through your ingress); empty: polling only"`
	NotificationListenAddress string `split_words:"true" default:":9869" desc:"host:port of the listener of /notifications and /notifications/lifecycle"`
	NotificationClientState   secret `split_words:"true" secret:"true" desc:"secret Graph echoes in every notification (required with a notification URL or event hub); never logged"`

	NotificationEventHub                 string `split_words:"true" desc:"Event Hubs delivery instead of a webhook: the hub <namespace>.servicebus.windows.net/<hub>, read through its Kafka endpoint (TLS, port 9093; host:port/hub for another broker); no inbound port is needed. The subscription's URL is then TEAMS_EXPORTER_NOTIFICATION_URL if it is an EventHub: URL, else the role-based one built from the hub and AZURE_TENANT_ID"`
	NotificationEventHubConsumerGroup    string `split_words:"true" default:"$Default" desc:"the hub's consumer group the exporter reads with; its committed offsets keep the exporter's place in each partition"`
	NotificationEventHubConnectionString secret `split_words:"true" secret:"true" desc:"connection string with Listen rights to read the hub with (SASL PLAIN); empty: an Entra token of the Azure credential (SASL OAUTHBEARER), whose identity needs Azure Event Hubs Data Receiver; never logged"`
	BuildingFile                         string `split_words:"true" desc:"CQD building data file (.csv or .tsv) mapping subnets to sites, for the site families; reloaded on SIGHUP"`
}

// secret is a configuration value that must never be printed: it formats
// and logs as a placeholder.
type secret string

func (secret) String() string                 { return "<secret>" }
func (secret) GoString() string               { return "<secret>" }
func (secret) LogValue() slog.Value           { return slog.StringValue("<secret>") }
func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// azureVariables are the variables azidentity reads itself, for the help
// text and the deployment examples: the exporter passes them through.
var azureVariables = []struct{ name, desc string }{
	{"AZURE_TENANT_ID", "directory (tenant) id of the app registration; change notifications of another tenant are refused"},
	{"AZURE_CLIENT_ID", "application (client) id of the app registration, or of a user-assigned managed identity"},
	{"AZURE_CLIENT_SECRET", "client secret of the app registration"},
	{"AZURE_CLIENT_CERTIFICATE_PATH", "PEM or PKCS#12 file with the app registration's certificate and private key (instead of a secret)"},
	{"AZURE_CLIENT_CERTIFICATE_PASSWORD", "password of that file, if any"},
	{"AZURE_CLIENT_SEND_CERTIFICATE_CHAIN", "true to send the certificate chain (subject name/issuer authentication)"},
	{"AZURE_FEDERATED_TOKEN_FILE", "token file of workload identity (set by the AKS workload identity webhook)"},
	{"AZURE_AUTHORITY_HOST", "Entra ID authority of a national cloud, e.g. https://login.microsoftonline.us/"},
}

// loadConfig reads the TEAMS_EXPORTER_* environment variables and validates
// them. Every error names the variable at fault.
func loadConfig() (*config, error) {
	var c config
	if err := processEnv(&c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// promDuration is a time.Duration as the configuration reads it: envconfig
// calls Decode for it.
type promDuration time.Duration

func (d *promDuration) Decode(s string) error {
	v, err := parseDuration(s)
	*d = promDuration(v)
	return err
}

var (
	durationType     = reflect.TypeFor[time.Duration]()
	promDurationType = reflect.TypeFor[promDuration]()
)

// parseDuration reads Go's form (90m, 1h30m, 1.5h, -5m) or Prometheus's
// (30d, 1w, 1y, 0), the two forms operators of Prometheus exporters write.
func parseDuration(s string) (time.Duration, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return d, nil
	}
	if d, err := model.ParseDurationAllowNegative(s); err == nil {
		return time.Duration(d), nil
	}
	return 0, fmt.Errorf("not a duration: write it in Go's form (90m, 1h30m, 1.5h) or Prometheus's (30d, 1w, 1h30m)")
}

// processEnv is envconfig.Process into c, with every time.Duration field read
// by parseDuration: envconfig parses time.Duration itself (Go's form only),
// so it fills a copy of config's type whose durations are promDuration, and
// the values are copied back.
func processEnv(c *config) error {
	t := reflect.TypeFor[config]()
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		fields[i] = t.Field(i)
		if fields[i].Type == durationType {
			fields[i].Type = promDurationType
		}
	}
	shadow := reflect.New(reflect.StructOf(fields))
	if err := envconfig.Process(envPrefix, shadow.Interface()); err != nil {
		return cleanEnvconfigError(err)
	}
	dst := reflect.ValueOf(c).Elem()
	for i := range fields {
		dst.Field(i).Set(shadow.Elem().Field(i).Convert(t.Field(i).Type))
	}
	return nil
}

// cleanEnvconfigError turns envconfig's "envconfig.Process: assigning
// TEAMS_EXPORTER_X to X: converting 'v' to type T. details: ..." into
// "TEAMS_EXPORTER_X: ...".
func cleanEnvconfigError(err error) error {
	pe, ok := err.(*envconfig.ParseError)
	if !ok {
		return err
	}
	if pe.TypeName == promDurationType.String() {
		return fmt.Errorf("%s: cannot read %q: %w", pe.KeyName, pe.Value, pe.Err)
	}
	return fmt.Errorf("%s: cannot read %q as %s", pe.KeyName, pe.Value, pe.TypeName)
}

// variable is one TEAMS_EXPORTER_* variable, as envconfig names it.
type variable struct {
	Key, Field, Default, Desc string
	Secret                    bool
}

// variables lists config's variables in order, named by envconfig itself
// (its usage template sees the names it reads).
func variables() []variable {
	var b strings.Builder
	const format = `{{range .}}{{.Name}}	{{usage_key .}}	{{.Tags.Get "default"}}	{{.Tags.Get "secret"}}	{{usage_description .}}
{{end}}`
	if err := envconfig.Usagef(envPrefix, &config{}, &b, format); err != nil {
		panic(err) // the format is constant
	}
	var vars []variable
	for line := range strings.Lines(b.String()) {
		f := strings.SplitN(strings.TrimSuffix(line, "\n"), "\t", 5)
		vars = append(vars, variable{Field: f[0], Key: f[1], Default: f[2], Secret: f[3] == "true", Desc: f[4]})
	}
	return vars
}

// printHelp writes the usage: the flags, then every variable with its
// default and meaning, then azidentity's.
func printHelp(w io.Writer, flags string) {
	fmt.Fprintf(w, `Usage: exporter [flags]

Serves Microsoft Teams call quality, read from Microsoft Graph call records,
as Prometheus metrics. Configured through the environment; durations take
Go's form (90m, 1h30m) or Prometheus's (30d, 1w).

Flags:
%s
Environment:
`, flags)
	for _, v := range variables() {
		def := v.Default
		if def == "" {
			def = "empty"
		}
		fmt.Fprintf(w, "  %s (default: %s)\n      %s\n", v.Key, def, v.Desc)
	}
	fmt.Fprint(w, "\nCredentials (read by the Azure Identity library; without any, a managed identity):\n")
	for _, v := range azureVariables {
		fmt.Fprintf(w, "  %s\n      %s\n", v.name, v.desc)
	}
}

// secretKeyWords mark a variable as secret even if its field lacks the
// `secret` tag: a start-up line must never show one by mistake.
var secretKeyWords = []string{"SECRET", "PASSWORD", "TOKEN", "CLIENT_STATE", "KEY", "CONNECTION_STRING"}

// logAttrs is the effective configuration for the start-up line: every
// variable by its name without the prefix, secrets only as set or not.
func (c *config) logAttrs() []any {
	v := reflect.ValueOf(c).Elem()
	var attrs []any
	for _, vr := range variables() {
		name := strings.ToLower(strings.TrimPrefix(vr.Key, envPrefix+"_"))
		val := v.FieldByName(vr.Field)
		if vr.Secret || containsAny(vr.Key, secretKeyWords) {
			attrs = append(attrs, name, redacted(!val.IsZero()))
			continue
		}
		attrs = append(attrs, name, fmt.Sprint(val.Interface()))
	}
	return attrs
}

func redacted(set bool) string {
	if set {
		return "<set>"
	}
	return "<empty>"
}

func containsAny(s string, words []string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

func (c *config) validate() error {
	positive := []struct {
		name string
		v    time.Duration
	}{
		{"POLL_INTERVAL", c.PollInterval},
		{"LOOKBACK", c.Lookback},
		{"RECENT_WINDOW", c.RecentWindow},
		{"FULL_SCAN_INTERVAL", c.FullScanInterval},
	}
	for _, p := range positive {
		if p.v <= 0 {
			return fmt.Errorf("%s_%s: must be a positive duration, got %s", envPrefix, p.name, p.v)
		}
	}
	if c.PollInterval < time.Second {
		return fmt.Errorf("%s_POLL_INTERVAL: %s is below the 1s minimum", envPrefix, c.PollInterval)
	}
	if c.RecentWindow > c.Lookback {
		return fmt.Errorf("%s_RECENT_WINDOW: %s is longer than %s_LOOKBACK (%s)", envPrefix, c.RecentWindow, envPrefix, c.Lookback)
	}
	// Settling waits inside the look-back: a record that has not settled
	// when its start nears the look-back's edge is ingested unsettled, so a
	// delay as long as the look-back would only ever ingest at the edge.
	if c.SettleDelay < 0 || c.SettleDelay >= c.Lookback {
		return fmt.Errorf("%s_SETTLE_DELAY: must be 0 or more and shorter than %s_LOOKBACK (%s), got %s", envPrefix, envPrefix, c.Lookback, c.SettleDelay)
	}
	if c.Lookback > 30*24*time.Hour {
		return fmt.Errorf("%s_LOOKBACK: %s is beyond the 30 days Graph keeps call records", envPrefix, c.Lookback)
	}
	if c.Concurrency < 1 || c.Concurrency > 64 {
		return fmt.Errorf("%s_CONCURRENCY: must be between 1 and 64, got %d", envPrefix, c.Concurrency)
	}
	if err := validTelemetryPath(c.TelemetryPath); err != nil {
		return fmt.Errorf("%s_TELEMETRY_PATH: %w, got %q", envPrefix, err, c.TelemetryPath)
	}
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return fmt.Errorf("%s_LISTEN_ADDRESS: want host:port, got %q", envPrefix, c.ListenAddress)
	}
	if c.HealthListenAddress != "" {
		if _, _, err := net.SplitHostPort(c.HealthListenAddress); err != nil {
			return fmt.Errorf("%s_HEALTH_LISTEN_ADDRESS: want host:port, got %q", envPrefix, c.HealthListenAddress)
		}
		if c.HealthListenAddress == c.ListenAddress {
			return fmt.Errorf("%s_HEALTH_LISTEN_ADDRESS: must differ from %s_LISTEN_ADDRESS (%s)", envPrefix, envPrefix, c.ListenAddress)
		}
	}
	if u, err := url.Parse(c.GraphURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%s_GRAPH_URL: want an https URL of a Graph root such as https://graph.microsoft.com, got %q", envPrefix, c.GraphURL)
	}
	if err := c.validateCallLogs(); err != nil {
		return err
	}
	if c.StateFile == "" {
		return fmt.Errorf("%s_STATE_FILE: must not be empty", envPrefix)
	}
	if err := c.validateNotifications(); err != nil {
		return err
	}
	if err := promslog.NewLevel().Set(c.LogLevel); err != nil {
		return fmt.Errorf("%s_LOG_LEVEL: want debug, info, warn or error, got %q", envPrefix, c.LogLevel)
	}
	if err := promslog.NewFormat().Set(c.LogFormat); err != nil {
		return fmt.Errorf("%s_LOG_FORMAT: want logfmt or json, got %q", envPrefix, c.LogFormat)
	}
	return nil
}

// validateNotifications checks the change-notification settings: a URL
// Graph can call (https), a client state Graph accepts, and a listener of
// their own.
func (c *config) validateNotifications() error {
	if c.NotificationEventHub != "" || notifications.IsEventHubURL(c.NotificationURL) {
		return c.validateEventHub()
	}
	if c.NotificationEventHubConnectionString != "" {
		return fmt.Errorf("%s_NOTIFICATION_EVENT_HUB_CONNECTION_STRING: set without %s_NOTIFICATION_EVENT_HUB", envPrefix, envPrefix)
	}
	if c.NotificationURL == "" {
		if c.NotificationClientState != "" {
			return fmt.Errorf("%s_NOTIFICATION_CLIENT_STATE: set without %s_NOTIFICATION_URL; set both to use change notifications", envPrefix, envPrefix)
		}
		return nil
	}
	if _, err := notifications.LifecycleURL(c.NotificationURL); err != nil {
		return fmt.Errorf("%s_NOTIFICATION_URL: %w", envPrefix, err)
	}
	// An empty client state is refused when the exporter starts (the demo,
	// which may be asked for by flag, makes one up).
	if c.NotificationClientState != "" {
		if err := notifications.ValidateClientState(string(c.NotificationClientState)); err != nil {
			return fmt.Errorf("%s_NOTIFICATION_CLIENT_STATE: %w", envPrefix, err)
		}
	}
	if _, _, err := net.SplitHostPort(c.NotificationListenAddress); err != nil {
		return fmt.Errorf("%s_NOTIFICATION_LISTEN_ADDRESS: want host:port, got %q", envPrefix, c.NotificationListenAddress)
	}
	if c.NotificationListenAddress == c.ListenAddress {
		return fmt.Errorf("%s_NOTIFICATION_LISTEN_ADDRESS: must differ from %s_LISTEN_ADDRESS (%s): the notification endpoints have a listener of their own", envPrefix, envPrefix, c.ListenAddress)
	}
	return nil
}

// validateEventHub checks Event Hubs delivery: a hub to read, at most one
// delivery (an https notification URL is a webhook), and an EventHub: URL
// that names the hub read.
func (c *config) validateEventHub() error {
	if c.NotificationEventHub == "" {
		return fmt.Errorf("%s_NOTIFICATION_URL: an EventHub: URL needs %s_NOTIFICATION_EVENT_HUB, the hub the exporter reads", envPrefix, envPrefix)
	}
	hub, err := notifications.ParseEventHub(c.NotificationEventHub)
	if err != nil {
		return fmt.Errorf("%s_NOTIFICATION_EVENT_HUB: %w", envPrefix, err)
	}
	if c.NotificationURL != "" && !notifications.IsEventHubURL(c.NotificationURL) {
		return fmt.Errorf("%s_NOTIFICATION_EVENT_HUB: set beside a webhook %s_NOTIFICATION_URL; use one delivery: for Event Hubs leave the URL empty (or make it an EventHub: URL), for the webhook unset the event hub", envPrefix, envPrefix)
	}
	if c.NotificationURL != "" {
		target, err := notifications.ParseEventHubURL(c.NotificationURL)
		if err != nil {
			return fmt.Errorf("%s_NOTIFICATION_URL: %w", envPrefix, err)
		}
		if target.Hub != "" && (!strings.EqualFold(target.Namespace, hub.Host) || !strings.EqualFold(target.Hub, hub.Name)) {
			return fmt.Errorf("%s_NOTIFICATION_URL: Graph would deliver to %s/%s, but %s_NOTIFICATION_EVENT_HUB reads %s/%s", envPrefix, target.Namespace, target.Hub, envPrefix, hub.Host, hub.Name)
		}
	}
	if cs := string(c.NotificationEventHubConnectionString); cs != "" {
		if err := connectionStringNames(cs, hub); err != nil {
			return fmt.Errorf("%s_NOTIFICATION_EVENT_HUB_CONNECTION_STRING: %w", envPrefix, err)
		}
	}
	if g := c.NotificationEventHubConsumerGroup; g == "" || len(g) > 256 {
		return fmt.Errorf("%s_NOTIFICATION_EVENT_HUB_CONSUMER_GROUP: want a consumer group name of 1 to 256 characters, got %q", envPrefix, g)
	}
	if c.NotificationClientState != "" {
		if err := notifications.ValidateClientState(string(c.NotificationClientState)); err != nil {
			return fmt.Errorf("%s_NOTIFICATION_CLIENT_STATE: %w", envPrefix, err)
		}
	}
	return nil
}

// connectionStringNames checks that an Event Hubs connection string is for
// the hub read: SASL PLAIN sends the whole string, key included, to the
// host of TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB, so a string for another
// namespace would hand its key to that host. Its Endpoint must name the
// hub's host, and its EntityPath, when present, the hub. Errors quote the
// names only, never the key.
func connectionStringNames(cs string, hub notifications.EventHub) error {
	var endpoint, entity string
	for part := range strings.SplitSeq(cs, ";") {
		k, v, _ := strings.Cut(part, "=")
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "endpoint":
			endpoint = strings.TrimSpace(v)
		case "entitypath":
			entity = strings.TrimSpace(v)
		}
	}
	u, err := url.Parse(endpoint)
	if endpoint == "" || err != nil || u.Scheme != "sb" || u.Hostname() == "" {
		return errors.New("want Endpoint=sb://<namespace host>/ in the connection string")
	}
	if !strings.EqualFold(u.Hostname(), hub.Host) {
		return fmt.Errorf("its Endpoint names %q, but the hub read is on %q", u.Hostname(), hub.Host)
	}
	if entity != "" && !strings.EqualFold(entity, hub.Name) {
		return fmt.Errorf("its EntityPath names %q, but the hub read is %q", entity, hub.Name)
	}
	return nil
}

// eventHubMode reports whether notifications come through an event hub.
func (c *config) eventHubMode() bool { return c.NotificationEventHub != "" }

// tenantID is the tenant the exporter reads: AZURE_TENANT_ID, which
// azidentity reads too, or the demo's simulated one. Empty when a managed
// identity needs none.
func (c *config) tenantID() string {
	if c.Demo {
		return demoTenantID
	}
	return os.Getenv("AZURE_TENANT_ID")
}

// notificationsOn reports whether change notifications are configured, by
// webhook or event hub.
func (c *config) notificationsOn() bool { return c.NotificationURL != "" || c.eventHubMode() }

// requireClientState refuses a notification URL without a client state,
// except in the demo, which makes one up (its tenant lives in the process).
// It runs once the -demo flag is known.
func (c *config) requireClientState() error {
	if c.notificationsOn() && c.NotificationClientState == "" && !c.Demo {
		return fmt.Errorf("%s_NOTIFICATION_CLIENT_STATE: required with %s_NOTIFICATION_URL or _EVENT_HUB (a secret of at most %d characters that Graph echoes in every notification)",
			envPrefix, envPrefix, notifications.MaxClientStateLen)
	}
	return nil
}

// reservedPaths are served by the exporter itself (see routes).
var reservedPaths = []string{"/", "/healthz", "/readyz"}

// validTelemetryPath accepts a clean absolute path of letters, digits and
// "-._~/" that no other endpoint uses. It is registered as a ServeMux
// pattern, where braces, spaces, a method or a host have a meaning, and
// where a clash with another endpoint panics.
func validTelemetryPath(p string) error {
	if !strings.HasPrefix(p, "/") {
		return errors.New("must start with /")
	}
	for _, r := range p {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("-._~/", r)) {
			return fmt.Errorf("only letters, digits and -._~/ are allowed, not %q", r)
		}
	}
	if path.Clean(p) != p {
		return fmt.Errorf("must be a clean path such as %q", path.Clean(p))
	}
	for _, r := range reservedPaths {
		if p == r {
			return fmt.Errorf("%s is already served by the exporter (/, /healthz and /readyz are)", r)
		}
	}
	return nil
}

// nationalGraphHosts are the Graph roots of Microsoft's national clouds.
var nationalGraphHosts = []string{"graph.microsoft.us", "dod-graph.microsoft.us", "microsoftgraph.chinacloudapi.cn"}

// validateCallLogs refuses the PSTN and direct-routing call logs outside
// Microsoft's global cloud, where Graph does not have them: better one
// clear line at start than a 400 or 404 on every poll.
func (c *config) validateCallLogs() error {
	name := ""
	switch {
	case c.DirectRoutingCalls:
		name = "DIRECT_ROUTING_CALLS"
	case c.PSTNCalls:
		name = "PSTN_CALLS"
	default:
		return nil
	}
	u, err := url.Parse(c.GraphURL)
	if err != nil {
		return nil // reported as a bad GRAPH_URL
	}
	for _, h := range nationalGraphHosts {
		if strings.EqualFold(u.Hostname(), h) {
			return fmt.Errorf("%s_%s: the PSTN and direct-routing call logs exist in Microsoft's global cloud only, not at %s; set %s_DIRECT_ROUTING_CALLS and %s_PSTN_CALLS to false",
				envPrefix, name, u.Hostname(), envPrefix, envPrefix)
		}
	}
	return nil
}

// checkCloud stops a start against a national cloud whose Entra authority
// is not configured (tokens would come from the wrong cloud and every
// request would fail with 401), or against a cloud without call records.
// The demo serves its own tenant and is not checked.
func checkCloud(c *config) error {
	if c.Demo {
		return nil
	}
	if err := graph.CheckCloud(c.GraphURL, os.Getenv("AZURE_AUTHORITY_HOST")); err != nil {
		return fmt.Errorf("%s_GRAPH_URL: %w", envPrefix, err)
	}
	return nil
}
