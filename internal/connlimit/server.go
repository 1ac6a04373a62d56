package connlimit

import (
	"net"
	"net/http"
	"time"
)

// Bounds are what a server facing untrusted clients lets one hold.
type Bounds struct {
	// ReadHeaderTimeout also bounds a TLS handshake, when the server
	// terminates TLS.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	MaxHeaderBytes    int
	MaxConnections    int
}

// Server is an http.Server within Bounds: its timeouts, and a Limiter on
// its connections.
type Server struct {
	*http.Server
	Limit *Limiter
}

// NewServer returns a Server of h within b. Serve it on a listener from
// Listen or Limit.Listener, so that its connections are bounded.
func NewServer(h http.Handler, b Bounds) *Server {
	s := &Server{
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: b.ReadHeaderTimeout,
			ReadTimeout:       b.ReadTimeout,
			WriteTimeout:      b.WriteTimeout,
			IdleTimeout:       b.IdleTimeout,
			MaxHeaderBytes:    b.MaxHeaderBytes,
		},
		Limit: New(b.MaxConnections),
	}
	s.Limit.Install(s.Server)
	return s
}

// Serve serves on ln, its connections bounded.
func (s *Server) Serve(ln net.Listener) error {
	return s.Server.Serve(s.Limit.Listener(ln))
}
