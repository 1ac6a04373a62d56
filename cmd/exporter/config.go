package main

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/prometheus/common/promslog"
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
}

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
	if !strings.HasPrefix(c.TelemetryPath, "/") || c.TelemetryPath == "/" {
		return fmt.Errorf("%s_TELEMETRY_PATH: must start with / and not be / itself, got %q", envPrefix, c.TelemetryPath)
	}
	if _, _, err := net.SplitHostPort(c.ListenAddress); err != nil {
		return fmt.Errorf("%s_LISTEN_ADDRESS: want host:port, got %q", envPrefix, c.ListenAddress)
	}
	if u, err := url.Parse(c.GraphURL); err != nil || u.Scheme != "https" || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return fmt.Errorf("%s_GRAPH_URL: want an https URL of a Graph root such as https://graph.microsoft.com, got %q", envPrefix, c.GraphURL)
	}
	if c.StateFile == "" {
		return fmt.Errorf("%s_STATE_FILE: must not be empty", envPrefix)
	}
	if err := promslog.NewLevel().Set(c.LogLevel); err != nil {
		return fmt.Errorf("%s_LOG_LEVEL: want debug, info, warn or error, got %q", envPrefix, c.LogLevel)
	}
	if err := promslog.NewFormat().Set(c.LogFormat); err != nil {
		return fmt.Errorf("%s_LOG_FORMAT: want logfmt or json, got %q", envPrefix, c.LogFormat)
	}
	return nil
}
