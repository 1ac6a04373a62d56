package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

const (
	hubName        = "teams"
	hubClientState = "event-hub-e2e-client-state"
	hubAudience    = "https://127.0.0.1"
	// hubWait bounds each wait of the Event Hubs end-to-end test. The
	// exporter started after a kill -9 gets partitions only once the
	// killed member's session (30 s) has expired; with the race detector
	// on a loaded runner, phases took up to 90 s.
	hubWait = 3 * time.Minute
)

// hubTenant is the simulated tenant delivering into its event hub, a
// Kafka broker in this process on a fixed port, keeping its log and
// offsets in a directory so that it can go away and come back.
type hubTenant struct {
	*tenantServer
	port    int
	dataDir string
	broker  *graphsim.EventHubBroker
}

func startHubTenant(t *testing.T) *hubTenant {
	t.Helper()
	ts := startTenantWith(t, graphsim.Options{TenantID: testTenantID, ClientID: testClientID, ClientSecret: testSecret, Audiences: []string{hubAudience}}, nil)
	_, port, _ := splitHostPort(testrun.FreeAddr(t))
	h := &hubTenant{tenantServer: ts, port: port, dataDir: t.TempDir()}
	h.startBroker(t)
	t.Cleanup(func() { h.broker.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go ts.tenant.RunDelivery(ctx, 200*time.Millisecond)
	return h
}

func splitHostPort(addr string) (string, int, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			p, err := strconv.Atoi(addr[i+1:])
			return addr[:i], p, err
		}
	}
	return "", 0, fmt.Errorf("no port in %q", addr)
}

// startBroker starts (or starts again) the hub, taking the tenant's Entra
// tokens for the namespace (OAUTHBEARER) over TLS with the tenant's
// certificate, which SSL_CERT_FILE makes the exporter trust.
func (h *hubTenant) startBroker(t *testing.T) {
	t.Helper()
	var err error
	for range 50 { // the port of a closed broker may take a moment to free
		h.broker, err = graphsim.StartEventHubBroker(graphsim.EventHubBrokerOptions{
			Hub: hubName, Partitions: 2, Port: h.port, DataDir: h.dataDir,
			TLS: h.srv.Sim.ServerTLS, Tenant: h.tenant, Audience: hubAudience,
		})
		if err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	h.tenant.SetEventHub(h.broker.Publisher)
}

func (h *hubTenant) startExporter(t *testing.T, state string) *exporterProc {
	t.Helper()
	return startExporter(t, h.tenantServer, state,
		"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=127.0.0.1:"+strconv.Itoa(h.port)+"/"+hubName,
		"TEAMS_EXPORTER_NOTIFICATION_CLIENT_STATE="+hubClientState,
		// Every poll lists the whole look-back, which never returns the
		// unlisted records: only the hub brings them.
		"TEAMS_EXPORTER_RECENT_WINDOW=24h",
	)
}

func ingested(n int) func(map[string]*dto.MetricFamily) bool {
	return func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_records_ingested_total") >= float64(n)
	}
}

// TestEventHubEndToEnd runs the exporter in Event Hubs mode against the
// simulated tenant, which publishes its notifications into an in-process
// Kafka broker: the exporter subscribes with the role-based EventHub: URL
// (no listener, no inbound port) and reads the hub with the tenant's
// Entra token. Records that no listing returns are ingested exactly once,
// through a kill -9, a broker that goes away and comes back, a replayed
// event, a forged one, and lifecycle events; every series is exact.
func TestEventHubEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("event hub end to end takes about a minute")
	}
	h := startHubTenant(t)
	began := time.Now()
	phase := func(name string) { t.Logf("%-40s at %v", name, time.Since(began).Round(100*time.Millisecond)) }
	now := time.Now()
	recs, _ := simtruth.Generate(graphsim.GenOptions{Seed: 24, Count: 160, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	listed, waves := recs[:40], [][]graphsim.Record{recs[40:80], recs[80:120], recs[120:]}
	h.tenant.Add(listed...)
	added := append([]graphsim.Record(nil), listed...)
	state := filepath.Join(t.TempDir(), "state.json")

	e := h.startExporter(t, state)
	e.waitFor(t, "the listed records and a subscription", hubWait, func(mfs map[string]*dto.MetricFamily) bool {
		return ingested(len(listed))(mfs) && gaugeValue(mfs, "teams_exporter_subscription_expiry_timestamp_seconds") > float64(time.Now().Unix()) &&
			gaugeValue(mfs, "teams_exporter_event_hub_connected") == 1
	})
	subs := h.tenant.Subscriptions()
	if len(subs) != 1 {
		t.Fatalf("%d subscriptions, want 1", len(subs))
	}

	phase("subscribed")
	// 1. Records only the hub announces.
	h.tenant.AddUnlisted(waves[0]...)
	added = append(added, waves[0]...)
	// Ingested (a live count) is not yet saved: scrapes show the
	// call-quality series once the save that holds them succeeded.
	e.waitFor(t, "the first unlisted wave ingested and saved", hubWait, func(mfs map[string]*dto.MetricFamily) bool {
		return ingested(len(added))(mfs) && hasSeriesOf(e, simtruth.Of(added...).CallQuality())
	})
	e.assertTruth(t, simtruth.Of(added...).CallQuality())

	phase("first wave ingested")
	// 2. kill -9 while a wave is being read; the next life reads what was
	// not committed, and counts nothing twice. The kill waits for the
	// first of the wave's events to be read, not for a fixed time that a
	// slow runner may spend before Graph even delivers them.
	mfs, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	events := counterValue(mfs, "teams_exporter_event_hub_events_total")
	h.tenant.AddUnlisted(waves[1]...)
	added = append(added, waves[1]...)
	e.waitFor(t, "the second wave being read", hubWait, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_event_hub_events_total") > events
	})
	e.kill(syscall.SIGKILL)
	e = h.startExporter(t, state)
	e.waitFor(t, "the second wave ingested after a kill -9", hubWait, func(mfs map[string]*dto.MetricFamily) bool {
		return hasSeriesOf(e, simtruth.Of(added...).CallQuality())
	})
	e.assertTruth(t, simtruth.Of(added...).CallQuality())
	if got := h.tenant.Subscriptions(); len(got) != 1 || got[0] != subs[0] {
		t.Errorf("subscriptions after the restart: %v, want the first one reused (%v)", got, subs)
	}

	phase("second wave ingested after kill -9")
	// 3. The broker goes away: the consumer shows disconnected, Graph
	// keeps the notifications, and delivers them when it comes back.
	if !strings.Contains(e.logs(), `full_scan=false recent=false`) {
		t.Error("no poll left the recent window to the hub's notifications")
	}
	h.broker.Close()
	e.waitFor(t, "the consumer disconnected", hubWait, func(mfs map[string]*dto.MetricFamily) bool {
		return gaugeValue(mfs, "teams_exporter_event_hub_connected") == 0
	})
	// Without the hub, the poller lists the recent window again.
	logged := len(e.logs())
	e.waitFor(t, "a poll listing the recent window", hubWait, func(map[string]*dto.MetricFamily) bool {
		return strings.Contains(e.logs()[logged:], `full_scan=false recent=true`)
	})
	failed := h.tenant.NotificationStats().FailedPosts
	h.tenant.AddUnlisted(waves[2]...)
	added = append(added, waves[2]...)
	waitTenant(t, "Graph failing to deliver the third wave", func() bool { return h.tenant.NotificationStats().FailedPosts > failed })
	h.startBroker(t)
	e.waitFor(t, "the third wave ingested after the broker came back", hubWait, func(mfs map[string]*dto.MetricFamily) bool {
		return gaugeValue(mfs, "teams_exporter_event_hub_connected") == 1 && hasSeriesOf(e, simtruth.Of(added...).CallQuality())
	})
	truth := simtruth.Of(added...).CallQuality()
	e.assertTruth(t, truth)

	phase("third wave ingested after broker restart")
	// 4. A replayed event, a forged one and one of another tenant (with
	// the right client state) change no count; the last two are counted
	// as rejected.
	mfs, err = e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	rejected := counterValue(mfs, "teams_exporter_notifications_total", "result", "rejected")
	events = counterValue(mfs, "teams_exporter_event_hub_events_total")
	id := waves[0][0].ID
	publish := func(body string) {
		if err := h.broker.Publisher.Publish(context.Background(), "127.0.0.1", hubName, []byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	publish(hubChange(subs[0], hubClientState, id))        // replayed
	publish(hubChange(subs[0], "forged-client-state", id)) // forged
	publish(strings.Replace(hubChange(subs[0], hubClientState, id), testTenantID, "0f5b3a1e-2c4d-4e6f-8a9b-1c2d3e4f5a6b", 1))
	e.waitFor(t, "the replayed, forged and foreign events read", hubWait, func(mfs map[string]*dto.MetricFamily) bool {
		return counterValue(mfs, "teams_exporter_event_hub_events_total") >= events+3
	})
	mfs = e.waitFor(t, "a poll after them", hubWait, successfulPolls(int(counterValue(mfs, "teams_exporter_polls_total", "result", "success"))+2))
	if got := counterValue(mfs, "teams_exporter_notifications_total", "result", "rejected"); got != rejected+2 {
		t.Errorf("rejected %v -> %v, want two more (the forged and the foreign event)", rejected, got)
	}
	e.assertTruth(t, truth)

	phase("replayed, forged and foreign events read")
	// 5. Lifecycle events arrive in the hub too: reauthorizationRequired
	// renews the subscription, subscriptionRemoved creates a new one.
	before := h.tenant.NotificationStats()
	h.tenant.SendLifecycle("reauthorizationRequired")
	waitTenant(t, "a renewal after reauthorizationRequired", func() bool { return h.tenant.NotificationStats().Renewed > before.Renewed })
	h.tenant.SendLifecycle("subscriptionRemoved")
	waitTenant(t, "a new subscription after subscriptionRemoved", func() bool {
		s := h.tenant.Subscriptions()
		return h.tenant.NotificationStats().Created > before.Created && len(s) == 1 && s[0] != subs[0]
	})
	mfs, err = e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	if got := counterValue(mfs, "teams_exporter_notifications_total", "result", "lifecycle"); got < 2 {
		t.Errorf("lifecycle notifications counted: %v, want 2", got)
	}
	for p := range 2 {
		if got := gaugeValue(mfs, "teams_exporter_event_hub_lag_events", "partition", strconv.Itoa(p)); got < 0 {
			t.Errorf("no lag for partition %d", p)
		}
	}
	e.assertTruth(t, truth)
	phase("lifecycle events handled")
}

// hasSeriesOf reports whether a scrape shows every series of truth with its
// value (without failing the test: the caller waits for it).
func hasSeriesOf(e *exporterProc, truth simtruth.Truth) bool {
	raw, err := e.scrapeText()
	if err != nil {
		return false
	}
	diffs, err := truth.Compare(bytes.NewReader(raw))
	return err == nil && len(diffs) == 0
}

func waitTenant(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(hubWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func hubChange(subscription, clientState, id string) string {
	return `{"value":[{"subscriptionId":"` + subscription + `","clientState":"` + clientState + `","changeType":"created",` +
		`"resource":"communications/callRecords/` + id + `","resourceData":{"id":"` + id + `"},"tenantId":"` + testTenantID + `"}]}`
}
