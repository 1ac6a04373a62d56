package sdkcompare

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/microsoft/kiota-abstractions-go/serialization"

	"github.com/teams-exporter/teams-exporter/graph"
)

// TestSDKFindings documents, on the documented example record, where the
// Graph SDK loses data the exporter keeps (the spec's reasons not to use
// it). It fails when a newer SDK behaves differently, so the README and the
// spec can be corrected.
func TestSDKFindings(t *testing.T) {
	body, err := os.ReadFile(ExpandedPath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := SDKFindings(body)
	if err != nil {
		t.Fatal(err)
	}
	want := []Finding{
		{
			What:     "sessions[0].segments[0].media[0].streams[0].averageJitter",
			Graph:    `"PT0.016S"`,
			Exporter: "16ms",
			SDK:      `ToDuration 0s, String "P", GetMilliSeconds 16`,
		},
		{
			What:     nextLinkMember,
			Graph:    "a URL (more sessions to fetch)",
			Exporter: "SessionsNextLink set: true (the client follows it)",
			SDK:      "no property; kept untyped in AdditionalData, nothing follows it",
		},
		{
			What:     "sessions[0].caller.userAgent.platform",
			Graph:    `"futurePlatform"`,
			Exporter: `"futurePlatform"`,
			SDK:      "nil",
		},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d findings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		t.Logf("%s: Graph %s; exporter %s; SDK %s", got[i].What, got[i].Graph, got[i].Exporter, got[i].SDK)
		if got[i] != want[i] {
			t.Errorf("finding %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

// TestSDKDurations compares the SDK's duration parser with the exporter's
// on the forms Graph sends. The SDK's ToDuration drops the fraction of a
// second, and its pattern for seconds wants a decimal point, so a whole
// number of seconds ("PT1S") is not matched at all and reads as zero.
func TestSDKDurations(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration // what the value means (the exporter's result)
		wantSDK time.Duration
	}{
		{"PT0.016S", 16 * time.Millisecond, 0},
		{"PT0.5S", 500 * time.Millisecond, 0},
		{"PT1S", time.Second, 0},
		{"PT2S", 2 * time.Second, 0},
		{"PT1M2S", time.Minute + 2*time.Second, time.Minute},
		{"PT1.5S", 1500 * time.Millisecond, time.Second},
		{"PT1M2.5S", time.Minute + 2500*time.Millisecond, time.Minute + 2*time.Second},
	} {
		t.Run(tc.in, func(t *testing.T) {
			exp, err := graph.ParseDuration(tc.in)
			if err != nil || exp != tc.want {
				t.Errorf("exporter: got %v, %v; want %v", exp, err, tc.want)
			}
			iso, err := serialization.ParseISODuration(tc.in)
			if err != nil {
				t.Fatalf("SDK parse: %v", err)
			}
			sdk, err := iso.ToDuration()
			if err != nil || sdk != tc.wantSDK {
				t.Errorf("SDK: got %v, %v; want %v (documented SDK behaviour)", sdk, err, tc.wantSDK)
			}
		})
	}
}

// TestRecordsDecodeOnBothSides guards the benchmark inputs: both sides see
// every session of every record (Records checks it), and the records are
// the sizes the README quotes.
func TestRecordsDecodeOnBothSides(t *testing.T) {
	recs, err := Records(ExpandedPath)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range recs {
		names = append(names, r.Name)
		if len(r.JSON) < 9000 {
			t.Errorf("%s: %d bytes, want at least the example's 9,000", r.Name, len(r.JSON))
		}
	}
	if got := strings.Join(names, ","); got != "expanded,meeting20,allhands300" {
		t.Errorf("records %s", got)
	}
}
