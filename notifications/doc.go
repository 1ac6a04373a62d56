// Package notifications receives Microsoft Graph change notifications for
// call records and keeps the exporter's subscription to them alive.
//
// Graph lists call records only by start time, so a poller that finds new
// records by listing pays for every record again on every re-read of its
// window. With a subscription, Graph posts the id of each record as it is
// created or updated, and the exporter fetches just those. Polling stays as
// the safety net: a notification can be lost, late, repeated or forged, so
// nothing here decides that a record exists or has been counted. The
// Receiver only queues ids (bounded; what does not fit is left to the next
// re-list) and the lifecycle events Graph sends; the poller fetches queued
// ids through the same exactly-once path as listed ones.
//
// The endpoints are reachable from the internet (Graph calls them through
// the user's ingress) and cannot be protected by basic auth, since Graph
// cannot send it: every request is hostile until its clientState matches,
// compared in constant time. They answer at once and never wait for Graph,
// because Graph gives up on an answer after 3 seconds and then throttles the
// endpoint.
//
// Every body, whatever carried it (the webhook, or an event hub), goes
// through Receiver.Deliver. It reads the body as a stream of tokens and
// checks each item's clientState, and its tenantId and organizationId when
// the tenant is known, as soon as the item is read, so a flood of anonymous bodies costs
// the decoder's buffer, not the bodies: Graph may batch notifications of
// several subscriptions in one POST, so a foreign item is refused alone. A few dozen bodies are read at once; one more
// waits a second for a turn, then is refused unread (503, which Graph
// retries). The webhook cuts off a body that trickles in (408), so slow
// senders cannot keep Graph's bodies out.
//
// The Subscriber creates the subscription, renews it well before it expires,
// answers reauthorizationRequired by renewing and subscriptionRemoved by
// creating it again, and reuses its own subscription after a restart (found
// by its notification URL and the id the state file recorded) instead of
// leaking one per start. Graph never returns a subscription's clientState,
// so the state file also keeps a fingerprint of it: a subscription created
// before the client state was rotated would bring only notifications the
// Receiver rejects while everything looked healthy; it is replaced.
package notifications
