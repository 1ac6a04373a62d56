// Command attack measures what the exporter's listeners cost under the
// attacks docs/security.md describes, against a running exporter on
// loopback (the demo, with change notifications on):
//
//	attack -scenario flood    anonymous clients posting 1 MiB bodies
//	attack -scenario halfopen connections that never finish their headers
//	attack -scenario stalled  scrapers that never read
//
// Meanwhile it sends what must still get through (scrapes, /healthz probes,
// validation handshakes, genuine notifications retried as Graph retries
// them) and reports how many were answered within 5 seconds, with the
// exporter's resident memory before and at its highest and the CPU time it
// used. After a flood it waits until the exporter has fetched the record of
// every genuine notification accepted (their ids are held by no tenant, so
// each fetch is counted in teams_exporter_skipped_total{reason="not_found"}),
// then watches for -settle and 5 s more, and fails if a record was lost or
// fetched twice. It only
// ever connects to loopback addresses, and every scenario ends after
// -duration.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// demoTenantID is the demo's simulated tenant (cmd/exporter): the
// exporter refuses a notification of another tenant.
const demoTenantID = "00000000-0000-4000-8000-00000000de00"

// answerWithin is how soon a scrape, probe or handshake must be answered to
// count as answered.
const answerWithin = 5 * time.Second

func main() {
	var (
		scenario    = flag.String("scenario", "", "flood, halfopen or stalled")
		metricsAddr = flag.String("metrics", "127.0.0.1:9868", "the exporter's metrics listener")
		notifyAddr  = flag.String("notifications", "127.0.0.1:9869", "the exporter's notification listener")
		clientState = flag.String("client-state", "", "the exporter's TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE, to send genuine notifications")
		tenant      = flag.String("tenant", demoTenantID, "the exporter's tenant (AZURE_TENANT_ID), the tenantId of genuine notifications; the demo's by default")
		pid         = flag.Int("pid", 0, "the exporter's process id, to sample its resident memory")
		clients     = flag.Int("clients", 0, "attacking clients or connections (per listener); default per scenario")
		duration    = flag.Duration("duration", 0, "how long the attack lasts; default per scenario")
		fetchWait   = flag.Duration("fetch-wait", 2*time.Minute, "flood: how long to wait, after the last genuine notification is accepted, for the exporter to fetch their records (the settle delay and a poll)")
		settle      = flag.Duration("settle", 30*time.Second, "flood: the exporter's settle delay (the demo's by default); once every record is fetched, the counter is watched this long and 5 s more, so that a record queued again and fetched twice shows")
	)
	flag.Parse()
	for _, a := range []string{*metricsAddr, *notifyAddr} {
		if !loopback(a) {
			fmt.Fprintf(os.Stderr, "%s is not a loopback address\n", a)
			os.Exit(2)
		}
	}
	r := &run{metrics: *metricsAddr, notify: *notifyAddr, clientState: *clientState, tenant: *tenant, pid: *pid, fetchWait: *fetchWait, settle: *settle}
	var err error
	switch *scenario {
	case "flood":
		err = r.flood(orDefault(*clients, 32), orDefault(*duration, 20*time.Second))
	case "halfopen":
		err = r.halfOpen(orDefault(*clients, 300), orDefault(*duration, 30*time.Second))
	case "stalled":
		err = r.stalled(orDefault(*clients, 32), orDefault(*duration, 30*time.Second))
	default:
		err = errors.New("-scenario must be flood, halfopen or stalled")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

type run struct {
	metrics, notify string
	clientState     string
	tenant          string
	pid             int
	fetchWait       time.Duration
	settle          time.Duration
}

// notFound is the counter of records fetched and not found. The genuine
// notifications name record ids no tenant holds, so each one the exporter
// queued and fetched adds one to it: a 202 only says the body was read,
// this says its record was fetched.
const notFound = "teams_exporter_skipped_total"

// flood posts 1 MiB bodies of forged notifications from clients at once,
// while genuine notifications are sent every 250 ms and retried (after 1 s,
// then doubling up to 8 s, as Graph backs off) until accepted. Then it
// waits, at most fetchWait, until the exporter has fetched the record of
// every genuine notification accepted.
func (r *run) flood(clients int, d time.Duration) error {
	if r.clientState == "" {
		return errors.New("flood needs -client-state to send genuine notifications")
	}
	before, err := r.counter("teams_exporter_notifications_total", `result="accepted"`)
	if err != nil {
		return err
	}
	notFoundBefore, err := r.counter(notFound, `reason="not_found"`)
	if err != nil {
		return err
	}
	// Half the clients send items as Graph shapes them, which the
	// exporter reads to the end before it can answer 403; half send empty
	// items ({"value":[{},{},...]}), which decode into the most structs.
	bodies := [][]byte{forgedBody(1 << 20), emptyItemsBody(1 << 20)}
	mem := r.sampleRSS()
	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var statuses sync.Map // code -> *atomic.Int64
	count := func(code string) {
		v, _ := statuses.LoadOrStore(code, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	var wg sync.WaitGroup
	for i := range clients {
		forged := bodies[i%len(bodies)]
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+r.notify+"/notifications", bytes.NewReader(forged))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						count("error")
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				count(strconv.Itoa(resp.StatusCode))
			}
		})
	}
	var genuine genuineStats
	tick := time.NewTicker(250 * time.Millisecond)
	var gwg sync.WaitGroup
	for ctx.Err() == nil {
		gwg.Go(func() { genuine.send(r.notify, r.clientState, r.tenant) })
		select {
		case <-ctx.Done():
		case <-tick.C:
		}
	}
	tick.Stop()
	wg.Wait()
	gwg.Wait()
	base, peak, cpu := mem()
	after, err := r.counter("teams_exporter_notifications_total", `result="accepted"`)
	if err != nil {
		return err
	}
	fmt.Printf("flood: %d clients posting 1 MiB bodies for %v (%d of forged notifications, %d of empty items)\n", clients, d, len(bodies[0]), len(bodies[1]))
	statuses.Range(func(k, v any) bool {
		fmt.Printf("  anonymous answers %s: %d\n", k, v.(*atomic.Int64).Load())
		return true
	})
	fmt.Printf("  genuine notifications: %d sent, %d accepted (202), %d uncertain, %d given up, %d retries, slowest accepted after %v; exporter counted %v accepted\n",
		genuine.sent.Load(), genuine.accepted.Load(), genuine.uncertain.Load(), genuine.givenUp.Load(), genuine.retries.Load(),
		time.Duration(genuine.slowest.Load()).Round(time.Millisecond), after-before)
	printRSS(base, peak, cpu)
	// Every genuine notification names a record no tenant holds, fetched
	// once if the exporter queued it. An accepted one (202) was queued. An
	// uncertain one never got a 202, but an attempt of it ended without an
	// answer (a client timeout, a transport error), so the exporter may
	// have queued it: its record may be fetched or not. So the not-found
	// counter must rise by at least the accepted, at most the accepted
	// plus the uncertain. Fewer is a notification lost; more is a record
	// fetched twice. (Failing on any uncertain send instead would make a
	// loaded machine's timeouts fail the run.) The exporter's own accepted
	// count is no measure: in demo mode it also counts the simulated
	// tenant's notifications, of records it holds.
	accepted, uncertain := genuine.accepted.Load(), genuine.uncertain.Load()
	fetched, waited, err := r.awaitFetched(notFoundBefore, accepted, accepted+uncertain)
	if err != nil {
		return err
	}
	fmt.Printf("  genuine notifications fetched by the exporter: %s{reason=\"not_found\"} rose by %d for %d accepted and %d uncertain, %v after the last was accepted\n",
		notFound, fetched, accepted, uncertain, waited.Round(time.Second))
	switch {
	case fetched < accepted:
		return fmt.Errorf("flood: %d records fetched for %d genuine notifications accepted within %v: at least %d lost", fetched, accepted, r.fetchWait, accepted-fetched)
	case fetched > accepted+uncertain:
		return fmt.Errorf("flood: %d records fetched for %d genuine notifications accepted and %d uncertain: at least %d fetched more than once",
			fetched, accepted, uncertain, fetched-accepted-uncertain)
	}
	return nil
}

// awaitFetched waits, at most r.fetchWait, until the not-found counter has
// risen by at least low from before (each genuine notification's record
// is fetched after the exporter's settle delay). Then it keeps polling for
// the settle delay and 5 s more, so that a record queued again and
// fetched a second time shows, unless the rise already passed high. It
// returns by how much the counter rose and how long it took to reach low.
func (r *run) awaitFetched(before float64, low, high int64) (int64, time.Duration, error) {
	start := time.Now()
	var reached time.Duration // when the rise reached low; 0 before
	for {
		now, err := r.counter(notFound, `reason="not_found"`)
		if err != nil {
			return 0, 0, err
		}
		got, waited := int64(now-before), time.Since(start)
		switch {
		case got > high:
			return got, waited, nil
		case reached == 0 && got >= low:
			reached = max(waited, time.Nanosecond)
		case reached == 0 && waited >= r.fetchWait:
			return got, waited, nil
		case reached != 0 && waited-reached >= r.settle+5*time.Second:
			return got, reached, nil
		}
		time.Sleep(time.Second)
	}
}

// forgedBody is a changeNotificationCollection of size bytes whose items
// all carry a wrong clientState: the receiver reads all of it before it
// can answer 403.
func forgedBody(size int) []byte {
	item := `{"subscriptionId":"9f0e3c6a-5b0a-4c38-9d8e-0d5f1e2a3b4c","subscriptionExpirationDateTime":"2026-12-10T00:00:00.000+00:00",` +
		`"clientState":"guess","changeType":"created","resource":"communications/callRecords/2f1a1100-677c-4b2a-a1b3-a2e0b5b8cda2",` +
		`"resourceData":{"@odata.type":"#Microsoft.Graph.callrecord","@odata.id":"communications/callRecords/2f1a1100-677c-4b2a-a1b3-a2e0b5b8cda2",` +
		`"id":"2f1a1100-677c-4b2a-a1b3-a2e0b5b8cda2"},"tenantId":"84bd8158-6d4d-4958-8b9f-9d6445542f95"}`
	var b bytes.Buffer
	b.WriteString(`{"value":[`)
	for b.Len()+len(item)+3 < size {
		if b.Len() > len(`{"value":[`) {
			b.WriteByte(',')
		}
		b.WriteString(item)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// emptyItemsBody is {"value":[{},{},...]} of size bytes.
func emptyItemsBody(size int) []byte {
	n := (size - len(`{"value":[]}`) + 1) / 3
	return []byte(`{"value":[` + strings.TrimSuffix(strings.Repeat("{},", n), ",") + `]}`)
}

// genuineStats counts the genuine notifications. Each one sent ends
// accepted (a 202), uncertain (no 202, and an attempt ended without an
// answer, so the exporter may have queued it) or given up (every attempt
// answered with a refusal, so it was not queued).
type genuineStats struct {
	sent, accepted, uncertain, givenUp, retries, slowest atomic.Int64
}

// send posts one genuine notification of a new record id until it is
// accepted, as Graph retries: at most a minute.
func (g *genuineStats) send(addr, clientState, tenant string) {
	g.sent.Add(1)
	id := newID()
	body, _ := json.Marshal(map[string]any{"value": []map[string]any{{
		"subscriptionId": "load-generator", "clientState": clientState, "changeType": "created",
		"resource": "communications/callRecords/" + id, "resourceData": map[string]any{"id": id},
		"tenantId": tenant,
	}}})
	client := &http.Client{Timeout: answerWithin}
	start := time.Now()
	wait := time.Second
	unanswered := false
	for time.Since(start) < time.Minute {
		resp, err := client.Post("http://"+addr+"/notifications", "application/json", bytes.NewReader(body))
		if err != nil {
			// The body may have been read and queued before the client
			// gave up waiting for the answer.
			unanswered = true
		} else {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				g.accepted.Add(1)
				took := int64(time.Since(start))
				for {
					old := g.slowest.Load()
					if took <= old || g.slowest.CompareAndSwap(old, took) {
						break
					}
				}
				return
			}
		}
		g.retries.Add(1)
		time.Sleep(wait)
		wait = min(2*wait, 8*time.Second)
	}
	if unanswered {
		g.uncertain.Add(1)
	} else {
		g.givenUp.Add(1)
	}
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

// halfOpen holds n connections on each listener that send part of their
// headers and never the rest, reconnecting when the exporter closes them.
func (r *run) halfOpen(n int, d time.Duration) error {
	shedBefore, _ := r.counter("teams_exporter_connections_shed_total", "")
	mem := r.sampleRSS()
	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var wg sync.WaitGroup
	var opened atomic.Int64
	for _, addr := range []string{r.metrics, r.notify} {
		for range n {
			wg.Go(func() {
				for ctx.Err() == nil {
					c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
					if err != nil {
						time.Sleep(10 * time.Millisecond)
						continue
					}
					opened.Add(1)
					fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: %s\r\nX-Never-Ends: ", addr)
					end, _ := ctx.Deadline()
					_ = c.SetReadDeadline(end)
					_, _ = io.Copy(io.Discard, c) // until the exporter closes it, or the end
					c.Close()
				}
			})
		}
	}
	probes := r.probeAll(ctx)
	wg.Wait()
	base, peak, cpu := mem()
	shedAfter, _ := r.counter("teams_exporter_connections_shed_total", "")
	fmt.Printf("halfopen: %d connections on each listener that never finish their headers, for %v (%d opened in all; exporter shed %v)\n",
		n, d, opened.Load(), shedAfter-shedBefore)
	probes.print()
	printRSS(base, peak, cpu)
	return nil
}

// stalled holds n scrapes whose client never reads the answer (a small
// receive buffer, so that the exporter's writes block at once).
func (r *run) stalled(n int, d time.Duration) error {
	mem := r.sampleRSS()
	ctx, stop := context.WithTimeout(context.Background(), d)
	defer stop()
	var wg sync.WaitGroup
	var opened atomic.Int64
	for range n {
		wg.Go(func() {
			for ctx.Err() == nil {
				c, err := (&net.Dialer{}).DialContext(ctx, "tcp", r.metrics)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				_ = c.(*net.TCPConn).SetReadBuffer(4096)
				opened.Add(1)
				fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: %s\r\nAccept-Encoding: identity\r\n\r\n", r.metrics)
				// Never read; hold until the end (a closed connection is
				// noticed only then, which is what a stalled client does).
				<-ctx.Done()
				c.Close()
			}
		})
	}
	probes := r.probeAll(ctx)
	wg.Wait()
	base, peak, cpu := mem()
	fmt.Printf("stalled: %d scrapers that never read, for %v\n", n, d)
	probes.print()
	printRSS(base, peak, cpu)
	return nil
}

// probeSet counts the normal requests made during an attack.
type probeSet struct {
	names          []string
	sent, answered []atomic.Int64
	slowest        []atomic.Int64
	failures       sync.Map // name + ": " + kind of failure -> *atomic.Int64
}

// fail counts a failed probe by the kind of its error.
func (p *probeSet) fail(name string, err error) {
	kind := "wrong answer"
	switch {
	case err == nil:
	case errors.Is(err, os.ErrDeadlineExceeded) || strings.Contains(err.Error(), "Timeout"):
		kind = "timeout"
	case strings.Contains(err.Error(), "reset"):
		kind = "connection reset"
	case errors.Is(err, io.EOF) || strings.Contains(err.Error(), "EOF"):
		kind = "connection closed"
	default:
		kind = err.Error()
	}
	v, _ := p.failures.LoadOrStore(name+": "+kind, new(atomic.Int64))
	v.(*atomic.Int64).Add(1)
}

func (p *probeSet) print() {
	for i, name := range p.names {
		sent, ok := p.sent[i].Load(), p.answered[i].Load()
		pct := 0.0
		if sent > 0 {
			pct = 100 * float64(ok) / float64(sent)
		}
		fmt.Printf("  %s: %d of %d answered within %v (%.1f %%), slowest %v\n", name, ok, sent, answerWithin, pct,
			time.Duration(p.slowest[i].Load()).Round(time.Millisecond))
	}
	p.failures.Range(func(k, v any) bool {
		fmt.Printf("    failed: %s: %d\n", k, v.(*atomic.Int64).Load())
		return true
	})
}

// probeAll sends, every 200 ms until ctx ends, a scrape as Prometheus makes
// it (a kept-alive connection, gzip), a /healthz probe as a kubelet makes it
// (a new connection) and Graph's validation handshake, each answered within
// answerWithin or not counted.
func (r *run) probeAll(ctx context.Context) *probeSet {
	kinds := []struct {
		name   string
		url    string
		client *http.Client
		check  func(*http.Response, []byte) bool
	}{
		{"scrapes of /metrics", "http://" + r.metrics + "/metrics", &http.Client{Timeout: answerWithin},
			func(resp *http.Response, b []byte) bool {
				return resp.StatusCode == 200 && bytes.Contains(b, []byte("teams_exporter_build_info"))
			}},
		{"/healthz probes", "http://" + r.metrics + "/healthz", &http.Client{Timeout: answerWithin, Transport: &http.Transport{DisableKeepAlives: true}},
			func(resp *http.Response, _ []byte) bool { return resp.StatusCode == 200 }},
		{"validation handshakes", "http://" + r.notify + "/notifications?validationToken=probe", &http.Client{Timeout: answerWithin, Transport: &http.Transport{DisableKeepAlives: true}},
			func(resp *http.Response, b []byte) bool { return resp.StatusCode == 200 && string(b) == "probe" }},
	}
	p := &probeSet{sent: make([]atomic.Int64, len(kinds)), answered: make([]atomic.Int64, len(kinds)), slowest: make([]atomic.Int64, len(kinds))}
	var wg sync.WaitGroup
	for i, k := range kinds {
		p.names = append(p.names, k.name)
		wg.Go(func() {
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			var inner sync.WaitGroup
			for {
				select {
				case <-ctx.Done():
					inner.Wait()
					return
				case <-tick.C:
				}
				p.sent[i].Add(1)
				inner.Go(func() {
					start := time.Now()
					resp, err := k.client.Get(k.url)
					if err != nil {
						p.fail(k.name, err)
						return
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					took := time.Since(start)
					if err != nil || took > answerWithin || !k.check(resp, b) {
						p.fail(k.name, err)
						return
					}
					p.answered[i].Add(1)
					if int64(took) > p.slowest[i].Load() {
						p.slowest[i].Store(int64(took))
					}
				})
			}
		})
	}
	wg.Wait()
	return p
}

// counter scrapes the sum of a counter's samples whose labels contain
// match (the text format, without a client library).
func (r *run) counter(name, match string) (float64, error) {
	resp, err := http.Get("http://" + r.metrics + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sum := 0.0
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) || !strings.Contains(line, match) {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			v, err := strconv.ParseFloat(line[i+1:], 64)
			if err == nil {
				sum += v
			}
		}
	}
	return sum, sc.Err()
}

// sampleRSS reads the exporter's resident memory now and every 100 ms
// until the returned function is called, which returns the first reading,
// the highest, and the CPU time the exporter used meanwhile.
func (r *run) sampleRSS() func() (base, peak int64, cpu time.Duration) {
	if r.pid == 0 {
		return func() (int64, int64, time.Duration) { return 0, 0, 0 }
	}
	base, cpu0 := rss(r.pid), cpuTime(r.pid)
	var peak atomic.Int64
	peak.Store(base)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if v := rss(r.pid); v > peak.Load() {
				peak.Store(v)
			}
		}
	}()
	return func() (int64, int64, time.Duration) {
		close(done)
		<-stopped
		return base, peak.Load(), cpuTime(r.pid) - cpu0
	}
}

// rss is VmRSS of /proc/pid/status, in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime is the user and system time of /proc/pid/stat (fields 14 and
// 15, in clock ticks of 1/100 s on Linux), which a machine shared with
// other work does not inflate as it does wall time.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: count after it.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func printRSS(base, peak int64, cpu time.Duration) {
	if base == 0 {
		return
	}
	fmt.Printf("  exporter resident memory: %.1f MiB before, %.1f MiB at most (+%.1f MiB); exporter CPU time: %.1f s\n",
		float64(base)/(1<<20), float64(peak)/(1<<20), float64(peak-base)/(1<<20), cpu.Seconds())
}
