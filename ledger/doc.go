// Package ledger owns what the exporter has ingested and what it has saved.
//
// Observing an item (a call record, a call-log row) and marking its id are
// one step under one lock, and a save writes a consistent cut of ids, poll
// position and series to the state file before publishing that cut's
// series to scrapes. So every item is counted exactly once across polls,
// retries and restarts (kill -9 included), and a scrape never shows a count
// that a crash could take back. docs/design.md explains the state file and
// how to add a kind of item.
package ledger
