// Package eventhub reads Microsoft Graph change notifications that Graph
// delivers to an Azure Event Hub, for exporters that cannot offer Graph a
// public HTTPS endpoint: the exporter only connects outwards.
//
// It speaks Kafka to the hub's Kafka-compatible endpoint (Event Hubs
// Standard tier and above, port 9093, TLS) with franz-go, authenticated by
// SASL OAUTHBEARER with an Entra token from the same credential the
// exporter uses for Graph, or by SASL PLAIN with a connection string. The
// Azure SDK's own client speaks AMQP, which nothing in this repository can
// serve to test it; a Kafka broker runs in process (kfake), so the tests
// exercise the real protocol, consumer group and offset commits.
//
// Every event body goes through the notifications.Receiver, as a webhook
// POST does: the same checks, queue, counts and exactly-once ledger. The
// hub is a durable queue the webhook path lacks, so the consumer keeps its
// place in it with the consumer group's committed offsets, and commits an
// event's offset only once what it carried is safe: each record id it
// notified is ingested and a save of the state file begun after that has
// succeeded. A kill -9 then loses nothing (the events after the committed
// offset are read again) and counts nothing twice (the ledger knows what
// was ingested). An event whose ids are not ingested within the hold time
// (a record Graph no longer serves, an update of one ingested long ago)
// stops holding its partition back: what it notified is left to the
// listing of the look-back, as on the webhook path.
package eventhub
