// Package poller decides what to fetch from Graph and when: every poll it
// lists the records of a start-time window, fetches those not yet ingested,
// hands each to the collector exactly once, and keeps the ingested ids, the
// poll position and the collector's aggregates in an atomically written
// state file, so that a restart neither loses nor double-counts a record.
package poller
