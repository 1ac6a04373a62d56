package notifications

import (
	"log/slog"
	"net/http"
	"time"
)

// Server timeouts: Graph sends small bodies and wants an answer within 3
// seconds, so a sender slower than this is not Graph, and must not hold a
// connection (or a goroutine) for long.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 10 * time.Second
	writeTimeout      = 10 * time.Second
	idleTimeout       = 90 * time.Second
	maxHeaderBytes    = 16 << 10
)

// NewServer returns the HTTP server of the notification listener at addr:
// the Receiver's two paths and nothing else, with timeouts that slow or
// idle senders cannot outlast. It is separate from the metrics listener,
// whose web configuration (basic auth) Graph could not satisfy, so that
// traffic here never competes with scrapes.
func NewServer(addr string, r *Receiver, logger *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           r,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
	}
}
