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
			res, err := r.DeliverEvent(ctx, []byte(changeBody(testSecret, "created", idA)))
			if !errors.Is(err, tc.want) {
				t.Errorf("DeliverEvent = %+v, %v; want the error %v", res, err, tc.want)
			}
			if got := r.Queued(); got != 0 {
				t.Errorf("queued %d ids from a body not read", got)
			}
			counts := results(t, reg)
			for _, result := range []string{ResultRejected, ResultAccepted} {
				if got := counts["teams_exporter_notifications_total/"+result]; got != 0 {
					t.Errorf("%s = %v for a body not read, want 0", result, got)
				}
			}
		})
	}
}

// TestValidationMessageIsCounted: Graph's validation message, which
// reaches the hub when a subscription is created, queues nothing but is
// counted, so that every body read shows in
// teams_exporter_notifications_total.
func TestValidationMessageIsCounted(t *testing.T) {
	const validation = `{"value":[{"subscriptionId":"NA","subscriptionExpirationDateTime":"NA","clientState":"NA","changeType":"Validation: Testing client application reachability for subscription Request-Id: 522a8e7e-096a-494c-aaf1-ac0dcfca45b7","resource":"NA","resourceData":{"@odata.type":"NA","@odata.id":"NA","id":"NA"}}]}`
	r, reg := newTestReceiver(t, Config{})
	res, err := r.DeliverEvent(context.Background(), []byte(validation))
	if err != nil || len(res.IDs) != 0 {
		t.Fatalf("DeliverEvent = %+v, %v; want nothing queued and no error", res, err)
	}
	counts := results(t, reg)
	for result, want := range map[string]float64{ResultValidation: 1, ResultRejected: 0, ResultAccepted: 0} {
		if got := counts["teams_exporter_notifications_total/"+result]; got != want {
			t.Errorf("%s = %v, want %v", result, got, want)
		}
	}
}
