package notifications

import (
	"log/slog"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/connlimit"
)

// The listener's bounds. Graph sends small bodies over a fast link and
// wants an answer within 3 seconds, so a sender slower than this is not
// Graph, and must not hold a connection (or a goroutine) for long.
const (
	// readHeaderTimeout also bounds a TLS handshake, when the exporter
	// terminates TLS itself.
	readHeaderTimeout = 3 * time.Second
	// readTimeout bounds the whole request, body included. A body holding
	// one of the reading slots (Deliver) must also keep up minBodyRate.
	readTimeout    = 5 * time.Second
	writeTimeout   = 5 * time.Second
	idleTimeout    = 90 * time.Second
	maxHeaderBytes = 16 << 10
	// MaxConnections bounds the connections held at once. Beyond it, the
	// oldest connection not serving a request is closed (see
	// internal/connlimit): half-open connections cannot fill it.
	MaxConnections = 512
)

// NewServer returns the HTTP server of the notification listener at addr:
// the Receiver's two paths and nothing else, with timeouts that slow or
// idle senders cannot outlast and a bound on connections that half-open
// ones cannot fill. It is separate from the metrics listener, whose web
// configuration (basic auth) Graph could not satisfy, so that traffic here
// never competes with scrapes.
func NewServer(addr string, r *Receiver, logger *slog.Logger) *connlimit.Server {
	s := connlimit.NewServer(r, connlimit.Bounds{
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		MaxConnections:    MaxConnections,
	})
	s.Addr = addr
	s.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	return s
}
