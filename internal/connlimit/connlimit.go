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
// request, by the progress it makes:
//
//  1. the oldest that has sent nothing for SilentGrace since it was
//     accepted: a genuine client sends its request (or its TLS
//     ClientHello) at once;
//  2. the one whose bytes stopped coming the longest ago, among those that
//     sent part of a request (half-open, slow with its headers, or a TLS
//     handshake) and those accepted within SilentGrace (counted from their
//     acceptance): one still progressing is shed last of these;
//  3. the longest idle keep-alive connection (its client reconnects; Go's
//     and Prometheus's clients retry a request on it at once).
//
// Progress is what the server read from the connection, and what waits in
// its socket unread: a server goroutine can be late on a busy machine,
// while an attacker who reconnects as fast as he is shed makes thousands
// of connections a second. So before closing a connection the Limiter
// peeks at its socket (without reading it): bytes there are progress, and
// the whole head of a plain HTTP request there keeps the connection until
// the server reads it.
//
// A connection serving a request (net/http's StateActive, whatever serves
// it) is not closed, unless every connection is and the new one would be
// refused: then the one blocked longest writing an answer its client does
// not read, past a grace (WriteStall), is closed. Otherwise the new one is
// refused. So the connections a client can hold are bounded, and a
// genuine request is served however many half-open ones compete.
package connlimit

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// WriteStall is how long a write of at most writeChunk bytes must have
// been blocked before its connection may be closed to admit another, when
// every connection is serving a request: a client reading slower than
// 32 KiB/s then, or not at all.
const WriteStall = 2 * time.Second

const writeChunk = 64 << 10

// SilentGrace is how long a new connection may have sent nothing before
// it is shed first. Its request may still be on the way: an attacker who
// reconnects thousands of times a second would otherwise shed a genuine
// client between its acceptance and the arrival of its first bytes.
const SilentGrace = time.Second

// maxPeek bounds the bytes peeked for a waiting request head: a head
// larger than this (or than the server's MaxHeaderBytes) is not seen
// whole, and its connection is only ranked by the bytes that wait.
const maxPeek = 64 << 10

// Limiter bounds the connections of one server; see the package comment.
type Limiter struct {
	max         int
	writeStall  time.Duration
	silentGrace time.Duration
	shed        atomic.Uint64

	mu    sync.Mutex
	seq   uint64
	conns map[*conn]struct{}
	peek  []byte // scratch of peekSocket
}

// New returns a Limiter of at most limit connections.
func New(limit int) *Limiter {
	return &Limiter{max: limit, writeStall: WriteStall, silentGrace: SilentGrace, conns: map[*conn]struct{}{}, peek: make([]byte, 4<<10)}
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
// listener s serves must come from l.Listener. Call it before serving.
//
// It follows s's connection states rather than wrapping its handler:
// net/http answers some requests (OPTIONS *, a malformed one) without
// calling the handler, and such a request must end a connection's service
// all the same. It also turns off net/http's own answer to OPTIONS *, so
// that every request reaches s's handler and its limits.
func (l *Limiter) Install(s *http.Server) {
	s.DisableGeneralOptionsHandler = true
	if n := s.MaxHeaderBytes; n > 0 {
		l.peek = make([]byte, min(n+4<<10, maxPeek)) // the request line and net/http's slack
	} else {
		l.peek = make([]byte, maxPeek)
	}
	prev := s.ConnState
	s.ConnState = func(c net.Conn, state http.ConnState) {
		if prev != nil {
			prev(c, state)
		}
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn()
		}
		if lc, ok := c.(*conn); ok {
			l.setState(lc, state)
		}
	}
}

// conn is an accepted connection; busy, served and since are guarded by
// the Limiter's mutex.
type conn struct {
	net.Conn
	limit *Limiter
	once  sync.Once

	// heard: bytes arrived (read, or seen in the socket) since acceptance
	// or the end of the last request.
	heard atomic.Bool
	// progress is the monotonic time (ns since start) bytes last arrived.
	progress atomic.Int64
	// waiting: the whole head of a request waits in the socket, unread.
	waiting atomic.Bool
	// writing is when the Write in progress began, or 0.
	writing atomic.Int64

	busy   bool   // serving a request
	served bool   // a request has been served
	since  uint64 // order of acceptance, or of the end of its last request
	spared uint64 // the search in which a peek spared it
}

var start = time.Now()

func now() int64 { return int64(time.Since(start)) }

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.progress.Store(now())
		c.heard.Store(true)
		c.waiting.Store(false) // the server has it now
	}
	return n, err
}

// Write writes p in chunks of writeChunk, so that writing tells when the
// client last took a chunk, not when a large answer began.
func (c *conn) Write(p []byte) (int, error) {
	defer c.writing.Store(0)
	written := 0
	for len(p) > 0 {
		chunk := p[:min(len(p), writeChunk)]
		c.writing.Store(now())
		n, err := c.Conn.Write(chunk)
		written += n
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

func (c *conn) Close() error {
	c.once.Do(func() { c.limit.release(c) })
	return c.Conn.Close()
}

func (l *Limiter) setState(c *conn, state http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch state {
	case http.StateActive, http.StateHijacked:
		c.busy = true
		c.waiting.Store(false)
	case http.StateIdle:
		if c.busy {
			c.served = true
		}
		c.busy = false
		c.waiting.Store(false)
		c.heard.Store(false) // what it sends from now is the next request
		l.seq++
		c.since = l.seq
	}
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
	l.seq++
	if len(l.conns) >= l.max {
		if victim = l.victimLocked(); victim == nil {
			return nil, false
		}
		delete(l.conns, victim)
	}
	c.since = l.seq
	c.progress.Store(now())
	l.conns[c] = struct{}{}
	return victim, true
}

// victimLocked picks the connection to close, or nil.
func (l *Limiter) victimLocked() *conn {
	search, t := l.seq, now()
	for {
		var victim *conn
		for other := range l.conns {
			if sheddable(other) && other.spared != search && (victim == nil || l.sheddableBefore(other, victim, t)) {
				victim = other
			}
		}
		if victim == nil {
			break
		}
		n, head := peekSocket(victim.Conn, l.peek)
		if n == 0 {
			return victim
		}
		// Bytes wait unread: it is progressing, only its goroutine is late.
		victim.spared = search
		victim.progress.Store(now())
		victim.heard.Store(true)
		victim.waiting.Store(head)
	}
	// Every idle connection had bytes waiting: the least progressing of
	// those without a whole request goes.
	var victim *conn
	for other := range l.conns {
		if sheddable(other) && (victim == nil || l.sheddableBefore(other, victim, t)) {
			victim = other
		}
	}
	if victim != nil {
		return victim
	}
	return l.stalledWriterLocked()
}

// stalledWriterLocked returns the connection blocked longest in a write,
// if longer than l.writeStall: its client does not read its answer.
func (l *Limiter) stalledWriterLocked() *conn {
	var victim *conn
	var since int64
	limit := now() - int64(l.writeStall)
	for other := range l.conns {
		if w := other.writing.Load(); w != 0 && w <= limit && (victim == nil || w < since) {
			victim, since = other, w
		}
	}
	return victim
}

func sheddable(c *conn) bool { return !c.busy && !c.waiting.Load() }

// sheddableBefore orders the connections not serving a request; see the
// package comment.
func (l *Limiter) sheddableBefore(a, b *conn, t int64) bool {
	ca, cb := l.shedClass(a, t), l.shedClass(b, t)
	switch {
	case ca != cb:
		return ca < cb
	case ca == 1:
		return a.progress.Load() < b.progress.Load()
	}
	return a.since < b.since
}

// shedClass is the rank of c at t (see the package comment).
func (l *Limiter) shedClass(c *conn, t int64) int {
	switch {
	case c.heard.Load():
		return 1 // a request (or a TLS handshake) begun and not finished
	case c.served:
		return 2 // idle
	case t-c.progress.Load() < int64(l.silentGrace):
		return 1 // new: its first bytes may be on the way
	}
	return 0 // nothing sent for SilentGrace since it was accepted
}

// isHead reports whether b holds the whole head of a plain HTTP request.
func isHead(b []byte) bool { return bytes.Contains(b, []byte("\r\n\r\n")) }

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
