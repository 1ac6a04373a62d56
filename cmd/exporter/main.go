// Command exporter serves Microsoft Teams call quality, read from Microsoft
// Graph call records, as Prometheus metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
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
	os.Exit(run(os.Args[1:], os.Stderr))
}

// run is main with its outcome as an exit code: 2 for bad flags or
// configuration, 1 for a failure while running.
func run(args []string, stderr io.Writer) int {
	// SIGHUP asks for a reload; its default action would end the process
	// without the final save, so it is caught before anything else.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	fs := flag.NewFlagSet("exporter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	demo := fs.Bool("demo", false, "serve a built-in simulated Graph tenant instead of Microsoft Graph (also TEAMS_EXPORTER_DEMO=true)")
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *showVersion {
		fmt.Fprintln(stderr, version.Print(exporterName))
		return 0
	}
	cfg, err := loadConfig()
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
	graphURL   string
	credential azcore.TokenCredential
	httpClient *http.Client
	close      func()
}

// serve runs the exporter until ctx ends; every signal on hup is a reload.
func serve(ctx context.Context, cfg *config, logger *slog.Logger, hup <-chan os.Signal) error {
	logger.Info("starting teams exporter", "version", version.Info(), "build_context", version.BuildContext())
	reload := newReloader(logger.With("component", "reload"))
	go reload.run(ctx, hup)
	reg := newRegistry(cfg.Demo)
	// now is the clock of every time decision: saves, windows, readiness,
	// the last-success gauge, the state file.
	now := time.Now
	graphMetrics := poller.NewGraphMetrics(reg, now)

	notify, err := startNotifications(cfg, reg, logger)
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
		src, err = startDemo(ctx, cfg, graphMetrics, logger)
	} else {
		src, err = graphSource(cfg, graphMetrics)
	}
	if err != nil {
		return err
	}
	defer src.close()

	client, err := graph.New(graph.Config{
		BaseURL:     src.graphURL,
		Credential:  src.credential,
		HTTPClient:  src.httpClient,
		Observer:    graphMetrics,
		Logger:      logger.With("component", "graph"),
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
		if err := notify.subscribe(ctx, cfg, client, reg); err != nil {
			return err
		}
	}

	srv := newWebServer(routes(cfg, metrics, p.Ready, logger))
	listener, err := srv.listen(cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("%s_LISTEN_ADDRESS: %w", envPrefix, err)
	}

	pollCtx, stopPolling := context.WithCancel(ctx)
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		p.Run(pollCtx)
	}()
	served := make(chan error, 1)
	go func() { served <- srv.serve(listener, cfg.WebConfigFile, logger) }()

	var serveErr error
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
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
func graphSource(cfg *config, obs graph.Observer) (*source, error) {
	cred, err := graph.NewCredential(graph.CredentialOptions{
		DisableInstanceDiscovery: cfg.DisableInstanceDiscovery,
		Observer:                 obs,
	})
	if err != nil {
		return nil, configError{err}
	}
	return &source{graphURL: cfg.GraphURL, credential: cred, close: func() {}}, nil
}

// newRegistry returns the registry of the exporter's own metrics, beside
// which /metrics serves the call-quality snapshot: Go, process, build info
// and, in demo mode, teams_exporter_demo_mode.
func newRegistry(demo bool) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo(),
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

// buildInfo is teams_exporter_build_info with the labels README.md lists.
func buildInfo() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: exporterName + "_build_info",
		Help: "A metric with a constant '1' value labelled by version, revision and Go version of the exporter.",
		ConstLabels: prometheus.Labels{
			"version":   version.Version,
			"revision":  version.GetRevision(),
			"goversion": version.GoVersion,
		},
	}, func() float64 { return 1 })
}

// routes serves metrics, the health and readiness checks and the landing page.
func routes(cfg *config, metrics http.Handler, ready func() bool, logger *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(cfg.TelemetryPath, metrics)
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
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "Teams call-quality exporter",
		Description: "Microsoft Teams call quality from Microsoft Graph call records, for Prometheus",
		Version:     version.Info(),
		Links: []web.LandingLinks{
			{Address: cfg.TelemetryPath, Text: "Metrics"},
			{Address: "/healthz", Text: "Health"},
			{Address: "/readyz", Text: "Readiness"},
		},
	})
	if err != nil {
		logger.Error("landing page", "err", err)
	} else {
		mux.Handle("/", landing)
	}
	return mux
}
