package connlimit

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

// serve starts a server with a Limiter of max connections on a loopback
// port. Its header timeout is long, so only shedding can end the
// half-open connections of the tests.
func serve(t *testing.T, max int, h http.Handler) (*Limiter, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := New(max)
	srv := &http.Server{Handler: h, ReadHeaderTimeout: time.Minute}
	l.Install(srv)
	go func() { _ = srv.Serve(l.Listener(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return l, ln.Addr().String()
}

// halfOpen opens n connections that start a request and never finish its
// headers.
func halfOpen(t *testing.T, addr string, n int) {
	t.Helper()
	for range n {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n")
	}
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
	const max = 8
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {})
	l, addr := serve(t, max, ok)
	for round := range 10 {
		halfOpen(t, addr, 10*max)
		if err := get(addr); err != nil {
			t.Fatalf("round %d: request among %d half-open connections: %v", round, 10*max, err)
		}
		if open := l.Open(); open > max {
			t.Fatalf("%d connections held, limit %d", open, max)
		}
	}
	if shed := l.Shed(); shed < 10*10*max-max {
		t.Errorf("%d connections shed, want at least %d", shed, 10*10*max-max)
	}
}

// TestRequestsBeingServedAreNeverShed: a connection whose request is being
// handled survives any number of newcomers; when every connection is
// serving, a newcomer is refused instead.
func TestRequestsBeingServedAreNeverShed(t *testing.T) {
	const max = 4
	release := make(chan struct{})
	started := make(chan struct{}, max)
	slow := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		started <- struct{}{}
		<-release
		_, _ = io.WriteString(w, "done")
	})
	l, addr := serve(t, max, slow)
	errs := make(chan error, max)
	for range max {
		go func() { errs <- get(addr) }()
	}
	for range max {
		<-started
	}
	halfOpen(t, addr, 50)
	// The newcomers were refused: nothing else to close.
	if open := l.Open(); open != max {
		t.Errorf("%d connections held, want the %d serving", open, max)
	}
	close(release)
	for range max {
		if err := <-errs; err != nil {
			t.Errorf("request being served when newcomers arrived: %v", err)
		}
	}
}

// TestIdleConnectionsAreShedAfterHalfOpenOnes: a keep-alive connection
// that finished a request is closed only when no half-open one is left.
func TestIdleConnectionsAreShedAfterHalfOpenOnes(t *testing.T) {
	const max = 4
	l, addr := serve(t, max, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
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
	halfOpen(t, addr, 3*max)
	// Still open: a second request on it is answered.
	fmt.Fprintf(idle, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	_ = idle.SetReadDeadline(time.Now().Add(30 * time.Second))
	if n, err := idle.Read(buf); err != nil || n == 0 {
		t.Errorf("idle keep-alive connection shed while half-open ones were left: %v", err)
	}
	if open := l.Open(); open > max {
		t.Errorf("%d connections held, limit %d", open, max)
	}
}
