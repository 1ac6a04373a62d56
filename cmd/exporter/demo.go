package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"html"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/teams-exporter/teams-exporter/graph"
	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/notifications"
)

// Demo tenant credentials: they exist only inside this process.
const (
	demoTenantID = "00000000-0000-4000-8000-00000000de00"
	demoClientID = "00000000-0000-4000-8000-0000000c1e47"
	demoSecret   = "demo-secret-not-a-real-one"
	demoSeed     = 20261123
)

// startDemo runs the simulated Graph tenant on loopback with its own TLS
// certificate, filled with a day of calls and a few new ones every few
// seconds, and points the real client and credential at it: the whole path
// (HTTPS, Entra token, paging, $batch, ingest) runs with no Azure account.
func startDemo(ctx context.Context, cfg *config, obs graph.Observer, now func() time.Time, logger *slog.Logger) (*source, error) {
	removeState, err := demoDefaults(cfg)
	if err != nil {
		return nil, fmt.Errorf("demo state directory: %w", err)
	}
	if _, set := os.LookupEnv(envPrefix + "_BUILDING_FILE"); !set {
		path, err := demoBuildingFile()
		if err != nil {
			removeState()
			return nil, err
		}
		cfg.BuildingFile = path
	}
	hub, err := demoEventHub(cfg)
	if err != nil {
		removeState()
		return nil, err
	}
	var audiences []string
	if hub != nil {
		audiences = []string{"https://" + hub.Host}
	}
	tenant := graphsim.New(graphsim.Options{
		TenantID: demoTenantID, ClientID: demoClientID, ClientSecret: demoSecret, Audiences: audiences,
		Now: now, // the exporter's clock: the tenant's records and tokens follow it
		// With a notification URL the demo tenant calls it directly, and
		// loses, repeats and reorders a few notifications as the real one
		// may: polling must still find every record.
		Notifications: graphsim.NotificationOptions{
			LoopbackHTTP: true, Lost: 0.02, Duplicated: 0.05, Reorder: true, Seed: demoSeed,
		},
	})
	t0 := now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: demoSeed, Count: 300, Start: t0.Add(-cfg.Lookback + time.Hour), End: t0})
	tenant.Add(recs...)
	dr, pstn := graphsim.GenerateCallLogs(graphsim.CallLogOptions{Seed: demoSeed, DirectRouting: 600, PSTN: 400, Start: t0.Add(-cfg.Lookback + time.Hour), End: t0})
	tenant.AddDirectRoutingRows(dr...)
	tenant.AddPSTNRows(pstn...)
	tenant.Use(throttleSome(0.02))
	srv, err := graphsim.NewTLSServer(tenant.Handler())
	if err != nil {
		removeState()
		return nil, fmt.Errorf("demo tenant: %w", err)
	}
	var broker *graphsim.EventHubBroker
	if hub != nil {
		// The demo's event hub: a Kafka broker in this process on the
		// configured loopback port, with the tenant's certificate, taking
		// the tenant's Entra tokens, into which the tenant publishes.
		broker, err = graphsim.StartEventHubBroker(graphsim.EventHubBrokerOptions{
			Hub: hub.Name, Port: hub.Port, TLS: srv.ServerTLS, Tenant: tenant, Audience: "https://" + hub.Host,
			ConnectionString: string(cfg.NotificationEventHubConnectionString),
		})
		if err != nil {
			srv.Close()
			removeState()
			return nil, fmt.Errorf("demo event hub: %w", err)
		}
		tenant.SetEventHub(broker.Publisher)
		logger.Info("demo mode: serving a simulated event hub", "hub", hub.String())
	}
	liveCtx, stopLive := context.WithCancel(ctx)
	go tenant.RunLive(liveCtx, 5*time.Second, 2, t0.UnixNano())
	go tenant.RunLiveCallLogs(liveCtx, 5*time.Second, 2, t0.UnixNano()+1)
	if cfg.notificationsOn() {
		go tenant.RunDelivery(liveCtx, 2*time.Second)
	}

	httpClient := srv.Client()
	cred, err := srv.Credential(tenant, graph.ObserveTokenRequests(httpClient, obs, now))
	closeAll := func() {
		stopLive()
		if broker != nil {
			broker.Close()
		}
		srv.Close()
		removeState()
	}
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("demo credential: %w", err)
	}
	// The start-up line shows the URL the client really talks to.
	cfg.GraphURL = srv.URL
	logger.Info("demo mode: the data comes from a built-in simulated tenant, not from Microsoft Graph",
		"simulates", demoSource.simulates, "url", srv.URL, "records", len(recs),
		"direct_routing_rows", len(dr), "pstn_rows", len(pstn), "poll_interval", cfg.PollInterval, "state_file", cfg.StateFile)
	return &source{
		graphURL:       srv.URL,
		credential:     cred,
		credentialKind: "demo tenant's client secret",
		httpClient:     httpClient,
		tenantID:       demoTenantID,
		tls:            &tls.Config{RootCAs: srv.CertPool, MinVersion: tls.VersionTLS12},
		describe:       demoSource,
		graphLog:       slog.New(simulatedThrottling{logger.Handler()}).With("component", "graph"),
		close:          closeAll,
	}, nil
}

// demoEventHub is the hub of TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB, which
// the demo serves itself: it must be on loopback (127.0.0.1:19093/teams).
func demoEventHub(cfg *config) (*notifications.EventHub, error) {
	if !cfg.eventHubMode() {
		return nil, nil
	}
	hub, err := notifications.ParseEventHub(cfg.NotificationEventHub)
	if err != nil {
		return nil, configError{fmt.Errorf("%s_NOTIFICATION_EVENT_HUB: %w", envPrefix, err)}
	}
	if hub.Host != "127.0.0.1" {
		return nil, configError{fmt.Errorf("%s_NOTIFICATION_EVENT_HUB: the demo serves its event hub on loopback: use 127.0.0.1:<port>/<hub>, e.g. 127.0.0.1:19093/teams", envPrefix)}
	}
	return &hub, nil
}

// demoSource is what the demo says of itself: its data is simulated, and
// the simulated tenant plays these Graph behaviours (see throttleSome,
// graphsim's RunLive and RunLiveCallLogs).
var demoSource = sourceDescription{
	name:      "built-in simulated tenant (demo)",
	simulates: "throttling (429 with Retry-After), late records (new versions after a call), PSTN and direct-routing call logs",
}

// landingHTML is what the landing page adds for a simulated source.
func (d sourceDescription) landingHTML() string {
	if d.simulates == "" {
		return ""
	}
	return "<p><strong>Demo mode.</strong> The data comes from the " + html.EscapeString(d.name) +
		", not from Microsoft Graph. It simulates Graph's " + html.EscapeString(d.simulates) + ".</p>"
}

// simulatedThrottling is the demo's log handler for the Graph client. The
// demo tenant answers some requests with 429 on purpose (throttleSome), so
// the client's "Graph asked to wait" warnings about them are expected:
// they are logged at info level, marked simulated=true, instead of as
// warnings that would alarm a new user.
type simulatedThrottling struct{ slog.Handler }

func (h simulatedThrottling) Enabled(ctx context.Context, l slog.Level) bool {
	return h.Handler.Enabled(ctx, l) || l == slog.LevelWarn
}

func (h simulatedThrottling) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && throttled(r) {
		info := slog.NewRecord(r.Time, slog.LevelInfo, r.Message, r.PC)
		r.Attrs(func(a slog.Attr) bool { info.AddAttrs(a); return true })
		info.AddAttrs(slog.Bool("simulated", true))
		r = info
	}
	if !h.Handler.Enabled(ctx, r.Level) {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h simulatedThrottling) WithAttrs(attrs []slog.Attr) slog.Handler {
	return simulatedThrottling{h.Handler.WithAttrs(attrs)}
}

func (h simulatedThrottling) WithGroup(name string) slog.Handler {
	return simulatedThrottling{h.Handler.WithGroup(name)}
}

// throttled tells a record about a 429 answer (its status attribute).
func throttled(r slog.Record) bool {
	found := false
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "status" && a.Value.Resolve().String() == strconv.Itoa(http.StatusTooManyRequests) {
			found = true
		}
		return !found
	})
	return found
}

// demoDefaults makes the demo lively unless the user chose otherwise: polls
// every 10 seconds, records settled after 30 seconds, both call logs read, and a state file in a new
// temporary directory of its own, so that a demo never mixes with a real
// tenant's state nor with another demo on the same host (its tenant is made
// anew at every start, so there is nothing worth keeping). remove deletes
// that directory.
func demoDefaults(cfg *config) (remove func(), err error) {
	if _, set := os.LookupEnv(envPrefix + "_DIRECT_ROUTING_CALLS"); !set {
		cfg.DirectRoutingCalls = true
	}
	if _, set := os.LookupEnv(envPrefix + "_PSTN_CALLS"); !set {
		cfg.PSTNCalls = true
	}
	if _, set := os.LookupEnv(envPrefix + "_POLL_INTERVAL"); !set {
		cfg.PollInterval = 10 * time.Second
	}
	if _, set := os.LookupEnv(envPrefix + "_RECENT_WINDOW"); !set {
		cfg.RecentWindow = 10 * time.Minute
	}
	// The demo tenant's calls change for seconds after they end, not for
	// half an hour: settle for 30 seconds, so that data shows within a
	// minute.
	if _, set := os.LookupEnv(envPrefix + "_SETTLE_DELAY"); !set {
		cfg.SettleDelay = 30 * time.Second
	}
	if _, set := os.LookupEnv(envPrefix + "_STATE_FILE"); set {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "teams-exporter-demo-")
	if err != nil {
		return nil, err
	}
	cfg.StateFile = filepath.Join(dir, "state.json")
	return func() { os.RemoveAll(dir) }, nil
}

// throttleSome answers a fraction of Graph requests with 429 and a short
// Retry-After, as a busy tenant does, so the demo shows the client
// honouring it and the throttling panels and alerts have data.
func throttleSome(fraction float64) graphsim.Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			draw := rand.Float64() // #nosec G404 -- simulated throttling of the demo tenant
			if op := graphsim.Operation(r); op != graphsim.OpToken && draw < fraction {
				w.Header().Set("Retry-After", "1")
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusTooManyRequests)
				_, _ = w.Write([]byte(`{"error":{"code":"TooManyRequests","message":"demo tenant throttling"}}`))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
