package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// probeTimeout bounds the probe: container health checks run it every few
// seconds and must not pile up.
const probeTimeout = 5 * time.Second

// probe is the probe mode: one GET of url, exit 0 on a 2xx answer and 1
// otherwise, with one line saying why. It exists because the image has no
// shell, curl or wget for a HEALTHCHECK to run. Redirects are not followed:
// a probe asks one endpoint.
func probe(url string, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 2
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "probe: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "probe: GET %s: %s\n", url, resp.Status)
		return 1
	}
	return 0
}

// probeURL is the URL of path on the exporter this configuration runs: on
// the health listener if there is one (it answers without authentication),
// else on the main listener, over loopback when it listens on all
// addresses. Plain HTTP: with TLS on the main listener, use the health
// listener.
func (c *config) probeURL(path string) string {
	addr := c.ListenAddress
	if c.HealthListenAddress != "" {
		addr = c.HealthListenAddress
	}
	host, port, _ := net.SplitHostPort(addr) // validated in loadConfig
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}
