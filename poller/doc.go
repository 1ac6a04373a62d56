// Package poller decides what to fetch from Graph and when: every poll it
// lists the records of a start-time window, fetches those the ledger has
// not ingested yet, and hands each to the ledger, which observes it exactly
// once. The poller also decides when the ledger saves (during long polls
// and after each one, always on the polling goroutine) and whether the
// exporter is ready.
package poller
