package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/prometheus/common/promslog"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/notifications"
)

const envPrefix = "TEAMS_EXPORTER"

// config is SPEC's configuration table; every field is read from
// TEAMS_EXPORTER_<split_words>.
type config struct {
	ListenAddress            string        `split_words:"true" default:":9868"`
	TelemetryPath            string        `split_words:"true" default:"/metrics"`
	WebConfigFile            string        `split_words:"true"`
	PollInterval             time.Duration `split_words:"true" default:"5m"`
	Lookback                 time.Duration `default:"24h"`
	RecentWindow             time.Duration `split_words:"true" default:"2h"`
	FullScanInterval         time.Duration `split_words:"true" default:"1h"`
	GraphURL                 string        `envconfig:"GRAPH_URL" default:"https://graph.microsoft.com"`
	StateFile                string        `split_words:"true" default:"teams-exporter-state.json"`
	Concurrency              int           `default:"4"`
	NativeHistograms         bool          `split_words:"true" default:"false"`
	LogLevel                 string        `split_words:"true" default:"info"`
	LogFormat                string        `split_words:"true" default:"logfmt"`
	Demo                     bool          `default:"false"`
	DisableInstanceDiscovery bool          `split_words:"true" default:"false"`
	DirectRoutingCalls       bool          `envconfig:"DIRECT_ROUTING_CALLS" default:"false"`
	PSTNCalls                bool          `envconfig:"PSTN_CALLS" default:"false"`

	NotificationURL           string `split_words:"true"`
	NotificationListenAddress string `split_words:"true" default:":9869"`
	NotificationClientState   secret `split_words:"true"`
	BuildingFile              string `split_words:"true"`
}

// secret is a configuration value that must never be printed: it formats
// and logs as a placeholder.
type secret string

func (secret) String() string                 { return "<secret>" }
func (secret) GoString() string               { return "<secret>" }
func (secret) LogValue() slog.Value           { return slog.StringValue("<secret>") }
func (s secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// loadConfig reads the environment through lookup and validates it. Every
// error names the variable at fault.
func loadConfig() (*config, error) {
	var c config
	if err := envconfig.Process(envPrefix, &c); err != nil {
		return nil, cleanEnvconfigError(err)
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// cleanEnvconfigError turns envconfig's "envconfig.Process: assigning
// TEAMS_EXPORTER_X to X: converting 'v' to type T. details: ..." into
// "TEAMS_EXPORTER_X: ...".
func cleanEnvconfigError(err error) error {
	if pe, ok := err.(*envconfig.ParseError); ok {
		return fmt.Errorf("%s: cannot read %q as %s", pe.KeyName, pe.Value, pe.TypeName)
	}
	return err
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

// requireClientState refuses a notification URL without a client state,
// except in the demo, which makes one up (its tenant lives in the process).
// It runs once the -demo flag is known.
func (c *config) requireClientState() error {
	if c.NotificationURL != "" && c.NotificationClientState == "" && !c.Demo {
		return fmt.Errorf("%s_NOTIFICATION_CLIENT_STATE: required with %s_NOTIFICATION_URL (a secret of at most %d characters that Graph echoes in every notification)",
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
