// Command exporter serves Microsoft Teams call quality, read from Microsoft
// Graph call records, as Prometheus metrics.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/promslog"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/teams-exporter/teams-exporter/collector"
	"github.com/teams-exporter/teams-exporter/exposition"
	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/ledger"
	"github.com/teams-exporter/teams-exporter/poller"
)

const exporterName = "teams_exporter"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its outcome as an exit code: 2 for bad flags or
// configuration, 1 for a failure while running (or a failed probe).
func run(args []string, stdout, stderr io.Writer) int {
	// SIGHUP asks for a reload; its default action would end the process
	// without the final save, so it is caught before anything else.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	fs := flag.NewFlagSet("exporter", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed below, in one line
	demo := fs.Bool("demo", false, "serve a built-in simulated Graph tenant instead of Microsoft Graph (also TEAMS_EXPORTER_DEMO=true)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	probeURL := fs.String("probe", "", "probe mode: GET `URL` (e.g. http://127.0.0.1:9868/healthz), exit 0 on a 2xx answer and 1 otherwise; for container health checks in images without a shell. A path alone (/healthz) probes this configuration's health listener if set, else its main listener")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			var flags strings.Builder
			fs.SetOutput(&flags)
			fs.PrintDefaults()
			printHelp(stdout, flags.String())
			return 0
		}
		fmt.Fprintf(stderr, "%v (exporter -h lists the flags and variables)\n", err)
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected argument %q: the exporter is configured through the environment (exporter -h lists it)\n", fs.Arg(0))
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stdout, version.Print(exporterName))
		return 0
	}
	cfg, err := loadConfig()
	if *probeURL != "" {
		if strings.HasPrefix(*probeURL, "/") {
			if err != nil {
				fmt.Fprintf(stderr, "configuration error: %v\n", err)
				return 2
			}
			*probeURL = cfg.probeURL(*probeURL)
		}
		return probe(*probeURL, stderr)
	}
	if err != nil {
		fmt.Fprintf(stderr, "configuration error: %v\n", err)
		return 2
	}
	cfg.Demo = cfg.Demo || *demo
	if err := cfg.requireClientState(); err != nil {
		fmt.Fprintf(stderr, "configuration error: %v\n", err)
		return 2
	}
	if err := checkCloud(cfg); err != nil {
		fmt.Fprintf(stderr, "configuration error: %v\n", err)
		return 2
	}
	logger := newLogger(cfg, stderr)
	warnUnknownVariables(logger, os.Environ())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := serve(ctx, cfg, logger, hup); err != nil {
		var cerr configError
		if errors.As(err, &cerr) {
			fmt.Fprintf(stderr, "configuration error: %v\n", cerr.err)
			return 2
		}
		logger.Error("exporter stopped", "err", err)
		return 1
	}
	return 0
}

// configError is a mistake in the configuration found only when it is used
// (a credential that cannot be built): exit 2, like one found at load.
type configError struct{ err error }

func (e configError) Error() string { return e.err.Error() }
func (e configError) Unwrap() error { return e.err }

func newLogger(cfg *config, w io.Writer) *slog.Logger {
	lvl, format := promslog.NewLevel(), promslog.NewFormat()
	_ = lvl.Set(cfg.LogLevel) // validated in loadConfig
	_ = format.Set(cfg.LogFormat)
	return promslog.New(&promslog.Config{Level: lvl, Format: format, Writer: w})
}

// source is where records come from: Graph, or the demo tenant.
type source struct {
	graphURL       string
	credential     azcore.TokenCredential
	credentialKind string
	httpClient     *http.Client
	// tenantID names the tenant in an EventHub: URL; tls is the TLS
	// configuration of other services (the event hub), nil for the
	// system's roots.
	tenantID string
	tls      *tls.Config
	// describe is what the start-up line and the landing page say of the
	// source; the demo says that its data is simulated, and how.
	describe sourceDescription
	// graphLog, if set, is the Graph client's logger (the demo's marks its
	// simulated throttling).
	graphLog *slog.Logger
	close    func()
}

// sourceDescription tells a user where the data comes from.
type sourceDescription struct {
	name      string // "Microsoft Graph", or the simulated tenant
	simulates string // the Graph behaviours a simulated source plays; empty for Graph
}

// logAttrs are the start-up line's attributes of the source.
func (d sourceDescription) logAttrs() []any {
	attrs := []any{"data_source", d.name}
	if d.simulates != "" {
		attrs = append(attrs, "simulates", d.simulates)
	}
	return attrs
}

// serve runs the exporter until ctx ends; every signal on hup is a reload.
func serve(ctx context.Context, cfg *config, logger *slog.Logger, hup <-chan os.Signal) error {
	reload := newReloader(logger.With("component", "reload"))
	go reload.run(ctx, hup)
	reg := newRegistry(cfg.Demo)
	// now is the clock of every time decision: saves, windows, readiness,
	// the last-success gauge, the state file, when notifications arrived.
	now := time.Now
	graphMetrics := poller.NewGraphMetrics(reg, now)

	notify, err := startNotifications(cfg, reg, now, logger)
	if err != nil {
		return err
	}
	if notify != nil {
		defer func() {
			if err := notify.close(); err != nil {
				logger.Error("notification listener", "err", err)
			}
		}()
	}

	var src *source
	if cfg.Demo {
		src, err = startDemo(ctx, cfg, graphMetrics, now, logger)
	} else {
		src, err = graphSource(cfg, graphMetrics, now)
	}
	if err != nil {
		return err
	}
	defer src.close()
	logger.Info("starting teams exporter", slices.Concat([]any{
		"version", version.Info(), "build_context", version.BuildContext(),
	}, src.describe.logAttrs(), []any{"credential", src.credentialKind}, cfg.logAttrs())...)

	graphLog := src.graphLog
	if graphLog == nil {
		graphLog = logger.With("component", "graph")
	}
	client, err := graph.New(graph.Config{
		BaseURL:     src.graphURL,
		Credential:  src.credential,
		HTTPClient:  src.httpClient,
		Observer:    graphMetrics,
		Logger:      graphLog,
		Now:         now,
		Concurrency: cfg.Concurrency,
	})
	if err != nil {
		return fmt.Errorf("%s_GRAPH_URL: %w", envPrefix, err)
	}
	buildings, err := openBuildings(ctx, cfg, reg, logger.With("component", "buildings"))
	if err != nil {
		return err
	}
	if buildings != nil {
		reload.add("building file", buildings.Reload)
	}
	colOpts := collector.Options{NativeHistograms: cfg.NativeHistograms}
	if buildings != nil {
		colOpts.Sites = buildings.Map
	}
	l, err := ledger.Open(ledger.Config{
		Path:       cfg.StateFile,
		Now:        now,
		Logger:     logger.With("component", "ledger"),
		Registerer: reg,
		Collector:  colOpts,
	})
	if err != nil {
		return err
	}
	defer l.Close() // after the final save, which Run makes before serve returns
	p := poller.New(poller.Config{
		Interval:         cfg.PollInterval,
		Lookback:         cfg.Lookback,
		RecentWindow:     cfg.RecentWindow,
		FullScanInterval: cfg.FullScanInterval,
		SettleDelay:      cfg.SettleDelay,
		Logger:           logger.With("component", "poller"),
		Registerer:       reg,
		Graph:            graphMetrics,
		Now:              now,
		CallLogs: poller.CallLogConfig{
			Source:             client,
			DirectRoutingCalls: cfg.DirectRoutingCalls,
			PSTNCalls:          cfg.PSTNCalls,
		},
		Notifications: notify.poller(),
	}, client, l)
	metrics := newMetricsHandler(reg, l, logger)
	if notify != nil {
		if err := notify.subscribe(ctx, cfg, src.tenantID, client, l, reg); err != nil {
			return err
		}
		if err := notify.consume(ctx, cfg, src.credential, src.tls, l, reg); err != nil {
			return err
		}
	}

	srv := newWebServer(routes(cfg, src.describe, metrics, p.Ready, logger))
	reg.MustRegister(connectionsShed("metrics", srv.Limit.Shed))
	listener, err := srv.listen(cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("%s_LISTEN_ADDRESS: %w", envPrefix, err)
	}
	var health *webServer
	var healthListener net.Listener
	if cfg.HealthListenAddress != "" {
		health = healthServer(p.Ready)
		reg.MustRegister(connectionsShed("health", health.Limit.Shed))
		if healthListener, err = health.listen(cfg.HealthListenAddress); err != nil {
			listener.Close()
			return fmt.Errorf("%s_HEALTH_LISTEN_ADDRESS: %w", envPrefix, err)
		}
	}

	pollCtx, stopPolling := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		p.Run(pollCtx)
	}()
	served := make(chan error, 2)
	go func() { served <- srv.serve(listener, cfg.WebConfigFile, logger) }()
	if health != nil {
		defer health.shutdown()
		go func() { served <- health.serve(healthListener, "", logger) }()
	}

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down", "signal", context.Cause(ctx))
	case serveErr = <-served:
	}
	// The final save and the requests in flight run at the same time: a
	// slow or stalled client does not hold the exit beyond shutdownGrace.
	stopPolling()
	srv.shutdown()
	<-polled // Run saves the state as it returns
	if serveErr != nil {
		return fmt.Errorf("web server: %w", serveErr)
	}
	return nil
}

// graphSource authenticates against Entra ID from the AZURE_* environment.
func graphSource(cfg *config, obs graph.Observer, now func() time.Time) (*source, error) {
	cred, err := graph.NewCredential(graph.CredentialOptions{
		DisableInstanceDiscovery: cfg.DisableInstanceDiscovery,
		Observer:                 obs,
		Now:                      now,
	})
	if err != nil {
		return nil, configError{err}
	}
	kind := graph.CredentialKind()
	if kind == graph.CredentialNone {
		cred = nothingConfigured{cred, cfg.permissions()}
	}
	return &source{
		graphURL: cfg.GraphURL, credential: cred, credentialKind: kind, tenantID: cfg.tenantID(),
		describe: sourceDescription{name: "Microsoft Graph"}, close: func() {},
	}, nil
}

// newRegistry returns the registry of the exporter's own metrics, beside
// which /metrics serves the call-quality snapshot: Go, process, build info
// and, in demo mode, teams_exporter_demo_mode.
func newRegistry(demo bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector(exporterName),
	)
	if demo {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: exporterName + "_demo_mode",
			Help: "1 when the exporter serves the built-in simulated tenant (-demo): the call-quality data is not a real tenant's.",
		}, func() float64 { return 1 }))
	}
	return reg
}

// maxScrapesInFlight bounds concurrent scrapes: a scrape in a format not
// cached yet encodes up to 11 MB, and more scrapers than this at once are
// not a Prometheus set-up but a client to slow down (503).
const maxScrapesInFlight = 8

// registry is where the exporter's own metrics are registered and gathered.
type registry interface {
	prometheus.Registerer
	prometheus.Gatherer
}

// newMetricsHandler serves reg's families and the ledger's saved snapshot,
// and registers the handler's own metrics with reg.
func newMetricsHandler(reg registry, l *ledger.Ledger, logger *slog.Logger) http.Handler {
	return exposition.NewHandler(reg, l.Snapshot, exposition.Options{
		Registry:            reg,
		MaxRequestsInFlight: maxScrapesInFlight,
		Logger:              logger.With("component", "exposition"),
	})
}

// handleHealth serves /healthz (the process serves) and /readyz (the data
// is fresh) on mux.
func handleHealth(mux *http.ServeMux, ready func() bool) {
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready() {
			http.Error(w, "not ready: no successful poll yet, or Microsoft Graph failing for more than three poll intervals", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// healthServer serves only /healthz and /readyz, in plain HTTP without
// authentication, on TEAMS_EXPORTER_HEALTH_LISTEN_ADDRESS: the orchestrator's
// probes keep working when the web configuration requires basic auth or
// client certificates on the main listener, without a password in the pod
// spec. The two answers say nothing but "ok" and "ready".
func healthServer(ready func() bool) *webServer {
	mux := http.NewServeMux()
	handleHealth(mux, ready)
	return newWebServer(mux)
}

// routes serves metrics, the health and readiness checks and the landing
// page, which says where the data comes from.
func routes(cfg *config, src sourceDescription, metrics http.Handler, ready func() bool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(cfg.TelemetryPath, metrics)
	handleHealth(mux, ready)
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Teams call-quality exporter",
		Description: "Microsoft Teams call quality from Microsoft Graph call records, for Prometheus",
		Version:     version.Info(),
		Profiling:   "false", // no pprof handlers are served
		Links: []web.LandingLinks{
			{Address: cfg.TelemetryPath, Text: "Metrics"},
			{Address: "/healthz", Text: "Health"},
			{Address: "/readyz", Text: "Readiness"},
		},
		ExtraHTML: src.landingHTML(),
	})
	if err != nil {
		logger.Error("landing page", "err", err)
	} else {
		mux.Handle("/", landing)
	}
	return mux
}
