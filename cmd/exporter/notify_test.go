package main

import (
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

// TestDemoWithNotifications runs the demo in change-notification mode, as a
// user would try it: the exporter subscribes to the demo tenant, which
// validates the notification URL and then delivers notifications to it; the
// exporter accepts them and ingests records, and on SIGTERM it stops its
// subscriber (which may be renewing) and its listener and exits 0.
func TestDemoWithNotifications(t *testing.T) {
	t.Parallel()
	addr, notifyAddr := testrun.FreeAddr(t), testrun.FreeAddr(t)
	cmd := exec.Command(exporterBin, "-demo")
	cmd.Env = []string{
		"HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(),
		"TEAMS_EXPORTER_LISTEN_ADDRESS=" + addr,
		"TEAMS_EXPORTER_POLL_INTERVAL=2s",
		"TEAMS_EXPORTER_NOTIFICATION_LISTEN_ADDRESS=" + notifyAddr,
		"TEAMS_EXPORTER_NOTIFICATION_URL=http://" + notifyAddr + "/notifications",
	}
	e := runExporter(t, cmd, addr)

	// Generous: the demo's first poll fetches a whole simulated day, which
	// a loaded runner under -race takes a minute or more for.
	e.waitFor(t, "a subscription, accepted notifications and ingested records", 3*time.Minute, func(mfs map[string]*dto.MetricFamily) bool {
		return gaugeValue(mfs, "teams_exporter_subscription_expiry_timestamp_seconds") > float64(time.Now().Unix()) &&
			counterValue(mfs, "teams_exporter_notifications_total", "result", "accepted") > 0 &&
			counterValue(mfs, "teams_exporter_records_ingested_total") > 0
	})
	mfs, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	if n := counterValue(mfs, "teams_exporter_notifications_total", "result", "rejected"); n != 0 {
		t.Errorf("the demo tenant's own notifications were rejected %v times", n)
	}
	// With notifications on, the demo serves the notification families
	// too: docs/metrics.md must name them.
	checkFamiliesDocumented(t, mfs)

	e.kill(syscall.SIGTERM)
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}

// TestDemoWithEventHub runs the demo in Event Hubs mode: it serves its own
// hub on the configured loopback port, the simulated tenant publishes into
// it, and the exporter reads it with a connection string (SASL PLAIN; the
// end-to-end test of TestEventHubEndToEnd reads with the Entra token) and
// no notification listener, accepts the notifications and ingests records,
// never logging the connection string; SIGTERM ends it with 0.
func TestDemoWithEventHub(t *testing.T) {
	t.Parallel()
	const connectionString = "Endpoint=sb://127.0.0.1/;SharedAccessKeyName=listen;SharedAccessKey=ZGVtby1rZXktbmV2ZXItc2hvd24="
	addr, hubAddr := testrun.FreeAddr(t), testrun.FreeAddr(t)
	cmd := exec.Command(exporterBin, "-demo")
	cmd.Env = []string{
		"HOME=" + t.TempDir(), "TMPDIR=" + t.TempDir(),
		"TEAMS_EXPORTER_LISTEN_ADDRESS=" + addr,
		"TEAMS_EXPORTER_POLL_INTERVAL=2s",
		"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB=" + hubAddr + "/teams",
		"TEAMS_EXPORTER_NOTIFICATION_EVENT_HUB_CONNECTION_STRING=" + connectionString,
		"TEAMS_EXPORTER_LOG_LEVEL=debug",
	}
	e := runExporter(t, cmd, addr)

	// Generous, as in TestDemoWithNotifications.
	e.waitFor(t, "a subscription, events read, accepted notifications and ingested records", 3*time.Minute, func(mfs map[string]*dto.MetricFamily) bool {
		return gaugeValue(mfs, "teams_exporter_subscription_expiry_timestamp_seconds") > float64(time.Now().Unix()) &&
			gaugeValue(mfs, "teams_exporter_event_hub_connected") == 1 &&
			counterValue(mfs, "teams_exporter_event_hub_events_total") > 0 &&
			counterValue(mfs, "teams_exporter_notifications_total", "result", "accepted") > 0 &&
			counterValue(mfs, "teams_exporter_records_ingested_total") > 0
	})
	mfs, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	if n := counterValue(mfs, "teams_exporter_notifications_total", "result", "rejected"); n != 0 {
		t.Errorf("the demo tenant's own events were rejected %v times", n)
	}
	if strings.Contains(e.logs(), "serving change notifications") {
		t.Error("a notification listener in Event Hubs mode")
	}
	if !strings.Contains(e.logs(), `auth="connection string (SASL PLAIN)"`) {
		t.Error("the consumer does not say it reads with the connection string")
	}
	if strings.Contains(e.logs(), "ZGVtby1rZXktbmV2ZXItc2hvd24") {
		t.Error("the connection string's key is in the log")
	}

	e.kill(syscall.SIGTERM)
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM, want 0", code)
	}
}
