// Package connlimit bounds the connections an HTTP server holds, so that
// connections which never finish a request cannot keep others out.
//
// A server's timeouts end a connection that sends nothing, or its headers
// too slowly, but only after seconds; meanwhile each one holds a
// descriptor and a goroutine, and an attacker who reconnects keeps as many
// open as he likes. A plain cap (golang.org/x/net/netutil.LimitListener)
// turns that into a lock-out: once half-open connections fill it, a scrape
// or a probe waits behind them. The Limiter caps them too, but when a new
// connection would exceed the cap it closes one that is not serving a
// request, in this order:
//
//  1. the oldest that has sent bytes but not a whole request: half-open,
//     or slow with its headers;
//  2. the longest idle keep-alive connection (its client reconnects; Go's
//     and Prometheus's clients retry a request on it at once);
//  3. the oldest whose bytes have not been read yet.
//
// A genuine client sends its whole request at once, so between being
// accepted and being served it is in the third class, for as long as its
// server goroutine takes to read it. That can take a while on a busy
// machine, while an attacker who reconnects as fast as he is shed makes
// thousands of connections a second; so before closing a connection of
// the third class the Limiter peeks at its socket (without reading it),
// and keeps it if the whole head of a plain HTTP request is waiting there.
// Connections whose request is being handled are never closed; when all
// are, the new one is refused. So the connections a client can hold are bounded, and a genuine
// request is served however many half-open ones compete.
package connlimit

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
)

// Limiter bounds the connections of one server; see the package comment.
type Limiter struct {
	max  int
	shed atomic.Uint64

	mu    sync.Mutex
	seq   uint64
	conns map[*conn]struct{}
	peek  []byte // scratch of requestWaiting
}

// New returns a Limiter of at most limit connections.
func New(limit int) *Limiter {
	return &Limiter{max: limit, conns: map[*conn]struct{}{}, peek: make([]byte, 4<<10)}
}

// Shed returns the number of connections closed to make room, or refused.
func (l *Limiter) Shed() uint64 { return l.shed.Load() }

// Open returns the number of connections held.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.conns)
}

// Listener wraps ln: the connections it accepts are counted and shed.
func (l *Limiter) Listener(ln net.Listener) net.Listener {
	return &listener{Listener: ln, limit: l}
}

// Install makes s tell l which connections are serving a request. The
// listener s serves must come from l.Listener. Call it before serving;
// a handler wrapped later (basic auth) runs within.
func (l *Limiter) Install(s *http.Server) {
	next := s.Handler
	if next == nil {
		next = http.DefaultServeMux
	}
	prevContext := s.ConnContext
	s.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prevContext != nil {
			ctx = prevContext(ctx, c)
		}
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn()
		}
		if lc, ok := c.(*conn); ok {
			ctx = context.WithValue(ctx, connKey{}, lc)
		}
		return ctx
	}
	s.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc, _ := r.Context().Value(connKey{}).(*conn)
		if lc == nil {
			next.ServeHTTP(w, r)
			return
		}
		l.begin(lc)
		defer l.end(lc)
		next.ServeHTTP(w, r)
	})
}

type connKey struct{}

// conn is an accepted connection; its fields other than Conn are guarded
// by the Limiter's mutex.
type conn struct {
	net.Conn
	limit   *Limiter
	once    sync.Once
	spoke   atomic.Bool // bytes were read since acceptance or the last request
	busy    int         // requests being handled (HTTP/2 serves several)
	served  bool        // a request has been handled
	waiting bool        // a whole request was seen waiting in its socket
	since   uint64      // order of acceptance, or of the end of its last request
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && !c.spoke.Load() {
		c.spoke.Store(true)
	}
	return n, err
}

func (c *conn) Close() error {
	c.once.Do(func() { c.limit.release(c) })
	return c.Conn.Close()
}

func (l *Limiter) begin(c *conn) {
	l.mu.Lock()
	c.busy++
	l.mu.Unlock()
}

func (l *Limiter) end(c *conn) {
	l.mu.Lock()
	c.busy--
	c.served, c.waiting = true, false
	c.spoke.Store(false) // what it reads from now is the next request
	l.seq++
	c.since = l.seq
	l.mu.Unlock()
}

func (l *Limiter) release(c *conn) {
	l.mu.Lock()
	delete(l.conns, c)
	l.mu.Unlock()
}

// admit registers c, closing another to make room if needed; false if c
// must be refused.
func (l *Limiter) admit(c *conn) bool {
	victim, ok := l.admitLocked(c)
	if victim != nil {
		l.shed.Add(1)
		_ = victim.Conn.Close() // its server goroutine sees the close and ends
	}
	if !ok {
		l.shed.Add(1)
	}
	return ok
}

func (l *Limiter) admitLocked(c *conn) (victim *conn, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.conns) >= l.max {
		if victim = l.victimLocked(); victim == nil {
			return nil, false
		}
		delete(l.conns, victim)
	}
	l.seq++
	c.since = l.seq
	l.conns[c] = struct{}{}
	return victim, true
}

// victimLocked picks the connection to close, or nil.
func (l *Limiter) victimLocked() *conn {
	for {
		var victim *conn
		for other := range l.conns {
			if other.busy == 0 && !other.waiting && (victim == nil || sheddableBefore(other, victim)) {
				victim = other
			}
		}
		if victim == nil || shedClass(victim) != 2 || !requestWaiting(victim.Conn, l.peek) {
			return victim
		}
		victim.waiting = true // until its request is served
	}
}

// sheddableBefore orders the connections not serving a request; see the
// package comment.
func sheddableBefore(a, b *conn) bool {
	if ca, cb := shedClass(a), shedClass(b); ca != cb {
		return ca < cb
	}
	return a.since < b.since
}

func shedClass(c *conn) int {
	switch {
	case c.spoke.Load():
		return 0 // a request begun and not finished
	case c.served:
		return 1 // idle
	}
	return 2 // nothing sent yet
}

type listener struct {
	net.Listener
	limit *Limiter
}

func (l *listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		lc := &conn{Conn: c, limit: l.limit}
		if l.limit.admit(lc) {
			return lc, nil
		}
		_ = c.Close() // every connection is serving a request: refused
	}
}
