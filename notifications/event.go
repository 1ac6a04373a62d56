package notifications

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
)

// DeliverEvent takes the body of one event read from an event hub: the
// same changeNotificationCollection a webhook receives, change and
// lifecycle notifications alike (Graph sends both to the EventHub: URL).
// It goes through Deliver, with its checks, queue and counts, and returns
// what Deliver made of it: its record ids let the hub's reader tell when
// they are safe. Graph's validation message, which arrives in the hub when
// a subscription is created, is counted as validation and changes nothing
// else. An error means the
// body must be delivered again: ErrBusy (not read), or ctx's error (read
// in part when ctx ended). A body Deliver refuses is counted there and
// returns no ids and no error.
func (r *Receiver) DeliverEvent(ctx context.Context, body []byte) (Result, error) {
	if isValidationMessage(body) {
		r.metrics.notifications.WithLabelValues(ResultValidation).Inc()
		r.log.Debug("ignored Graph's validation message in the event hub")
		return Result{}, nil
	}
	res, err := r.Deliver(ctx, bytes.NewReader(body), AnyItems)
	if errors.Is(err, ErrBusy) {
		return Result{}, err
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// Cut by ctx, not refused: taken as handled, its offset would be
		// committed and the event never read again.
		return Result{}, err
	}
	return res, nil
}

// maxValidationMessage bounds the body looked at as a validation message:
// Graph's is about 400 bytes.
const maxValidationMessage = 2 << 10

// isValidationMessage recognises Graph's validation message for event
// hubs: every field "NA" and a changeType starting with "Validation:". It
// asks for nothing and carries no client state, so Deliver would count it
// as forged.
func isValidationMessage(body []byte) bool {
	if len(body) > maxValidationMessage || !bytes.Contains(body, []byte(`"Validation:`)) {
		return false
	}
	var coll struct {
		Value []struct {
			ClientState string `json:"clientState"`
			ChangeType  string `json:"changeType"`
		} `json:"value"`
	}
	if err := json.Unmarshal(body, &coll); err != nil || len(coll.Value) == 0 {
		return false
	}
	for _, it := range coll.Value {
		if it.ClientState != "NA" || !strings.HasPrefix(it.ChangeType, "Validation:") {
			return false
		}
	}
	return true
}
