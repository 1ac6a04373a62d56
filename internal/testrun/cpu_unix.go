//go:build unix

package testrun

import (
	"syscall"
	"testing"
	"time"
)

// ProcessCPUTime is the CPU time (user and system) the test process has
// used. Benchmarks report its growth per operation: unlike the wall time,
// it does not grow when other processes compete for the machine, and with
// -cpu 1 the work and the garbage collector share one core, so it is the
// one-core cost.
func ProcessCPUTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
