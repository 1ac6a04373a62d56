//go:build race

package e2e

// raceEnabled: the tests run with -race, and so is the exporter built, which
// shares the build cache with the rest of `go test -race ./...`.
const raceEnabled = true
