package graphsim_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/internal/graphsim/simtruth"
)

// TestCallLogTruth works a handful of rows out by hand.
func TestCallLogTruth(t *testing.T) {
	start := time.Date(2026, 11, 2, 0, 0, 0, 0, time.UTC)
	ok := graphsim.DRRow("a", start) // setup 2 s, 60 s
	ok.TrunkFullyQualifiedDomainName = "SBC1.Example.org"
	failed := graphsim.DRRow("b", start)
	failed.SuccessfulCall, failed.FinalSIPCode, failed.Duration = false, 503, 0
	hostile := graphsim.DRRow("c", start)
	hostile.TrunkFullyQualifiedDomainName, hostile.CallType, hostile.FinalSIPCode = "not a host!", strings.Repeat("x", 41), 9999
	hostile.InviteDateTime = start.Add(time.Second) // after the start: no setup time
	p1 := graphsim.PSTNRowAt("p", start)
	p2 := graphsim.PSTNRowAt("q", start)
	p2.DestinationContext, p2.Currency, p2.Charge, p2.CallType = nil, "usd", 0.5, "user_in"
	tr := simtruth.CallLogs([]graphsim.DirectRoutingRow{ok, failed, hostile}, []graphsim.PSTNRow{p1, p2})
	want := map[string]float64{
		`teams_direct_routing_calls_total{call_type="ByotIn",media_bypass="false",result="success",trunk="sbc1.example.org"}`: 2,
		`teams_direct_routing_calls_total{call_type="ByotIn",media_bypass="false",result="failure",trunk="sbc1.example.org"}`: 1,
		`teams_direct_routing_calls_total{call_type="other",media_bypass="false",result="success",trunk="other"}`:             1,
		`teams_direct_routing_final_sip_codes_total{code="0",trunk="sbc1.example.org"}`:                                       2,
		`teams_direct_routing_final_sip_codes_total{code="503",trunk="sbc1.example.org"}`:                                     1,
		`teams_direct_routing_final_sip_codes_total{code="other",trunk="other"}`:                                              1,
		`teams_direct_routing_setup_seconds_count{trunk="sbc1.example.org"}`:                                                  2,
		`teams_direct_routing_setup_seconds_bucket{le="2",trunk="sbc1.example.org"}`:                                          2,
		`teams_direct_routing_setup_seconds_bucket{le="1",trunk="sbc1.example.org"}`:                                          0,
		`teams_direct_routing_call_duration_seconds_sum{call_type="other",trunk="other"}`:                                     60,
		`teams_pstn_calls_total{call_type="user_out",destination_context="domestic"}`:                                         1,
		`teams_pstn_calls_total{call_type="user_in",destination_context="unknown"}`:                                           1,
		`teams_pstn_charge_total{currency="USD"}`:                                                                             0.25,
		`teams_pstn_charge_total{currency="other"}`:                                                                           0.5,
		`teams_pstn_call_duration_seconds_bucket{call_type="user_in",le="60"}`:                                                1,
	}
	// The first row's trunk is lower-cased, so ok and the default trunk share a series.
	ok2 := graphsim.DRRow("d", start)
	tr.Merge(simtruth.CallLogs([]graphsim.DirectRoutingRow{ok2}, nil))
	for k, v := range want {
		if tr[k] != v {
			t.Errorf("%s = %v, want %v", k, tr[k], v)
		}
	}
	if _, found := tr[`teams_direct_routing_setup_seconds_count{trunk="other"}`]; found {
		t.Error("a setup time for an invite after the start")
	}
	var drs []graphsim.DirectRoutingRow
	for i := range 150 {
		r := graphsim.DRRow(fmt.Sprint(i), start)
		r.TrunkFullyQualifiedDomainName = fmt.Sprintf("sbc%d.example.org", i)
		drs = append(drs, r)
	}
	trunks := labelValues(simtruth.CallLogs(drs, nil), "teams_direct_routing_calls_total", "trunk")
	if len(trunks) != 101 || !trunks["other"] || !trunks["sbc99.example.org"] || trunks["sbc100.example.org"] {
		t.Errorf("%d trunks", len(trunks))
	}
}
