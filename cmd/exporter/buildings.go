package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/teams-exporter/teams-exporter/internal/graphsim"
	"github.com/teams-exporter/teams-exporter/sites"
)

// buildingCheckInterval is how often the building file is checked for
// changes: a stat, and a read only when its size or time changed or the
// path leads to another file.
const buildingCheckInterval = 30 * time.Second

// openBuildings reads the building file, if one is configured, registers
// its metrics and keeps it current until ctx ends. Without a building file
// it returns nil, and the site families are absent.
func openBuildings(ctx context.Context, cfg *config, reg prometheus.Registerer, logger *slog.Logger) (*sites.File, error) {
	if cfg.BuildingFile == "" {
		return nil, nil
	}
	f, err := sites.Open(cfg.BuildingFile, logger)
	if err != nil {
		return nil, configError{fmt.Errorf("%s_BUILDING_FILE: %w", envPrefix, err)}
	}
	reg.MustRegister(f)
	go func() {
		t := time.NewTicker(buildingCheckInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				f.Check()
			}
		}
	}()
	return f, nil
}

// demoBuildingFile writes the demo tenant's building file to the temporary
// directory, so that the demo shows the site families and dashboards.
func demoBuildingFile() (string, error) {
	path := filepath.Join(os.TempDir(), "teams-exporter-demo-buildings.csv")
	if err := os.WriteFile(path, graphsim.DemoBuildingFile, 0o600); err != nil {
		return "", fmt.Errorf("demo building file: %w", err)
	}
	return path, nil
}
