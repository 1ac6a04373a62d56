package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
	"github.com/teams-exporter/teams-exporter/internal/testrun"
)

var callLogEnv = []string{"TEAMS_EXPORTER_DIRECT_ROUTING_CALLS=true", "TEAMS_EXPORTER_PSTN_CALLS=true"}

// sumOf adds up every series of a counter family.
func sumOf(mfs map[string]*dto.MetricFamily, name string) float64 {
	total := 0.0
	if mf := mfs[name]; mf != nil {
		for _, m := range mf.Metric {
			total += m.GetCounter().GetValue()
		}
	}
	return total
}

// rowsIngested waits until the call-log counters hold dr and pstn rows.
func rowsIngested(dr, pstn int) func(map[string]*dto.MetricFamily) bool {
	return func(mfs map[string]*dto.MetricFamily) bool {
		return sumOf(mfs, "teams_direct_routing_calls_total") == float64(dr) && sumOf(mfs, "teams_pstn_calls_total") == float64(pstn)
	}
}

// TestCallLogsEndToEnd runs the exporter with both call logs against the
// simulated tenant: more rows than a page, rows that appear late (after
// the first polls, started long before the recent window, so only the
// look-back scan finds them), unreadable rows, a kill -9 and a restart.
// Every call-log series equals the simulator's truth throughout; nothing is
// counted twice, nothing lost, and the client paces itself under Graph's
// call-log limits (no 429).
func TestCallLogsEndToEnd(t *testing.T) {
	ts := startTenant(t, nil)
	now := time.Now()
	dr, pstn := graphsim.GenerateCallLogs(graphsim.CallLogOptions{Seed: 41, DirectRouting: 1600, PSTN: 1100, Start: now.Add(-20 * time.Hour), End: now.Add(-time.Minute)})
	// Every fifth row appears late, among those that started 6 to 20 hours
	// ago (outside the 2h recent window).
	var drNow, drLate []graphsim.DirectRoutingRow
	for i, r := range dr {
		if i%5 == 0 && r.StartDateTime.Before(now.Add(-6*time.Hour)) {
			drLate = append(drLate, r)
		} else {
			drNow = append(drNow, r)
		}
	}
	var pstnNow, pstnLate []graphsim.PSTNRow
	for i, r := range pstn {
		if i%5 == 0 && r.StartDateTime.Before(now.Add(-6*time.Hour)) {
			pstnLate = append(pstnLate, r)
		} else {
			pstnNow = append(pstnNow, r)
		}
	}
	ts.tenant.AddDirectRoutingRows(drNow...)
	ts.tenant.AddPSTNRows(pstnNow...)
	// Unreadable rows: a phone number where a boolean goes, no start time.
	// They are skipped and counted once each, whatever the number of polls.
	badStart := now.Add(-3 * time.Hour)
	for _, raw := range []struct{ id, body string }{
		{"bad-1", `{"id":"bad-1","startDateTime":"` + badStart.Format(time.RFC3339) + `","successfulCall":"+14255550123","trunkFullyQualifiedDomainName":"sbc1.contoso-voice.example"}`},
		{"bad-2", `{"id":"bad-2","callType":"ByotIn","successfulCall":true}`},
	} {
		if err := ts.tenant.AddRawCallLogRow(graphsim.OpDirectRoutingCalls, raw.id, badStart, json.RawMessage(raw.body)); err != nil {
			t.Fatal(err)
		}
	}

	state := filepath.Join(t.TempDir(), "state.json")
	env := append([]string{"TEAMS_EXPORTER_FULL_SCAN_INTERVAL=4s"}, callLogEnv...)
	e := startExporter(t, ts, state, env...)
	mfs := e.waitFor(t, "the first rows", 90*time.Second, rowsIngested(len(drNow), len(pstnNow)))
	e.assertTruth(t, simtruth.CallLogs(drNow, pstnNow))
	if got := counterValue(mfs, "teams_exporter_graph_requests_total", "operation", "direct_routing_calls", "code", "200"); got < 2 {
		t.Errorf("direct_routing_calls requests: %v; 1,300 rows need two pages", got)
	}

	ts.tenant.AddDirectRoutingRows(drLate...)
	ts.tenant.AddPSTNRows(pstnLate...)
	all := simtruth.CallLogs(dr, pstn)
	mfs = e.waitFor(t, "the late rows, on a look-back scan", 90*time.Second, rowsIngested(len(dr), len(pstn)))
	e.assertTruth(t, all)
	if got := counterValue(mfs, "teams_exporter_skipped_total", "reason", "malformed_row"); got != 2 {
		t.Errorf("malformed rows skipped: %v, want 2 (each once)", got)
	}
	if got := counterValue(mfs, "teams_exporter_graph_throttled_total"); got != 0 {
		t.Errorf("%v requests throttled: the client does not pace the call logs under Graph's limits", got)
	}
	for _, source := range []string{"direct_routing_calls", "pstn_calls"} {
		if got := gaugeValue(mfs, "teams_exporter_source_enabled", "source", source); got != 1 {
			t.Errorf("source %s enabled = %v", source, got)
		}
	}

	// kill -9 and restart: the ids are in the state file, the counters
	// continue; rows added meanwhile are counted once.
	e.kill(syscall.SIGKILL)
	// The kinds' names head their ids, in the checkpoint or the log.
	var raw []byte
	for _, f := range []string{state, state + ".log"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		raw = append(raw, b...)
	}
	for _, kind := range []string{"directRoutingCalls", "pstnCalls"} {
		if !bytes.Contains(raw, []byte(kind)) {
			t.Errorf("state without the ids of %s", kind)
		}
	}
	more, morePSTN := graphsim.GenerateCallLogs(graphsim.CallLogOptions{Seed: 42, DirectRouting: 50, PSTN: 50, Start: now.Add(-30 * time.Minute), End: now})
	ts.tenant.AddDirectRoutingRows(more...)
	ts.tenant.AddPSTNRows(morePSTN...)
	all = simtruth.CallLogs(append(append([]graphsim.DirectRoutingRow(nil), dr...), more...), append(append([]graphsim.PSTNRow(nil), pstn...), morePSTN...))

	e2 := startExporter(t, ts, state, env...)
	e2.waitFor(t, "the rows added while down", 90*time.Second, rowsIngested(len(dr)+len(more), len(pstn)+len(morePSTN)))
	mfs = e2.waitFor(t, "a full scan after the restart", 60*time.Second, successfulPolls(3))
	e2.assertTruth(t, all)
	if got := counterValue(mfs, "teams_exporter_skipped_total", "reason", "malformed_row"); got != 0 {
		t.Errorf("malformed rows skipped again after the restart: %v", got)
	}
}

func gaugeValue(mfs map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	if mf := mfs[name]; mf != nil {
		for _, m := range mf.Metric {
			if hasLabels(m, labels...) {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// TestCallLogsForbidden: without CallRecord-PstnCalls.Read.All Graph
// answers the PSTN log 403. The exporter says so in one line naming the
// permission, shows the source disabled, asks no more, and keeps polling
// call records (and the other log) and ready.
func TestCallLogsForbidden(t *testing.T) {
	ts := startTenant(t, nil)
	now := time.Now()
	recs, truth := simtruth.Generate(graphsim.GenOptions{Seed: 43, Count: 20, Start: now.Add(-5 * time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.Add(recs...)
	dr, pstn := graphsim.GenerateCallLogs(graphsim.CallLogOptions{Seed: 44, DirectRouting: 100, PSTN: 100, Start: now.Add(-5 * time.Hour), End: now.Add(-time.Minute)})
	ts.tenant.AddDirectRoutingRows(dr...)
	ts.tenant.AddPSTNRows(pstn...)
	ts.tenant.DenyCallLogs(graphsim.OpPSTNCalls, true)

	e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), callLogEnv...)
	mfs := e.waitFor(t, "five successful polls", 90*time.Second, successfulPolls(5))
	if got := gaugeValue(mfs, "teams_exporter_source_enabled", "source", "pstn_calls"); got != 0 {
		t.Errorf("pstn_calls enabled = %v, want 0", got)
	}
	if got := gaugeValue(mfs, "teams_exporter_source_enabled", "source", "direct_routing_calls"); got != 1 {
		t.Errorf("direct_routing_calls enabled = %v, want 1", got)
	}
	if got := counterValue(mfs, "teams_exporter_graph_requests_total", "operation", "pstn_calls", "code", "403"); got != 1 {
		t.Errorf("pstn_calls 403 requests: %v, want 1 (no retry, no asking again)", got)
	}
	logs := e.logs()
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "CallRecord-PstnCalls.Read.All") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d log lines name the permission, want 1:\n%s", n, testrun.LastLines(logs, 30))
	}
	if counterValue(mfs, "teams_exporter_polls_total", "result", "error") != 0 {
		t.Error("a poll failed")
	}
	want := simtruth.CallLogs(dr, nil)
	want.Merge(truth)
	e.assertTruth(t, want)
	resp, err := http.Get("http://" + e.addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("/readyz = %d with the PSTN log refused", resp.StatusCode)
	}
}

// TestCallLogsHostileRows serves rows an exporter must survive: a thousand
// distinct trunks, 5,000-character call types, absent (0001-01-01) invite
// times, negative durations and charges, SIP codes out of range, strange
// currencies and destinations, and rows with members of the wrong type.
// The trunk and call-type bounds keep the first values met, in Graph's
// order, which the truth follows; the unreadable rows are skipped.
func TestCallLogsHostileRows(t *testing.T) {
	ts := startTenant(t, nil)
	now := time.Now()
	base := now.Add(-10 * time.Hour).Truncate(time.Second)
	dr, pstn := graphsim.GenerateCallLogs(graphsim.CallLogOptions{Seed: 45, DirectRouting: 1200, PSTN: 300, Start: base, End: base})
	long := strings.Repeat("x", 5000)
	for i := range dr {
		r := &dr[i]
		r.StartDateTime = base.Add(time.Duration(i) * time.Second) // one order, Graph's and the truth's
		r.TrunkFullyQualifiedDomainName = fmt.Sprintf("SBC%d.Hostile.example", i%1000)
		switch i % 6 {
		case 0:
			r.CallType = long
		case 1:
			r.CallType = fmt.Sprintf("Byot_%c%c", 'a'+i%26, 'a'+i/26%26) // ever new call types
		case 2:
			r.InviteDateTime = time.Time{} // Graph's 0001-01-01T00:00:00Z
		case 3:
			r.Duration = -5
		case 4:
			r.FinalSIPCode = 9999
		}
	}
	for i := range pstn {
		r := &pstn[i]
		r.StartDateTime = base.Add(time.Duration(i) * time.Second)
		switch i % 5 {
		case 0:
			r.CallType, r.Currency = long, "usd"
		case 1:
			r.Charge, r.Duration = -1, -60
		case 2:
			r.DestinationContext = &long
		case 3:
			r.Currency = fmt.Sprintf("%c%cX", 'A'+i%26, 'A'+i/26%26) // ever new currencies
		}
	}
	ts.tenant.AddDirectRoutingRows(dr...)
	ts.tenant.AddPSTNRows(pstn...)
	bad := []string{
		`{"id":"w-1","startDateTime":"%s","successfulCall":"yes"}`,
		`{"id":"w-2","startDateTime":"%s","successfulCall":true,"duration":"PT5S"}`,
		`{"id":"w-3","startDateTime":"%s","successfulCall":true,"trunkFullyQualifiedDomainName":["a","b"]}`,
		`{"id":"w-4","startDateTime":"not a time","successfulCall":true}`,
		`{"id":"w-5","startDateTime":"0001-01-01T00:00:00Z","successfulCall":true}`,
	}
	for i, b := range bad {
		start := base.Add(-time.Duration(i+1) * time.Minute)
		body := fmt.Sprintf(b, start.Format(time.RFC3339))
		if !strings.Contains(b, "%s") {
			body = b
		}
		if err := ts.tenant.AddRawCallLogRow(graphsim.OpDirectRoutingCalls, fmt.Sprintf("w-%d", i+1), start, json.RawMessage(body)); err != nil {
			t.Fatal(err)
		}
	}

	e := startExporter(t, ts, filepath.Join(t.TempDir(), "state.json"), callLogEnv...)
	mfs := e.waitFor(t, "the hostile rows", 90*time.Second, rowsIngested(len(dr), len(pstn)))
	e.assertTruth(t, simtruth.CallLogs(dr, pstn))
	if got := counterValue(mfs, "teams_exporter_skipped_total", "reason", "malformed_row"); got != float64(len(bad)) {
		t.Errorf("malformed rows skipped: %v, want %d", got, len(bad))
	}
	trunks, types := map[string]bool{}, map[string]bool{}
	for _, m := range mfs["teams_direct_routing_calls_total"].GetMetric() {
		for _, lp := range m.Label {
			switch lp.GetName() {
			case "trunk":
				trunks[lp.GetValue()] = true
			case "call_type":
				types[lp.GetValue()] = true
			}
		}
	}
	if len(trunks) != 101 || !trunks["other"] || len(types) != 21 || !types["other"] {
		t.Errorf("%d trunks and %d call types, want 100 and 20 learned plus other", len(trunks), len(types))
	}
}
