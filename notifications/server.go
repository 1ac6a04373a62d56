package notifications

import (
	"log/slog"
	"net"
	"net/http"
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

// Server is the HTTP server of the notification listener.
type Server struct {
	*http.Server
	limit *connlimit.Limiter
}

// NewServer returns the HTTP server of the notification listener at addr:
// the Receiver's two paths and nothing else, with timeouts that slow or
// idle senders cannot outlast and a bound on connections that half-open
// ones cannot fill. It is separate from the metrics listener, whose web
// configuration (basic auth) Graph could not satisfy, so that traffic here
// never competes with scrapes.
func NewServer(addr string, r *Receiver, logger *slog.Logger) *Server {
	s := &Server{
		Server: &http.Server{
			Addr:              addr,
			Handler:           r,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelDebug),
		},
		limit: connlimit.New(MaxConnections),
	}
	s.limit.Install(s.Server)
	return s
}

// Serve serves on ln, its connections bounded.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(s.limit.Listener(ln))
}

// ConnectionsShed returns the connections closed or refused to stay within
// MaxConnections.
func (s *Server) ConnectionsShed() uint64 { return s.limit.Shed() }
