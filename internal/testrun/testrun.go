// Package testrun holds what tests need around a server or program they
// run: a loopback address for it to listen on; its output, collected while
// it runs and shown (its last lines) when a test fails; a scrape of its
// /metrics handler, decoded; the CPU time the test process used, for
// benchmarks. Only tests import it, so that each of these
// needs has one helper across the packages' tests and the e2e tests.
package testrun

import (
	"bytes"
	"compress/gzip"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// FreeAddr returns a loopback address with a port that was free a moment
// ago (the listener is closed, so another process could take it first; the
// program under test then fails to listen, which the test reports).
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("find a free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Output collects what a program or a logger writes. It is safe for
// concurrent use: a child process's output is written by the goroutines
// exec starts, and read by the test while the program runs.
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Tail is the last n lines written so far, for a failure message.
func (o *Output) Tail(n int) string { return LastLines(o.String(), n) }

// LastLines is the last n lines of s (a log), for a failure message.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Scrape requests target of h with the Accept and Accept-Encoding headers
// given (coding "" sends none), fails the test unless the answer is 200 in
// that content coding, and returns the response and its decoded body. A
// gzip body is read as one member, so a handler that splices cached
// segments into more than one member loses the rest and fails the test's
// comparison.
func Scrape(t testing.TB, h http.Handler, target, accept, coding string) (*httptest.ResponseRecorder, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("Accept", accept)
	if coding != "" {
		req.Header.Set("Accept-Encoding", coding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape %s: status %d: %s", target, rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Content-Encoding"); got != coding {
		t.Fatalf("scrape %s: Accept-Encoding %q: Content-Encoding %q", target, coding, got)
	}
	var r io.Reader = bytes.NewReader(rec.Body.Bytes())
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		zr.Multistream(false)
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(r)
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	}
	body, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("scrape %s: read the body: %v", target, err)
	}
	return rec, body
}
