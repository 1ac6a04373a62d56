package notifications

import (
	"bytes"
	"encoding/json"
	"strings"
)

// DeliverEvent takes the body of one event read from an Event Hub: the
// same changeNotificationCollection a webhook receives, with change and
// lifecycle notifications in one hub (Graph sends both to the EventHub:
// URL). It goes through the same checks, queue and counts as a POST, and
// returns the ids it queued (or found queued already), so that the reader
// of the hub can tell when they are safe. A rejected body returns none and
// is counted as rejected; Graph's validation message, which arrives in the
// hub when a subscription is created, is ignored and not counted.
func (r *Receiver) DeliverEvent(body []byte) []string {
	if len(body) > MaxBodyBytes {
		r.rejectEvent("body larger than 1 MiB")
		return nil
	}
	items := peek(body)
	if isValidationMessage(items) {
		r.log.Debug("ignored Graph's validation message in the event hub")
		return nil
	}
	// parse refuses a body that mixes the two kinds.
	lifecycle := len(items) > 0 && items[0].LifecycleEvent != ""
	p, status, why := r.parse(body, lifecycle)
	if status != 0 {
		r.rejectEvent(why)
		return nil
	}
	r.accept(p)
	ids := make([]string, len(p.changes))
	for i, c := range p.changes {
		ids[i] = c.id
	}
	return ids
}

func (r *Receiver) rejectEvent(why string) {
	r.metrics.notifications.WithLabelValues(ResultRejected).Inc()
	r.warn("event hub event rejected", "reason", why)
}

// peekItem is what is read of each item to tell the kind of a body
// before it is checked.
type peekItem struct {
	ClientState    string `json:"clientState"`
	ChangeType     string `json:"changeType"`
	LifecycleEvent string `json:"lifecycleEvent"`
}

func peek(body []byte) []peekItem {
	var coll struct {
		Value []peekItem `json:"value"`
	}
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(&coll); err != nil {
		return nil
	}
	return coll.Value
}

// isValidationMessage recognises Graph's validation message for Event
// Hubs: every field "NA" and a changeType starting with "Validation:".
// It asks for nothing and carries no client state.
func isValidationMessage(items []peekItem) bool {
	if len(items) == 0 {
		return false
	}
	for _, it := range items {
		if it.ClientState != "NA" || !strings.HasPrefix(it.ChangeType, "Validation:") {
			return false
		}
	}
	return true
}
