package collector

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/teams-exporter/teams-exporter/graph"
)

var callLogStart = time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)

func valid(v float64) graph.Number { return graph.Number{Value: v, Valid: true} }

// goldenCallLogRows are the rows testdata/calllogs.golden is written for.
func goldenCallLogRows() ([]graph.DirectRoutingCall, []graph.PSTNCall) {
	dr := []graph.DirectRoutingCall{
		// Connected, 2.5 s to set up, 45 s: the trunk lower-cased.
		{ID: "a", CallType: "ByotIn", Trunk: "SBC1.Example.org", Successful: true, FinalSIPCode: valid(0),
			Invite: callLogStart.Add(-2500 * time.Millisecond), Start: callLogStart, Duration: valid(45)},
		// Connected, 0.4 s, 700 s.
		{ID: "b", CallType: "ByotIn", Trunk: "sbc1.example.org", Successful: true, FinalSIPCode: valid(0),
			Invite: callLogStart.Add(-400 * time.Millisecond), Start: callLogStart, Duration: valid(700)},
		// Failed with 503: counted, no duration or setup time.
		{ID: "c", CallType: "ByotOut", Trunk: "sbc2.example.org", MediaBypass: true, FinalSIPCode: valid(503),
			Invite: callLogStart, Start: callLogStart, Duration: valid(0)},
		// Not a host name, a call type that is not one, a code out of
		// range, no invite and no duration: other, other, other, and
		// nothing observed in the histograms.
		{ID: "d", CallType: strings.Repeat("x", 41), Trunk: "not a host!", Successful: true, FinalSIPCode: valid(9999), Start: callLogStart},
	}
	pstn := []graph.PSTNCall{
		{ID: "p", CallType: "user_out", DestinationContext: "Domestic", Currency: "EUR", Start: callLogStart, Duration: valid(219), Charge: valid(0.25)},
		// Inbound: Graph sends no destination; free.
		{ID: "q", CallType: "user_in", Currency: "USD", Start: callLogStart, Duration: valid(30), Charge: valid(0)},
		// A call type with a space; no duration, no charge.
		{ID: "r", CallType: "conf out", DestinationContext: "International", Currency: "USD", Start: callLogStart},
		// Destination in another case; a currency that is not a code.
		{ID: "s", CallType: "user_out", DestinationContext: "INTERNATIONAL", Currency: "eur", Start: callLogStart, Duration: valid(5), Charge: valid(1.5)},
	}
	return dr, pstn
}

func TestGoldenCallLogs(t *testing.T) {
	c := newTestCollector(false)
	dr, pstn := goldenCallLogRows()
	for i := range dr {
		c.IngestDirectRoutingCall(&dr[i])
	}
	for i := range pstn {
		c.IngestPSTNCall(&pstn[i])
	}
	f, err := os.Open("testdata/calllogs.golden")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.CollectAndCompare(c.Snapshot(), f); err != nil {
		t.Error(err)
	}
}

// TestCallLogSnapshotRoundTrip: the learned trunks, call types and
// currencies and the charge (a counter of amounts) survive the state file.
func TestCallLogSnapshotRoundTrip(t *testing.T) {
	c := newTestCollector(true)
	dr, pstn := goldenCallLogRows()
	for i := range dr {
		c.IngestDirectRoutingCall(&dr[i])
	}
	for i := range pstn {
		c.IngestPSTNCall(&pstn[i])
	}
	b, err := json.Marshal(c.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	r := newTestCollector(true)
	if err := r.Restore(&back); err != nil {
		t.Fatal(err)
	}
	if a, b := exposition(t, c), exposition(t, r); a != b {
		t.Errorf("restored store differs:\n%s\nwant\n%s", b, a)
	}
	// Ingesting on after the restore continues the same series.
	r.IngestPSTNCall(&pstn[0])
	if got := testutil.ToFloat64(familyCollector(r, "teams_pstn_charge_total", "EUR")); got != 0.5 {
		t.Errorf("charge after restore and one more call: %v, want 0.5", got)
	}
	for _, bad := range []string{
		`{"series":[{"metric":"teams_pstn_charge_total","labels":{"currency":"EUR"},"sum":-1,"count":0}]}`,
		`{"series":[{"metric":"teams_pstn_charge_total","labels":{"currency":"EUR"},"sum":1,"count":3}]}`,
		`{"series":[{"metric":"teams_direct_routing_setup_seconds","labels":{"trunk":"not a host"},"upper_bounds":[0.5,1,2,3,5,10,20,30,60],"buckets":[0,0,0,0,0,0,0,0,0,0],"count":0}]}`,
	} {
		var s Snapshot
		if err := json.Unmarshal([]byte(bad), &s); err != nil {
			t.Fatal(err)
		}
		if err := newTestCollector(false).Restore(&s); err == nil {
			t.Errorf("restored %s", bad)
		}
	}
}

// familyCollector gathers one series of a one-label family of c, for
// testutil.ToFloat64.
func familyCollector(c *Collector, name, value string) prometheus.Collector {
	return prometheus.CollectorFunc(func(ch chan<- prometheus.Metric) {
		mfs := c.Snapshot().Families()
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
			for _, m := range mf.Metric {
				if m.Label[0].GetValue() == value {
					ch <- prometheus.MustNewConstMetric(prometheus.NewDesc(name, "x", nil, nil), prometheus.CounterValue, m.Counter.GetValue())
				}
			}
		}
	})
}

// TestCallLogSeriesBounded ingests hostile rows: a thousand distinct
// trunks, 5,000-character and ever new call types, currencies and codes,
// absurd numbers. Every label stays within its bound, and nothing from the
// rows that is not a label value reaches a label.
func TestCallLogSeriesBounded(t *testing.T) {
	c := newTestCollector(false)
	long := strings.Repeat("x", 5000)
	for i := range 3000 {
		dr := graph.DirectRoutingCall{
			ID: fmt.Sprintf("dr-%d", i), Trunk: fmt.Sprintf("sbc%d.example.org", i%1000), Successful: i%3 == 0,
			CallType: fmt.Sprintf("Byot_%c%c", 'a'+i%26, 'a'+i/26%26), FinalSIPCode: valid(float64(i % 1000)),
			Start: callLogStart, Invite: callLogStart.Add(-time.Duration(i) * time.Second), Duration: valid(float64(i)),
		}
		if i%7 == 0 {
			dr.CallType, dr.Trunk = long, long
		}
		c.IngestDirectRoutingCall(&dr)
		p := graph.PSTNCall{ID: fmt.Sprintf("p-%d", i), CallType: fmt.Sprintf("t_%c%c", 'a'+i%26, 'a'+i/26%26),
			DestinationContext: long, Currency: fmt.Sprintf("%c%cX", 'A'+i%26, 'A'+i/26%26), Start: callLogStart,
			Duration: valid(1e9), Charge: valid(graph.MaxCharge)}
		c.IngestPSTNCall(&p)
		c.IngestDirectRoutingCall(nil)
		c.IngestPSTNCall(nil)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Snapshot())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	bound := map[string]int{"trunk": 101, "call_type": 21, "currency": 11, "code": 602, "result": 2, "media_bypass": 2, "destination_context": 3}
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "teams_direct_routing_") && !strings.HasPrefix(mf.GetName(), "teams_pstn_") {
			continue
		}
		values := map[string]map[string]bool{}
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if values[lp.GetName()] == nil {
					values[lp.GetName()] = map[string]bool{}
				}
				values[lp.GetName()][lp.GetValue()] = true
				if len(lp.GetValue()) > 253 || strings.Contains(lp.GetValue(), "xxxx") {
					t.Errorf("%s: label %s=%.40q", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
		for name, vs := range values {
			b, ok := bound[name]
			if !ok {
				t.Errorf("%s: unexpected label %s", mf.GetName(), name)
			}
			if len(vs) > b {
				t.Errorf("%s: %d values of %s, bound %d", mf.GetName(), len(vs), name, b)
			}
		}
		if name := mf.GetName(); name == "teams_direct_routing_calls_total" && len(values["trunk"]) != 101 {
			t.Errorf("%s: %d trunks, want the first 100 and other", name, len(values["trunk"]))
		}
	}
}

// TestCallLogValueSpelledAsOverflow: a trunk or call type that Graph spells
// as the overflow value is that series, not a learned value beside it; else
// two series would share their labels and the state would not restore.
func TestCallLogValueSpelledAsOverflow(t *testing.T) {
	c := newTestCollector(false)
	for i := range 200 {
		trunk, callType := fmt.Sprintf("sbc%d.example.org", i), fmt.Sprintf("Byot_%c%c", 'a'+i%26, 'a'+i/26%26)
		if i == 0 {
			trunk, callType = "other", "other"
		}
		c.IngestDirectRoutingCall(&graph.DirectRoutingCall{ID: fmt.Sprint(i), Trunk: trunk, CallType: callType,
			Successful: true, FinalSIPCode: valid(0), Start: callLogStart, Duration: valid(1)})
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c.Snapshot())
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("gather: %v", err)
	}
	b, err := json.Marshal(c.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var back Snapshot
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if err := newTestCollector(false).Restore(&back); err != nil {
		t.Fatalf("restore: %v", err)
	}
}
