package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// serverTestExporter starts an exporter on a small tenant and waits for its
// first successful poll.
func serverTestExporter(t *testing.T, seed int64) (*exporterProc, string) {
	t.Helper()
	ts := startTenant(t, nil)
	now := time.Now()
	recs := graphsim.Generate(graphsim.GenOptions{Seed: seed, Count: 5, Start: now.Add(-time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	state := filepath.Join(t.TempDir(), "state.json")
	e := startExporter(t, ts, state)
	e.waitFor(t, "a successful poll", 60*time.Second, successfulPolls(1))
	return e, state
}

// serverKeepAlive opens a connection, makes one keep-alive request on it
// and leaves it idle.
func serverKeepAlive(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", addr); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("keep-alive GET /healthz: %d, close %v", resp.StatusCode, resp.Close)
	}
	return c
}

func openFDs(mfs map[string]*dto.MetricFamily) float64 {
	return counterValue(mfs, "process_open_fds")
}

// Idle keep-alive connections, however many, hold no more than
// maxConnections descriptors and never keep a scrape out.
func TestServerIdleConnectionsAreBounded(t *testing.T) {
	t.Parallel()
	e, _ := serverTestExporter(t, 31)
	mfs, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	before := openFDs(mfs)
	if before == 0 {
		t.Fatal("process_open_fds not served")
	}

	const idle = 3 * maxConnections
	for range idle {
		serverKeepAlive(t, e.addr)
	}
	mfs, err = e.scrape() // on a new connection, beyond the limit
	if err != nil {
		t.Fatalf("scrape with %d idle connections open: %v", idle, err)
	}
	after := openFDs(mfs)
	t.Logf("open descriptors: %v before, %v with %d idle connections open", before, after, idle)
	if after > before+maxConnections+2 {
		t.Errorf("%v descriptors open with %d idle connections, %v before: idle connections are not bounded by %d",
			after, idle, before, maxConnections)
	}
}

// A request whose body never arrives neither holds the exit after SIGTERM
// nor stops the final save.
func TestServerStalledRequestBodyDoesNotDelayShutdown(t *testing.T) {
	t.Parallel()
	e, state := serverTestExporter(t, 32)
	for range 3 {
		c, err := net.Dial("tcp", e.addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		// 10 of the 1000 bytes announced, then silence.
		if _, err := fmt.Fprintf(c, "POST /metrics HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\n0123456789", e.addr); err != nil {
			t.Fatal(err)
		}
	}
	serverKeepAlive(t, e.addr)
	time.Sleep(200 * time.Millisecond) // the server has read the headers
	saved := crashStatState(state)

	sent := time.Now()
	if err := e.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Without a bound, the shutdown waits for the stalled requests until
	// its own timeout (10s before it had one).
	limit := shutdownGrace + 5*time.Second
	select {
	case <-e.done:
	case <-time.After(limit):
		t.Fatalf("still running %v after SIGTERM with stalled request bodies:\n%s", limit, testrun.LastLines(e.logs(), 20))
	}
	t.Logf("exited %v after SIGTERM", time.Since(sent).Round(time.Millisecond))
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if !crashStateChanged(saved, crashStatState(state)) {
		t.Errorf("the state was not saved on the way out")
	}
}

// SIGHUP is a reload: the process keeps polling and serving, and a later
// SIGTERM still ends with the final save.
func TestServerSIGHUPReloadsAndKeepsRunning(t *testing.T) {
	t.Parallel()
	e, state := serverTestExporter(t, 33)
	mfs, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	polls := counterValue(mfs, "teams_exporter_polls_total", "result", "success")
	for range 2 {
		if err := e.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.waitFor(t, "two polls after SIGHUP", 60*time.Second, successfulPolls(int(polls)+2))
	if n := strings.Count(e.logs(), "reload requested"); n != 2 {
		t.Errorf("%d reloads logged after two SIGHUPs, want 2", n)
	}
	saved := crashStatState(state)
	e.kill(syscall.SIGTERM)
	if code := e.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	if !crashStateChanged(saved, crashStatState(state)) {
		t.Errorf("the state was not saved on the way out")
	}
}
