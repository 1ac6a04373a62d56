// Package poller decides what to fetch from Graph and when: every poll it
// lists the records of a start-time window, fetches those the ledger has
// not ingested yet, and hands each to the ledger, which observes it exactly
// once and decides when to save. The poller also decides whether the
// exporter is ready.
package poller
