package connlimit

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// serve starts a server with a Limiter of limit connections on a loopback
// port. Its header timeout is long, so only shedding can end the
// half-open connections of the tests.
func serve(t *testing.T, limit int, h http.Handler) (*Limiter, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(limit)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	l.Install(srv)
	go func() { _ = srv.Serve(l.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l, ln.Addr().String()
}

// halfOpen opens n connections that start a request and never finish its
// headers, each read by the server (or shed) before the next.
func halfOpen(t *testing.T, l *Limiter, addr string, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n")
		waitRead(t, l, c)
	}
}

// held returns the server side of the client connection c, or nil if the
// Limiter does not hold it (not accepted yet, or shed).
func held(l *Limiter, c net.Conn) *conn {
	local := c.LocalAddr().String()
	l.mu.Lock()
	defer l.mu.Unlock()
	for sc := range l.conns {
		if sc.RemoteAddr().String() == local {
			return sc
		}
	}
	return nil
}

// idleConn reports whether the Limiter holds the server side of c as
// sheddable: neither serving a request nor with one waiting unread.
func idleConn(l *Limiter, c net.Conn) bool {
	sc := held(l, c)
	if sc == nil {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return sheddable(sc)
}

// closedByServer reports whether the server closed c. It reads c, so it
// suits only connections whose server never answers.
func closedByServer(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(time.Millisecond))
	defer c.SetReadDeadline(time.Time{})
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

// waitFor waits until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// waitRead waits until the server has accepted the client side c and read
// what it sent, or closed it.
func waitRead(t *testing.T, l *Limiter, c net.Conn) {
	t.Helper()
	waitFor(t, "the server read the connection or shed it", func() bool {
		if sc := held(l, c); sc != nil {
			return sc.heard.Load()
		}
		return closedByServer(c)
	})
}

func get(addr string) error {
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// TestHalfOpenConnectionsNeverKeepARequestOut: ten times as many half-open
// connections as the limit, and every genuine request is still served.
// A cap that only refuses (or sheds only idle connections) refuses them.
func TestHalfOpenConnectionsNeverKeepARequestOut(t *testing.T) {
	const limit = 8
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	l, addr := serve(t, limit, ok)
	for round := range 10 {
		halfOpen(t, l, addr, 10*limit)
		if err := get(addr); err != nil {
			t.Fatalf("round %d: request among %d half-open connections: %v", round, 10*limit, err)
		}
		if open := l.Open(); open > limit {
			t.Fatalf("%d connections held, limit %d", open, limit)
		}
	}
	if shed := l.Shed(); shed < 10*10*limit-limit {
		t.Errorf("%d connections shed, want at least %d", shed, 10*10*limit-limit)
	}
}

// TestRequestsBeingServedAreNeverShed: a connection whose request is being
// handled survives any number of newcomers; when every connection is
// serving, a newcomer is refused instead.
func TestRequestsBeingServedAreNeverShed(t *testing.T) {
	const limit = 4
	release := make(chan struct{})
	started := make(chan struct{}, limit)
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	})
	l, addr := serve(t, limit, slow)
	errs := make(chan error, limit)
	for range limit {
		go func() { errs <- get(addr) }()
	}
	for range limit {
		<-started
	}
	halfOpen(t, l, addr, 50)
	// The newcomers were refused: nothing else to close.
	if open := l.Open(); open != limit {
		t.Errorf("%d connections held, want the %d serving", open, limit)
	}
	close(release)
	for range limit {
		if err := <-errs; err != nil {
			t.Errorf("request being served when newcomers arrived: %v", err)
		}
	}
}

// TestIdleConnectionsAreShedAfterHalfOpenOnes: a keep-alive connection
// that finished a request is closed only when no half-open one is left.
func TestIdleConnectionsAreShedAfterHalfOpenOnes(t *testing.T) {
	const limit = 4
	l, addr := serve(t, limit, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	buf := make([]byte, 512)
	if _, err := idle.Read(buf); err != nil {
		t.Fatal(err)
	}
	halfOpen(t, l, addr, 3*limit)
	// Still open: a second request on it is answered.
	fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = idle.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := idle.Read(buf); err != nil || n == 0 {
		t.Errorf("idle keep-alive connection shed while half-open ones were left: %v", err)
	}
	if open := l.Open(); open > limit {
		t.Errorf("%d connections held, limit %d", open, limit)
	}
}

// peekSocket sees the bytes waiting in a socket, and whether they hold a
// whole request head, without consuming them.
func TestPeekSocket(t *testing.T) {
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("no peeking on this platform")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		sent string
		head bool
	}{
		{"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", true},
		{"GET /healthz HTTP/1.1\r\nHost: x\r\n", false},
		{"", false},
	} {
		client, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		server, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.WriteString(client, tc.sent)
		n, head := 0, false
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if n, head = peekSocket(server, make([]byte, 4<<10)); n == len(tc.sent) {
				break
			}
		}
		if n != len(tc.sent) || head != tc.head {
			t.Errorf("%q: peekSocket = %d, %v; want %d, %v", tc.sent, n, head, len(tc.sent), tc.head)
		}
		if tc.sent != "" {
			buf := make([]byte, len(tc.sent))
			_ = server.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(server, buf); err != nil || string(buf) != tc.sent {
				t.Errorf("%q: read %q after peeking (%v): the peek consumed it", tc.sent, buf, err)
			}
		}
		client.Close()
		server.Close()
	}
}
