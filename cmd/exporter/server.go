package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
)

// The web server's bounds. Every client is untrusted: without them an idle
// keep-alive connection, or a request whose body never arrives, holds a
// descriptor and a goroutine for good, and delays the shutdown.
const (
	// readHeaderTimeout and readTimeout bound reading a request: the
	// exporter's requests are bodiless GETs of a few hundred bytes, so a
	// client still sending after seconds is stalled, not slow.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 15 * time.Second
	// writeTimeout is sized for a full scrape to a slow client: about 11 MB
	// of OpenMetrics text at full cardinality, 90 s at 1 Mbit/s.
	writeTimeout = 2 * time.Minute
	// idleTimeout outlasts the usual scrape intervals (15 s to 1 min), so
	// Prometheus keeps reusing its connection.
	idleTimeout = 2 * time.Minute
	// maxHeaderBytes: a scrape's headers (Accept, Authorization, a few
	// more) take well under 1 KiB; Go's default is 1 MiB.
	maxHeaderBytes = 16 << 10
	// maxConnections bounds the connections held open at once: a
	// Prometheus pair, probes and a person take a handful.
	maxConnections = 64
	// shutdownGrace is how long a SIGTERM waits for requests in flight
	// before the server closes every connection: the final save of the
	// state runs meanwhile, and a stalled client must not hold the exit.
	shutdownGrace = 3 * time.Second
)

// webServer is the exporter's HTTP server with the bounds above.
type webServer struct {
	*http.Server
	limit *connLimiter
}

func newWebServer(h http.Handler) *webServer {
	limit := newConnLimiter(maxConnections)
	return &webServer{
		Server: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: readHeaderTimeout,
			ReadTimeout:       readTimeout,
			WriteTimeout:      writeTimeout,
			IdleTimeout:       idleTimeout,
			MaxHeaderBytes:    maxHeaderBytes,
			ConnState:         limit.track,
		},
		limit: limit,
	}
}

// listen opens addr, its connections bounded. It runs before polling
// begins, so an address in use stops the start.
func (s *webServer) listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return &limitedListener{Listener: l, limit: s.limit}, nil
}

// serve serves on l with the TLS and basic auth of the web configuration
// file, if any, until shutdown.
func (s *webServer) serve(l net.Listener, webConfigFile string, logger *slog.Logger) error {
	err := web.Serve(l, s.Server, &web.FlagConfig{
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

// connLimiter bounds the connections a server holds. When a new connection
// would exceed the bound, the connection idle the longest is closed to make
// room (a keep-alive connection costs its client one reconnect); when none
// is idle, the new one is refused. So idle connections, however many a
// client opens, never keep a scrape out, and the descriptors held stay
// bounded.
type connLimiter struct {
	max int

	mu    sync.Mutex
	conns map[*limitedConn]connInfo
}

type connInfo struct {
	state http.ConnState
	since time.Time
}

func newConnLimiter(limit int) *connLimiter {
	return &connLimiter{max: limit, conns: map[*limitedConn]connInfo{}}
}

// admit registers c, making room if needed; false if c must be refused.
func (l *connLimiter) admit(c *limitedConn) bool {
	evict, ok := l.admitLocked(c)
	if evict != nil {
		_ = evict.Conn.Close() // its server goroutine sees the close and ends
	}
	return ok
}

func (l *connLimiter) admitLocked(c *limitedConn) (evict *limitedConn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		for other, info := range l.conns {
			if info.state == http.StateIdle && (evict == nil || info.since.Before(l.conns[evict].since)) {
				evict = other
			}
		}
		if evict == nil {
			return nil, false
		}
		delete(l.conns, evict)
	}
	l.conns[c] = connInfo{state: http.StateNew, since: time.Now()}
	return evict, true
}

// track is the server's ConnState hook.
func (l *connLimiter) track(c net.Conn, state http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, held := l.conns[lc]; !held {
		return // closed to make room
	}
	switch state {
	case http.StateClosed, http.StateHijacked:
		delete(l.conns, lc)
	default:
		l.conns[lc] = connInfo{state: state, since: time.Now()}
	}
}

func (l *connLimiter) release(c *limitedConn) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.conns, c)
}

type limitedListener struct {
	net.Listener
	limit *connLimiter
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &limitedConn{Conn: c, limit: l.limit}
		if l.limit.admit(lc) {
			return lc, nil
		}
		_ = c.Close() // every connection is busy: refused
	}
}

// limitedConn leaves the limiter when closed, whoever closes it.
type limitedConn struct {
	net.Conn
	limit *connLimiter
	once  sync.Once
}

func (c *limitedConn) Close() error {
	c.once.Do(func() { c.limit.release(c) })
	return c.Conn.Close()
}
