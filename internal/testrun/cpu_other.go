//go:build !unix

package testrun

import (
	"testing"
	"time"
)

// ProcessCPUTime is not measured here: it is 0, and so are the cpu-ns/op
// the benchmarks report from it.
func ProcessCPUTime(testing.TB) time.Duration { return 0 }
