package sites_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/sites"
)

// TestDemoBuildingFile: the demo tenant's building file parses without
// warnings, and its clients land in every kind of site (a building, a
// supernet, an IPv6 network, the VPN pool by address, unmapped, unknown).
func TestDemoBuildingFile(t *testing.T) {
	m, warnings, err := sites.Parse(bytes.NewReader(graphsim.DemoBuildingFile))
	if err != nil || len(warnings) > 0 {
		t.Fatalf("Parse: %v, warnings %q", err, warnings)
	}
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	recs := graphsim.Generate(graphsim.GenOptions{Seed: 5, Count: 300, Start: start, End: start.Add(24 * time.Hour)})
	seen := map[string]int{}
	for _, r := range recs {
		for _, s := range r.Sessions {
			for _, g := range s.Segments {
				for _, media := range g.Media {
					for _, n := range []*graphsim.NetworkInfo{media.CallerNetwork, media.CalleeNetwork} {
						if n != nil {
							seen[m.SiteOf(n.Subnet, n.IPAddress)]++
						}
					}
				}
			}
		}
	}
	for _, want := range []string{"Seattle HQ", "Berlin Office", "Tokyo Office", "London Office", "VPN", sites.Unmapped, sites.Unknown} {
		if seen[want] == 0 {
			t.Errorf("no client network in %q (saw %v)", want, seen)
		}
	}
}
