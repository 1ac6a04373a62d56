package notifications

import (
	"context"
	"errors"
	"testing"
)

// TestBodyCutByItsContextIsDeliveredAgain: a body whose reading is cut by
// its context (the hub's reader stopping) was refused by nobody. It must
// come back as an error to deliver it again, not as a body handled with
// nothing to hold, whose offset would then be committed; and it is not
// counted as rejected.
func TestBodyCutByItsContextIsDeliveredAgain(t *testing.T) {
	for _, tc := range []struct {
		name string
		ctx  func() (context.Context, context.CancelFunc)
		want error
	}{
		{"canceled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, context.Canceled},
		{"deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 0)
		}, context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, reg := newTestReceiver(t, Config{})
			ctx, cancel := tc.ctx()
			defer cancel()
			ids, err := r.DeliverEvent(ctx, []byte(changeBody(testSecret, "created", idA)))
			if !errors.Is(err, tc.want) {
				t.Errorf("DeliverEvent = %v, %v; want the error %v", ids, err, tc.want)
			}
			if got := r.Queued(); got != 0 {
				t.Errorf("queued %d ids from a body not read", got)
			}
			res := results(t, reg)
			for _, result := range []string{ResultRejected, ResultAccepted} {
				if got := res["teams_exporter_notifications_total/"+result]; got != 0 {
					t.Errorf("%s = %v for a body not read, want 0", result, got)
				}
			}
		})
	}
}
