package eventhub

import (
	"slices"
	"testing"
	"time"
)

// TestWrongHubNameIsDisconnected: a namespace answers a consumer whatever
// hub name it asks for; the connected gauge must stay 0 for a name the
// namespace does not have, and be 1 for the right one, even with no event
// to read.
func TestWrongHubNameIsDisconnected(t *testing.T) {
	h := startHub(t, "")
	for _, tc := range []struct {
		hub  string
		want float64
	}{
		{"no-such-hub", 0},
		{testHub, 1},
	} {
		t.Run(tc.hub, func(t *testing.T) {
			env := *h
			env.hub.Name = tc.hub
			run := env.consume(t, "", newMemLedger())
			var got []float64
			for range 20 { // twenty ticks
				time.Sleep(100 * time.Millisecond)
				got = append(got, run.c.connected())
			}
			if last := got[len(got)-1]; last != tc.want || (tc.want == 0 && slices.Contains(got, 1)) {
				t.Errorf("connected over two seconds = %v, want %v", got, tc.want)
			}
		})
	}
}
