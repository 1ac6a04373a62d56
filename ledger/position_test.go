package ledger

import (
	"testing"
	"time"
)

// Every time of a past event in the position is forgotten when it lies in
// the future: a call-log full scan dated ahead would stop the call logs'
// full scans until that date.
func TestForgetFutureForgetsEveryPastEvent(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	past, future := now.Add(-time.Hour), now.Add(48*time.Hour)
	tests := []struct {
		name string
		pos  Position
		want Position
	}{
		{"call logs' full scan", Position{LastFullScan: past, LastSuccess: past, CallLogsFullScan: future},
			Position{LastFullScan: past, LastSuccess: past}},
		{"full scan", Position{LastFullScan: future, CallLogsFullScan: past}, Position{CallLogsFullScan: past}},
		{"last success", Position{LastSuccess: future}, Position{}},
		{"all past", Position{LastFullScan: past, LastSuccess: past, CallLogsFullScan: past},
			Position{LastFullScan: past, LastSuccess: past, CallLogsFullScan: past}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pos := tt.pos
			forgot := pos.forgetFuture(now)
			if pos != tt.want {
				t.Errorf("position %+v, want %+v", pos, tt.want)
			}
			if forgot != (pos != tt.pos) {
				t.Errorf("forgetFuture reported %v", forgot)
			}
		})
	}
}
