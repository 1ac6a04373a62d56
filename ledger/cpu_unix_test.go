//go:build unix

package ledger

import (
	"syscall"
	"testing"
	"time"
)

// processCPUTime is the CPU time (user and system) the test process has
// used: unlike the wall time, it does not grow when other processes
// compete for the machine.
func processCPUTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatalf("getrusage: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
