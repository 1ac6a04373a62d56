//go:build race

package poller

// raceEnabled is true under the race detector, which makes the simulated
// days ten times slower: CI then runs the smallest that still asserts.
const raceEnabled = true
