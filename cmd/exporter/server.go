package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/teams-exporter/teams-exporter/internal/connlimit"
)

// The web server's bounds. Every client is untrusted: without them an idle
// keep-alive connection, or a request whose body never arrives, holds a
// descriptor and a goroutine for good, and delays the shutdown.
const (
	// readHeaderTimeout and readTimeout bound reading a request: the
	// exporter's requests are bodiless GETs of a few hundred bytes, so a
	// client still sending after seconds is stalled, not slow. The header
	// timeout also bounds a TLS handshake.
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	// writeTimeout is sized for a full scrape to a slow client: about 11 MB
	// of OpenMetrics text at full cardinality, 90 s at 1 Mbit/s. A scrape
	// sets its own, shorter, deadline from its size (exposition).
	writeTimeout = 2 * time.Minute
	// idleTimeout outlasts the usual scrape intervals (15 s to 1 min), so
	// Prometheus keeps reusing its connection.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes: a scrape's headers (Accept, Authorization, a few
	// more) take well under 1 KiB; Go's default is 1 MiB.
	maxHeaderBytes = 16 << 10
	// maxConnections bounds the connections held open at once: a
	// Prometheus pair, probes and a person take a handful. Beyond it the
	// oldest connection not serving a request is closed (see
	// internal/connlimit), so half-open ones cannot fill it.
	maxConnections = 512
	// shutdownGrace is how long a SIGTERM waits for requests in flight
	// before the server closes every connection: the final save of the
	// state runs meanwhile, and a stalled client must not hold the exit.
	shutdownGrace = 3 * time.Second
)

// webServer is the exporter's HTTP server with the bounds above.
type webServer struct {
	*connlimit.Server
}

func newWebServer(h http.Handler) *webServer {
	return &webServer{connlimit.NewServer(h, connlimit.Bounds{
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		MaxConnections:    maxConnections,
	})}
}

// connectionsShed is teams_exporter_connections_shed_total for one
// listener: a steady rise is a client holding connections it does not use.
func connectionsShed(listener string, shed func() uint64) prometheus.Collector {
	return prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "teams_exporter_connections_shed_total",
		Help:        "Connections closed or refused to keep a listener within its connection limit: silent ones first, then those whose request stopped progressing, then idle ones; one serving a request only when all are and its client stopped reading.",
		ConstLabels: prometheus.Labels{"listener": listener},
	}, func() float64 { return float64(shed()) })
}

// listen opens addr, its connections bounded. It runs before polling
// begins, so an address in use stops the start.
func (s *webServer) listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return s.Limit.Listener(l), nil
}

// serve serves on l with the TLS and basic auth of the web configuration
// file, if any, until shutdown.
func (s *webServer) serve(l net.Listener, webConfigFile string, logger *slog.Logger) error {
	err := web.Serve(l, s.Server.Server, &web.FlagConfig{
		WebListenAddresses: &[]string{l.Addr().String()},
		WebSystemdSocket:   new(bool),
		WebConfigFile:      &webConfigFile,
	}, logger)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown lets requests in flight finish for shutdownGrace, then closes
// every connection left.
func (s *webServer) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		_ = s.Close()
	}
}
