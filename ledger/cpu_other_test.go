//go:build !unix

package ledger

import (
	"testing"
	"time"
)

// processCPUTime is not measured here; cpu-ns/op reads 0.
func processCPUTime(*testing.B) time.Duration { return 0 }
