package connlimit

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// gatedConn is a server-side connection whose first Read waits for gate:
// its server goroutine is late, as on a loaded machine.
type gatedConn struct {
	*net.TCPConn
	gate <-chan struct{}
	once sync.Once
}

func (c *gatedConn) Read(p []byte) (int, error) {
	c.once.Do(func() { <-c.gate })
	return c.TCPConn.Read(p)
}

// gatedListener gates the first Read of its first n connections.
type gatedListener struct {
	net.Listener
	gate <-chan struct{}
	n    int
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil || l.n == 0 {
		return c, err
	}
	l.n--
	return &gatedConn{TCPConn: c.(*net.TCPConn), gate: l.gate}, nil
}

// serveGated is serve with the first Read of the first n connections
// waiting until the returned function is called.
func serveGated(t *testing.T, limit, n int, h http.Handler) (*Limiter, string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := make(chan struct{})
	l := New(limit)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	l.Install(srv)
	go func() { _ = srv.Serve(l.Listener(&gatedListener{Listener: ln, gate: gate, n: n})) }()
	t.Cleanup(func() { _ = srv.Close() })
	var once sync.Once
	return l, ln.Addr().String(), func() { once.Do(func() { close(gate) }) }
}

func dial(t *testing.T, addr, send string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprint(c, send); err != nil {
		t.Fatal(err)
	}
	return c
}

func readResponse(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
}

// TestRequestsAnsweredWithoutTheHandlerFreeTheirConnection: a request
// that net/http could answer itself (OPTIONS *) and an ordinary one, both
// seen waiting in their sockets when the limit was reached, leave their
// connections idle, and so sheddable, once answered. A connection left
// marked as waiting would be kept forever, and the limit fill with them.
func TestRequestsAnsweredWithoutTheHandlerFreeTheirConnection(t *testing.T) {
	for _, first := range []string{
		"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		t.Run(first[:9], func(t *testing.T) {
			const limit = 2
			l, addr, open := serveGated(t, limit, limit, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			var clients []net.Conn
			for range limit {
				clients = append(clients, dial(t, addr, first))
			}
			waitFor(t, "both connections are held", func() bool { return l.Open() == limit })
			// Both requests wait unread: the newcomer is refused.
			dial(t, addr, "")
			waitFor(t, "the newcomer is refused", func() bool { return l.Shed() == 1 })
			open()
			for _, c := range clients {
				readResponse(t, c)
			}
			// net/http marks a connection idle just after writing its
			// answer, so its client may read the answer first.
			waitFor(t, "both answered connections are idle", func() bool {
				return idleConn(l, clients[0]) && idleConn(l, clients[1])
			})
			for range 3 {
				if err := get(addr); err != nil {
					t.Fatalf("request after %q was answered: %v", first, err)
				}
			}
		})
	}
}

// TestWaitingRequestOutlivesHalfOpenConnections: a genuine request sent
// at once, whose server goroutine is late to read it, is served however
// many half-open connections arrive meanwhile.
func TestWaitingRequestOutlivesHalfOpenConnections(t *testing.T) {
	const limit = 8
	l, addr, open := serveGated(t, limit, 1, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	genuine := dial(t, addr, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	waitFor(t, "the genuine connection is held", func() bool { return held(l, genuine) != nil })
	halfOpen(t, l, addr, 10*limit)
	open()
	readResponse(t, genuine)
}

// TestNewConnectionsOutliveReconnectingAttackers: a new connection whose
// request is still on the way is not shed as silent within SilentGrace,
// but ranked by its acceptance among the half-open ones: an attacker who
// reconnects as fast as he is shed replaces his own older connections
// first, a whole limit of them.
func TestNewConnectionsOutliveReconnectingAttackers(t *testing.T) {
	const limit = 8
	l, addr := serve(t, limit, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	l.mu.Lock()
	l.silentGrace = time.Hour // however slow the machine running the test
	l.mu.Unlock()
	halfOpen(t, l, addr, 3*limit)
	genuine := dial(t, addr, "")
	waitFor(t, "the genuine connection is held", func() bool { return held(l, genuine) != nil })
	halfOpen(t, l, addr, limit-1)
	fmt.Fprintf(genuine, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
	readResponse(t, genuine)
}

// TestSilentConnectionsAreShedFirst: a connection that sent nothing is
// shed before one that sent part of a request, and before an idle one.
func TestSilentConnectionsAreShedFirst(t *testing.T) {
	const limit = 3
	l, addr := serve(t, limit, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	l.mu.Lock()
	l.silentGrace = 0
	l.mu.Unlock()
	silent := dial(t, addr, "")
	waitFor(t, "the silent connection is held", func() bool { return held(l, silent) != nil })
	idle := dial(t, addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	readResponse(t, idle)
	halfOpen(t, l, addr, 1)
	if shed := l.Shed(); shed != 0 {
		t.Fatalf("%d shed below the limit", shed)
	}
	halfOpen(t, l, addr, 1)
	waitFor(t, "the silent connection is closed", func() bool { return closedByServer(silent) })
	if held(l, idle) == nil {
		t.Error("the idle connection was shed before the half-open one")
	}
}

// clientGate blocks the second Write of a TLS client, its Finished: the
// server has read its ClientHello and waits for the rest.
type clientGate struct {
	net.Conn
	writes int
	gate   chan struct{}
}

func (c *clientGate) Write(p []byte) (int, error) {
	if c.writes++; c.writes == 2 {
		<-c.gate
	}
	return c.Conn.Write(p)
}

// TestTLSHandshakeOutlivesSilentConnections: a TLS client in the middle of
// its handshake has sent bytes (its ClientHello) the server read; it is
// progressing and is kept, while a connection that sent nothing is shed.
func TestTLSHandshakeOutlivesSilentConnections(t *testing.T) {
	ts := httptest.NewUnstartedServer(nil)
	ts.StartTLS()
	certs := ts.TLS.Certificates
	ts.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	const limit = 2
	l := New(limit)
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), ReadHeaderTimeout: time.Minute}
	l.Install(srv)
	go func() { _ = srv.Serve(tls.NewListener(l.Listener(ln), &tls.Config{Certificates: certs})) }()
	t.Cleanup(func() { _ = srv.Close() })
	addr := ln.Addr().String()

	silent := dial(t, addr, "")
	waitFor(t, "the silent connection is held", func() bool { return held(l, silent) != nil })
	raw := dial(t, addr, "")
	g := &clientGate{Conn: raw, gate: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		tc := tls.Client(g, &tls.Config{InsecureSkipVerify: true})
		err := tc.Handshake()
		if err == nil {
			_, _ = fmt.Fprint(tc, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			var resp *http.Response
			if resp, err = http.ReadResponse(bufio.NewReader(tc), nil); err == nil {
				resp.Body.Close()
			}
		}
		done <- err
	}()
	waitFor(t, "the server read the ClientHello", func() bool {
		sc := held(l, raw)
		return sc != nil && sc.heard.Load()
	})
	dial(t, addr, "")
	waitFor(t, "a connection is shed", func() bool { return l.Shed() == 1 })
	close(g.gate)
	if err := <-done; err != nil {
		t.Errorf("TLS client shed mid-handshake for a silent connection: %v", err)
	}
	// The Limiter counts a shed connection just before closing it.
	waitFor(t, "the silent connection is closed", func() bool { return closedByServer(silent) })
}

// TestStalledReadersAreShedWhenAllConnectionsServe: when every connection
// serves an answer its client does not read, a newcomer takes the place
// of the one blocked longest, instead of being refused.
func TestStalledReadersAreShedWhenAllConnectionsServe(t *testing.T) {
	const limit = 4
	big := make([]byte, 16<<20)
	l, addr := serve(t, limit, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = w.Write(big)
		}
	}))
	l.mu.Lock()
	l.writeStall = 50 * time.Millisecond
	l.mu.Unlock()
	var stalled []net.Conn
	for range limit {
		c := dial(t, addr, "GET /big HTTP/1.1\r\nHost: x\r\n\r\n") // never read
		stalled = append(stalled, c)
	}
	waitFor(t, "every answer is blocked past the grace", func() bool {
		for _, c := range stalled {
			sc := held(l, c)
			if sc == nil {
				return false
			}
			w := sc.writing.Load()
			if w == 0 || now()-w < int64(50*time.Millisecond) {
				return false
			}
		}
		return true
	})
	if err := get(addr); err != nil {
		t.Fatalf("request among %d stalled readers: %v", limit, err)
	}
	if shed := l.Shed(); shed != 1 {
		t.Errorf("%d shed, want the one stalled reader", shed)
	}
}
